"""An issue's "before" and "after" from the same full run (pure): the main rounds' upstack (after)
and a second stack with the setting that undoes the issue (before: bench/run.py ``measure_variant``),
each beside typical measured in the same rounds, as Markdown rows and as latest.json figures.

- issue 17, ``upstack-table``: ``UPSTACK_EDGE_KEYS=table`` under the mixed workload;
- issue 18, ``upstack-unkept``: ``UPSTACK_READER_EDGE_TTL=0`` (the reader include never kept at the
  edge: every logged-in view sends it to Django, as before the issue) under the logged-in workload.
"""

from __future__ import annotations

READER_TEXT = (
    "Issue 18 kept each reader's include at the edge under their session. Its \"before\" here is the same "
    "code with `UPSTACK[\"READER_EDGE_TTL\"] = 0` (docs/settings.md): the include is never kept, so every "
    "logged-in view sends it to Django's lean path, as the one-include design before the edge kept it. "
    "A second stack with that setting (`UPSTACK_READER_EDGE_TTL=0`) and typical on its own copy of the data "
    "run the logged-in workload, interleaved over as many rounds (`bench/run.py` `measure_variant`); the "
    "\"after\" is the main rounds above.")


def versus_typical(workload: str, rows: list[tuple[str, dict | None, str]], error: str | None,
                   per_view: bool = False) -> list[str]:
    """``rows``: (label, {"typical": median run, stack: median run} or None, stack); a row whose stacks
    are None says it was not measured, and why (``error``). ``per_view``: also the backend requests
    and database queries per view."""
    extra = " backend requests / view | DB queries / view |" if per_view else ""
    lines = [f"| {workload} | req/s | p99 ms |{extra} typical req/s, p99 ms (same rounds) | x typical |",
             f"| --- | --- | --- |{' --- | --- |' if per_view else ''} --- | --- |"]
    for label, stacks, name in rows:
        if not stacks:
            blanks = " - | - |" if per_view else ""
            lines.append(f"| {label} | - | - |{blanks} not measured: {error or 'no run'} | - |")
            continue
        run, typical = stacks[name], stacks["typical"]
        times = run["rps"] / typical["rps"] if typical["rps"] else float("inf")
        cells = (f" {run.get('backend_requests_per_view', '-')} | {run.get('queries_per_request', '-')} |"
                 if per_view else "")
        lines.append(f"| {label} | {run['rps']} | {run['p99_ms']} |{cells} {typical['rps']}, {typical['p99_ms']} | "
                     f"x{times:.1f} |")
    return lines


def figures(stacks: dict | None, name: str) -> dict:
    """What latest.json keeps of a "before" stack: req/s over typical's, both p99s, and per view what
    reached the backend (None when it was not measured)."""
    if not stacks:
        return {"x_typical": None, "p99_ms": None, "typical_p99_ms": None, "backend_requests_per_view": None}
    run, typical = stacks[name], stacks["typical"]
    return {"x_typical": round(run["rps"] / typical["rps"], 2) if typical["rps"] else None,
            "p99_ms": run["p99_ms"], "typical_p99_ms": typical["p99_ms"],
            "backend_requests_per_view": run.get("backend_requests_per_view")}


def reader_section(before: dict, logged_in_after: dict) -> list[str]:
    """Issue 18's rows: ``before`` is the run's "before_issue_18" ({"logged_in": medians of typical and
    upstack-unkept} or {"error": ...}), ``logged_in_after`` the main rounds' logged-in medians."""
    rows = [("before: upstack, include not kept", before.get("logged_in"), "upstack-unkept"),
            ("after: upstack, include kept per session", logged_in_after, "upstack")]
    return versus_typical("logged-in workload", rows, before.get("error"), per_view=True)
