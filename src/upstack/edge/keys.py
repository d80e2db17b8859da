"""Surrogate keys: which objects and lists a response was built from (docs/edge.md).

Pure key formatting plus the per-request collector (a context variable). Keys look like

    news.article:42                   one instance
    news.comment@article=42           which rows are in a list: the comments of article 42 (a list
                                      scoped by its equality and IN filters; "&" joins two fields),
                                      for a count, values or an OFFSET page: any row in or out
    news.comment@article=42+          the same for a list of instances from its first row: only a
                                      row coming in changes it (a row going out was shown, so the
                                      page carries that row's instance key)
    news.article@*                    which rows are in a list with no such filter (all articles)
    news.article~published_at@*       the list also filters or orders on published_at: an update
                                      that changes published_at changes what it shows
    news.article~*@section=3          the list depends on something that could not be read (a
                                      raw WHERE): any update of a row in that scope
    news.article@any                  the page's keys overflowed the header: any write of the model
    news.article:42+news.like         article 42 with an aggregate over likes (a like count): what
                                      a like of article 42 purges (``UPSTACK["EDGE_TOUCH"]``)

A write maps to the keys it can change (see ``invalidation``): an insert or a delete to the
membership keys of every list its row is in; an update to its instance key, and only for the
fields it changed, to their ``~field`` keys (and to membership keys when a scoping field moved
the row). So "a new comment on article 42" purges ``news.comment@article=42`` but not
``news.comment@article=7``, and a retitled article purges the pages that show it and no others.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterable
from urllib.parse import quote

_collector: contextvars.ContextVar[set[str] | None] = contextvars.ContextVar("upstack_surrogate_keys", default=None)


def instance_key(label: str, pk) -> str:
    return f"{label}:{pk}"


LEAN = "/lean"


def lean_key(label: str, pk) -> str:
    """A row as loaded without its detail fields (``models.detail_fields``: its text fields, deferred as
    list queries do): an update of only those fields leaves such pages alone."""
    return f"{label}:{pk}{LEAN}"


def instance_keys(label: str, pk) -> set[str]:
    """Both forms of a row's key: what a change of any of its shown fields purges."""
    return {instance_key(label, pk), lean_key(label, pk)}


WILDCARD = "*"  # the field of a ~field key that any update purges (a list that could not be read)
MAX_SCOPE_FIELDS = 2  # a list scoped on more fields records the first two: broader, never missed


def _value(value) -> str:
    value = value.pk if hasattr(value, "pk") else value
    return quote(str(value), safe="")


def scope(filters: dict | None) -> str:
    if not filters:
        return "*"
    return "&".join(f"{field}={_value(filters[field])}" for field in sorted(filters))


def list_key(label: str, filters: dict | None = None) -> str:
    return f"{label}@{scope(filters)}"


def entry_key(label: str, filters: dict | None = None) -> str:
    """A list of instances, read from its first row, in the scope ``filters``: only an entering row changes it."""
    return f"{label}@{scope(filters)}+"


def field_key(label: str, field: str, filters: dict | None = None) -> str:
    """A list of ``label`` (in the scope ``filters``) that filters or orders on ``field``."""
    return f"{label}~{field}@{scope(filters)}"


def aggregate_key(label: str, pk, over: str) -> str:
    """Instance ``pk`` of ``label`` as shown with an aggregate over the model ``over`` ("*": unknown)."""
    return f"{label}:{pk}+{over}"


def any_key(label: str) -> str:
    return f"{label}@any"


def label_of_key(key: str) -> str:
    return key.split(":")[0].split("@")[0].split("~")[0]


def row_scopes(values: dict) -> list[dict]:
    """Every scope a row with ``values`` ({scoping field: value}) belongs to: none (the whole
    table), each single field, and each pair (``MAX_SCOPE_FIELDS``): what a list can have recorded.
    A many-to-many field's value is the set of the row's related primary keys: the row is in the
    scope of each of them (``news.article@status=published&tags=7``, for each of its tags)."""
    scoped = {}
    for name in sorted(values):
        value = values[name]
        options = sorted(value, key=str) if isinstance(value, (set, frozenset)) else [value]
        options = [option for option in options if option is not None]
        if options:
            scoped[name] = options
    fields = list(scoped)
    found = [{}] + [{f: v} for f in fields for v in scoped[f]]
    for i, first in enumerate(fields):
        for second in fields[i + 1:]:
            found.extend({first: a, second: b} for a in scoped[first] for b in scoped[second])
    return found


def membership_keys(label: str, filters: dict | None, entering: bool) -> set[str]:
    """What a row changes in the lists of scope ``filters`` by leaving them (counts, values, OFFSET
    pages), or by coming in (``entering``: lists of instances read from their first row too)."""
    return {list_key(label, filters), entry_key(label, filters)} if entering else {list_key(label, filters)}


def format_header(keys: Iterable[str], max_length: int = 8000) -> str:
    """Space-separated, sorted; if too long, the lists-of-everything keys stand in for the rest."""
    ordered = sorted(set(keys))
    text = " ".join(ordered)
    if len(text) <= max_length:
        return text
    labels = sorted({label_of_key(k) for k in ordered})
    return " ".join(any_key(label) for label in labels) + " upstack@overflow"


# --- the per-request collector -------------------------------------------------------------------

def start() -> contextvars.Token:
    return _collector.set(set())


def stop(token: contextvars.Token) -> set[str]:
    keys = _collector.get() or set()
    _collector.reset(token)
    return keys


def record(*keys: str) -> None:
    current = _collector.get()
    if current is not None:
        current.update(keys)


def collecting() -> bool:
    return _collector.get() is not None


def current() -> set[str]:
    return set(_collector.get() or ())
