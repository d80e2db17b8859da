"""Mixed writes at equal load (bench/paced.py) and how the mixed-writes goal reads it
(bench/peer_report.py): pure functions, on made-up figures."""

from bench import paced, peer_report, report
from tests.bench.test_report import met, with_peers


def figures(p99_ms: float, rps: float = 100.0) -> dict:
    return {"rps": rps, "p50_ms": p99_ms / 4, "p95_ms": p99_ms / 2, "p99_ms": p99_ms, "errors": 0}


def pairs(upstack_vs_sitecache=(10, 15), upstack_vs_microcache=(12, 40)) -> dict:
    return {"sitecache": {"offered_rps": 240.0, "stacks": {"sitecache": figures(upstack_vs_sitecache[1]),
                                                           "upstack": figures(upstack_vs_sitecache[0])}},
            "microcache": {"offered_rps": 200.0, "stacks": {"microcache": figures(upstack_vs_microcache[1]),
                                                            "upstack": figures(upstack_vs_microcache[0])}}}


def test_each_fast_peer_gets_a_share_of_its_own_throughput():
    mixed = {"plain": {"rps": 30}, "sitecache": {"rps": 300}, "microcache": {"rps": 250}, "upstack": {"rps": 1400}}
    assert paced.rates(mixed) == {"sitecache": 240.0, "microcache": 200.0}
    assert paced.rates({"upstack": {"rps": 1400}}) == {}  # no fast peer measured: no paced run
    assert paced.rates({**mixed, "microcache": {"rps": 0}}) == {"sitecache": 240.0}


def test_the_fast_peers_are_compared_at_equal_load_and_the_others_closed_loop():
    mixed = {"typical": figures(500), "sitecache": figures(20), "microcache": figures(30), "upstack": figures(25)}
    assert peer_report.mixed_p99(mixed, None)[0] == ["sitecache"]  # closed loop: behind sitecache's 20 ms
    level, how = peer_report.mixed_p99(mixed, pairs())
    assert level == [] and "upstack 10 ms vs sitecache 15 at 240 req/s" in how and "closed-loop (the others)" in how
    assert peer_report.mixed_p99(mixed, pairs(upstack_vs_sitecache=(16, 15)))[0] == ["sitecache"]
    assert peer_report.mixed_p99(mixed, pairs(upstack_vs_microcache=(40, 40)))[0] == ["microcache"]
    assert peer_report.mixed_p99({**mixed, "typical": figures(24)}, pairs())[0] == ["typical"]


def test_the_goal_and_the_page_use_the_paced_run():
    full = with_peers(mixed_p99=25.0)  # closed loop: behind sitecache's 20 ms
    assert not met(full)["peers_mixed"]
    full["paced"] = pairs()
    judged = {g["id"]: g for g in report.rejudged(full)}["peers_mixed"]
    assert judged["met"] and "at equal load" in judged["measured"]
    page = report.markdown(full)
    assert "## Mixed writes at equal load" in page
    assert "| 240.0 (sitecache's x0.8) | upstack | 100.0 | 2.5 | 5.0 | 10 | 0 |" in page
    assert report.latest(full)["mixed_at_equal_load"]["sitecache"]["upstack"] == {"rps": 100.0, "p99_ms": 10}
    full["paced"] = pairs(upstack_vs_sitecache=(20, 15))
    assert not {g["id"]: g for g in report.rejudged(full)}["peers_mixed"]["met"]
