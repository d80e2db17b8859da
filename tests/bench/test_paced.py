"""Mixed writes at one offered load (bench/paced.py) and how the mixed-writes goal reads it
(bench/peer_report.py): pure functions, on made-up figures."""

from bench import paced, peer_report, report
from tests.bench.test_report import met, with_peers


def figures(p99_ms: float, rps: float = 100.0) -> dict:
    return {"rps": rps, "p50_ms": p99_ms / 4, "p95_ms": p99_ms / 2, "p99_ms": p99_ms, "errors": 0}


def at_load(upstack: float, sitecache: float, microcache: float, offered: float = 200.0) -> dict:
    return {"offered_rps": offered, "stacks": {"sitecache": figures(sitecache), "microcache": figures(microcache),
                                               "upstack": figures(upstack)}}


def test_the_rate_is_a_share_of_the_slower_fast_peer():
    mixed = {"plain": {"rps": 30}, "sitecache": {"rps": 600}, "microcache": {"rps": 300}, "upstack": {"rps": 1400}}
    assert paced.rate(mixed) == 240.0
    assert paced.rate({"upstack": {"rps": 1400}}) is None  # no fast peer measured: no paced run
    assert paced.rate({**mixed, "microcache": {"rps": 0}}) is None


def test_the_fast_peers_are_compared_at_one_load_and_the_others_closed_loop():
    mixed = {"typical": figures(500), "sitecache": figures(20), "microcache": figures(30), "upstack": figures(25)}
    assert peer_report.mixed_p99(mixed, None)[0] == ["sitecache"]  # closed loop: behind sitecache's 20 ms
    level, how = peer_report.mixed_p99(mixed, at_load(upstack=10, sitecache=15, microcache=40))
    assert level == [] and "at one offered load (200 req/s) 10 ms" in how and "closed-loop 25 ms" in how
    assert peer_report.mixed_p99(mixed, at_load(upstack=16, sitecache=15, microcache=40))[0] == ["sitecache"]
    assert peer_report.mixed_p99({**mixed, "typical": figures(24)}, at_load(10, 15, 40))[0] == ["typical"]


def test_the_goal_and_the_page_use_the_paced_run():
    full = with_peers(mixed_p99=25.0)  # closed loop: behind sitecache's 20 ms
    assert not met(full)["peers_mixed"]
    full["paced"] = at_load(upstack=10, sitecache=15, microcache=40)
    judged = {g["id"]: g for g in report.rejudged(full)}["peers_mixed"]
    assert judged["met"] and "at one offered load" in judged["measured"]
    page = report.markdown(full)
    assert "## Mixed writes at one offered load" in page and "| upstack | 200.0 | 100.0 | 2.5 | 5.0 | 10 | 0 |" in page
    assert report.latest(full)["mixed_at_one_load"]["upstack"] == {"rps": 100.0, "p99_ms": 10}
    full["paced"] = at_load(upstack=20, sitecache=15, microcache=40)
    assert not {g["id"]: g for g in report.rejudged(full)}["peers_mixed"]["met"]
