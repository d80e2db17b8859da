"""{% fragment %}: key-based expiration, nested fragments, named TTLs, the trusted fresh render."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.cache import caches
from django.template import Context, Template, TemplateSyntaxError
from django.test import RequestFactory

from newsroom.news.models import Article
from upstack import conf
from upstack.cache.bypass import bypass_signature
from upstack.templatetags.upstack import make_fragment_key

pytestmark = pytest.mark.django_db

TEMPLATE = Template(
    "{% load upstack %}"
    "{% fragment 'outer' articles ttl='long' %}[{% for a in articles %}"
    "{% fragment 'inner' a ttl='short' %}{{ probe.inner }}{{ a.title }};{% endfragment %}"
    "{% endfor %}{{ probe.outer }}]{% endfragment %}"
)


class Probe:
    """Counts how often each fragment's body actually renders."""

    def __init__(self):
        self.counts = {"outer": 0, "inner": 0}
        self._lock = threading.Lock()

    def __getattr__(self, name):
        if name.startswith("_") or name == "counts":
            raise AttributeError(name)
        with self._lock:
            self.counts[name] += 1
        return ""


@pytest.fixture(autouse=True)
def empty_templates_cache():
    caches["templates"].clear()


@pytest.fixture
def articles(seeded):
    return list(Article.objects.published().order_by("pk")[:3])


@pytest.fixture
def seeded(db):
    from django.core.management import call_command

    call_command("seed", articles=8, users=3, comments=5, no_progress=True, verbosity=0)


def render(articles, probe, request=None):
    return TEMPLATE.render(Context({"articles": articles, "probe": probe, "request": request}))


def test_fragments_are_cached_by_object_identity(articles):
    probe = Probe()
    first = render(articles, probe)
    assert all(a.title in first for a in articles)
    assert render(articles, probe) == first
    assert probe.counts == {"outer": 1, "inner": 3}


def test_a_changed_object_re_renders_only_its_inner_fragment(articles):
    probe = Probe()
    render(articles, probe)
    changed = articles[1]
    changed.title = "A new headline"
    changed.save()  # updated_at moves: a new key for this article and for the outer list
    html = render(articles, probe)
    assert "A new headline" in html
    assert probe.counts == {"outer": 2, "inner": 4}  # the two unchanged teasers came from cache


def test_named_ttls_and_a_bad_name(articles):
    with pytest.raises(TemplateSyntaxError, match="unknown ttl 'eternal'"):
        Template("{% load upstack %}{% fragment 'x' ttl='eternal' %}x{% endfragment %}").render(Context({}))
    with pytest.raises(TemplateSyntaxError, match="needs a name"):
        Template("{% load upstack %}{% fragment %}x{% endfragment %}")


def test_named_ttls_are_in_every_request_context(client, seeded):
    response = client.get("/")
    assert response.context["ttl"] == conf.get("TTLS")
    assert Template("{{ ttl.long }}").render(Context({"ttl": response.context["ttl"]})) == "3600"


@pytest.mark.parametrize("who,param,fresh", [
    ("staff", "1", True),
    ("anonymous", "1", False),
    ("reader", "1", False),
    ("anonymous", "signed", True),
    ("anonymous", "forged", False),
])
def test_fresh_render_only_for_trusted_callers(articles, settings, who, param, fresh):
    settings.UPSTACK = {**getattr(settings, "UPSTACK", {}), "BYPASS_SECRET": "s3cret-for-tests"}
    probe = Probe()
    render(articles, probe)
    value = {"signed": bypass_signature("/"), "forged": "0" * 32}.get(param, param)
    request = RequestFactory().get("/", {"flush-the-cache": value})
    request.user = {"staff": SimpleNamespace(is_authenticated=True, is_staff=True),
                    "reader": SimpleNamespace(is_authenticated=True, is_staff=False)}.get(who, AnonymousUser())
    render(articles, probe, request)
    assert probe.counts["outer"] == (2 if fresh else 1)


def test_concurrent_renders_of_a_cold_fragment_render_once(articles):
    probe = Probe()
    barrier = threading.Barrier(20)
    results = []

    def go():
        barrier.wait()
        results.append(render(articles, probe))

    threads = [threading.Thread(target=go) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(set(results)) == 1 and len(results) == 20
    assert probe.counts["outer"] == 1


def test_fragment_keys_can_be_rebuilt(articles):
    key = make_fragment_key("inner", articles[0])
    render(articles, Probe())
    assert caches["templates"].get(key) is not None
    assert make_fragment_key("inner", articles[1]) != key
