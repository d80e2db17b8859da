"""The precision oracle in the benchmark report: its goal can fail on recall, on overall precision and
on one kind's precision, and its table shows every kind and the overall row."""

from __future__ import annotations

import copy

from bench import precision_report

ROW = {"writes": 10, "changed": 9, "purged": 10, "recall": 1.0, "precision": 0.9, "purged_per_write": 1.0,
       "purged_share": 0.01}
ORACLE = {"pages": 300, "writes_per_kind": 10, "recall_ok": True, "misses": [],
          "by_kind": {"title": dict(ROW), "section": dict(ROW)}, "overall": {**ROW, "writes": 20, "precision": 0.95}}


def test_the_goal_is_met_and_fails_on_each_of_its_parts():
    assert precision_report.goal(ORACLE)["met"]
    missed = copy.deepcopy(ORACLE)
    missed["by_kind"]["title"]["recall"], missed["recall_ok"] = 0.9, False
    assert not precision_report.goal(missed)["met"]
    low_overall = copy.deepcopy(ORACLE)
    low_overall["overall"]["precision"] = 0.89
    assert not precision_report.goal(low_overall)["met"]
    low_kind = copy.deepcopy(ORACLE)
    low_kind["by_kind"]["section"]["precision"] = 0.79
    verdict = precision_report.goal(low_kind)
    assert not verdict["met"] and "lowest section 79.0%" in verdict["measured"]


def test_the_table_and_the_summary():
    lines = precision_report.table(ORACLE)
    assert len(lines) == 2 + 3 and lines[-1].startswith("| overall | 20 | 100.0% | 95.0% |")
    assert precision_report.summary(ORACLE) == {"recall": 1.0, "precision": 0.95, "lowest_kind_precision": 0.9,
                                                "pages": 300, "writes": 20}


def oracle(precision: float, purged: float) -> dict:
    row = {**ROW, "precision": precision, "purged_per_write": purged}
    return {**ORACLE, "by_kind": {"title": dict(row), "section": dict(row)},
            "overall": {**row, "writes": 20}}


BEFORE = {"precision": oracle(0.05, 80.0),
          "mixed": {"typical": {"rps": 100.0, "p99_ms": 800.0}, "upstack-table": {"rps": 130.0, "p99_ms": 2200.0}}}
AFTER_MIXED = {"typical": {"rps": 110.0, "p99_ms": 790.0}, "upstack": {"rps": 660.0, "p99_ms": 300.0}}


def test_before_and_after_side_by_side():
    lines = precision_report.before_after(BEFORE, oracle(0.95, 1.2), AFTER_MIXED)
    assert "| title | 100.0% / 100.0% | 5.0% / 95.0% | 80.0 / 1.2 |" in lines
    assert "| overall | 100.0% / 100.0% | 5.0% / 95.0% | 80.0 / 1.2 |" in lines
    assert "| before: upstack, table keys | 130.0 | 2200.0 | 100.0, 800.0 | x1.3 |" in lines
    assert "| after: upstack, precise keys | 660.0 | 300.0 | 110.0, 790.0 | x6.0 |" in lines


def test_a_kind_measured_on_one_side_only_shows_a_dash():
    after = oracle(0.95, 1.2)
    after["by_kind"]["like"] = dict(ROW)
    lines = precision_report.before_after(BEFORE, after, AFTER_MIXED)
    assert "| like | - / 100.0% | - / 90.0% | - / 1.0 |" in lines


def test_the_report_shows_the_section_only_for_runs_that_measured_it():
    from bench import report
    from tests.bench.test_report import summary

    full = summary()
    full["precision"] = oracle(0.95, 1.2)
    assert "## Issue 17" not in report.markdown(full)
    full["before_after"] = BEFORE
    text = report.markdown(full)
    assert "## Issue 17, before and after (same run)" in text
    assert "| after: upstack, precise keys | 500 | 5 | 100, 300 | x5.0 |" in text


def test_a_failed_table_stack_is_said_not_hidden():
    before = {"precision": BEFORE["precision"], "mixed_error": "upstack up failed"}
    lines = precision_report.before_after(before, oracle(0.95, 1.2), AFTER_MIXED)
    assert "| before: upstack, table keys | - | - | not measured: upstack up failed | - |" in lines


def test_latest_json_keeps_the_before():
    from bench import report
    from tests.bench.test_report import summary

    full = summary()
    full["precision"], full["before_after"] = oracle(0.95, 1.2), BEFORE
    before = report.latest(full)["before_issue_17"]
    assert before["mixed_x_typical"] == 1.3 and before["mixed_p99_ms"] == 2200.0
    assert before["precision"]["precision"] == 0.05
    assert "before_issue_17" not in report.latest(summary())
    failed = precision_report.before_summary({"precision": BEFORE["precision"], "mixed_error": "x"})
    assert failed["mixed_x_typical"] is None
