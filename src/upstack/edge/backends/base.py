"""The purge backend contract: ``purge(keys)`` removes every cached response tagged with any of
``keys``; it may raise (the pipeline retries and logs). Configured like CACHES, in
``UPSTACK["PURGE_BACKENDS"]``: ``{"edge": {"BACKEND": "...VarnishBackend", "NODES": [...]}}``."""

from __future__ import annotations


def batches(keys: list[str], max_keys: int, max_bytes: int | None = None):
    """``keys`` in batches of at most ``max_keys`` keys and, space-separated, ``max_bytes`` bytes."""
    batch: list[str] = []
    size = 0
    for key in keys:
        extra = len(key.encode()) + 1
        if batch and (len(batch) >= max_keys or (max_bytes and size + extra > max_bytes)):
            yield batch
            batch, size = [], 0
        batch.append(key)
        size += extra
    if batch:
        yield batch


class PurgeBackend:
    # Most purge APIs take a bounded number of keys per call, or a bounded header: batches are split
    # to stay within both.
    max_keys = 200
    max_bytes: int | None = None

    def __init__(self, alias: str, **options):
        self.alias = alias
        self.options = options

    def purge(self, keys: list[str]) -> None:
        for batch in batches(list(keys), self.max_keys, self.max_bytes):
            self.purge_batch(batch)

    def purge_batch(self, keys: list[str]) -> None:
        raise NotImplementedError
