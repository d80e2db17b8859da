"""Personalisation without losing the cache: Edge Side Includes.

A page is shared by everyone; the few per-user parts (a user bar, a form with its CSRF token, a
"liked" state) are fragments. Behind an ESI-capable proxy (it sent ``Surrogate-Capability:
...ESI/1.0``) ``{% esi "name" key=value %}`` leaves a slot, and the page's one per-reader include
(``{% esi_reader %}``, upstack.edge.personal) renders every fragment of the page at once. Otherwise
(the embedded default, tests, a CDN without ESI) the tag renders the fragment's template inline,
with the page's context plus the parameters: the view already loaded what the fragment shows, so
inline rendering costs no query.

Fragments are registered by name with a template and a context function::

    from upstack.edge import esi

    esi.register("like", "news/_like.html", lambda request, article: {...})

``fragment_view`` serves one fragment at ``/_esi/<name>/`` (include ``upstack.urls``): private and
uncached for a logged-in user; shared (``s-maxage``) for anonymous visitors, whose fragment is the
same for all. Parameters come from the query string only and are passed as strings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.http import Http404, HttpResponse
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET

from .. import conf
from .contract import ESI_PREFIX

PREFIX = ESI_PREFIX


@dataclass(frozen=True)
class Fragment:
    name: str
    template: str
    context: Callable[..., dict]
    # Its HTML depends on nothing but the reader (their session) and its parameters, and whatever
    # changes it purges the reader's key (``personal.forget_reader``): the edge may keep it per session.
    reader_only: bool = False


_registry: dict[str, Fragment] = {}


def register(name: str, template: str, context: Callable[..., dict] | None = None, *, reader_only: bool = False) -> None:
    """``reader_only=True``: the part shows nothing but what belongs to the reader (their name, token,
    their own likes), the same on every page it is on, and whatever changes that calls
    ``upstack.edge.personal.forget_reader(user_id)``; an include made only of such parts is kept by
    the edge per session (``READER_EDGE_TTL``)."""
    if name == "reader":  # /_esi/reader/ serves every part of a page at once (upstack.edge.personal)
        raise ValueError("'reader' is reserved: /_esi/reader/ is the combined per-reader include")
    _registry[name] = Fragment(name, template, context or (lambda request, **params: {}), reader_only)


def get(name: str) -> Fragment:
    try:
        return _registry[name]
    except KeyError:
        raise LookupError(f"no ESI fragment named {name!r}; registered: {', '.join(sorted(_registry))}") from None


def edge_processes_esi(request) -> bool:
    return request is not None and "ESI/1.0" in request.META.get("HTTP_SURROGATE_CAPABILITY", "")


def render_fragment(request, name: str, params: dict) -> str:
    fragment = get(name)
    context = fragment.context(request, **{k: str(v) for k, v in params.items()})
    return render_to_string(fragment.template, context, request=request)


def render_inline(name: str, context) -> str:
    """The fragment's template with the page's own context (inline rendering, no ESI edge)."""
    return context.template.engine.get_template(get(name).template).render(context)


@require_GET
def fragment_view(request, name: str):
    try:
        fragment = get(name)
    except LookupError:
        raise Http404("No such fragment.") from None
    try:
        html = render_fragment(request, fragment.name, request.GET.dict())
    except (TypeError, LookupError, ValueError):
        raise Http404("Bad fragment parameters.") from None
    return fragment_response(request, html)


def fragment_response(request, html: str) -> HttpResponse:
    """Private and uncached for a logged-in reader; shared by the edge for anonymous visitors."""
    response = HttpResponse(html)
    if request.user.is_authenticated:
        response["Cache-Control"] = "private, no-cache"
    else:
        response["Cache-Control"] = f"public, max-age=0, s-maxage={conf.get('PAGE_CACHE_TTL')}"
    return response
