"""The sizing rules are pure functions: check them against the documented formulas."""

import pytest

from upstack.stack import sizing
from upstack.stack.sizing import GB, MB


@pytest.mark.parametrize("memory", [1 * GB, 4 * GB, 16 * GB, 24 * GB, 64 * GB, 256 * GB])
@pytest.mark.parametrize("max_connections", [50, 100, 200, 399])
def test_postgres_rules(memory, max_connections):
    pg = sizing.postgres(memory, max_connections)
    assert pg.shared_buffers == min(memory // 4, 8 * GB)
    assert pg.work_mem == (2 * memory) // max_connections
    assert pg.maintenance_work_mem == memory // 16
    assert pg.effective_cache_size == memory // 2
    assert pg.max_connections == max_connections


def test_shared_buffers_caps_at_8gb_and_max_connections_stays_under_400():
    assert sizing.postgres(64 * GB).shared_buffers == 8 * GB
    assert sizing.postgres(16 * GB).shared_buffers == 4 * GB
    for bad in (0, 400, 1000):
        with pytest.raises(ValueError, match="max_connections"):
            sizing.postgres(8 * GB, bad)


@pytest.mark.parametrize("cpus,memory,expected", [
    (1, 512 * MB, (1, 2)),     # memory-bound: 512M x 35% / 160M = 1
    (2, 2 * GB, (4, 4)),       # memory caps 2x2+1=5 at 4
    (2, 24 * GB, (5, 4)),      # cpu-bound: 2 x 2 + 1
    (8, 8 * GB, (17, 4)),      # 8G x 0.35 / 160M = 17 < 2x8+1
    (16, 64 * GB, (33, 4)),
])
def test_app_workers_from_cores_capped_by_memory(cpus, memory, expected):
    assert sizing.app_workers(cpus, memory) == expected


def test_celery_concurrency_follows_cores_and_memory():
    assert sizing.celery_concurrency(8, 64 * GB) == 8
    assert sizing.celery_concurrency(8, 2 * GB) == 1
    assert sizing.celery_concurrency(1, 256 * MB) == 1


@pytest.mark.parametrize("cpus,memory", [(1, 1 * GB), (2, 4 * GB), (4, 16 * GB), (2, 24 * GB)])
def test_connection_budget_fits_max_connections(cpus, memory):
    plan = sizing.plan(cpus, memory)
    needed = plan.app_workers * plan.app_threads + plan.celery_concurrency + 1 + sizing.RESERVED_CONNECTIONS
    assert plan.connections_needed == needed
    assert needed <= plan.postgres.max_connections < 400


def test_budget_over_the_limit_says_use_pgbouncer():
    with pytest.raises(ValueError, match="enable PgBouncer"):
        sizing.plan(16, 64 * GB, app_servers=4)
    pooled = sizing.plan(16, 64 * GB, app_servers=4, with_pgbouncer=True)
    assert pooled.postgres.max_connections < 400
    assert pooled.pgbouncer_pool_size + sizing.RESERVED_CONNECTIONS <= pooled.postgres.max_connections


def test_redis_sizes_and_minimums():
    plan = sizing.plan(2, 24 * GB)
    assert plan.redis_cache_maxmemory == int(24 * GB * sizing.REDIS_CACHE_SHARE)
    small = sizing.plan(1, 256 * MB)
    assert small.redis_cache_maxmemory == 32 * MB and small.redis_broker_maxmemory == 32 * MB


@pytest.mark.parametrize("text,expected", [
    ("4G", 4 * GB), ("4g", 4 * GB), ("512M", 512 * MB), ("16GiB", 16 * GB), ("2gb", 2 * GB), ("1048576", MB),
    ("1.5G", int(1.5 * GB)), (4096, 4096),
])
def test_parse_size(text, expected):
    assert sizing.parse_size(text) == expected


@pytest.mark.parametrize("bad", ["", "lots", "4X", "-1G", "0", 0])
def test_parse_size_rejects_nonsense(bad):
    with pytest.raises(ValueError):
        sizing.parse_size(bad)


def test_pg_units():
    assert sizing.pg_size(8 * GB) == "8GB"
    assert sizing.pg_size(256 * MB) == "256MB"
    assert sizing.pg_size(1536 * MB) == "1536MB"
    assert sizing.pg_size(10 * MB + 5) == "10240kB"


def test_tiny_machines_are_refused():
    with pytest.raises(ValueError, match="at least"):
        sizing.plan(0, 4 * GB)
    with pytest.raises(ValueError, match="at least"):
        sizing.plan(1, 100 * MB)
