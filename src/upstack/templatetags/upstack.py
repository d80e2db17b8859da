"""The ``upstack`` template tag library: Russian-doll fragment caching.

::

    {% load upstack %}
    {% fragment "article-body" article ttl="long" %} ... {% endfragment %}
    {% fragment "teaser" a a.comment_count ttl="medium" %} ... {% endfragment %}

* The key is the fragment's name plus the identity of each argument: a model instance contributes
  its model, primary key and ``updated_at`` (key-based expiration: a changed object is a new key, so
  nothing needs deleting); a list contributes each item; anything else its string form.
* ``ttl`` is a named lifetime from ``UPSTACK["TTLS"]`` (short, medium, long, forever) or seconds.
  The names are also in every template context as ``ttl`` (context processor
  ``upstack.context_processors.upstack``).
* Stored through ``get_or_compute`` in the ``templates`` namespace: jittered TTLs, one render per
  expiry under load (single flight).
* Read in one ``get_many`` per page: the keys the page's last render looked up are read together
  on its first fragment, and a trusted fresh render writes its fragments with one ``set_many`` per
  outermost fragment (``upstack.cache.batch``).
* Nested fragments are cached on their own: when an outer fragment's key changes, the inner
  fragments whose objects did not change come from cache.
* ``?flush-the-cache`` (``UPSTACK["BYPASS_PARAM"]``) renders every fragment afresh, for staff or
  signed requests only (``upstack.cache.bypass``).

``make_fragment_key(name, *args)`` rebuilds a key, to inspect or invalidate it from code.
"""

from __future__ import annotations

import hashlib

from django import template
from django.db.models import Model
from django.utils.safestring import mark_safe

from .. import conf
from ..cache import batch, get_or_compute
from ..cache.bypass import fresh_render_requested

register = template.Library()
NAMESPACE = "templates"


def _identity(value) -> str:
    if isinstance(value, Model):
        stamp = getattr(value, "updated_at", None)
        stamp = stamp.timestamp() if hasattr(stamp, "timestamp") else ""
        return f"{value._meta.label_lower}:{value.pk}:{stamp}"
    if isinstance(value, (list, tuple)) or (hasattr(value, "__iter__") and hasattr(value, "model")):
        return "[" + ",".join(_identity(item) for item in value) + "]"
    return str(value)


def make_fragment_key(name: str, *args) -> str:
    digest = hashlib.md5("|".join(_identity(a) for a in args).encode(), usedforsecurity=False).hexdigest()
    return f"fragment:{name}:{digest}"


def resolve_ttl(ttl) -> int:
    names = conf.get("TTLS")
    if isinstance(ttl, str) and not ttl.isdigit():
        if ttl not in names:
            raise template.TemplateSyntaxError(f"unknown ttl {ttl!r}; named ttls: {', '.join(names)}")
        return int(names[ttl])
    return int(ttl)


class FragmentNode(template.Node):
    def __init__(self, nodelist, name, args, ttl):
        self.nodelist, self.name, self.args, self.ttl = nodelist, name, args, ttl

    def render(self, context):
        name = self.name.resolve(context)
        args = [arg.resolve(context) for arg in self.args]
        ttl = resolve_ttl(self.ttl.resolve(context)) if self.ttl else resolve_ttl("medium")
        request = context.get("request")
        fresh = fresh_render_requested(request)
        key = make_fragment_key(name, *args)
        page = batch.for_request(request, NAMESPACE, prefetch=not fresh)

        def compute():
            return str(self.nodelist.render(context))

        if page is None:  # no request (an email, a management command): one read per fragment
            return mark_safe(get_or_compute(key, compute, ttl, namespace=NAMESPACE, force=fresh))
        known = page.entry(key)
        page.depth += 1
        try:
            html = get_or_compute(key, compute, ttl, namespace=NAMESPACE, force=fresh, known=known,
                                  store=page.store if fresh else None)
        finally:
            page.depth -= 1
            if page.depth == 0 and not page.owned:
                page.flush()
        return mark_safe(html)


@register.tag("fragment")
def do_fragment(parser, token):
    bits = token.split_contents()
    if len(bits) < 2:
        raise template.TemplateSyntaxError("{% fragment %} needs a name: {% fragment \"name\" obj ... ttl=\"medium\" %}")
    name = parser.compile_filter(bits[1])
    args, ttl = [], None
    for bit in bits[2:]:
        if bit.startswith("ttl="):
            ttl = parser.compile_filter(bit[4:])
        else:
            args.append(parser.compile_filter(bit))
    nodelist = parser.parse(("endfragment",))
    parser.delete_first_token()
    return FragmentNode(nodelist, name, args, ttl)


class EsiNode(template.Node):
    def __init__(self, name, params):
        self.name, self.params = name, params

    def render(self, context):
        from ..edge import esi

        name = self.name.resolve(context)
        params = {key: value.resolve(context) for key, value in self.params.items()}
        request = context.get("request")
        if esi.edge_processes_esi(request):
            from ..edge import personal

            # A slot: the page's one reader include ({% esi_reader %}) fills it.
            return mark_safe(personal.slot(request, name, params))
        # Inline: the page already holds what its fragments show (and a form's errors); no queries.
        with context.push(**{key: value for key, value in params.items() if key not in context}):
            return mark_safe(esi.render_inline(name, context))


@register.tag("esi")
def do_esi(parser, token):
    """``{% esi "like" article=article.pk %}``: behind an ESI-capable edge, a slot that the page's one
    reader include (``{% esi_reader %}``) fills; the fragment's template rendered inline with the
    page's context (plus the parameters) otherwise (``upstack.edge.esi``, ``upstack.edge.personal``)."""
    bits = token.split_contents()
    if len(bits) < 2:
        raise template.TemplateSyntaxError('{% esi %} needs a fragment name: {% esi "name" key=value %}')
    params = {}
    for bit in bits[2:]:
        key, sep, value = bit.partition("=")
        if not sep:
            raise template.TemplateSyntaxError(f"{{% esi %}} parameters are key=value, got {bit!r}")
        params[key] = parser.compile_filter(value)
    return EsiNode(parser.compile_filter(bits[1]), params)


@register.simple_tag(takes_context=True)
def esi_reader(context):
    """``{% esi_reader %}``, once per page after every ``{% esi %}`` tag (near ``</body>``): behind an
    ESI edge, the one include that renders all of the page's per-reader parts
    (``upstack.edge.personal``); nothing otherwise."""
    from ..edge import esi, personal

    request = context.get("request")
    return mark_safe(personal.reader_include(request)) if esi.edge_processes_esi(request) else ""


@register.simple_tag
def thumbnail(image, size="medium", fmt="jpeg"):
    """``{% thumbnail article.lead_image "medium" "webp" %}``: the thumbnail's URL (made on the
    spot if no worker has made it yet; upstack.images)."""
    from .. import images

    return images.url(image, size, fmt)
