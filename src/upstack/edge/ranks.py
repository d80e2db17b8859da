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


def key(label: str, scope: dict, field: str, node: tuple[int, int]) -> str:
    level, number = node
    return f"{keys.entry_key(label, scope)}{field}/{level}.{number}"


def any_key(label: str, scope: dict, field: str) -> str:
    """What every ranked list of ``scope`` records too: purged by a row coming in whose value the
    write does not know (a deferred field, a value that is not a date)."""
    return f"{keys.entry_key(label, scope)}{field}/*"


def list_keys(label: str, scopes: list[dict], field: str, boundary_value, descending: bool) -> set[str] | None:
    """The keys a full ranked list records (its cover in each scope); None when the boundary is not a
    date or the cover is too large (then the list records its plain entry keys)."""
    boundary = leaf(boundary_value)
    if boundary is None:
        return None
    nodes = cover(*shown_range(boundary, descending))
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
