"""What the operator sees: one rich table per report of ``manage.py upstack``, built from the same
data ``--json`` prints (so the two never say different things). Pure functions, data in, table out."""

from __future__ import annotations

from .console import table

CHECK_MARKS = {"pass": "[green]PASS[/]", "warn": "[yellow]WARN[/]", "fail": "[red]FAIL[/]", "n/a": "[dim]N/A[/]"}


def info(data: dict):
    return table(f"upstack {data['version']}: effective settings", ("option", "value"),
                 sorted(data["settings"].items()))


def status(data: dict):
    rows = [(s["name"], s["state"], s["pid"], s["address"]) for s in data["services"]]
    return table(f"edge: {data['edge_url'] or '-'}", ("service", "state", "pid", "address"), rows, numeric=("pid",))


def cache_stats(data: dict):
    rows = [(name, r["calls"], r["hits"], r["misses"],
             None if r["hit_ratio"] is None else f"{r['hit_ratio']:.1%}", r["errors"], r["skipped"])
            for name, r in data.items()]
    columns = ("namespace", "calls", "hits", "misses", "hit ratio", "errors", "skipped")
    return table("cache namespaces", columns, rows, numeric=columns[1:])


def task_stats(data: dict):
    rows = [(queue, r["depth"], r["sent"], r["succeeded"], r["failed"], r["retried"])
            for queue, r in data["queues"].items()]
    columns = ("queue", "depth", "sent", "succeeded", "failed", "retried")
    backlog = data.get("purge_backlog") or {}
    age = backlog.get("oldest_age")
    pending = backlog.get("error") or (f"{backlog.get('pending', 0)}" + (f" keys, oldest {age:.0f}s" if age else ""))
    return table(f"broker {data['broker']}, enqueue failures: {data['enqueue_failed']}, purge backlog: {pending}",
                 columns, rows, numeric=columns[1:])


def views(rows: list[dict], parts: tuple[str, ...]):
    columns = ("view", "requests", "total ms", "mean ms", *[f"{p} %" for p in parts], "flagged")
    body = [(r["view"], r["requests"], r["total_ms"], r["mean_ms"], *[f"{r['share'][p]:.0%}" for p in parts],
             ",".join(r["flagged"]) or "-") for r in rows]
    return table("views by total time", columns, body, numeric=columns[1:-1])


def backups(rows: list[dict]):
    return table("backups, newest first", ("file", "bytes", "created"),
                 [(r["file"], r["bytes"], r["created"]) for r in rows], numeric=("bytes",))


def checks(data: dict):
    body = []
    for item in data["items"]:
        detail = item["detail"] if item["detail"] != item.get("id") else None
        advice = "\n".join(filter(None, (detail, item.get("fix") and f"fix: {item['fix']}", item.get("doc"))))
        body.append((CHECK_MARKS[item["status"]], item["check"], advice))
    counts = ", ".join(f"{n} {s}" for s, n in data["counts"].items() if n)
    return table(f"launch checklist: {counts}", ("", "check", "detail, fix, documentation"), body)


def warm(data: dict):
    rows = [(label, data[label]["statuses"], f"{data[label]['edge_hit_ratio']:.1%}",
             f"{data[label]['page_cache_hit_ratio']:.1%}") for label in ("before", "after")]
    return table(f"warmed {data['urls']} URLs", ("pass", "status counts", "edge hits", "page-cache hits"), rows,
                 numeric=("edge hits", "page-cache hits"))


def release(steps: list[dict]):
    rows = [(s["step"], "ok" if s["ok"] else "FAILED", f"{s['seconds']:.2f}") for s in steps]
    return table(f"released in {sum(s['seconds'] for s in steps):.1f}s", ("step", "result", "seconds"), rows,
                 numeric=("seconds",))


def rollback(data: dict):
    rows = [(s["step"], "ok" if s["ok"] else "FAILED", f"{s['seconds']:.2f}") for s in data["steps"]]
    return table(f"rolled back from release {data['from']} to {data['to']} in {data['seconds']:.1f}s",
                 ("step", "result", "seconds"), rows, numeric=("seconds",))


def releases(records: list[dict]):
    rows = [(r["number"], r["at"], r["status"], (r["revision"] or "-")[:12], sum(map(len, r["migrations"].values())),
             r["vcl"]["name"], f"{r['seconds']:.1f}") for r in reversed(records)]
    return table("releases, newest first", ("release", "at", "status", "git", "migrations", "VCL", "seconds"), rows,
                 numeric=("release", "migrations", "seconds"))


def dashboard(data: dict):
    rows = [(p["title"], p["series"], p["points"]) for p in data["panels"]]
    return table(f"dashboard written to {data['file']}", ("panel", "series", "points"), rows,
                 numeric=("series", "points"))


def loadtest(summary: dict, directory):
    columns = ("requests", "failed", "req/s", "p50 ms", "p95 ms", "p99 ms")
    row = (summary["requests"], summary["failures"], f"{summary['rps']:.1f}", summary["p50_ms"], summary["p95_ms"],
           summary["p99_ms"])
    return table(f"load test; report, CSV and charts in {directory}", columns, [row], numeric=columns)


def lock(data: dict):
    if not data["held"]:
        return table("deploy lock: free", ("lock file",), [(data["path"],)])
    holder = data["holder"] or {}
    return table("deploy lock: HELD", ("command", "pid", "host", "user", "since", "lock file"),
                 [(holder.get("command"), holder.get("pid"), holder.get("host"), holder.get("user"),
                   holder.get("since"), data["path"])])
