"""upstack's system checks (stable IDs, documented in docs/checks.md) and the live launch probes."""
