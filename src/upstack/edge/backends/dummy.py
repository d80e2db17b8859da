"""A purge backend that records what it was asked to purge (tests, dry runs)."""

from __future__ import annotations

from .base import PurgeBackend

purged: list[list[str]] = []


class DummyBackend(PurgeBackend):
    def purge_batch(self, keys):
        purged.append(list(keys))
