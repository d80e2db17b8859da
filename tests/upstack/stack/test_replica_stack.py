"""``upstack up --with replica`` end to end: the local stack's PostgreSQL gets a streaming replica made
with ``pg_basebackup -R`` (run as the postgres user), supervisord runs it as ``postgres-replica``, the
seeded data reaches it, the app's reads go there (its own connections show on the replica) and the
app's /metrics reports it in rotation. Brought down afterwards, leaving no process."""

from __future__ import annotations

import subprocess
import time
import urllib.request

import pytest

from tests import servers
from tests.upstack.stack.test_runner import running_stack, stack_processes, status
from upstack.stack import machine

pytestmark = [pytest.mark.servers, pytest.mark.slow]


def psql(port: int, sql: str) -> str:
    return subprocess.run([machine.find_binary("psql"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-d",
                           "upstack", "-qAtc", sql], capture_output=True, text=True, check=True, timeout=30).stdout.strip()


def fetch(url: str) -> str:
    request = urllib.request.Request(url, headers={"Host": "127.0.0.1"})
    with urllib.request.urlopen(request, timeout=20) as response:
        return response.read().decode()


def test_up_with_replica_streams_to_a_replica_the_app_reads_from():
    servers.require_binary("pg_basebackup")
    with running_stack("upstack-replica-", "--with", "replica") as (state, result):
        services = {s["name"]: s for s in status(state)["services"]}
        assert services["postgres-replica"]["state"] == "running", result.stdout
        primary, replica = (int(services[name]["address"].rsplit(":", 1)[1]) for name in ("postgres", "postgres-replica"))
        assert psql(replica, "SELECT pg_is_in_recovery()") == "t" and psql(primary, "SELECT pg_is_in_recovery()") == "f"
        assert psql(primary, "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'") == "1"
        count = "SELECT count(*) FROM news_article"
        servers.wait_until(lambda: psql(replica, count) == psql(primary, count) != "0", 10, "the seeded articles on the replica")
        app = int(services["app"]["address"].rsplit(":", 1)[1])
        # A search no cache has seen (the page cache, nor the query cache, whose keys a replica shares
        # with its primary): the view's queries reach a database, and reads go to the replica.
        fetch(f"http://127.0.0.1:{app}/search/?q=replica-{time.time_ns()}")
        reads = ("SELECT count(*) FROM pg_stat_activity WHERE datname = 'upstack' AND usename = 'upstack' "
                 "AND query ILIKE '%news_%'")
        servers.wait_until(lambda: int(psql(replica, reads)) > 0, 10, "the app's reads on the replica")
        metrics = fetch(f"http://127.0.0.1:{app}/metrics")
        assert 'upstack_db_replica_in_rotation{replica="replica"} 1.0' in metrics, metrics[-2000:]
    time.sleep(0.5)
    assert stack_processes(state) == []
