"""``upstack top``: the running stack at a glance, live or as one JSON snapshot.

Each section reads its server directly - varnishstat for the edge, the app servers' Prometheus
files (multiprocess mode) for the app, Redis INFO for the cache, pg_stat_activity and
pg_stat_statements for the database, the broker for the queues - using the environment of the
local stack (``upstack env``). A section whose server cannot be read says why instead of failing.
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


def edge(workdir: Path, interval: float) -> dict:
    first = varnish_counters(workdir)
    time.sleep(interval)
    second = varnish_counters(workdir)
    delta = {k: second[k] - first[k] for k in EDGE_FIELDS}
    lookups = second["cache_hit"] + second["cache_miss"] + second["s_pass"]
    return {"requests_per_second": round(delta["client_req"] / interval, 1),
            "backend_requests_per_second": round(delta["backend_req"] / interval, 1),
            "hit_ratio": round(second["cache_hit"] / lookups, 4) if lookups else None, "totals": second}


def app(multiproc_dir: Path) -> dict:
    from ..metrics.prometheus import multiprocess_samples

    count = total = busy = 0.0
    buckets: dict[float, float] = {}
    for sample in multiprocess_samples(multiproc_dir):
        if sample.name == "upstack_request_seconds_count":
            count += sample.value
        elif sample.name == "upstack_request_seconds_sum":
            total += sample.value
        elif sample.name == "upstack_request_seconds_bucket":
            le = float(sample.labels["le"])
            buckets[le] = buckets.get(le, 0) + sample.value
        elif sample.name == "upstack_requests_in_flight":
            busy += sample.value
    p95 = None
    if count:
        for le in sorted(buckets):
            if buckets[le] >= 0.95 * count:
                p95 = le
                break
    return {"requests": int(count), "mean_ms": round(total / count * 1000, 2) if count else None,
            "p95_ms_bucket": None if p95 is None else p95 * 1000, "busy_workers": int(busy)}


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


def _safely(function, *args):
    try:
        return function(*args)
    except Exception as exc:  # noqa: BLE001 - one unreadable server must not hide the others
        return {"error": f"{type(exc).__name__}: {exc}"}


def snapshot(state_dir: Path, env: dict, interval: float = 1.0) -> dict:
    return {
        "edge": _safely(edge, state_dir / "varnish", interval),
        "app": _safely(app, Path(env["PROMETHEUS_MULTIPROC_DIR"])),
        "cache": _safely(cache, env["REDIS_URL"]),
        "db": _safely(db, env["DATABASE_URL"]),
        "queues": _safely(queues),
    }


def render(data: dict):
    """A rich renderable of a snapshot (the live view)."""
    from rich.table import Table

    table = Table(title="upstack top", expand=True)
    table.add_column("layer")
    table.add_column("now")
    e, a, c, d = data["edge"], data["app"], data["cache"], data["db"]
    table.add_row("edge", e.get("error") or f"{e['requests_per_second']} req/s, hit ratio {e['hit_ratio']}, "
                                             f"{e['backend_requests_per_second']} backend req/s")
    table.add_row("app", a.get("error") or f"{a['busy_workers']} busy, mean {a['mean_ms']} ms, p95 <= {a['p95_ms_bucket']} ms")
    table.add_row("cache", c.get("error") or f"hit ratio {c['hit_ratio']}, {c['evicted_keys']} evicted, "
                                              f"{c['used_memory'] // 1024 // 1024} MB")
    table.add_row("db", d.get("error") or f"{d['connections']} connections")
    queue_text = data["queues"].get("error") if "error" in data["queues"] else ", ".join(
        f"{q} {row['depth']}" for q, row in data["queues"].items())
    table.add_row("queues", queue_text)
    return table


def dumps(data: dict) -> str:
    return json.dumps(data, indent=2, default=str)
