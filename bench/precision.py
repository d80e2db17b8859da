"""The precision oracle: does a write purge exactly the pages whose HTML it changes?

Over a sample of pages (home, sections, tags, authors, articles, the feed), for random writes of
every kind (comments, likes, title and body edits, status, section and tag changes, new and deleted
articles, author renames, admin saves):

1. every sampled page is rendered fresh (every cache namespace flushed, the page cache off) and
   its HTML and surrogate keys kept;
2. one write is made; the keys it purges are captured (upstack's dummy purge backend);
3. every sampled page is rendered fresh again. A page **changed** when its HTML differs (per-request
   tokens ignored); it **was purged** when the keys it carried before share a key with the purge.

Recall = changed pages that were purged (must be 100%: anything less is a stale page served).
Precision = purged pages that really changed. Both per write kind and overall, with purged pages
per write. ``judge`` is the pure part; ``run`` drives Django in-process (Django's test client),
on whatever database the settings point at.

    python -m bench.precision --articles 2000 --pages 300 --writes 100 [--workers 2] [--edge-keys table] [--json]

runs it on a fresh SQLite database of its own (seeded with ``manage.py seed``); the exit status is
1 when recall is below 100% for any kind. Each write costs one render of every sampled page (its
"after" is the next write's "before"), spread over ``--workers`` forked processes; ``--edge-keys table``
measures the coarse keys (``UPSTACK["EDGE_KEYS"]``, the "before" of docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import logging
import multiprocessing
import os
import random
import re
import sys
import tempfile
import time
from dataclasses import dataclass, field

KINDS = ("comment", "like", "title", "body", "status", "section", "tags", "new_article", "delete_article",
         "author_rename", "admin_save")
# Per-request parts of a page that are not content.
TOKENS = [re.compile(rb'name="csrfmiddlewaretoken" value="[^"]*"'), re.compile(rb'nonce="[^"]*"'),
          re.compile(rb"<lastBuildDate>[^<]*</lastBuildDate>")]


@dataclass
class Outcome:
    kind: str
    changed: set[str]
    purged: set[str]

    @property
    def missed(self) -> set[str]:
        return self.changed - self.purged


@dataclass
class Verdict:
    by_kind: dict[str, dict] = field(default_factory=dict)
    overall: dict = field(default_factory=dict)
    misses: list[dict] = field(default_factory=list)

    @property
    def recall_ok(self) -> bool:
        return all(row["recall"] == 1.0 for row in self.by_kind.values()) and self.overall.get("recall") == 1.0


def _ratios(outcomes: list[Outcome], pages: int) -> dict:
    changed = sum(len(o.changed) for o in outcomes)
    purged = sum(len(o.purged) for o in outcomes)
    hit = sum(len(o.changed & o.purged) for o in outcomes)
    return {"writes": len(outcomes), "changed": changed, "purged": purged,
            "recall": round(hit / changed, 4) if changed else 1.0,
            "precision": round(hit / purged, 4) if purged else 1.0,
            "purged_per_write": round(purged / len(outcomes), 2) if outcomes else 0.0,
            "purged_share": round(purged / (len(outcomes) * pages), 4) if outcomes and pages else 0.0}


def judge(outcomes: list[Outcome], pages: int) -> Verdict:
    """Recall, precision and purged pages per write kind and overall (pure)."""
    verdict = Verdict()
    for kind in dict.fromkeys(o.kind for o in outcomes):
        verdict.by_kind[kind] = _ratios([o for o in outcomes if o.kind == kind], pages)
    verdict.overall = _ratios(outcomes, pages)
    verdict.misses = [{"kind": o.kind, "stale": sorted(o.missed)} for o in outcomes if o.missed]
    return verdict


def normalise(html: bytes) -> bytes:
    for token in TOKENS:
        html = token.sub(b"", html)
    return html


def fingerprint(status: int, html: bytes) -> tuple[int, bytes]:
    """What "the page changed" compares: the status and a digest of the normalised HTML (a digest,
    not the HTML, so that worker processes send little back)."""
    return status, hashlib.blake2b(normalise(html), digest_size=20).digest()


# --- rendering, in this process or in forked workers -----------------------------------------------

_client = None


def render_pages(urls: list[str]) -> dict[str, tuple[tuple[int, bytes], set[str]]]:
    """Each page rendered fresh: every cache namespace of this process flushed first (pages rendered
    after it may share the fragments it fills: they are all rendered after the same write)."""
    global _client
    from django.conf import settings
    from django.core.cache import caches
    from django.test import Client

    if _client is None:
        _client = Client(HTTP_HOST="127.0.0.1")
    for alias in settings.CACHES:
        caches[alias].clear()
    rendered = {}
    for url in urls:
        response = _client.get(url)
        key_header = response.get("xkey", "") if response.status_code == 200 else ""
        rendered[url] = fingerprint(response.status_code, response.content), set(key_header.split())
    return rendered


def _render_in_worker(urls: list[str]) -> tuple[int, dict]:
    return os.getpid(), render_pages(urls)


def _worker_start() -> None:
    from django.db import connections

    connections.close_all()  # never share the parent's connection: open one of this process's own


# --- the in-process driver (Django must be set up) ------------------------------------------------

def sample_pages(count: int, rng: random.Random) -> list[str]:
    from newsroom.news.models import Article, Author, Section, Tag

    fixed = ["/", "/feed/"]
    sections = [s.get_absolute_url() for s in Section.objects.all()]
    authors = [a.get_absolute_url() for a in Author.objects.all()[:20]]
    tags = [t.get_absolute_url() for t in Tag.objects.filter(articles__isnull=False).distinct()[:40]]
    rest = max(count - len(fixed) - len(sections) - len(authors) - len(tags), 0)
    slugs = list(Article.objects.published().values_list("slug", flat=True))
    articles = [f"/articles/{slug}/" for slug in rng.sample(slugs, min(rest, len(slugs)))]
    return (fixed + sections + authors + tags + articles)[:max(count, len(fixed))]


class Oracle:
    """``workers`` > 1: the pages are rendered by that many forked processes (each its own database
    connection and in-process caches), the writes made in this one and committed before they render:
    the same pages, the same fingerprints as one process (tests/bench/test_precision.py), about
    ``workers`` times faster on as many idle cores. Needs a database each process can open (a file,
    PostgreSQL): not an in-memory one, nor a test's uncommitted transaction."""

    def __init__(self, pages: list[str], rng: random.Random, workers: int = 1):
        from django.contrib.auth import get_user_model
        from django.test import Client

        from upstack.edge.backends import dummy

        self.pages, self.rng, self.dummy = pages, rng, dummy
        user_model = get_user_model()
        self.editor = user_model.objects.filter(is_staff=True, is_superuser=True).first() or \
            user_model.objects.create_superuser("oracle-editor", "editor@example.invalid", None)
        self.readers = list(user_model.objects.filter(is_staff=False)[:50])
        self.admin = Client(HTTP_HOST="127.0.0.1")
        self.admin.force_login(self.editor)
        self.serial = 0
        self.pool = None
        self.renderers: set[int] = set()  # the processes that rendered pages
        if workers > 1:
            from django.db import connections

            connections.close_all()  # a forked child must not inherit an open connection
            self.pool = multiprocessing.get_context("fork").Pool(workers, initializer=_worker_start)
            self.chunks = [pages[n::workers] for n in range(workers)]  # interleaved: kinds of page spread

    def close(self) -> None:
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()
            self.pool = None

    def render(self) -> dict[str, tuple[tuple[int, bytes], set[str]]]:
        """Every sampled page, rendered fresh. Once per write: a write's "after" is the next write's
        "before", as nothing else writes to the oracle's database (tests/bench/test_precision.py
        renders twice with no write between and finds the same pages)."""
        if self.pool is None:
            self.renderers.add(os.getpid())
            return render_pages(self.pages)
        rendered = {}
        for pid, part in self.pool.map(_render_in_worker, self.chunks):
            self.renderers.add(pid)
            rendered.update(part)
        return rendered

    def measure(self, kind: str, before: dict) -> tuple[Outcome, dict]:
        self.dummy.purged.clear()
        getattr(self, f"write_{kind}")()
        purged_keys = {key for batch in self.dummy.purged for key in batch}
        after = self.render()
        changed = {url for url in self.pages if before[url][0] != after[url][0]}
        purged = {url for url in self.pages if before[url][1] & purged_keys}
        return Outcome(kind, changed, purged), after

    # --- the writes ---------------------------------------------------------------------------------
    def _article(self, **filters):
        from newsroom.news.models import Article

        ids = list(Article.objects.filter(**filters).values_list("pk", flat=True))
        return Article.objects.get(pk=self.rng.choice(ids))

    def _name(self) -> str:
        self.serial += 1
        return f"Oracle {self.serial} {self.rng.randrange(10**6)}"

    def write_comment(self):
        from newsroom.news.models import Comment

        Comment.objects.create(article=self._article(status="published"), user=self.rng.choice(self.readers),
                               body=self._name())

    def write_like(self):
        from newsroom.news.models import Like

        article, user = self._article(status="published"), self.rng.choice(self.readers)
        existing = Like.objects.filter(article=article, user=user).first()
        if existing:
            existing.delete()
        else:
            Like.objects.create(article=article, user=user)

    def _edit(self, **changes):
        article = self._article()
        for name, value in changes.items():
            setattr(article, name, value(article) if callable(value) else value)
        article.save()

    def write_title(self):
        self._edit(title=self._name())

    def write_body(self):
        self._edit(body=lambda a: a.body + "\n\n" + self._name())

    def write_status(self):
        self._edit(status=lambda a: "draft" if a.status == "published" else "published")

    def write_section(self):
        from newsroom.news.models import Section

        self._edit(section=lambda a: self.rng.choice(list(Section.objects.exclude(pk=a.section_id))))

    def write_tags(self):
        from newsroom.news.models import Tag

        article = self._article()
        current = list(article.tags.all())
        if current and self.rng.random() < 0.5:
            article.tags.remove(self.rng.choice(current))
        else:
            article.tags.add(self.rng.choice(list(Tag.objects.exclude(pk__in=[t.pk for t in current])[:50])))

    def write_new_article(self):
        from django.utils import timezone

        from newsroom.news.models import Article, Author, Section

        name = self._name()
        Article.objects.create(title=name, slug=name.lower().replace(" ", "-"), body="Body.", standfirst="New.",
                               section=self.rng.choice(list(Section.objects.all())),
                               author=self.rng.choice(list(Author.objects.all())), status="published",
                               published_at=timezone.now())

    def write_delete_article(self):
        self._article().delete()

    def write_author_rename(self):
        from newsroom.news.models import Author

        author = self.rng.choice(list(Author.objects.all()))
        author.name = self._name()
        author.save()

    def write_admin_save(self):
        from django.urls import reverse

        from bench.forms import form_fields

        article = self._article()
        url = reverse("admin:news_article_change", args=[article.pk])
        fields = dict(form_fields(self.admin.get(url).content.decode(), "article_form"))
        fields["title"] = self._name()
        response = self.admin.post(url, fields)
        if response.status_code != 302:
            raise RuntimeError(f"the admin save of article {article.pk} answered {response.status_code}")


def run(pages: int, writes: int, seed: int = 1, kinds=KINDS, progress=None, edge_keys: str = "precise",
        workers: int = 1) -> dict:
    """Measure on the configured database with ``UPSTACK["EDGE_KEYS"] = edge_keys``; returns the verdict
    as a dict (see ``judge``). ``workers``: see ``Oracle``."""
    from django.conf import settings
    from django.test.utils import override_settings

    rng = random.Random(seed)
    upstack = {**settings.UPSTACK, "PAGE_CACHE": False, "PURGE_REPEAT_AFTER": 0, "EDGE_KEYS": edge_keys,
               "PURGE_BACKENDS": {"oracle": {"BACKEND": "upstack.edge.backends.dummy.DummyBackend"}}}
    request_log = logging.getLogger("upstack.request")
    level = request_log.level
    request_log.setLevel(logging.WARNING)  # a line per render is work that changes no HTML
    oracle = None
    try:
        with override_settings(UPSTACK=upstack, CELERY_BROKER_URL=None, DEBUG=False):
            sampled = sample_pages(pages, rng)
            oracle = Oracle(sampled, rng, workers)
            started = time.monotonic()
            outcomes, current = [], oracle.render()
            order = [kind for kind in kinds for _ in range(writes)]
            rng.shuffle(order)
            for n, kind in enumerate(order, 1):
                outcome, current = oracle.measure(kind, current)
                outcomes.append(outcome)
                if progress and (n % 10 == 0 or n == len(order)):
                    progress(f"precision ({edge_keys}): {n}/{len(order)} writes, "
                             f"{time.monotonic() - started:.0f} s")
    finally:
        request_log.setLevel(level)
        if oracle is not None:
            oracle.close()
    verdict = judge(outcomes, len(sampled))
    return {"pages": len(sampled), "writes_per_kind": writes, "edge_keys": edge_keys,
            "rendering_processes": len(oracle.renderers), "by_kind": verdict.by_kind,
            "overall": verdict.overall, "recall_ok": verdict.recall_ok, "misses": verdict.misses[:20]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=2000)
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--writes", type=int, default=100, help="writes of each kind")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--edge-keys", choices=("precise", "table"), default="precise",
                        help='UPSTACK["EDGE_KEYS"] to measure (docs/settings.md); "table" is the coarse baseline')
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1),
                        help="processes rendering the pages (default: 2, or 1 on one CPU)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="upstack-precision-") as tmp:
        os.environ["DATABASE_URL"] = f"sqlite:///{tmp}/oracle.sqlite3"
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "newsroom.settings.test")
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        call_command("seed", articles=args.articles, users=60, comments=args.articles * 3, seed=args.seed,
                     no_progress=True, verbosity=0, stdout=io.StringIO())  # stdout is the report
        if args.workers < 1:
            parser.error("--workers must be at least 1")
        result = run(args.pages, args.writes, args.seed, progress=lambda m: print(m, file=sys.stderr),
                     edge_keys=args.edge_keys, workers=args.workers)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{'kind':16} {'writes':>6} {'recall':>7} {'precision':>9} {'purged/write':>12}")
        for kind, row in {**result["by_kind"], "overall": result["overall"]}.items():
            print(f"{kind:16} {row['writes']:>6} {row['recall']:>7.1%} {row['precision']:>9.1%} "
                  f"{row['purged_per_write']:>12}")
    return 0 if result["recall_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
