"""Which reads are ranked lists (docs/edge.md, precision): the ranking plan of a Query.

``ranks`` holds the keys of a ranked list (the tree of weeks, a list's cover, a row's path); this
module reads a Query to say whether a read of a list of instances is one (``ranks.Ranked``) and over
which range of the model's ranking field (``ranks.ranked_field``) its rows can come in: its WHERE
compares the field with constants (``published_at__lte=now``), or it is LIMITed and ordered first by
the field, so that its last row is the boundary.

``tracking.query_plan`` asks ``plan``; its hooks hand a list ranked by its last row from the compile
of its query to the end of its rows through ``Reading`` and ``compiled_keys``.
"""

from __future__ import annotations

import contextvars

from django.core.exceptions import FieldDoesNotExist
from django.db.models.expressions import Col
from django.db.models.lookups import Lookup
from django.db.models.sql.query import Query
from django.db.models.sql.where import AND, WhereNode

from . import ranks

_COMPARISONS = {"exact", "lt", "lte", "gt", "gte", "range"}
# The ranked list being read by this context's ModelIterable, between its start and its compile.
_reading: contextvars.ContextVar[Reading | None] = contextvars.ContextVar("upstack_ranking", default=None)


def from_first_row(query) -> bool:
    """Does ``query`` load model instances from its first row (not a count, values, an OFFSET page)?
    Then a row leaving it was shown, and the page has that row's instance key."""
    return (query.default_cols and not query.values_select and not query.subquery and not query.low_mark
            and not query.combinator and not query.extra_select)


def order_shown_only(query, kept: dict[str, list]) -> bool:
    """Can a change of the rows' own ordering fields only reorder rows the page already shows? Then
    their instance keys cover it, and the ordering needs no ``~field`` keys: a query that loads
    every matching row (no LIMIT), or no more rows than its unique scope values can match."""
    if not from_first_row(query):
        return False
    if query.high_mark is None:
        return True
    unique = [name for name, values in kept.items() if _is_unique(query.model, name)]
    return any(len(kept[name]) <= query.high_mark for name in unique)


def _is_unique(model, name: str) -> bool:
    try:
        field = model._meta.get_field(name)
    except FieldDoesNotExist:
        return False
    return bool(getattr(field, "unique", False) or field.primary_key)


def plan(query, kept: dict[str, list], reader, reread):
    """(reader, ranking): the ranking of ``query`` (``_ranking``, or None) and the reader of its
    fields (``tracking._Reader``). When the ranking reads comparisons as its range, ``reread(ids)``
    reads the query again without them: a query that still reads the field is not ranked."""
    ranking = _ranking(query, kept, reader)
    if ranking and ranking[3]:
        without = reread(ranking[3])
        if ranking[0].name in without.fields:  # read other than by constant comparisons: not ranked
            ranking = None
        else:
            reader = without
    return reader, ranking


def _ranking(query, kept: dict[str, list], reader):
    """(field, bounds, ordered, ids of the comparisons) for a list of instances whose model ranks
    (``ranks.ranked_field``) and whose rows can come in only from a known range of that field: its
    WHERE compares the field with constants (``published_at__lte=now``: ``bounds``, in leaves), or it
    is LIMITed and ordered first by it (``ordered``: descending). Those comparisons are read as the
    range, not as ``~field`` dependencies. None for any other list (see ``ranks.Ranked``)."""
    field = ranks.ranked_field(query.model)
    if field is None or not from_first_row(query):
        return None
    compared, found = set(), []
    where = query.where
    if isinstance(where, WhereNode) and where.connector == AND and not where.negated:
        for child in where.children:
            if (isinstance(child, Lookup) and child.lookup_name in _COMPARISONS and isinstance(child.lhs, Col)
                    and child.lhs.target is field and _constant(child.rhs)):
                compared.add(id(child))
                found.append((child.lookup_name, child.rhs))
    bounds = ranks.compared_range(found)
    if bounds is None:
        return None
    ordered = None
    given = list(reader.ordering())
    ordering = [item.lstrip("-+") if isinstance(item, str) else item for item in given]
    if query.high_mark is not None and not order_shown_only(query, kept) and (
            field.name in ordering or field.attname in ordering or not all(isinstance(i, str) for i in ordering)):
        if ordering[0] not in (field.name, field.attname):
            return None  # ordered by it, but not first (or by an expression): a change of it can reorder the rows
        ordered = given[0].startswith("-") == query.standard_ordering  # descending
    elif not compared:
        return None
    return field, bounds, ordered, compared


def _constant(rhs) -> bool:
    values = rhs if isinstance(rhs, (list, tuple)) else [rhs]
    return not any(hasattr(v, "resolve_expression") or isinstance(v, Query) for v in values)


class Reading:
    """A list of instances being read by ``ModelIterable`` (``tracking._patched_model_iter``): from
    its start to the compile of its query, that compile can hand it its ``ranks.Ranked``
    (``compiled_keys``); ``finish`` says what it records once its rows are read."""

    def __init__(self, query):
        self.query, self.ranked = query, None
        self._token = _reading.set(self)

    def compiled(self) -> None:
        """The query is compiled: later queries are not this list's."""
        if self._token is not None:
            _reading.reset(self._token)
            self._token = None

    def finish(self, rows: int, last, complete: bool) -> set[str]:
        """Once its rows are read (``complete``: to the end, its last row ``last`` decides; else its
        plain keys); nothing unless it was handed a ``ranks.Ranked``."""
        self.compiled()
        if self.ranked is None:
            return set()
        return self.ranked.resolve(rows, last) if complete else self.ranked.plain


def compiled_keys(query, ranked: ranks.Ranked) -> set[str]:
    """What the compile of ``query``, a ranked list, records: its keys when they do not depend on its
    rows; none when it is the list being read (``Reading``: its last row decides); else its plain keys."""
    if not ranked.needs_rows:
        return ranked.keys()
    reading = _reading.get()
    if reading is None or reading.query is not query or reading.ranked is not None:
        return ranked.plain
    reading.ranked = ranked
    return set()
