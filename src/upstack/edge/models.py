"""Which models take part in surrogate keys, their labels, and which of their fields scope or reach
lists (pure lookups over settings and model metadata, shared by ``tracking`` and ``invalidation``)."""

from __future__ import annotations

from functools import cache, lru_cache

from django.core.exceptions import FieldDoesNotExist
from django.db.models import BooleanField, ForeignKey, ManyToManyField, TextField

from .. import conf

# Bookkeeping tables no page is built from.
ALWAYS_UNTRACKED = {"sessions.session", "admin.logentry", "contenttypes.contenttype", "auth.permission",
                    "auth.group", "migrations.migration"}


def label_of(model) -> str:
    """The key label of a model: its concrete model's (a proxy shares its concrete model's keys)."""
    return model._meta.concrete_model._meta.label_lower


@lru_cache(maxsize=1024)
def chain(model) -> tuple:
    """The concrete model and its concrete parents (multi-table inheritance), child first: a row of
    a child is also a row of each parent, with the same primary key."""
    concrete = model._meta.concrete_model
    return (concrete, *(parent._meta.concrete_model for parent in concrete._meta.get_parent_list()))


@lru_cache(maxsize=1024)
def _tracked(label: str, untracked: frozenset) -> bool:
    return label not in ALWAYS_UNTRACKED and label not in untracked


def tracked(model) -> bool:
    return bool(instance_labels(model))


def instance_labels(model) -> tuple[str, ...]:
    """The labels whose instance keys a row of ``model`` has (its chain's); () if it is untracked.
    On every instance loaded: cached per model and settings."""
    return _instance_labels(model, tuple(conf.get("EDGE_UNTRACKED_MODELS")))


@lru_cache(maxsize=1024)
def _instance_labels(model, untracked: tuple) -> tuple[str, ...]:
    if not _tracked(label_of(model), frozenset(untracked)):
        return ()
    return tuple(label_of(concrete) for concrete in chain(model))


def loaded_keys(model) -> tuple[tuple[str, frozenset], ...]:
    """(label, the attnames of that concrete model's detail fields) for each label of ``model``'s chain:
    what ``tracking`` needs to record, per loaded instance, its instance key or its lean key."""
    return _loaded_keys(model, tuple(conf.get("EDGE_UNTRACKED_MODELS")))


@lru_cache(maxsize=1024)
def _loaded_keys(model, untracked: tuple) -> tuple[tuple[str, frozenset], ...]:
    if not _tracked(label_of(model), frozenset(untracked)):
        return ()
    return tuple((label_of(concrete), frozenset(f.attname for f in detail_fields(concrete))) for concrete in chain(model))


@cache
def detail_fields(concrete) -> tuple:
    """A concrete model's own detail fields, its text fields (``TextField``): long content that only a
    detail page shows, and that lists defer (``.defer("body")``). A row loaded without all of them
    carries its lean key; an update that changed only these (and version fields) leaves that alone."""
    return tuple(f for f in concrete._meta.local_concrete_fields if isinstance(f, TextField))


def version_fields(concrete) -> frozenset[str]:
    """The fields the project declares no list shows (``UPSTACK["EDGE_VERSION_FIELDS"]``): a fragment
    key's ``updated_at``, which every save changes."""
    return frozenset(conf.get("EDGE_VERSION_FIELDS").get(label_of(concrete), ()))


def ignored_update(model, update_fields) -> bool:
    """True when a save only touched fields no page shows (e.g. auth.user's last_login on login)."""
    if not update_fields:
        return False
    ignored = set(conf.get("EDGE_IGNORED_FIELDS").get(label_of(model), ()))
    return set(update_fields) <= ignored


def touched_parents(model) -> list[str]:
    """FK fields whose target's pages show an aggregate of this model (a comment count, a like count)."""
    return list(conf.get("EDGE_TOUCH").get(label_of(model), ()))


@cache
def scoping_fields(model) -> dict[str, str]:
    """{name: attname} of the fields whose ``=``/``IN`` filters scope a list of ``model`` (inherited
    fields included): foreign keys, unique fields (the primary key, a slug), fields with choices,
    booleans; a many-to-many field maps to its own name (it has no column). Cached: callers must
    not modify the result."""
    fields = {}
    for field in model._meta.concrete_model._meta.get_fields():
        if isinstance(field, ManyToManyField):
            fields[field.name] = field.name
        elif getattr(field, "concrete", False) and getattr(field, "column", None) and (
                isinstance(field, (ForeignKey, BooleanField)) or field.unique or field.choices):
            fields[field.name] = field.attname
    return fields


@cache
def column_scopes(model) -> dict[str, str]:
    """{name: attname} of the scoping fields that are columns of the row (not many-to-many)."""
    return {name: att for name, att in scoping_fields(model).items() if not _is_m2m(model, name)}


@cache
def m2m_scopes(model) -> tuple[str, ...]:
    """Names of the scoping fields that are many-to-many (inherited ones included): a row's values of
    them are in another table, read when a write needs the scopes they put the row in."""
    return tuple(name for name in scoping_fields(model) if _is_m2m(model, name))


def _is_m2m(model, name) -> bool:
    try:
        return isinstance(model._meta.get_field(name), ManyToManyField)
    except FieldDoesNotExist:
        return False


@cache
def local_fields(model) -> frozenset[str]:
    """Names of the fields a concrete model declares itself (columns and M2Ms), not inherited."""
    meta = model._meta.concrete_model._meta
    return frozenset(f.name for f in (*meta.local_concrete_fields, *meta.local_many_to_many))


@cache
def relation_fields(model) -> tuple[str, ...]:
    """Names of the fields through which a query can reach another model (FKs and M2Ms)."""
    return tuple(sorted(name for name in scoping_fields(model)
                        if _is_m2m(model, name) or isinstance(model._meta.get_field(name), ForeignKey)))


def m2m_name(model, through_model) -> str | None:
    for field in model._meta.many_to_many:
        if field.remote_field.through is through_model:
            return field.name
    return None


def declaring_m2m(through):
    """(model, field name) of the ManyToManyField whose through table is ``through``."""
    for field in through._meta.get_fields():
        if isinstance(field, ForeignKey):
            name = m2m_name(field.related_model._meta.concrete_model, through)
            if name:
                return field.related_model._meta.concrete_model, name
    return None


def in_chain(model, owner) -> bool:
    return owner._meta.concrete_model in chain(model)
