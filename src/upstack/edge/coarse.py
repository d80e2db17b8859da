"""The "table" invalidation mode, ``UPSTACK["EDGE_KEYS"] = "table"`` (docs/edge.md, docs/settings.md).

Drupal's ``node_list``: every list of a model carries one key for the whole table (``news.article@*``),
and every insert, update or delete of a row of that model (or of a child of it, in multi-table
inheritance) purges it. Instance keys (``news.article:42``, its lean form) and aggregate keys
(``news.article:42+news.comment``) are kept as the precise mode records them.

Both sides are the precise keys *coarsened* by the same map (a list, entry, ``~field`` or ranked key
becomes its model's ``@*`` key): whenever a page's precise keys and a write's precise keys share a key,
their coarsened forms share one too, so this mode never purges fewer pages than the precise one (its
recall is at least the precise mode's), only more. It is a fallback for an operator who distrusts the
precise keys, and the benchmark's "before" (bench/precision.py ``--edge-keys table``): a lower bound of
what upstack did before list keys were scoped (then only non-equality filters were unscoped).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from .. import conf
from . import keys
from .models import chain, label_of

PRECISE, TABLE = "precise", "table"
MODES = (PRECISE, TABLE)
_LIST_PART = re.compile(r"[@~]")


def active() -> bool:
    """Is the table mode on (``UPSTACK["EDGE_KEYS"]``)?"""
    return conf.get("EDGE_KEYS") == TABLE


def is_instance_key(key: str) -> bool:
    """An instance, lean or aggregate key (``label:pk...``) rather than a list's key."""
    return ":" in _LIST_PART.split(key, 1)[0]


def coarsen(found: Iterable[str]) -> set[str]:
    """Instance-like keys as they are; every list's key becomes its model's unscoped key."""
    return {key if is_instance_key(key) else keys.list_key(keys.label_of_key(key)) for key in found}


def table_keys(model) -> set[str]:
    """The unscoped key of the model and of each concrete parent (multi-table inheritance)."""
    return {keys.list_key(label_of(concrete)) for concrete in chain(model)}


def read_keys(model, found: Iterable[str]) -> set[str]:
    """What a list of ``model`` records in table mode: its precise keys coarsened, and its table's key."""
    return coarsen(found) | table_keys(model)


def write_keys(model, found: Iterable[str]) -> set[str]:
    """What any write of a row of ``model`` purges in table mode: its precise keys coarsened, and its
    table's key (an update of a field no list reads too: ``node_list`` on every save)."""
    return coarsen(found) | table_keys(model)
