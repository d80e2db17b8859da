"""Which models take part in surrogate keys, and their labels. Pure lookups over settings."""

from __future__ import annotations

from functools import lru_cache

from .. import conf

# Bookkeeping tables no page is built from.
ALWAYS_UNTRACKED = {"sessions.session", "admin.logentry", "contenttypes.contenttype", "auth.permission",
                    "auth.group", "migrations.migration"}


def label_of(model) -> str:
    return model._meta.label_lower


@lru_cache(maxsize=1024)
def _tracked(label: str, untracked: frozenset) -> bool:
    return label not in ALWAYS_UNTRACKED and label not in untracked


def tracked(model) -> bool:
    return _tracked(label_of(model), frozenset(conf.get("EDGE_UNTRACKED_MODELS")))


def ignored_update(model, update_fields) -> bool:
    """True when a save only touched fields no page shows (e.g. auth.user's last_login on login)."""
    if not update_fields:
        return False
    ignored = set(conf.get("EDGE_IGNORED_FIELDS").get(label_of(model), ()))
    return set(update_fields) <= ignored


def touched_parents(model) -> list[str]:
    """FK fields whose target's pages show an aggregate of this model (a comment count, a like count)."""
    return list(conf.get("EDGE_TOUCH").get(label_of(model), ()))
