"""Writes -> the surrogate keys they affect (docs/edge.md).

``write_keys`` is the pure rule, for each concrete model of the row (a child's parents too, in
multi-table inheritance; a proxy is its concrete model):

- always the instance key, and ``<label>@any`` (what a page whose keys overflowed carries); the lean
  key (``news.article:42/lean``: the row loaded without its detail fields, as lists load it) unless
  the update changed only detail fields (``models.detail_fields``: its text fields);
- an insert or a delete: the membership key of every list the row is in (``keys.row_scopes``),
  and for an insert (or a row moving in) the entry keys too: lists of instances read from their
  first row change when a row leaves them only if they showed it, and then they carry its
  instance key;
- an update: for the fields it changed, their ``~field`` keys (and ``~*``) in every scope of the
  row before and after; the membership keys of the scopes a changed field moved it out of or into.
  An update that changed nothing a list filters or orders on purges only the instance key, which
  every page showing the row carries;
- the aggregate keys of "touched" parents (``UPSTACK["EDGE_TOUCH"]``: a new comment changes its
  article's comment count): ``news.article:42+news.comment``, which the pages carry that loaded
  article 42 with an annotation reading comments (and not the pages that merely list it).

With ``UPSTACK["EDGE_KEYS"] = "table"`` every list key becomes its model's unscoped key, which every
write purges (``coarse``).

Changed fields come from a snapshot of each instance's values taken when it was loaded (or read
from the database before the write when there is none), compared at save. The adapters feed every
kind of write through it and hand the keys to ``purge.add`` (which purges after commit): post_save,
post_delete (also what QuerySet.delete sends), m2m_changed, and patches of QuerySet.update,
bulk_create and bulk_update, which send no signals (update and bulk_update read the rows before
and after). Raw SQL writes are not seen: call ``upstack.edge.purge.add(...)`` with the keys yourself.
"""

from __future__ import annotations

import copy
import functools

from django.db import router
from django.db.models import QuerySet
from django.db.models.signals import m2m_changed, post_delete, post_init, post_save, pre_delete, pre_save

from . import coarse, keys, purge, ranks
from .keys import WILDCARD
from .models import (
    chain,
    column_scopes,
    detail_fields,
    ignored_update,
    label_of,
    local_fields,
    m2m_scopes,
    scoping_fields,
    touched_parents,
    tracked,
    version_fields,
)

SNAPSHOT = "_upstack_snapshot"
RELATED = "_upstack_related"
_originals: dict[str, object] = {}
_MISSING = object()


def write_keys(model, pk, before: dict | None, after: dict | None, changed: set[str] | None = None,
               related: dict | None = None) -> set[str]:
    """``before``/``after``: {attname: value} of the row (None: it did not exist / no longer does);
    ``changed``: names of the fields an update changed (None: unknown, so every field); ``related``:
    {many-to-many scoping field: frozenset of the row's related pks} (``_related_rows``), which a
    column write does not change but which puts the row in more scopes (a tag's published list)."""
    found: set[str] = set()
    insert_or_delete = before is None or after is None
    states = [state for state in (before, after) if state is not None]
    for concrete in chain(model):
        label = label_of(concrete)
        found.add(keys.any_key(label))
        scoping = column_scopes(concrete)
        own = local_fields(concrete)
        fields = own if changed is None else set(changed) & own
        if pk is not None:
            found.add(keys.instance_key(label, pk))
            # Pages that loaded the row without its detail fields show none of them: an update of only
            # those leaves them alone.
            shown = fields - {f.name for f in detail_fields(concrete)} - version_fields(concrete)
            if insert_or_delete or changed is None or shown:
                found.add(keys.lean_key(label, pk))
        moved = set(scoping) if changed is None else set(changed) & set(scoping)
        ranked = ranks.ranked_field(concrete)
        # A row whose ranking value changed comes into ranked lists at its new place.
        reranked = ranked is not None and not insert_or_delete and ranked.name in fields
        many = {name: value for name, value in (related or {}).items() if name in scoping_fields(concrete)}
        for state in states:
            values = {name: state.get(att) for name, att in scoping.items() if att in state} | many
            entering = state is after  # a row entering lists, or leaving them (shown: its instance key)
            for scope in keys.row_scopes(values):
                if insert_or_delete or set(scope) & moved:
                    found |= keys.membership_keys(label, scope, entering)
                    if entering and ranked is not None:
                        found |= _ranked_keys(label, scope, ranked, state)
                elif entering and reranked:
                    found |= _ranked_keys(label, scope, ranked, state)
                if not insert_or_delete and (fields or moved):
                    found.add(keys.field_key(label, WILDCARD, scope))
                    found.update(keys.field_key(label, field, scope) for field in fields | moved)
        if insert_or_delete or changed is None or changed:
            found |= _touched(concrete, states)
    return coarse.write_keys(model, found) if coarse.active() else found


def _ranked_keys(label: str, scope: dict, field, state: dict) -> set[str]:
    """The ranked entry keys (``ranks``) a row coming into the lists of ``scope`` purges; with its
    ranking value unknown (a deferred field), the key every ranked list of the scope records."""
    if field.attname not in state:
        return {ranks.any_key(label, scope, field.name)}
    return ranks.write_keys(label, scope, field.name, state[field.attname])


def _touched(model, states) -> set[str]:
    """The parents' aggregate keys: their rows as shown with a count (or another aggregate) of this
    model, and with an aggregate that could not be read."""
    found = set()
    for name in touched_parents(model):
        field = model._meta.get_field(name)
        for state in states:
            parent_pk = state.get(field.attname)
            if parent_pk is not None:
                for parent in chain(field.related_model):
                    found.add(keys.aggregate_key(label_of(parent), parent_pk, label_of(model)))
                    found.add(keys.aggregate_key(label_of(parent), parent_pk, WILDCARD))
    return found


# --- snapshots -------------------------------------------------------------------------------------

@functools.cache
def _attnames(model) -> tuple[str, ...]:
    return tuple(field.attname for field in model._meta.concrete_model._meta.concrete_fields)


def _values(instance) -> dict:
    state = instance.__dict__
    return {att: state[att] for att in _attnames(type(instance)) if att in state}


def _snapshot(sender, instance, **kwargs):
    if tracked(sender):
        values = _values(instance)
        for att, value in values.items():
            if isinstance(value, (dict, list)):  # JSON values can change in place
                values[att] = copy.deepcopy(value)
        instance.__dict__[SNAPSHOT] = values


def _changed(model, before: dict, after: dict, update_fields=None) -> set[str]:
    names = {field.attname: field.name for field in model._meta.concrete_model._meta.concrete_fields}
    changed = {names[att] for att in names if before.get(att, _MISSING) != after.get(att, _MISSING)
               and att in after}
    if update_fields is not None:
        allowed = {model._meta.get_field(name).name for name in update_fields}
        changed &= allowed
    return changed


def _related_rows(model, pks, using) -> dict:
    """{pk: {many-to-many scoping field: frozenset of related pks}} of the rows ``pks``: one query per
    such field (``models.m2m_scopes``), none for a model without one."""
    found = {pk: {} for pk in pks}
    for name in m2m_scopes(model):
        field = model._meta.get_field(name)
        source, target = field.m2m_field_name(), field.m2m_reverse_field_name()
        pairs = field.remote_field.through._base_manager.using(using).filter(
            **{f"{source}__in": list(found)}).values_list(source, target)
        for values in found.values():
            values[name] = set()
        for owner, other in pairs:
            found[owner][name].add(other)
    return {pk: {name: frozenset(others) for name, others in values.items()} for pk, values in found.items()}


def _read_rows(model, pks, using) -> dict:
    rows = model._base_manager.using(using).filter(pk__in=list(pks)).values("pk", *_attnames(model))
    return {row.pop("pk"): row for row in rows}


# --- signal receivers ------------------------------------------------------------------------------

def _before_save(sender, instance, raw=False, using=None, **kwargs):
    """An instance that was not loaded from the database (built with a primary key, then saved) has
    no snapshot of the row it may replace (post_init cannot tell, Django marks loaded instances after
    it): read that row. Loaded and saved instances are not ``adding``."""
    if raw or not tracked(sender) or not instance._state.adding:
        return
    instance.__dict__.pop(SNAPSHOT, None)
    if instance.pk is not None:
        row = _read_rows(sender, [instance.pk], using).get(instance.pk)
        if row is not None:
            instance.__dict__[SNAPSHOT] = row


def _saved(sender, instance, created=False, update_fields=None, raw=False, using=None, **kwargs):
    if raw or not tracked(sender) or ignored_update(sender, update_fields):
        return
    after = _values(instance)
    before = None if created else instance.__dict__.get(SNAPSHOT)
    if before is None:  # an insert: no related rows yet (m2m_changed covers them as they are added)
        found = write_keys(sender, instance.pk, None, after)
    else:
        changed = _changed(sender, before, after, update_fields)
        related = _related_rows(sender, [instance.pk], using)[instance.pk] if changed else None
        found = write_keys(sender, instance.pk, before, after, changed, related)
    purge.add(found, using=using)
    _snapshot(sender, instance)


def _before_delete(sender, instance, using=None, **kwargs):
    """The row's many-to-many values, read while they exist (Django deletes them before the row)."""
    if tracked(sender) and m2m_scopes(sender) and instance.pk is not None:
        instance.__dict__[RELATED] = _related_rows(sender, [instance.pk], using)[instance.pk]


def _deleted(sender, instance, using=None, **kwargs):
    if tracked(sender):
        before = {**_values(instance), **instance.__dict__.get(SNAPSHOT, {})}
        purge.add(write_keys(sender, instance.pk, before, None, related=instance.__dict__.pop(RELATED, None)),
                  using=using)


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
    pk_set = set(pk_set or ())
    # The side that declares the field (owner) and the pairs (owner pk, other pk) that changed.
    if reverse:
        owner_model, other_model = model, type(instance)
        pairs = {(pk, instance.pk) for pk in pk_set}
    else:
        owner_model, other_model = type(instance), model
        pairs = {(instance.pk, pk) for pk in pk_set}
    name = _m2m_field(owner_model, sender, False, other_model)
    if not tracked(owner_model) or name is None:
        return
    # Not the other side's instance keys either (a tag's, when an article gains or loses it): its row
    # did not change, and a page lists its related rows only through a query scoped on it
    # (news.article@tags=7+), purged below.
    found = set()
    rows = _read_rows(owner_model, {owner for owner, _ in pairs}, using) if reverse else {instance.pk: _values(instance)}
    for owner, other in pairs:
        row = rows.get(owner, {})
        for concrete in chain(owner_model):
            label = label_of(concrete)
            # Not the owner's instance keys: a page shows its relations only through a query of them,
            # which recorded the ~field key below (news.article~tags@id=42), or a list scoped on them.
            found.add(keys.any_key(label))
            scoping = column_scopes(concrete)
            values = {field: row.get(att) for field, att in scoping.items() if att in row}
            if name in local_fields(concrete) or concrete is owner_model._meta.concrete_model:
                values[name] = other
            ranked = ranks.ranked_field(concrete)
            for scope in keys.row_scopes(values):
                if name in scope:
                    # Coming in or going out alike: a row leaving a list through a relation was shown,
                    # but its instance key is not purged (its row did not change), so the list's entry
                    # keys (ranked: on the row's own path, which a list that showed it covers) are.
                    found |= keys.membership_keys(label, scope, entering=True)
                    if ranked is not None:
                        found |= _ranked_keys(label, scope, ranked, row)
                rest = {k: v for k, v in scope.items() if k != name}
                found |= {keys.field_key(label, name, rest), keys.field_key(label, WILDCARD, rest)}
    purge.add(coarse.write_keys(owner_model, found) if coarse.active() else found, using=using)


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
    before = {row.pop("pk"): row for row in self.values("pk", *_attnames(self.model))}
    result = _originals["update"](self, **kwargs)
    after = _read_rows(self.model, before, self.db)
    changed = {self.model._meta.get_field(name).name for name in kwargs}
    related = _related_rows(self.model, before, self.db) if changed else {}
    found = set()
    for pk, row in before.items():
        found |= write_keys(self.model, pk, row, after.get(pk, row), changed, related.get(pk))
    purge.add(found, using=self.db)
    return result


def _bulk_create(self, objs, *args, **kwargs):
    created = _originals["bulk_create"](self, objs, *args, **kwargs)
    if tracked(self.model):
        found = set().union(*(write_keys(self.model, o.pk, None, _values(o)) for o in created))
        purge.add(found | {keys.list_key(label_of(self.model))}, using=router.db_for_write(self.model))
    return created


def _bulk_update(self, objs, fields, *args, **kwargs):
    objs = list(objs)
    if not tracked(self.model) or ignored_update(self.model, fields):
        return _originals["bulk_update"](self, objs, fields, *args, **kwargs)
    using = router.db_for_write(self.model)
    pks = {o.pk for o in objs}
    before = _read_rows(self.model, pks, using)
    result = _originals["bulk_update"](self, objs, fields, *args, **kwargs)
    changed = {self.model._meta.get_field(name).name for name in fields}
    related = _related_rows(self.model, pks, using) if changed else {}
    found = set()
    for obj in objs:
        row = before.get(obj.pk, {})
        found |= write_keys(self.model, obj.pk, row, {**row, **_values(obj)}, changed, related.get(obj.pk))
    purge.add(found, using=using)
    return result


def install() -> None:
    if _originals:
        return
    for name, replacement in (("update", _update), ("bulk_create", _bulk_create), ("bulk_update", _bulk_update)):
        _originals[name] = getattr(QuerySet, name)
        setattr(QuerySet, name, functools.wraps(_originals[name])(replacement))
    post_init.connect(_snapshot, dispatch_uid="upstack.edge.snapshot")
    pre_save.connect(_before_save, dispatch_uid="upstack.edge.before_save")
    post_save.connect(_saved, dispatch_uid="upstack.edge.saved")
    pre_delete.connect(_before_delete, dispatch_uid="upstack.edge.before_delete")
    post_delete.connect(_deleted, dispatch_uid="upstack.edge.deleted")
    m2m_changed.connect(_m2m, dispatch_uid="upstack.edge.m2m")


def uninstall() -> None:
    for name, original in _originals.items():
        setattr(QuerySet, name, original)
    _originals.clear()
    for signal, uid in ((post_init, "snapshot"), (pre_save, "before_save"), (post_save, "saved"),
                        (pre_delete, "before_delete"), (post_delete, "deleted"), (m2m_changed, "m2m")):
        signal.disconnect(dispatch_uid=f"upstack.edge.{uid}")
