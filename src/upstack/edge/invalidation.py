"""Writes -> the surrogate keys they affect (BLUEPRINT C3).

``keys_for_row`` is the pure rule: a row's instance key, every list key it belongs to (before and
after the write, so a comment moved between articles purges both), and the instance keys of
"touched" parents (``UPSTACK["EDGE_TOUCH"]``: a new comment changes its article's comment count).

The adapters feed every kind of write through it and hand the keys to ``purge.add`` (which purges
after commit): post_save, post_delete (also what QuerySet.delete sends), m2m_changed, and patches
of QuerySet.update, bulk_create and bulk_update, which send no signals. Raw SQL writes are not
seen: call ``upstack.edge.purge.add(...)`` with the keys yourself.
"""

from __future__ import annotations

import functools

from django.db import router
from django.db.models import QuerySet
from django.db.models.signals import m2m_changed, post_delete, post_init, post_save

from . import keys, purge
from .models import ignored_update, label_of, touched_parents, tracked
from .tracking import fk_fields

SNAPSHOT = "_upstack_scoped_snapshot"
_originals: dict[str, object] = {}


def keys_for_row(label: str, pk, values: dict, scoped: dict[str, str], parents: dict[str, str],
                 before: dict | None = None) -> set[str]:
    """``values``/``before``: {attname: value}; ``scoped``: {field name: attname}; ``parents``:
    {field name: parent label} of touched FKs."""
    found = {keys.instance_key(label, pk)} if pk is not None else set()
    for state in (values, before or {}):
        by_name = {name: state.get(attname) for name, attname in scoped.items() if attname in state}
        found |= keys.list_keys_for_row(label, by_name, by_name)
        for field, parent_label in parents.items():
            parent_pk = state.get(scoped.get(field, field))
            if parent_pk is not None:
                found.add(keys.instance_key(parent_label, parent_pk))
    return found


def _row_values(instance, scoped) -> dict:
    return {attname: getattr(instance, attname, None) for attname in scoped.values() if attname in instance.__dict__}


def _parents(model) -> dict[str, str]:
    result = {}
    for name in touched_parents(model):
        field = model._meta.get_field(name)
        result[name] = label_of(field.related_model)
    return result


def keys_for_instance(instance, before: dict | None = None) -> set[str]:
    model = type(instance)
    scoped = fk_fields(model)  # M2M changes come through m2m_changed
    return keys_for_row(label_of(model), instance.pk, _row_values(instance, scoped), scoped, _parents(model), before)


# --- signal receivers ------------------------------------------------------------------------------

def _snapshot(sender, instance, **kwargs):
    if tracked(sender):
        instance.__dict__[SNAPSHOT] = {att: instance.__dict__.get(att) for att in fk_fields(sender).values()}


def _saved(sender, instance, update_fields=None, raw=False, using=None, **kwargs):
    if raw or not tracked(sender) or ignored_update(sender, update_fields):
        return
    before = instance.__dict__.get(SNAPSHOT)
    purge.add(keys_for_instance(instance, before), using=using)
    _snapshot(sender, instance)


def _deleted(sender, instance, using=None, **kwargs):
    if tracked(sender):
        purge.add(keys_for_instance(instance, instance.__dict__.get(SNAPSHOT)), using=using)


def _m2m(sender, instance, action, reverse, model, pk_set, using=None, **kwargs):
    if action not in ("pre_clear", "post_add", "post_remove", "post_clear"):
        return
    if action == "pre_clear":  # remember what clear() is about to remove
        field = _m2m_field(type(instance), sender, reverse, model)
        instance.__dict__[f"_upstack_clear_{sender._meta.label_lower}"] = set(
            getattr(instance, field).values_list("pk", flat=True)) if field else set()
        return
    if action == "post_clear":
        pk_set = instance.__dict__.pop(f"_upstack_clear_{sender._meta.label_lower}", set())
    owner, others = (model, pk_set) if reverse else (type(instance), pk_set)
    found = {keys.instance_key(label_of(type(instance)), instance.pk)}
    found |= {keys.instance_key(label_of(model), pk) for pk in pk_set or ()}
    # The list key on the side that declares the M2M: e.g. news.article@tags=<tag>.
    if not reverse:
        name = _m2m_field(type(instance), sender, False, model)
        found |= {keys.list_key(label_of(type(instance)), {name: pk}) for pk in others or ()}
        found.add(keys.list_key(label_of(type(instance))))
    else:
        name = _m2m_field(model, sender, False, type(instance))
        if name:
            found.add(keys.list_key(label_of(owner), {name: instance.pk}))
            found.add(keys.list_key(label_of(owner)))
    purge.add(found, using=using)


def _m2m_field(model, through, reverse, other):
    for field in model._meta.many_to_many:
        if field.remote_field.through is through:
            return field.name
    for rel in model._meta.related_objects:
        if rel.many_to_many and rel.through is through:
            return rel.get_accessor_name()
    return None


# --- QuerySet writes that send no signals -----------------------------------------------------------

def _update(self, **kwargs):
    if not tracked(self.model):
        return _originals["update"](self, **kwargs)
    scoped = fk_fields(self.model)
    rows = list(self.values("pk", *scoped.values()))  # the rows and the lists they are in now
    result = _originals["update"](self, **kwargs)
    changed = {scoped.get(k, k): (v.pk if hasattr(v, "pk") else v) for k, v in kwargs.items()
               if not hasattr(v, "resolve_expression")}
    found = set()
    for row in rows:
        after = {**row, **{att: changed[att] for att in scoped.values() if att in changed}}
        found |= keys_for_row(label_of(self.model), row["pk"], after, scoped, _parents(self.model), row)
    purge.add(found, using=self.db)
    return result


def _bulk_create(self, objs, *args, **kwargs):
    created = _originals["bulk_create"](self, objs, *args, **kwargs)
    if tracked(self.model):
        purge.add(set().union(*(keys_for_instance(o) for o in created)) | {keys.list_key(label_of(self.model))},
                  using=router.db_for_write(self.model))
    return created


def _bulk_update(self, objs, fields, *args, **kwargs):
    objs = list(objs)
    result = _originals["bulk_update"](self, objs, fields, *args, **kwargs)
    if tracked(self.model) and not ignored_update(self.model, fields):
        purge.add(set().union(*(keys_for_instance(o, o.__dict__.get(SNAPSHOT)) for o in objs)),
                  using=router.db_for_write(self.model))
    return result


def install() -> None:
    if _originals:
        return
    for name, replacement in (("update", _update), ("bulk_create", _bulk_create), ("bulk_update", _bulk_update)):
        _originals[name] = getattr(QuerySet, name)
        setattr(QuerySet, name, functools.wraps(_originals[name])(replacement))
    post_init.connect(_snapshot, dispatch_uid="upstack.edge.snapshot")
    post_save.connect(_saved, dispatch_uid="upstack.edge.saved")
    post_delete.connect(_deleted, dispatch_uid="upstack.edge.deleted")
    m2m_changed.connect(_m2m, dispatch_uid="upstack.edge.m2m")


def uninstall() -> None:
    for name, original in _originals.items():
        setattr(QuerySet, name, original)
    _originals.clear()
    for signal, uid in ((post_init, "snapshot"), (post_save, "saved"), (post_delete, "deleted"), (m2m_changed, "m2m")):
        signal.disconnect(dispatch_uid=f"upstack.edge.{uid}")
