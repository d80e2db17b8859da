"""The page cache: whole responses for anonymous GET/HEAD, invalidated by the same
surrogate keys as the edge. ``policy`` is pure; ``store`` talks to the ``pages`` namespace;
``middleware`` is the thin glue (and sets ``Cache-Control`` and the surrogate-key header)."""
