"""Which models take part in surrogate keys, and their labels. Pure lookups over settings."""

from __future__ import annotations

from functools import lru_cache

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


def ignored_update(model, update_fields) -> bool:
    """True when a save only touched fields no page shows (e.g. auth.user's last_login on login)."""
    if not update_fields:
        return False
    ignored = set(conf.get("EDGE_IGNORED_FIELDS").get(label_of(model), ()))
    return set(update_fields) <= ignored


def touched_parents(model) -> list[str]:
    """FK fields whose target's pages show an aggregate of this model (a comment count, a like count)."""
    return list(conf.get("EDGE_TOUCH").get(label_of(model), ()))
