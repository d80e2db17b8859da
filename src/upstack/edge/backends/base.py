"""The purge backend contract: ``purge(keys)`` removes every cached response tagged with any of
``keys``; it may raise (the pipeline retries and logs). Configured like CACHES, in
``UPSTACK["PURGE_BACKENDS"]``: ``{"edge": {"BACKEND": "...VarnishBackend", "NODES": [...]}}``."""

from __future__ import annotations


class PurgeBackend:
    # Most purge APIs take a bounded number of keys per call; batches are split to this size.
    max_keys = 200

    def __init__(self, alias: str, **options):
        self.alias = alias
        self.options = options

    def purge(self, keys: list[str]) -> None:
        for start in range(0, len(keys), self.max_keys):
            self.purge_batch(keys[start:start + self.max_keys])

    def purge_batch(self, keys: list[str]) -> None:
        raise NotImplementedError
