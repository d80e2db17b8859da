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
