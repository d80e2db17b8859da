"""One backend request per logged-in page view: the reader's fragments in a single ESI include.

Behind an ESI edge a page's ``{% esi "name" ... %}`` tags do not each emit an include (three of them
cost a logged-in view three Django requests). Each leaves an empty slot where its part goes and
records the part on the request; ``{% esi_reader %}``, placed once near the end of the page (after
every slot), emits one include for all of them::

    <esi:include src="/_esi/reader/?comment-form.article=12&like.article=12&userbar"/>

``reader_view`` renders every part (the registered fragments of ``upstack.edge.esi``, each with its
own parameters: ``<part>.<param>=value``, a bare ``<part>`` for none) in one response, each wrapped
in ``<div data-upstack-part="name">``, then a few lines of JavaScript move each part into its slot.
Without JavaScript the parts stay where the include is, near the end of the page, and still work
(forms with their CSRF token). Without an ESI edge nothing changes: each tag renders its part
inline with the page's context, and ``{% esi_reader %}`` renders nothing.

Parts should carry ids, not slugs, so that a part needs no lookup, and no part should render a Django
form just for its CSRF token. ``upstack.edge.lean`` is the lean path that serves the include.

Kept at the edge per session: when every part of an include is registered ``reader_only`` (it shows
only what belongs to the reader, the same on every page, so the include's URL is the same on every
page too), the response says so (``X-Upstack-Reader-TTL``) and the edge keeps it under the reader's
session cookie, for ``READER_EDGE_TTL`` seconds at most, tagged with the reader's key
(``reader_key``). A logged-in view is then two edge hits - the shared page and the reader's own
include - and no backend request. Login gives a new session cookie (Django cycles the session key),
so a new cache entry; logout, a save or delete of the user, and ``forget_reader`` (the project calls
it when something a part shows changes, such as the reader's likes) purge every copy of that reader's
include. Logout purges from this process at once, not through the worker, and once more a moment
later (for an include fetched while the logout was under way), so a logged-out cookie replayed finds
nothing. The edge also refetches the include during the reader's fresh-after-write window
(upstack.edge.fresh), so a reader's own write shows at once even before its purge lands.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote

from django.conf import settings
from django.contrib.auth import get_user_model, user_logged_out
from django.db.models.signals import post_delete, post_save
from django.http import Http404
from django.template import RequestContext
from django.template.loader import get_template
from django.utils.html import escape
from django.views.decorators.http import require_GET

from .. import conf
from . import esi, purge
from .models import ignored_update

READER_PATH = esi.PREFIX + "reader/"
_PARTS = "_upstack_reader_parts"
# Moves each part into its slot; a part without a slot stays where it is.
PLACE_SCRIPT = ("<script>(function(){var s=document.currentScript,w=s&&s.previousElementSibling;"
                "if(!w)return;w.querySelectorAll('[data-upstack-part]').forEach(function(p){"
                "var t=document.querySelector('[data-upstack-slot=\"'+p.dataset.upstackPart+'\"]');"
                "if(t){t.replaceWith.apply(t,Array.from(p.childNodes));p.remove();}});})();</script>")


def slot(request, name: str, params: Mapping) -> str:
    """Record the part ``name`` for this page's reader include; the placeholder it will fill."""
    esi.get(name)  # an unknown part is an error at render time, as an unknown fragment is
    parts = getattr(request, _PARTS, None)
    if parts is None:
        parts = {}
        setattr(request, _PARTS, parts)
    given = {k: str(v) for k, v in params.items()}
    if parts.setdefault(name, given) != given:
        raise ValueError(f"the part {name!r} appears twice on one page with different parameters")
    return f'<span hidden data-upstack-slot="{escape(name)}"></span>'


def include_query(parts: Mapping[str, Mapping[str, str]]) -> str:
    """``<part>.<param>=value`` for each part's parameters, a bare ``<part>`` for a part without any;
    sorted, as the edge sorts query strings."""
    items = []
    for name, params in parts.items():
        if "." in name or "=" in name or "&" in name:
            raise ValueError(f"part names cannot hold '.', '=' or '&': {name!r}")
        if not params:
            items.append(quote(name, safe="-_"))
        items += [f"{quote(name + '.' + key, safe='-_.')}={quote(str(value), safe='')}"
                  for key, value in params.items()]
    return "&".join(sorted(items))


def parse_query(query: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """The inverse of ``include_query``: part name -> its parameters (``ValueError`` when empty)."""
    parts: dict[str, dict[str, str]] = {}
    for key, value in query.items():
        name, dot, param = key.partition(".")
        if not name or (dot and not param):
            raise ValueError(f"bad reader parameter {key!r}")
        parts.setdefault(name, {})
        if dot:
            parts[name][param] = value
    if not parts:
        raise ValueError("no parts asked for")
    return parts


def reader_include(request) -> str:
    """The one include for the parts recorded on ``request`` (empty when there are none)."""
    parts = getattr(request, _PARTS, None)
    if not parts:
        return ""
    query = include_query(parts)
    return (f'<div class="upstack-reader"><esi:include src="{READER_PATH}?{escape(query)}" onerror="continue"/>'
            f"</div>{PLACE_SCRIPT}")


def render_parts(request, parts: Mapping[str, Mapping[str, str]]) -> str:
    """Every part in one template context: the context processors run once, not once per part."""
    names = sorted(parts)
    fragments = [esi.get(name) for name in names]
    templates = [get_template(f.template).template for f in fragments]
    context = RequestContext(request)
    html = []
    with context.bind_template(templates[0]):
        for name, fragment, template in zip(names, fragments, templates, strict=True):
            with context.push(fragment.context(request, **parts[name])):
                html.append(f'<div data-upstack-part="{escape(name)}">{template.render(context)}</div>')
    return "".join(html)


def reader_key(user_id) -> str:
    """The surrogate key of every cached copy of one reader's include."""
    return f"upstack-reader:{user_id}"


def edge_ttl(parts: Mapping[str, Mapping[str, str]], ttl: int) -> int:
    """Seconds the edge may keep this include per session: ``ttl`` when every part is reader-only."""
    return ttl if ttl > 0 and all(esi.get(name).reader_only for name in parts) else 0


TTL_HEADER = "X-Upstack-Reader-TTL"  # read (and removed) by the edge for a per-session fetch only


@require_GET
def reader_view(request):
    try:
        parts = parse_query(request.GET.dict())
        html = render_parts(request, parts)
    except (TypeError, LookupError, ValueError):
        raise Http404("Bad reader parts.") from None
    response = esi.fragment_response(request, html)
    ttl = edge_ttl(parts, conf.get("READER_EDGE_TTL"))
    if ttl and settings.SESSION_COOKIE_NAME in request.COOKIES:
        response[TTL_HEADER] = str(ttl)
        if request.user.is_authenticated and conf.get("KEY_HEADER"):
            response[conf.get("KEY_HEADER")] = reader_key(request.user.pk)
    return response


def forget_reader(user_id) -> None:
    """Purge every copy the edge keeps of this reader's include (after the transaction commits)."""
    purge.add({reader_key(user_id)})


def _user_saved(sender, instance, update_fields=None, **kwargs) -> None:
    if ignored_update(sender, update_fields):
        return  # e.g. a login's last_login: no part shows it, and the session cookie is new anyway
    forget_reader(instance.pk)


def _user_deleted(sender, instance, **kwargs) -> None:
    forget_reader(instance.pk)


def _logged_out(sender, request, user, **kwargs) -> None:
    # Django sends this before it flushes the session: an include fetched in between (another tab) is
    # caught by the pipeline's repeat (PURGE_REPEAT_AFTER), also sent from here.
    if user is not None and user.pk is not None:
        purge.dispatch({reader_key(user.pk)}, here=True)


def install() -> None:
    """Purge a reader's kept includes on logout and when the user is saved or deleted (``AppConfig.ready``)."""
    model = get_user_model()
    post_save.connect(_user_saved, sender=model, dispatch_uid="upstack.edge.personal.save")
    post_delete.connect(_user_deleted, sender=model, dispatch_uid="upstack.edge.personal.delete")
    user_logged_out.connect(_logged_out, dispatch_uid="upstack.edge.personal.logout")
