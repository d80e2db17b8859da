"""Sizing rules: how big each server should be on a machine of a given size.

Pure functions of the resources (cores, bytes of memory) and a few choices; no I/O, no settings.
The rules are the classic ones: PostgreSQL shared_buffers 25% of RAM up to 8 GB,
work_mem (2 x RAM) / max_connections, maintenance_work_mem RAM/16, effective_cache_size RAM/2,
max_connections under 400; app workers from cores, capped by memory; and a connection budget that
keeps every pool's connections under PostgreSQL's max_connections.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

KB = 1024
MB = 1024 * KB
GB = 1024 * MB

# What one process of each kind costs in resident memory, a conservative figure for a Django site.
APP_WORKER_RSS = 160 * MB
CELERY_PROCESS_RSS = 200 * MB
# Shares of the machine's memory each tier may use when everything runs on one box.
APP_MEMORY_SHARE = 0.35
CELERY_MEMORY_SHARE = 0.15
REDIS_CACHE_SHARE = 0.10
REDIS_BROKER_SHARE = 0.02
MEMCACHED_SHARE = 0.05
VARNISH_SHARE = 0.10
# PostgreSQL connections kept out of every pool: superusers, migrations, backups, a psql session.
RESERVED_CONNECTIONS = 10
MAX_CONNECTIONS_LIMIT = 400  # exclusive: more than this wants a pooler, not a bigger number


@dataclass(frozen=True)
class PostgresSizing:
    max_connections: int
    shared_buffers: int
    work_mem: int
    maintenance_work_mem: int
    effective_cache_size: int


@dataclass(frozen=True)
class Sizing:
    """Every sized value for one machine, as the renderers use them."""

    cpus: int
    memory: int
    app_workers: int
    app_threads: int
    celery_concurrency: int
    redis_cache_maxmemory: int
    redis_broker_maxmemory: int
    memcached_memory: int
    varnish_memory: int
    pgbouncer_pool_size: int
    postgres: PostgresSizing
    connections_needed: int


def parse_size(text: str | int) -> int:
    """``"4G"``, ``"512MiB"``, ``"2gb"``, ``"1048576"`` -> bytes. Raises ValueError with the accepted forms."""
    if isinstance(text, int):
        if text <= 0:
            raise ValueError(f"size must be positive, got {text}")
        return text
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b)?\s*", str(text).lower())
    if not match:
        raise ValueError(f"unrecognised size {text!r}: use a number of bytes or e.g. 512M, 4G, 16GiB")
    number, unit = float(match.group(1)), match.group(2)
    value = int(number * {"": 1, "k": KB, "m": MB, "g": GB, "t": 1024 * GB}[unit])
    if value <= 0:
        raise ValueError(f"size must be positive, got {text!r}")
    return value


def pg_size(value: int) -> str:
    """Bytes in PostgreSQL's units, rounded down to a whole kB/MB/GB: ``268435456`` -> ``"256MB"``."""
    for unit, size in (("GB", GB), ("MB", MB)):
        if value >= size and value % size == 0:
            return f"{value // size}{unit}"
    if value >= 64 * MB:
        return f"{value // MB}MB"
    return f"{max(64, value // KB)}kB"


def redis_size(value: int) -> str:
    return f"{max(1, value // MB)}mb"


def postgres(memory: int, max_connections: int = 200) -> PostgresSizing:
    """The PostgreSQL memory settings for ``memory`` bytes of RAM and ``max_connections``."""
    if not 1 <= max_connections < MAX_CONNECTIONS_LIMIT:
        raise ValueError(
            f"max_connections must be between 1 and {MAX_CONNECTIONS_LIMIT - 1}, got {max_connections}; "
            "put PgBouncer in front instead of raising it"
        )
    return PostgresSizing(
        max_connections=max_connections,
        shared_buffers=min(memory // 4, 8 * GB),
        work_mem=max(64 * KB, (2 * memory) // max_connections),
        maintenance_work_mem=memory // 16,
        effective_cache_size=memory // 2,
    )


def app_workers(cpus: int, memory: int) -> tuple[int, int]:
    """(processes, threads per process) for the app server: 2 x cores + 1, capped by memory."""
    by_cpu = 2 * cpus + 1
    by_memory = int(memory * APP_MEMORY_SHARE // APP_WORKER_RSS)
    workers = max(1, min(by_cpu, by_memory))
    threads = 4 if memory >= 2 * GB else 2
    return workers, threads


def celery_concurrency(cpus: int, memory: int) -> int:
    """Worker processes: one per core (thumbnails are CPU-bound), capped by memory, at least 1."""
    return max(1, min(cpus, int(memory * CELERY_MEMORY_SHARE // CELERY_PROCESS_RSS)))


def connections_needed(app_servers: int, workers: int, threads: int, celery: int, beat: int = 1) -> int:
    """Database connections the stack can hold at once, with persistent connections (one per thread)."""
    return app_servers * workers * threads + celery + beat + RESERVED_CONNECTIONS


def plan(cpus: int, memory: int, *, app_servers: int = 1, with_pgbouncer: bool = False) -> Sizing:
    """Size every tier for a machine of ``cpus`` cores and ``memory`` bytes.

    Without PgBouncer each app thread holds its own connection, so PostgreSQL's max_connections
    is raised to the budget (at least 100); when the budget would reach 400 a ValueError says to
    use PgBouncer or fewer app servers. With PgBouncer, clients share a pool sized to the cores.
    """
    if cpus < 1 or memory < 256 * MB:
        raise ValueError(f"need at least 1 CPU and 256 MB of memory, got {cpus} CPU and {memory // MB} MB")
    if app_servers < 1:
        raise ValueError("app_servers must be at least 1")
    workers, threads = app_workers(cpus, memory)
    celery = celery_concurrency(cpus, memory)
    needed = connections_needed(app_servers, workers, threads, celery)
    pool = max(10, 4 * cpus)
    if with_pgbouncer:
        max_connections = max(100, pool + RESERVED_CONNECTIONS)
    else:
        max_connections = max(100, needed)
        if max_connections >= MAX_CONNECTIONS_LIMIT:
            raise ValueError(
                f"{app_servers} app server(s) x {workers} workers x {threads} threads + {celery} Celery "
                f"processes need {needed} PostgreSQL connections (limit {MAX_CONNECTIONS_LIMIT - 1}); "
                "enable PgBouncer or run fewer app servers"
            )
    return Sizing(
        cpus=cpus,
        memory=memory,
        app_workers=workers,
        app_threads=threads,
        celery_concurrency=celery,
        redis_cache_maxmemory=max(32 * MB, int(memory * REDIS_CACHE_SHARE)),
        redis_broker_maxmemory=max(32 * MB, int(memory * REDIS_BROKER_SHARE)),
        memcached_memory=max(64 * MB, int(memory * MEMCACHED_SHARE)),
        varnish_memory=max(64 * MB, int(memory * VARNISH_SHARE)),
        pgbouncer_pool_size=pool,
        postgres=postgres(memory, max_connections),
        connections_needed=needed,
    )


# What a pod needs besides its workers: the master process, Python's import of the project, the kubelet's margin.
POD_OVERHEAD = 128 * MB


def pod_plan(cpus: int, memory: int) -> tuple[int, int, int]:
    """(app workers, threads, Celery processes) for one pod of ``cpus`` cores and ``memory`` bytes.

    A pod runs one tier alone, so its workers may use the whole pod less ``POD_OVERHEAD``: 2 x cores + 1
    app processes (one per core for Celery), capped by that memory. The pod's requests are exactly
    ``cpus`` and ``memory``, so the HPA's CPU target means what it says (docs/deploy.md).
    """
    if cpus < 1 or memory < 256 * MB:
        raise ValueError(f"a pod needs at least 1 CPU and 256 MB, got {cpus} CPU and {memory // MB} MB")
    usable = memory - POD_OVERHEAD
    workers = max(1, min(2 * cpus + 1, usable // APP_WORKER_RSS))
    threads = 4 if memory >= 2 * GB else 2
    celery = max(1, min(cpus, usable // CELERY_PROCESS_RSS))
    return workers, threads, celery
