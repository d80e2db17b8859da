"""The replica router's policy without servers: the request scope, the lag rules, the per-process
measurement cache, and the E120-E122 checks (the real primary and replica: test_replicas.py)."""

from __future__ import annotations

import math
import threading

import pytest
from django.core import checks
from django.test import override_settings

from upstack.checks import rules
from upstack.db import lag, router, scope


def test_outside_a_request_every_read_goes_to_the_primary():
    assert scope.current() is None
    assert router.ReplicaRouter().db_for_read(None) == "default"


def test_a_write_pins_the_rest_of_the_request_to_the_primary():
    token = scope.begin()
    try:
        current = scope.current()
        assert scope.choose(current, ["r1", "r2"], pick=lambda options: options[-1]) == "r2"
        assert scope.choose(current, ["r1", "r2"], pick=lambda options: options[0]) == "r2"  # sticky
        assert router.ReplicaRouter().db_for_write(None) == "default"
        assert scope.wrote() and scope.choose(current, ["r1", "r2"]) is None
    finally:
        scope.end(token)
    assert not scope.wrote()


def test_a_replica_leaving_rotation_is_replaced_and_none_means_the_primary():
    current = scope.Scope(replica="r1")
    assert scope.choose(current, ["r2"]) == "r2"
    assert scope.choose(current, []) is None


def test_lag_is_zero_when_caught_up_and_the_replay_age_when_behind():
    assert lag.lag_seconds(0, 3600.0) == 0.0  # idle primary: nothing to replay, however old the last write
    assert lag.lag_seconds(-10, None) == 0.0  # replayed past the primary's position read a moment earlier
    assert lag.lag_seconds(8192, 7.5) == 7.5
    assert lag.lag_seconds(8192, None) == math.inf  # behind, and nothing replayed since it started


def test_rotation_needs_a_known_lag_within_the_limit():
    assert lag.in_rotation(lag.Reading("r", 0, 0.5), 1)
    assert not lag.in_rotation(lag.Reading("r", 0, 1.5), 1)
    assert not lag.in_rotation(lag.Reading("r", 0, None, "unreachable"), 1)
    assert not lag.in_rotation(None, 1)


@override_settings(UPSTACK={"REPLICA_CHECK_EVERY": 60})
def test_one_measurement_per_interval_per_process():
    lag.forget()
    calls = []

    def fake(alias):
        calls.append(alias)
        return lag.Reading(alias, lag.time.monotonic(), 0.0)

    try:
        threads = [threading.Thread(target=lag.reading, args=("r",), kwargs={"measure": fake}) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert lag.reading("r", measure=fake).lag == 0.0
        assert calls == ["r"]
        lag._readings["r"] = lag.Reading("r", lag.time.monotonic() - 61, 0.0)  # the interval has passed
        lag.reading("r", measure=fake)
        assert calls == ["r", "r"]
    finally:
        lag.forget()


ROUTER = rules.REPLICA_ROUTER
DATABASES = {"default": {}, "replica": {}}
MIDDLEWARE = [rules.REPLICA_MIDDLEWARE]


@pytest.mark.parametrize(("routers", "replicas", "middleware", "codes"), [
    ([ROUTER], ["replica"], MIDDLEWARE, []),
    ([], [], [], []),
    ([ROUTER], [], MIDDLEWARE, ["E120"]),  # router on, no replica alias
    ([ROUTER], ["missing"], MIDDLEWARE, ["E121"]),
    ([ROUTER], ["default"], MIDDLEWARE, ["E121"]),
    ([], ["replica"], MIDDLEWARE, ["E122"]),
    ([ROUTER], ["replica"], [], ["E122"]),
    ([ROUTER], ["replica"], [rules.PAGE_MIDDLEWARE, rules.REPLICA_MIDDLEWARE], ["E122"]),  # inside the page one
    ([ROUTER], ["replica"], [rules.REPLICA_MIDDLEWARE, rules.PAGE_MIDDLEWARE], []),
])
def test_replica_problems(routers, replicas, middleware, codes):
    assert [p.code for p in rules.replica_problems(routers, DATABASES, replicas, middleware)] == codes


@override_settings(DATABASE_ROUTERS=[ROUTER])
def test_the_router_without_a_replica_alias_fails_manage_py_check():
    found = [m for m in checks.run_checks(tags=["upstack"]) if m.id.startswith("upstack.E12")]
    assert [m.id for m in found] == ["upstack.E120"]
    assert "DATABASE_REPLICAS" in found[0].msg and found[0].is_serious()


def test_the_edges_fresh_refetch_reads_the_primary_only_from_an_insider():
    """The edge refetches a writer's page without cookies and says ``X-Upstack-Fresh: 1``: that render
    reads the primary (it read the lagging replica, and the edge stored the stale page for everyone);
    the same header from an outsider changes nothing."""
    from django.http import HttpResponse
    from django.test import RequestFactory

    from upstack.db.middleware import ReplicaMiddleware

    chosen = []

    def view(request):
        chosen.append(scope.choose(scope.current(), ["replica"]))
        return HttpResponse()

    middleware = ReplicaMiddleware(view)
    for address, header in (("127.0.0.1", {}), ("127.0.0.1", {"HTTP_X_UPSTACK_FRESH": "1"}),
                            ("203.0.113.9", {"HTTP_X_UPSTACK_FRESH": "1"})):
        middleware(RequestFactory().get("/", REMOTE_ADDR=address, **header))
    assert chosen == ["replica", None, "replica"]
