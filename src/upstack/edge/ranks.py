"""Ranked entry keys: "the N newest" told apart from "all" (docs/edge.md, precision).

A list of the newest rows of a scope (``Article.objects.filter(section=3)[:10]`` with the model
ordered by ``-published_at``) changes when a row comes in only if the row ranks among those shown:
its ``published_at`` is at least that of the last row shown (the list's boundary). An old article
moved into section 3 does not change the section's first page; a new one does.

So such a list records, instead of the plain entry key (``news.article@section=3+``), keys that
cover the values from its boundary on, and a row coming in purges the keys on its own value's path:

- a value maps to a leaf: its week since ``EPOCH``, clamped to the ``BASE ** LEVELS`` weeks the
  tree covers;
- the weeks form a tree of ``LEVELS`` levels with ``BASE`` children per node; a node's key is
  ``news.article@section=3+published_at/<level>.<node>``;
- a list covers its range with the fewest nodes (at most ``BASE - 1`` per level and ``BASE`` at the
  top), and a row's write purges one node per level: ``LEVELS`` keys per scope. A row's path meets
  a list's cover exactly when its week is in the list's range, so nothing a list shows can be
  missed; the only over-purge is a row of the boundary's own week that ranks just below it.

Only a model's default ordering field (``Meta.ordering[0]``) ranks, when it is a date or datetime
that cannot be null: both sides (the page that reads, the write that purges) must agree on it
without sharing state. Written here rather than taken from a library: cache-tag systems (Drupal's
cache tags, django-cacheops' conj keys) purge a list on any insert into its scope and have no notion
of a list's rank boundary.
"""

from __future__ import annotations

import datetime as dt
from functools import cache

from django.db.models import DateField

from . import keys

EPOCH = dt.date(1970, 1, 5)  # a Monday: leaves are weeks from Monday to Sunday (UTC)
UNIT = 7
# Weeks from 1970 to 2283 in a tree of 4 children per node: about 10 keys per list (at most 14) for a
# boundary in the last year, 7 keys per scope a row comes into. Days would cost a list half as many
# keys again; a binary tree, half the keys per list and twice as many per write.
BASE = 4
LEVELS = 7
SPAN = BASE**LEVELS
MAX_COVER_KEYS = 48  # past that many keys for one list (many scopes), it records its plain entry keys


def leaf(value) -> int | None:
    """The tree's leaf (week) for a date or datetime (an aware datetime by its UTC date); None for
    anything else (then the caller falls back to plain keys)."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC)
        value = value.date()
    if not isinstance(value, dt.date):
        return None
    return min(max((value - EPOCH).days // UNIT, 0), SPAN - 1)


def path(index: int) -> list[tuple[int, int]]:
    """The node of each level that contains leaf ``index``: what a row with that value purges."""
    return [(level, index // BASE**level) for level in range(LEVELS)]


def cover(low: int, high: int) -> list[tuple[int, int]]:
    """The fewest nodes whose leaves are exactly ``low..high`` (inclusive)."""
    found, level = [], 0
    while low <= high:
        if level == LEVELS - 1:
            found.extend((level, node) for node in range(low, high + 1))
            break
        while low % BASE and low <= high:
            found.append((level, low))
            low += 1
        while (high + 1) % BASE and low <= high:
            found.append((level, high))
            high -= 1
        if low > high:
            break
        low, high, level = low // BASE, (high + 1) // BASE - 1, level + 1
    return found


def shown_range(boundary: int, descending: bool) -> tuple[int, int]:
    """The leaves a row must fall in to rank among a full list whose last row is at ``boundary``."""
    return (boundary, SPAN - 1) if descending else (0, boundary)


def compared_range(comparisons) -> tuple[int, int] | None:
    """The leaves a row can be in to pass ``comparisons`` ((lookup name, constant) pairs on the field,
    AND-ed: ``published_at__lte=now``); None if a constant is not a date."""
    low, high = 0, SPAN - 1
    for name, value in comparisons:
        values = list(value) if name == "range" else [value]
        leaves = [leaf(v) for v in values]
        if None in leaves:
            return None
        if name in ("gt", "gte", "exact", "range"):
            low = max(low, leaves[0])
        if name in ("lt", "lte", "exact", "range"):
            high = min(high, leaves[-1])
    return low, high


class Ranked:
    """A list of instances whose rows can only come in from a range of its ranking field's values:
    the range its WHERE's constant comparisons allow and, for a full LIMITed list ordered first by
    that field (``ordered``: its direction), the values from its last row's on. ``plain`` is what it
    records when it cannot say (not full, not read to the end): its entry keys and the field's
    ``~field`` keys, as any other list."""

    def __init__(self, label: str, scopes: list[dict], field, bounds: tuple[int, int], limit: int | None,
                 ordered: bool | None):
        self.label, self.scopes, self.field, self.bounds = label, scopes, field, bounds
        self.limit, self.ordered = limit, ordered
        self.plain = {keys.entry_key(label, scope) for scope in scopes} | {
            keys.field_key(label, field.name, scope) for scope in scopes}

    @property
    def needs_rows(self) -> bool:
        """Does it depend on its last row (a LIMITed list ordered by the field)?"""
        return self.ordered is not None

    def keys(self, boundary=None) -> set[str]:
        """Its keys, given its last row's value when it is full (``boundary``), else None."""
        low, high = self.bounds
        if boundary is not None:
            index = leaf(boundary)
            if index is None:
                return self.plain
            shown = shown_range(index, self.ordered)
            low, high = max(low, shown[0]), min(high, shown[1])
        if low > high:  # no row can come in: only a write that cannot say its value
            return {any_key(self.label, scope, self.field.name) for scope in self.scopes}
        found = list_keys(self.label, self.scopes, self.field.name, low, high)
        return self.plain if found is None else found

    def resolve(self, rows: int, last) -> set[str]:
        """Once read to the end: ``rows`` loaded, ``last`` the last one."""
        if last is not None and rows >= self.limit:
            if self.field.attname not in last.__dict__:
                return self.plain
            return self.keys(last.__dict__[self.field.attname])
        return self.keys()


def key(label: str, scope: dict, field: str, node: tuple[int, int]) -> str:
    level, number = node
    return f"{keys.entry_key(label, scope)}{field}/{level}.{number}"


def any_key(label: str, scope: dict, field: str) -> str:
    """What every ranked list of ``scope`` records too: purged by a row coming in whose value the
    write does not know (a deferred field, a value that is not a date)."""
    return f"{keys.entry_key(label, scope)}{field}/*"


def list_keys(label: str, scopes: list[dict], field: str, low: int, high: int) -> set[str] | None:
    """The keys a ranked list whose rows can only come from leaves ``low..high`` records in each of its
    scopes; None when that takes too many keys (then the list records its plain entry keys)."""
    nodes = cover(low, high)
    if len(nodes) * len(scopes) > MAX_COVER_KEYS:
        return None
    return {key(label, scope, field, node) for scope in scopes for node in nodes} | {
        any_key(label, scope, field) for scope in scopes}


def write_keys(label: str, scope: dict, field: str, value) -> set[str]:
    """The keys a row with ``value`` coming into the lists of ``scope`` purges."""
    index = leaf(value)
    if index is None:
        return {any_key(label, scope, field)}
    return {key(label, scope, field, node) for node in path(index)}


@cache
def ranked_field(model):
    """The field a list of ``model`` can be ranked by: its default ordering's first field, if a
    local, non-null date or datetime of its concrete model; else None."""
    meta = model._meta.concrete_model._meta
    ordering = [item for item in (meta.ordering or ()) if isinstance(item, str)]
    if not ordering:
        return None
    name = ordering[0].lstrip("-+")
    field = next((f for f in meta.local_concrete_fields if f.name == name), None)
    if field is None or not isinstance(field, DateField) or field.null:
        return None
    return field
