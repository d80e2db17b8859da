"""Record the surrogate keys of what a request reads (BLUEPRINT C3).

Two hooks, installed once by ``install()`` (from ``UpstackConfig.ready``) and undone by
``uninstall()``, both doing nothing unless a request is collecting (``keys.start()``):

* ``post_init``: every model instance loaded records its instance key (``news.article:42``);
* ``Query.get_compiler``: every SELECT records its list key, scoped by the query's top-level
  equality filters on foreign keys and many-to-many fields (``news.comment@article=42``). This is
  above the query cache (cachalot patches ``SQLCompiler.execute_sql``), so reads served from it are
  recorded too.

``scoped_filters(query)`` is the pure part: it reads a Query's WHERE tree.
"""

from __future__ import annotations

import functools

from django.db.models import ForeignKey, ManyToManyField
from django.db.models.expressions import Col
from django.db.models.lookups import Exact
from django.db.models.signals import post_init
from django.db.models.sql.query import Query
from django.db.models.sql.where import AND, WhereNode

from . import keys
from .models import label_of, tracked

_original_get_compiler = None
READ_COMPILERS = {"SQLCompiler", "SQLAggregateCompiler"}


@functools.cache
def scoped_fields(model) -> dict[str, str]:
    """{filter name: attname} of the fields that scope a model's lists: FKs and M2Ms (cached: this
    runs for every instance loaded; callers must not modify the result)."""
    fields = {}
    for field in model._meta.get_fields():
        if isinstance(field, ForeignKey) and field.concrete:
            fields[field.name] = field.attname
        elif isinstance(field, ManyToManyField):
            fields[field.name] = field.name
    return fields


@functools.cache
def fk_fields(model) -> dict[str, str]:
    """{name: attname} of the concrete foreign keys among ``scoped_fields`` (M2Ms have no column)."""
    return {name: att for name, att in scoped_fields(model).items() if att != name}


def _m2m_name(model, through_model) -> str | None:
    for field in model._meta.many_to_many:
        if field.remote_field.through is through_model:
            return field.name
    return None


def scoped_filters(query) -> dict[str, object]:
    """The top-level AND-ed ``field = constant`` filters on FK/M2M fields of ``query``'s model."""
    model = query.model
    if model is None or not isinstance(query.where, WhereNode) or query.where.connector != AND or query.where.negated:
        return {}
    found = {}
    for child in query.where.children:
        if not isinstance(child, Exact) or not isinstance(child.lhs, Col) or hasattr(child.rhs, "resolve_expression"):
            continue
        target = child.lhs.target
        if target.model is model and isinstance(target, ForeignKey):
            found[target.name] = child.rhs.pk if hasattr(child.rhs, "pk") else child.rhs
        elif target.model._meta.auto_created and isinstance(target, ForeignKey):
            name = _m2m_name(model, target.model)
            if name and target.remote_field.model is not model:
                found[name] = child.rhs.pk if hasattr(child.rhs, "pk") else child.rhs
    return found


def _record_instance(sender, instance, **kwargs):
    if keys.collecting() and tracked(sender) and instance.pk is not None:
        keys.record(keys.instance_key(label_of(sender), instance.pk))


def _patched_get_compiler(self, *args, **kwargs):
    # Subqueries (a comment count inside the article query) are not lists the page shows; what they
    # count is covered by UPSTACK["EDGE_TOUCH"].
    if (keys.collecting() and self.compiler in READ_COMPILERS and not self.subquery and self.model is not None
            and tracked(self.model)):
        keys.record(keys.list_key(label_of(self.model), scoped_filters(self)))
    return _original_get_compiler(self, *args, **kwargs)


def install() -> None:
    global _original_get_compiler
    if _original_get_compiler is not None:
        return
    _original_get_compiler = Query.get_compiler
    Query.get_compiler = functools.wraps(_original_get_compiler)(_patched_get_compiler)
    post_init.connect(_record_instance, dispatch_uid="upstack.edge.record_instance")


def uninstall() -> None:
    global _original_get_compiler
    if _original_get_compiler is None:
        return
    Query.get_compiler = _original_get_compiler
    _original_get_compiler = None
    post_init.disconnect(dispatch_uid="upstack.edge.record_instance")
