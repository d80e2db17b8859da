"""``upstack up --with observability,flower`` end to end with real processes: the stack's own
Prometheus (Debian's binary) scrapes its app, ``report dashboard`` draws from it by default, Flower
answers on loopback, and ``down`` stops both. Its own stack: test_runner.py's is taken down by its
last test.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from importlib.util import find_spec
from pathlib import Path

import pytest

from tests import servers
from tests.upstack.stack.test_runner import (
    dashboard_in_chromium,
    get,
    quit_top,
    running_stack,
    service,
    stack_processes,
    status,
    top_in_tmux,
    top_screens_under_load,
    under_load,
    upstack,
)
from upstack.stack import machine

pytestmark = [pytest.mark.servers, pytest.mark.slow]


@pytest.fixture(scope="module")
def stack():
    servers.require_binary("prometheus")
    if find_spec("flower") is None:
        message = "Flower is not installed; pip install -e '.[dev]' (the flower extra)"
        if servers.in_ci():
            pytest.fail(message + " (CI=true: never a skip)", pytrace=False)
        pytest.skip(message)
    with running_stack("upstack-obs-", "--with", "observability,flower") as pair:
        yield pair


def prometheus_api(state: Path, path: str, **params) -> dict:
    url = "http://" + service(state, "prometheus")["address"] + path
    code, _, body = get(url + ("?" + urllib.parse.urlencode(params) if params else ""))
    assert code == 200, body
    return json.loads(body)["data"]


def test_status_lists_prometheus_and_flower_on_loopback(stack):
    state, _ = stack
    names = [s["name"] for s in status(state)["services"]]
    assert names[-2:] == ["prometheus", "flower"], names
    for name in ("prometheus", "flower"):
        svc = service(state, name)
        host, port = svc["address"].split(":")
        assert svc["state"] == "running" and svc["pid"] > 0 and host == "127.0.0.1" and machine.port_in_use(int(port))
    # Prometheus keeps its data in the state dir, apart from the app's multiprocess metric files.
    assert (state / "prometheus-data" / "wal").is_dir() and not (state / "prometheus" / "wal").exists()


def test_prometheus_scrapes_the_app_and_itself_and_has_request_counts(stack):
    state, _ = stack

    def healthy() -> dict:
        targets = prometheus_api(state, "/api/v1/targets")["activeTargets"]
        return {t["labels"]["job"]: t["health"] for t in targets}

    servers.wait_until(lambda: healthy() == {"django": "up", "prometheus": "up"}, 30, "both targets up")
    assert healthy()["django"] == "up"
    app = "http://" + service(state, "app")["address"]
    for i in range(20):
        assert get(f"{app}/search/?q=observed-{i}")[0] == 200

    def counts() -> list:
        return prometheus_api(state, "/api/v1/query", query='upstack_request_seconds_count{view="news:search"}')["result"]

    def counted() -> float:
        return sum(float(r["value"][1]) for r in counts())

    # A scrape during the requests saw only some of them: wait for one after the last (every 5 s).
    servers.wait_until(lambda: counted() >= 20, 60, "the 20 requests counted in Prometheus")
    assert counted() >= 20
    # The query helper does report an empty result, so the check above is not vacuous.
    assert prometheus_api(state, "/api/v1/query", query="upstack_no_such_metric")["result"] == []


def test_report_dashboard_defaults_to_the_stacks_prometheus_and_has_data(stack, tmp_path):
    state, _ = stack
    with under_load(status(state)["edge_url"]):
        time.sleep(25)  # five scrapes of the stack's Prometheus (every 5 s) while readers hit the edge
    panels = dashboard_in_chromium(state, tmp_path / "dashboard.html")  # no --prometheus: the stack's own
    assert panels["Requests per second by status"]["series"] > 0


def test_top_reads_the_app_from_the_stacks_prometheus_and_falls_back_to_the_servers(stack):
    """`top` without --prometheus reads request rate, errors and latency from the stack's own Prometheus
    by PromQL, and says so; pointed at one that does not answer, it reads the app servers directly."""
    state, _ = stack
    prometheus = "http://" + service(state, "prometheus")["address"]
    with under_load(status(state)["edge_url"]):
        time.sleep(6)  # load inside top's window (four 5 s scrapes)

        shown: list[dict] = []

        def rate_shown() -> bool:
            result = upstack(state, "top", "--json")
            assert result.returncode == 0, result.stderr
            shown.append(json.loads(result.stdout))
            return bool(shown[-1]["app"].get("requests_per_second"))

        servers.wait_until(rate_shown, 40, "a request rate from Prometheus")
        data = shown[-1]
        dead = upstack(state, "top", "--json", "--prometheus", "http://127.0.0.1:1")
    assert data["source"] == {"name": "prometheus", "url": prometheus, "reason": None}
    app = data["app"]
    assert app["window"] == "last 20s" and app["error_ratio"] == 0.0 and app["mean_ms"] > 0, app
    assert app["views"] and all(row["p99_ms"] for row in app["views"]), app
    assert "requests_per_second" in data["edge"]  # the edge is still read directly (varnishstat)
    assert dead.returncode == 0, dead.stderr
    fallback = json.loads(dead.stdout)
    assert fallback["source"]["name"] == "direct" and "http://127.0.0.1:1 gave no app figures" in fallback["source"]["reason"]
    assert fallback["app"]["requests"] > 0 and "raw" not in fallback["app"]


def test_top_under_tmux_shows_the_app_from_the_stacks_prometheus(stack, tmp_path):
    """The war room in a real terminal on this stack: the app panels say they come from Prometheus, with
    request rates per view (PromQL's), and it refreshes."""
    state, _ = stack
    prometheus = "http://" + service(state, "prometheus")["address"]
    with top_in_tmux(state, tmp_path) as session:
        screens = top_screens_under_load(state, session, "news:", "from Prometheus")
        screen = screens[-1]
        print("upstack top under load, from the stack's Prometheus:\n" + screen)
        assert f"app workers - from Prometheus {prometheus}" in screen and "p50/p99 per view (last 20s)" in screen
        assert "req/s" in screen.split("p50/p99 per view")[1] and "read directly" not in screen
        assert len(set(screens)) > 1
        quit_top(session)


def test_flower_answers_on_loopback(stack):
    state, _ = stack
    flower = "http://" + service(state, "flower")["address"]
    code, _, body = get(flower + "/healthcheck")
    assert (code, body) == (200, "OK")
    code, _, body = get(flower + "/")
    assert code == 200 and "Flower" in body


# Keep this last: it stops the module's stack.
def test_down_stops_prometheus_and_flower(stack):
    state, _ = stack
    before = {name: service(state, name) for name in ("prometheus", "flower")}
    ports = [int(svc["address"].split(":")[1]) for svc in before.values()]
    assert all(machine.port_in_use(port) for port in ports), "both must listen, or the check below proves nothing"
    assert upstack(state, "down").returncode == 0
    assert not any(machine.port_in_use(port) for port in ports)
    for svc in before.values():
        assert not Path(f"/proc/{svc['pid']}").exists() or \
            "Z" in Path(f"/proc/{svc['pid']}/stat").read_text().split(") ")[1][:1]
    assert {s["name"]: s["state"] for s in status(state)["services"]}["prometheus"] == "stopped"
    assert stack_processes(state) == []
    missing = upstack(state, "report", "dashboard", "--out", str(state / "d.html"))
    assert missing.returncode == 2 and "--with observability" in missing.stderr
