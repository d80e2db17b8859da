import pytest

from bench import report


def run(rps, p99=10.0, **extra):
    return {"rps": rps, "p50_ms": p99 / 2, "p95_ms": p99 * 0.9, "p99_ms": p99, "errors": 0, "steal_pct": 0.5, **extra}


def measured(upstack_rps=(1000, 1100, 900), logged=(300, 320, 280)):
    def stacks(up, typical=100):
        return {"plain": [run(50, 400)] * 3, "typical": [run(typical, 300)] * 3, "upstack": [run(r, 5) for r in up]}

    return {"anonymous": stacks(upstack_rps), "logged_in": stacks(logged), "mixed_writes": stacks((500, 500, 500))}


STAMPEDE = {"readers": 100, "rounds": 3, "compute_ms": 50, "upstack": {"computations_per_round": [1, 1, 1]},
            "django": {"computations_per_round": [40, 60, 70], "computations_per_expiry_median": 60}}
FRESH = {"writes": 30, "lag_ms_p50": 30.0, "lag_ms_p99": 45.0, "lag_ms_max": 50.0, "stale_after_timeout": 0,
         "unrelated_still_cached": "30/30"}
LIMITS = {"varnish_static": run(1200), "upstack_edge_hit": run(1140), "django_minimal_view": run(900)}
META = {"date": "2026-11-24", "mode": "quick", "articles": 2000, "seconds_per_run": 5, "rounds": 3,
        "connections": 16, "cpus": 2, "pinned": True}


def summary(**kwargs):
    return report.summarize(META, measured(**kwargs), LIMITS, {"edge hit": run(2000)}, STAMPEDE, FRESH)


def test_figures_are_medians_and_ratios_are_upstack_over_each_peer():
    full = summary()
    assert full["table"]["anonymous"]["upstack"]["rps"] == 1000
    assert full["ratios"]["anonymous"] == {"ratio_vs_plain": 20.0, "ratio_vs_typical": 10.0,
                                           "ratio_vs_varnish_static": 0.83}


def test_latest_has_the_published_shape():
    latest = report.latest(summary())
    assert latest["scale"] == {"articles": 2000} and latest["steal_pct"] == 0.5
    assert latest["workloads"]["logged_in"] == {"plain": {"rps": 50, "p99_ms": 400}, "typical": {"rps": 100, "p99_ms": 300},
                                               "upstack": {"rps": 300, "p99_ms": 5}, "ratio_vs_plain": 6.0,
                                               "ratio_vs_typical": 3.0}
    assert latest["stampede"] == {"upstack_computations": 1, "django_computations": 60, "readers": 100}
    assert latest["freshness_lag_s"] == {"p50": 0.03, "p99": 0.045}
    assert (latest["goals_met"], latest["goals"]) == (5, 5)


def test_goals_say_which_are_missed():
    goals = {g["goal"]: g["met"] for g in summary(upstack_rps=(900, 900, 900), logged=(200, 200, 200))["goals"]}
    assert [met for met in goals.values()] == [False, True, False, True, True]


@pytest.mark.parametrize("anonymous, failures", [(1000, 0), (520, 0), (480, 3)])
def test_a_ratio_beyond_the_tolerance_is_a_regression(anonymous, failures):
    baseline = {"tolerance": 0.5, "ratios": report.flat_ratios(report.latest(summary()))}
    current = report.latest(summary(upstack_rps=(anonymous,) * 3))
    found = report.regressions(current, baseline)
    assert len(found) == failures  # at 480 all three anonymous ratios are below half their baseline
    assert all("anonymous" in line for line in found)


def test_a_missing_ratio_and_a_stampede_are_regressions():
    current = report.latest(summary())
    current["stampede"]["upstack_computations"] = 3
    found = report.regressions(current, {"tolerance": 0.5, "ratios": {"anonymous.ratio_vs_nothing": 1.0}})
    assert found == ["anonymous.ratio_vs_nothing: not measured (baseline 1.0)",
                     "stampede: 3 computations per expiry"]


def test_markdown_states_goals_tables_and_the_ladder():
    text = report.markdown(summary())
    assert text.startswith("# Benchmarks (quick), 2026-11-24")
    assert "| logged-in article views >= 3x typical | x3.0 | yes |" in text
    assert "| edge hit | 1000.0 | 2000 | 2000 | 0.5 |" not in text and "| edge hit |" in text


def test_the_freshness_goal_is_said_in_rounded_seconds():
    fresh = {**FRESH, "lag_ms_p99": 39.8}
    full = report.summarize(META, measured(), LIMITS, {"edge hit": run(2000)}, STAMPEDE, fresh)
    freshness = next(g for g in full["goals"] if g["goal"].startswith("freshness"))
    assert freshness["measured"].startswith("0.0398 s over 30 writes"), freshness["measured"]
