"""Record the surrogate keys of what a request reads (docs/edge.md).

Three hooks, installed once by ``install()`` (from ``UpstackConfig.ready``) and undone by
``uninstall()``, both doing nothing unless a request is collecting (``keys.start()``):

* ``post_init``: every model instance loaded records its instance key (``news.article:42``), and
  that of each concrete parent in multi-table inheritance (``wagtailcore.page:42`` too);
* ``Query.get_compiler``: every SELECT records its list keys (``query_keys``). This is above the
  query cache (cachalot patches ``SQLCompiler.execute_sql``), so reads served from it are recorded
  too;
* ``ModelIterable.__iter__``: rows loaded with an annotation over another model (a count) record
  aggregate keys (``news.article:42+news.comment``).

``query_keys(query)`` is the pure part: it reads a Query's WHERE tree and ordering.

- **Scope**: the top-level AND-ed ``=`` and ``IN`` filters with constant values on the fields that
  can scope a list (``scoping_fields``: foreign keys, many-to-many fields, unique fields, fields
  with choices, booleans) give one membership key per value (``news.article@tags=30``). At most
  ``keys.MAX_SCOPE_FIELDS`` fields scope a key; the others become dependencies. A query that loads
  instances from its first row records entry keys (``news.article@tags=30+``): a row that leaves it
  was shown, so its instance key purges the page; only a row coming in needs the list's key.
- **Dependencies**: every other field the WHERE or the ordering reads gives a ``~field`` key per
  scope (``news.article~published_at@section=3``), so that only an update of that field purges
  the list. A filter through a relation to another model also records that model's membership
  and ``~field`` keys; a subquery records its own keys; anything unreadable (``extra``, raw SQL)
  records the ``~*`` key, which every update purges.
"""

from __future__ import annotations

import functools
import itertools

from django.core.exceptions import FieldDoesNotExist
from django.db.models import ForeignKey, ManyToManyField
from django.db.models.expressions import Col, F, RawSQL
from django.db.models.lookups import Exact, In, Lookup
from django.db.models.query import ModelIterable
from django.db.models.signals import post_init
from django.db.models.sql.query import Query
from django.db.models.sql.where import AND, NothingNode, WhereNode

from . import coarse, keys, ranked_queries, ranks
from .keys import WILDCARD
from .models import (
    chain,
    declaring_m2m,
    in_chain,
    instance_labels,
    label_of,
    loaded_keys,
    local_fields,
    m2m_name,
    relation_fields,
    scoping_fields,
    tracked,
)

_original_get_compiler = None
_original_model_iter = None
READ_COMPILERS = {"SQLCompiler", "SQLAggregateCompiler"}
MAX_SCOPES = 64  # scope combinations one list may record; past that, the field with most values is dropped


def _constant_values(lookup) -> list | None:
    """The constant right-hand side of an ``=`` or ``IN`` lookup as a list, else None."""
    rhs = lookup.rhs
    if isinstance(lookup, In):
        if isinstance(rhs, (list, tuple, set, frozenset)) and not any(hasattr(v, "resolve_expression") for v in rhs):
            return [v.pk if hasattr(v, "pk") else v for v in rhs]
        return None
    if isinstance(lookup, Exact) and not hasattr(rhs, "resolve_expression") and rhs is not None:
        return [rhs.pk if hasattr(rhs, "pk") else rhs]
    return None


def _scope_field(model, lookup) -> str | None:
    """The scoping field of ``model`` a top-level lookup filters on, if any."""
    if not isinstance(lookup.lhs, Col):
        return None
    target = lookup.lhs.target
    owner = target.model
    if in_chain(model, owner):
        return target.name if target.name in scoping_fields(model) else None
    if owner._meta.auto_created and isinstance(target, ForeignKey) and not in_chain(model, target.remote_field.model):
        return m2m_name(model._meta.concrete_model, owner)  # the through table's column to the other side
    return None


def scope_filters(query) -> tuple[dict[str, list], set[int]]:
    """{field: [values]} of the top-level AND-ed ``=``/``IN`` filters with constants on the scoping
    fields of ``query``'s model, and the ids of the lookups they came from."""
    model = query.model
    where = query.where
    if model is None or not isinstance(where, WhereNode) or where.connector != AND or where.negated:
        return {}, set()
    found: dict[str, list] = {}
    used: set[int] = set()
    for child in where.children:
        if not isinstance(child, (Exact, In)):
            continue
        name = _scope_field(model, child)
        values = _constant_values(child) if name else None
        if not values:
            continue
        previous = found.get(name)
        found[name] = values if previous is None else [v for v in previous if v in values]  # AND: intersection
        used.add(id(child))
    return {name: values for name, values in found.items() if values}, used


def scoped_filters(query) -> dict[str, object]:
    """The single-valued scope of ``query`` ({field: value}), as a list with one value per field records it."""
    found, _ = scope_filters(query)
    return {name: values[0] for name, values in found.items() if len(values) == 1}


def _limit(found: dict[str, list]) -> tuple[dict[str, list], set[str]]:
    """Keep at most MAX_SCOPE_FIELDS fields and MAX_SCOPES combinations; the rest become dependencies."""
    kept = dict(sorted(found.items(), key=lambda item: (len(item[1]), item[0])))
    dropped = set()
    while kept and (len(kept) > keys.MAX_SCOPE_FIELDS
                    or functools.reduce(lambda n, v: n * len(v), kept.values(), 1) > MAX_SCOPES):
        name = max(kept, key=lambda n: (len(kept[n]), n))
        dropped.add(name)
        del kept[name]
    return kept, dropped


class _Reader:
    """Walks a Query's WHERE and ordering: the fields of its own model it reads, and the keys of the
    other models and subqueries it reaches."""

    def __init__(self, query, skip: set[int]):
        self.query = query
        self.model = query.model
        self.skip = skip
        self.fields: set[str] = set()
        self.others: set[str] = set()
        self.order_fields: set[str] = set()  # the model's own fields read only to order the rows

    def read(self) -> _Reader:
        self.node(self.query.where)
        for item in self.ordering():
            if isinstance(item, str) and "__" not in item.strip("-+") and item.strip("-+") not in self.query.annotations:
                before = set(self.fields)
                self.path(item.lstrip("-+"))
                self.order_fields |= self.fields - before
                self.fields = before
            elif isinstance(item, str):
                self.path(item.lstrip("-+"))
            else:
                self.node(item)
        self.order_fields -= {WILDCARD}
        return self

    def ordering(self):
        query = self.query
        if query.order_by:
            return query.order_by
        if query.default_ordering and query.get_meta().ordering:
            return query.get_meta().ordering
        return ()

    def node(self, node) -> None:
        if node is None or id(node) in self.skip:
            return
        if isinstance(node, Col):
            self.column(node.target)
        elif isinstance(node, Query):
            self.others |= query_keys(node)
        elif isinstance(node, F):
            self.path(node.name)
        elif isinstance(node, WhereNode):
            for child in node.children:
                self.node(child)
        elif isinstance(node, Lookup):
            if self.through_lookup(node):
                return
            self.node(node.lhs)
            if hasattr(node.rhs, "resolve_expression") or isinstance(node.rhs, Query):
                self.node(node.rhs)
        elif isinstance(node, RawSQL):
            self.fields.add(WILDCARD)
        elif hasattr(node, "get_source_expressions"):  # OrderBy, functions, Subquery/Exists (-> Query)
            for source in node.get_source_expressions():
                self.node(source)
        elif not isinstance(node, NothingNode):  # ExtraWhere and anything else that cannot be read
            self.fields.add(WILDCARD)

    def through_lookup(self, lookup) -> bool:
        """A filter on a many-to-many through table's column to the *declaring* model, from the
        other side (``Tag.objects.filter(articles__in=[42])``, what ``prefetch_related`` sends):
        it depends on that M2M of those rows, ``news.article~tags@id=42``."""
        if not isinstance(lookup.lhs, Col) or not lookup.lhs.target.model._meta.auto_created:
            return False
        declaring = declaring_m2m(lookup.lhs.target.model)
        if declaring is None or lookup.lhs.target.remote_field.model is not declaring[0]:
            return False
        model, name = declaring
        label, pk = label_of(model), model._meta.pk.name
        values = _constant_values(lookup) if isinstance(lookup, (Exact, In)) else None
        if values:
            self.others.update(keys.field_key(label, name, {pk: v}) for v in values)
        else:
            self.others.add(keys.field_key(label, name))
        return True

    def column(self, target) -> None:
        owner = target.model
        if in_chain(self.model, owner):
            self.fields.add(target.name)
            return
        if owner._meta.auto_created:  # a many-to-many through table
            name = m2m_name(self.model._meta.concrete_model, owner)
            if name:
                self.fields.add(name)
                return
            declaring = declaring_m2m(owner)
            if declaring is not None:
                self.other(declaring[0], declaring[1])
                return
        self.other(owner, target.name)

    def other(self, owner, field_name: str) -> None:
        """A field of another model reached through a relation: that model's lists, that field and
        its relations matter (which rows it reaches), and so do this model's relations."""
        label = label_of(owner)
        self.others |= {keys.list_key(label), keys.field_key(label, field_name)}
        self.others.update(keys.field_key(label, name) for name in relation_fields(owner))
        self.fields.update(relation_fields(self.model))

    def path(self, name: str) -> None:
        if not name or name == "?":
            return
        if name in self.query.annotations:
            self.node(self.query.annotations[name])
            return
        model, parts = self.model, name.split("__")
        if parts[0] == "pk":
            parts[0] = model._meta.pk.name
        try:
            field = model._meta.get_field(parts[0])
        except FieldDoesNotExist:
            self.fields.add(WILDCARD)
            return
        if len(parts) == 1 or field.related_model is None:
            self.fields.add(field.name if not field.auto_created or field.concrete else WILDCARD)
            return
        self.fields.add(field.name if field.concrete or isinstance(field, ManyToManyField) else WILDCARD)
        target = field.related_model
        for part in parts[1:-1]:
            try:
                target = target._meta.get_field(part).related_model or target
            except FieldDoesNotExist:
                break
        self.other(target, parts[-1])


def query_plan(query) -> tuple[set[str], ranks.Ranked | None]:
    """The keys a read of ``query`` records (see the module docstring), and for a ranked list the
    keys it records once its rows are loaded (``ranks.Ranked``)."""
    model = query.model
    if model is None or not tracked(model):
        return set(), None
    label = label_of(model)
    found, used = scope_filters(query)
    kept, dropped = _limit(found)
    reader, ranking = ranked_queries.plan(query, kept, _Reader(query, used).read(),
                                          lambda compared: _Reader(query, used | compared).read())
    fields = reader.fields | dropped
    if not ranked_queries.order_shown_only(query, kept):
        fields |= reader.order_fields
    fields -= set(kept)  # filtered by equality: its value is the scope
    if ranking:
        fields.discard(ranking[0].name)
    names = sorted(kept)
    scopes = [dict(zip(names, combo, strict=True)) for combo in itertools.product(*(kept[n] for n in names))]
    result = set(reader.others)
    models = chain(model)
    membership = keys.entry_key if ranked_queries.from_first_row(query) else keys.list_key
    ranked = ranks.Ranked(label, scopes, ranking[0], ranking[1], query.high_mark, ranking[2]) if ranking else None
    for scope in scopes:
        if not ranked:
            result.add(membership(label, scope))
        result.update(keys.field_key(label, field, scope) for field in fields)
        # Multi-table inheritance: a parent's fields are written through the parent too (a save of the
        # parent class, a QuerySet.update on it), which purges the parent's keys: record those as well.
        for parent in models[1:]:
            visible = scoping_fields(parent)
            narrowed = {name: value for name, value in scope.items() if name in visible}
            parent_label = label_of(parent)
            if narrowed:  # only a parent's own scoping field can move a child row in or out
                result.add(membership(parent_label, narrowed))
            result.update(keys.field_key(parent_label, field, narrowed) for field in fields
                          if field in local_fields(parent) or field == WILDCARD)
    return result, ranked


def query_keys(query) -> set[str]:
    """The keys a read of ``query`` records without its rows (a list ranked by its last row: plain keys)."""
    found, ranked = query_plan(query)
    if ranked is None:
        return found
    return found | (ranked.plain if ranked.needs_rows else ranked.keys())


def aggregated_models(query) -> set[str]:
    """Labels of the other models that ``query``'s selected annotations read (a correlated count of
    likes: ``news.like``); "*" for an annotation that cannot be read (raw SQL)."""
    found: set[str] = set()

    def walk(node):
        if isinstance(node, Query):
            if node.model is not None:
                found.add(label_of(node.model))
        elif isinstance(node, Col):
            if not in_chain(query.model, node.target.model):
                found.add(label_of(node.target.model))
        elif isinstance(node, RawSQL):
            found.add(WILDCARD)
        elif hasattr(node, "get_source_expressions"):
            for source in node.get_source_expressions():
                walk(source)

    for annotation in query.annotation_select.values():
        walk(annotation)
    if query.extra_select:
        found.add(WILDCARD)
    return found


def _record_instance(sender, instance, **kwargs):
    """The instance key of each label of the row's chain; the lean key where the row was loaded
    without that model's detail fields (a list's ``.defer("body")``)."""
    if keys.collecting():
        pk = instance.pk
        if pk is not None:
            loaded = instance.__dict__
            keys.record(*(keys.lean_key(label, pk) if detail and not any(a in loaded for a in detail)
                          else keys.instance_key(label, pk) for label, detail in loaded_keys(sender)))


def _patched_model_iter(self):
    """Rows loaded with an annotation over other models (a comment count) get aggregate keys
    (``news.article:42+news.comment``), which a write of a model in ``UPSTACK["EDGE_TOUCH"]`` purges
    for its parent: only the pages that show the count, not every page that lists the row. A list
    ranked by its last row (``ranks.Ranked``) records its keys once that row is known: read to the end,
    in one go (not ``.iterator()``), else its plain keys."""
    query = self.queryset.query
    over = ()
    collecting = keys.collecting() and tracked(query.model)
    if collecting and (query.annotation_select or query.extra_select):
        over = aggregated_models(query)
    reading = ranked_queries.Reading(query) if collecting and not self.chunked_fetch else None
    rows, last, complete = 0, None, False
    try:
        for obj in _original_model_iter(self):
            if reading is not None:  # the query is compiled: later queries are not this list's
                reading.compiled()
            if over and obj.pk is not None:
                keys.record(*(keys.aggregate_key(label, obj.pk, model) for label in instance_labels(type(obj))
                              for model in over))
            rows, last = rows + 1, obj
            yield obj
        complete = True
    finally:
        if reading is not None:
            keys.record(*reading.finish(rows, last, complete))


def _patched_get_compiler(self, *args, **kwargs):
    # Subqueries (a comment count inside the article query) are not lists the page shows: see
    # _patched_model_iter for what they record.
    if (keys.collecting() and self.compiler in READ_COMPILERS and not self.subquery and self.model is not None
            and tracked(self.model)):
        found, ranked = query_plan(self)
        if coarse.active():  # UPSTACK["EDGE_KEYS"] = "table": the model's one list key
            found = coarse.read_keys(self.model, found | (ranked.plain if ranked is not None else set()))
        elif ranked is not None:
            found |= ranked_queries.compiled_keys(self, ranked)
        keys.record(*found)
    return _original_get_compiler(self, *args, **kwargs)


def install() -> None:
    global _original_get_compiler, _original_model_iter
    if _original_get_compiler is not None:
        return
    _original_get_compiler = Query.get_compiler
    Query.get_compiler = functools.wraps(_original_get_compiler)(_patched_get_compiler)
    _original_model_iter = ModelIterable.__iter__
    ModelIterable.__iter__ = functools.wraps(_original_model_iter)(_patched_model_iter)
    post_init.connect(_record_instance, dispatch_uid="upstack.edge.record_instance")


def uninstall() -> None:
    global _original_get_compiler, _original_model_iter
    if _original_get_compiler is None:
        return
    Query.get_compiler = _original_get_compiler
    ModelIterable.__iter__ = _original_model_iter
    _original_get_compiler = _original_model_iter = None
    post_init.disconnect(dispatch_uid="upstack.edge.record_instance")
