"""Surrogate keys (BLUEPRINT C3): which objects and lists a response was built from.

Pure key formatting plus the per-request collector (a context variable). Keys look like

    news.article:42                one instance
    news.comment@article=42        the list of comments of article 42 (a list scoped by its
                                   equality filters; several filters are joined with "&")
    news.article@*                 a list with no equality filter (all articles, latest, search)

A write maps to the keys of every list it could appear in (see ``invalidation``), so "a new comment
on article 42" purges ``news.comment@article=42`` but not ``news.comment@article=7``.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterable

_collector: contextvars.ContextVar[set[str] | None] = contextvars.ContextVar("upstack_surrogate_keys", default=None)


def instance_key(label: str, pk) -> str:
    return f"{label}:{pk}"


def list_key(label: str, filters: dict | None = None) -> str:
    if not filters:
        return f"{label}@*"
    return f"{label}@" + "&".join(f"{field}={filters[field]}" for field in sorted(filters))


def list_keys_for_row(label: str, values: dict, scoped_fields: Iterable[str]) -> set[str]:
    """Every list key a row with ``values`` belongs to: the unscoped list, each single-field scope,
    and the scope of all its scoped fields together (what a filter on several fields records)."""
    scoped = {f: values[f] for f in sorted(scoped_fields) if f in values and values[f] is not None}
    keys = {list_key(label)}
    keys.update(list_key(label, {f: v}) for f, v in scoped.items())
    fields = sorted(scoped)
    # Pairs cover the common two-field filters (e.g. article + is_public) without a combinatorial blow-up.
    for i, first in enumerate(fields):
        for second in fields[i + 1:]:
            keys.add(list_key(label, {first: scoped[first], second: scoped[second]}))
    return keys


def format_header(keys: Iterable[str], max_length: int = 8000) -> str:
    """Space-separated, sorted; if too long, the lists-of-everything keys stand in for the rest."""
    ordered = sorted(set(keys))
    text = " ".join(ordered)
    if len(text) <= max_length:
        return text
    labels = sorted({k.split(":")[0].split("@")[0] for k in ordered})
    return " ".join(f"{label}@*" for label in labels) + " upstack@overflow"


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
