"""``upstack top``: the running stack at a glance, live or as one JSON snapshot.

The app's figures (request rate, errors, latency per view, busy workers) come from Prometheus when
there is one - ``--prometheus URL``, else the local stack's own (``up --with observability``) - by
PromQL over its HTTP API (``upstack.ops.promql``), over a window of four scrape intervals. Without
one, or when it cannot answer, they are read directly from the app servers' Prometheus files
(multiprocess mode), and the snapshot's ``source`` says which it shows and why. The other sections
read their server directly - varnishstat for the edge, Redis INFO for the cache, pg_stat_activity
and pg_stat_statements for the database, the broker for the queues - using the environment of the
local stack (``upstack env``). A section whose server cannot be read says why instead of failing.
The full-screen layout is ``upstack.ops.topview``'s.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

EDGE_FIELDS = ("client_req", "cache_hit", "cache_miss", "s_pass", "backend_req")


def varnish_counters(workdir: Path, fields=EDGE_FIELDS) -> dict[str, int]:
    """Varnish's MAIN counters (``client_req``, ``cache_hit``...) of the varnishd using ``workdir``."""
    out = subprocess.run(["varnishstat", "-n", str(Path(workdir).resolve()), "-1",
                          *sum((["-f", f"MAIN.{f}"] for f in fields), [])],
                         capture_output=True, text=True, timeout=10, check=True).stdout
    return {line.split()[0].split(".")[1]: int(line.split()[1]) for line in out.splitlines() if line.strip()}


def ratio(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


def edge(workdir: Path, interval: float) -> dict:
    """Varnish over ``interval`` seconds: req/s, backend req/s and the hit ratio of that second (and overall)."""
    first = varnish_counters(workdir)
    time.sleep(interval)
    second = varnish_counters(workdir)
    delta = {k: second[k] - first[k] for k in EDGE_FIELDS}
    lookups = second["cache_hit"] + second["cache_miss"] + second["s_pass"]
    return {"requests_per_second": round(delta["client_req"] / interval, 1),
            "backend_requests_per_second": round(delta["backend_req"] / interval, 1),
            "hit_ratio_now": ratio(delta["cache_hit"], delta["cache_hit"] + delta["cache_miss"] + delta["s_pass"]),
            "hit_ratio": ratio(second["cache_hit"], lookups), "totals": second}


def quantile(buckets: dict[float, float], q: float) -> float | None:
    """The upper bound (ms) of the histogram bucket holding the ``q`` quantile (cumulative buckets)."""
    count = max(buckets.values(), default=0)
    for le in sorted(buckets):
        if count and buckets[le] >= q * count:
            return None if le == float("inf") else round(le * 1000, 1)
    return None


def app(multiproc_dir: Path, capacity: int | None = None, previous: dict | None = None) -> dict:
    """The app servers from their Prometheus files: requests in flight against ``capacity`` (workers x
    threads), and p50/p99 per view - over the last refresh when ``previous`` (the last snapshot's
    ``app``) is given, else since the processes started."""
    from ..metrics.prometheus import multiprocess_samples

    count = total = busy = errors = 0.0
    views: dict[str, dict[float, float]] = {}
    for sample in multiprocess_samples(multiproc_dir):
        if sample.name == "upstack_request_seconds_count":
            count += sample.value
            errors += sample.value if sample.labels.get("status", "").startswith("5") else 0
        elif sample.name == "upstack_request_seconds_sum":
            total += sample.value
        elif sample.name == "upstack_request_seconds_bucket":
            per_view = views.setdefault(sample.labels["view"], {})
            le = float(sample.labels["le"])
            per_view[le] = per_view.get(le, 0) + sample.value
        elif sample.name == "upstack_requests_in_flight":
            busy += sample.value
    raw = {view: {str(le): n for le, n in b.items()} for view, b in views.items()}
    totals = {"count": count, "errors": errors, "at": time.monotonic()}
    before = (previous or {}).get("raw", {})
    rows = []
    for view, buckets in views.items():
        old = before.get(view, {})
        window = {le: n - old.get(str(le), 0) for le, n in buckets.items()} if previous else buckets
        requests = max(window.values(), default=0)
        if requests > 0:
            rows.append({"view": view, "requests": int(requests), "p50_ms": quantile(window, 0.5),
                         "p99_ms": quantile(window, 0.99)})
    rows.sort(key=lambda r: -r["requests"])
    busy = int(busy)
    last = (previous or {}).get("totals")
    done = count - last["count"] if last else 0
    return {"requests": int(count), "mean_ms": round(total / count * 1000, 2) if count else None,
            "requests_per_second": round(done / (totals["at"] - last["at"]), 1) if last else None,
            "error_ratio": ratio(errors - last["errors"], done) if last else None,
            "busy_workers": busy, "idle_workers": None if capacity is None else max(capacity - busy, 0),
            "capacity": capacity, "views": rows[:12], "window": "refresh" if previous else "since start", "raw": raw,
            "totals": totals}


def rate_window(scrape_seconds: float) -> str:
    """Grafana's ``$__rate_interval``: four scrape intervals, so every rate spans enough samples."""
    return f"{max(round(4 * scrape_seconds), 4)}s"


def prometheus_queries(window: str) -> dict[str, str]:
    """The PromQL behind the app panel (the dashboard's expressions, over ``window``)."""
    count = f"rate(upstack_request_seconds_count[{window}])"
    per_view = f"sum by (le, view) (rate(upstack_request_seconds_bucket[{window}]))"
    return {"requests_per_second": f"sum({count})",
            "errors_per_second": f'sum(rate(upstack_request_seconds_count{{status=~"5.."}}[{window}]))',
            "mean_seconds": f"sum(rate(upstack_request_seconds_sum[{window}])) / sum({count})",
            "busy_workers": "sum(upstack_requests_in_flight)",
            "views": f"sum by (view) ({count})",
            "p50": f"histogram_quantile(0.5, {per_view})", "p99": f"histogram_quantile(0.99, {per_view})"}


def _number(value) -> float | None:
    """A sample's value, None for NaN and infinities (0/0 with no traffic, a quantile past the last bucket)."""
    number = float(value)
    return None if number != number or number in (float("inf"), float("-inf")) else number


def app_from_results(results: dict[str, list], capacity: int | None, window: str) -> dict:
    """The app panel from ``prometheus_queries``' instant vectors (pure)."""
    if not results["requests_per_second"]:
        raise LookupError("it has no upstack_request_seconds series: does it scrape this app's /metrics?")

    def scalar(name):
        return _number(results[name][0]["value"][1]) if results[name] else None

    def by_view(name):
        return {r["metric"].get("view"): _number(r["value"][1]) for r in results[name]}

    p50, p99 = by_view("p50"), by_view("p99")
    rows = [{"view": view, "requests_per_second": round(rps, 2),
             "p50_ms": None if p50.get(view) is None else round(p50[view] * 1000, 1),
             "p99_ms": None if p99.get(view) is None else round(p99[view] * 1000, 1)}
            for view, rps in by_view("views").items() if rps]
    rows.sort(key=lambda r: -r["requests_per_second"])
    rps, errors, mean, busy = (scalar(k) for k in ("requests_per_second", "errors_per_second", "mean_seconds",
                                                   "busy_workers"))
    busy = int(busy or 0)
    return {"requests_per_second": None if rps is None else round(rps, 1),
            "error_ratio": ratio(errors or 0, rps or 0), "mean_ms": None if mean is None else round(mean * 1000, 2),
            "busy_workers": busy, "idle_workers": None if capacity is None else max(capacity - busy, 0),
            "capacity": capacity, "views": rows[:12], "window": f"last {window}"}


def app_from_prometheus(prometheus: str, capacity: int | None, window: str) -> dict:
    from .promql import query

    # 2 s at most: a Prometheus that hangs adds that to each refresh, which then shows the direct read.
    return app_from_results({name: query(prometheus, expr, timeout=2) for name, expr in prometheus_queries(window).items()},
                            capacity, window)


def prometheus_source(url: str) -> dict:
    """``{"url", "window"}`` for a Prometheus on loopback (ValueError otherwise); the window is four of
    its scrape intervals, 60 s when its config cannot be read now (it may come up later)."""
    from . import promql

    url = promql.require_loopback(url, "top")
    try:
        interval = promql.scrape_interval(url)
    except (ConnectionError, RuntimeError, ValueError, KeyError):
        interval = 15.0
    return {"url": url, "window": rate_window(interval)}


def app_capacity(state_dir: Path, master: int | None) -> int | None:
    """gunicorn's workers (the master's children) times the threads of each (its rendered config)."""
    import re

    from ..stack.rolling import workers

    config = state_dir / "etc" / "gunicorn" / "gunicorn.conf.py"
    threads = re.search(r"^threads = (\d+)", config.read_text(), re.M) if config.exists() else None
    if not master or not threads:
        return None
    return len(workers(master)) * int(threads.group(1))


def namespaces() -> dict:
    """Hit ratio per cache namespace, summed over every process (upstack.cache.stats)."""
    from ..cache import stats

    return {name: {"hit_ratio": row["hit_ratio"], "calls": row["calls"], "errors": row["errors"]}
            for name, row in stats().items()}


def cache(redis_url: str) -> dict:
    import redis

    info = redis.Redis.from_url(redis_url, socket_timeout=2).info()
    lookups = info["keyspace_hits"] + info["keyspace_misses"]
    return {"hit_ratio": round(info["keyspace_hits"] / lookups, 4) if lookups else None,
            "evicted_keys": info["evicted_keys"], "used_memory": info["used_memory"],
            "maxmemory": info.get("maxmemory"), "connected_clients": info["connected_clients"]}


def db(database_url: str) -> dict:
    import psycopg

    with psycopg.connect(database_url.replace("postgres://", "postgresql://", 1), connect_timeout=3) as conn:
        connections = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()").fetchone()[0]
        try:
            rows = conn.execute("SELECT calls, round(total_exec_time::numeric, 1), left(query, 120) "
                                "FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 5").fetchall()
            top = [{"calls": c, "total_ms": float(t), "query": q} for c, t, q in rows]
        except psycopg.Error as exc:
            top = {"unavailable": str(exc).splitlines()[0]}
    return {"connections": connections, "top_statements": top}


def queues() -> dict:
    from ..tasks.stats import stats

    return stats()["queues"]


def purges(multiproc_dir: Path, queue_rows: dict) -> dict:
    """The purge backlog: purge tasks waiting in their queue (``high``) and keys whose purge failed."""
    from ..metrics.prometheus import multiprocess_samples

    failed = sum(s.value for s in multiprocess_samples(multiproc_dir)
                 if s.name == "upstack_purge_keys_total" and s.labels.get("result") != "ok")
    waiting = queue_rows.get("high", {}).get("depth") if isinstance(queue_rows, dict) else None
    return {"waiting": waiting, "failed_keys": int(failed)}


def _safely(function, *args):
    try:
        return function(*args)
    except Exception as exc:  # noqa: BLE001 - one unreadable server must not hide the others
        return {"error": f"{type(exc).__name__}: {exc}"}


NO_STACK = {"error": "the local stack is not running: only --prometheus is read"}


def app_section(multiproc: Path | None, capacity: int | None, previous: dict | None,
                prometheus: dict | None) -> tuple[dict, dict]:
    """The app panel and its ``source``: Prometheus when given and answering, else the direct read."""
    reason = "no Prometheus (pass --prometheus URL, or run `upstack up --with observability`)"
    if prometheus:
        try:
            return (app_from_prometheus(prometheus["url"], capacity, prometheus["window"]),
                    {"name": "prometheus", "url": prometheus["url"], "reason": None})
        except (ConnectionError, RuntimeError, LookupError, ValueError, KeyError) as exc:
            reason = f"Prometheus at {prometheus['url']} gave no app figures: {exc}"
    data = _safely(app, multiproc, capacity, previous) if multiproc else NO_STACK
    return data, {"name": "direct", "url": None, "reason": reason}


def snapshot(state_dir: Path, env: dict | None, interval: float = 1.0, previous: dict | None = None,
             app_master: int | None = None, prometheus: dict | None = None) -> dict:
    """One reading of every section; ``env`` None when no local stack runs (then only ``prometheus``,
    from ``prometheus_source``, is read); ``previous`` the last snapshot, for per-refresh windows."""
    multiproc = Path(env["PROMETHEUS_MULTIPROC_DIR"]) if env else None
    previous_app = (previous or {}).get("app") if (previous or {}).get("source", {}).get("name") == "direct" else None
    if not env:
        app_data, source = app_section(None, None, None, prometheus)
        return {"source": source, "edge": NO_STACK, "app": app_data, "cache": NO_STACK, "namespaces": NO_STACK,
                "db": NO_STACK, "queues": NO_STACK, "purges": NO_STACK}
    queue_rows = _safely(queues)
    edge_data = _safely(edge, state_dir / "varnish", interval)
    app_data, source = app_section(multiproc, app_capacity(state_dir, app_master), previous_app, prometheus)
    return {
        "source": source,
        "edge": edge_data,
        "app": app_data,
        "cache": _safely(cache, env["REDIS_URL"]),
        "namespaces": _safely(namespaces),
        "db": _safely(db, env["DATABASE_URL"]),
        "queues": queue_rows,
        "purges": _safely(purges, multiproc, queue_rows),
    }


def render(data: dict):
    from .topview import render as view

    return view(data)


def dumps(data: dict) -> str:
    """The JSON snapshot, without the raw counters kept for the next refresh."""
    shown = {**data, "app": {k: v for k, v in data["app"].items() if k not in ("raw", "totals")}}
    return json.dumps(shown, indent=2, default=str, sort_keys=True)
