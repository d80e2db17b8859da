"""Read replicas end to end on real servers: a PostgreSQL primary and a hot standby made from it with
``pg_basebackup -R`` (tests/servers.py), each on a free loopback port, and a small site
(``replica_site``) routed by upstack.db.router.ReplicaRouter. Which server answered a read is proven by
the connection that ran it and ``pg_is_in_recovery()`` on that server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import servers

pytestmark = pytest.mark.servers

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def pair():
    servers.require_binary("postgres")
    servers.require_binary("pg_basebackup")
    primary = servers.Postgres().start()
    try:
        replica = servers.PostgresReplica(primary).start()
    except BaseException:
        primary.stop()
        raise
    try:
        run(primary, replica, "migrate")
        servers.wait_until(replica.caught_up, 10, "the replica catching up")
        yield primary, replica
    finally:
        replica.stop()
        primary.stop()


def run(primary, replica, *steps: str, max_lag: float = 2) -> list[dict]:
    env = {**os.environ, "UPSTACK_TEST_PRIMARY_PORT": str(primary.port), "UPSTACK_TEST_REPLICA_PORT": str(replica.port),
           "UPSTACK_TEST_MAX_LAG": str(max_lag)}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    done = subprocess.run([sys.executable, "-m", "tests.upstack.db.replica_site", *steps], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_the_replica_follows_the_primary(pair):
    primary, replica = pair
    assert replica.sql("SELECT pg_is_in_recovery()").strip() == "t"
    assert primary._psql("SELECT pg_is_in_recovery()").strip() == "f"
    primary._psql("CREATE TABLE follow (n int); INSERT INTO follow VALUES (42)", primary.database)
    servers.wait_until(replica.caught_up, 10, "the replica replaying")
    assert replica.sql("SELECT n FROM follow").strip() == "42"
    with pytest.raises(subprocess.CalledProcessError):  # read-only: a write on the replica fails
        replica.sql("INSERT INTO follow VALUES (1)")


def test_reads_without_a_recent_write_go_to_the_replica(pair):
    (read,) = run(*pair, "a:read")
    assert read["status"] == 200
    assert read["db"] == ["replica"] and read["in_recovery"] == [True]


def test_a_writer_reads_its_own_writes_from_the_primary_while_others_read_the_replica(pair):
    primary, replica = pair
    # Replay paused: the replica cannot have the new row, so only a read from the primary finds it.
    steps = run(primary, replica, "pause", "a:write:ryow", "a:read:ryow", "b:read:ryow", "resume", max_lag=60)
    _, write, own, other, _ = steps
    assert write["status"] == 200 and write["fresh_cookie"]
    assert write["db"] == ["default"] and write["in_recovery"] == [False] and write["found"]
    assert own["db"] == ["default"] and own["in_recovery"] == [False] and own["found"]
    # Negative: a client with no recent write reads the (paused) replica and does not see it yet.
    assert other["db"] == ["replica"] and other["in_recovery"] == [True] and not other["found"]


def test_only_a_fresh_cookie_signed_for_the_clients_session_pins_it(pair):
    """The window is the signed cookie, bound to the session: another session's (replayed) or a made-up
    one pins nothing; the right one does (the control, so that the negatives can fail)."""
    primary, replica = pair
    env = {"UPSTACK_TEST_PRIMARY_PORT": str(primary.port), "UPSTACK_TEST_REPLICA_PORT": str(replica.port)}
    code = ("import os, time, django, json; os.environ['DJANGO_SETTINGS_MODULE']='tests.upstack.db.replica_site'\n"
            "django.setup()\n"
            "from django.test import Client; from upstack.edge import fresh\n"
            "def read(session, value):\n"
            "    c = Client(); c.cookies['sessionid'] = session; c.cookies['upstack_fresh'] = value\n"
            "    return c.get('/read').json()['db']\n"
            "token = lambda s: fresh.token(fresh.secret(), s, time.time(), 5)\n"
            "print(json.dumps([read('mine', token('theirs')), read('mine', '9999999999.1-2'), read('mine', token('mine'))]))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, **env}, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    replayed, forged, own = json.loads(done.stdout)
    assert replayed == ["replica"] and forged == ["replica"]
    assert own == ["default"]


def test_a_lagging_replica_leaves_rotation_and_returns(pair):
    primary, replica = pair
    steps = run(primary, replica, "a:read", "metrics", "pause", "w:write:lagging", "sleep:2.5", "b:read:lagging",
                "metrics", "resume", "sleep:1", "c:read:lagging", "metrics", max_lag=1)
    before, metrics_before, _, _, _, during, metrics_during, _, _, after, metrics_after = steps
    assert before["db"] == ["replica"]
    assert metrics_before["metrics"]['upstack_db_replica_in_rotation{replica="replica"}'] == 1.0
    # Replay paused and the primary written to: past REPLICA_MAX_LAG the replica is out; the reader gets
    # the primary's answer, without an error.
    assert during["status"] == 200 and during["db"] == ["default"] and during["found"]
    assert metrics_during["metrics"]['upstack_db_replica_lag_seconds{replica="replica"}'] > 1
    assert metrics_during["metrics"]['upstack_db_replica_in_rotation{replica="replica"}'] == 0.0
    # Replay resumed: caught up, lag 0, back in rotation and the row is there.
    assert after["db"] == ["replica"] and after["found"]
    assert metrics_after["metrics"]['upstack_db_replica_lag_seconds{replica="replica"}'] == 0.0
    errors = sum(step.get("status", 200) != 200 for step in steps)
    lagged = metrics_during["metrics"]['upstack_db_replica_lag_seconds{replica="replica"}']
    print(f"\nreplica lag with replay paused 2.5 s after a write: {lagged:.2f} s (limit 1 s): "
          f"out of rotation, {errors} reader errors; 1 s after resuming: lag 0, back in rotation")
