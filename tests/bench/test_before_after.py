"""Issue 18's before (the reader include never kept, a second stack) beside its after (the main rounds),
in the report and latest.json; a second stack that failed is said, not hidden."""

from __future__ import annotations

from bench import before_after, report
from tests.bench.test_report import summary

UNKEPT = {"typical": {"rps": 40.0, "p99_ms": 2000.0},
          "upstack-unkept": {"rps": 300.0, "p99_ms": 900.0, "backend_requests_per_view": 1.02,
                             "queries_per_request": 0.4}}
KEPT = {"typical": {"rps": 50.0, "p99_ms": 2100.0},
        "upstack": {"rps": 3500.0, "p99_ms": 600.0, "backend_requests_per_view": 0.033, "queries_per_request": 0.05}}


def test_before_and_after_side_by_side_with_what_reached_the_backend():
    lines = before_after.reader_section({"logged_in": UNKEPT}, KEPT)
    assert lines[0].startswith("| logged-in workload | req/s | p99 ms | backend requests / view | DB queries / view |")
    assert "| before: upstack, include not kept | 300.0 | 900.0 | 1.02 | 0.4 | 40.0, 2000.0 | x7.5 |" in lines
    assert "| after: upstack, include kept per session | 3500.0 | 600.0 | 0.033 | 0.05 | 50.0, 2100.0 | x70.0 |" in lines


def test_a_failed_second_stack_is_said():
    lines = before_after.reader_section({"error": "upstack up failed"}, KEPT)
    assert "| before: upstack, include not kept | - | - | - | - | not measured: upstack up failed | - |" in lines
    assert before_after.figures(None, "upstack-unkept")["x_typical"] is None


def test_the_report_and_latest_json_show_it_only_for_runs_that_measured_it():
    full = summary()
    assert "## Issue 18" not in report.markdown(full) and "before_issue_18" not in report.latest(full)
    full["before_issue_18"] = {"logged_in": UNKEPT}
    assert "## Issue 18, before and after (same run)" in report.markdown(full)
    assert report.latest(full)["before_issue_18"] == {"x_typical": 7.5, "p99_ms": 900.0, "typical_p99_ms": 2000.0,
                                                      "backend_requests_per_view": 1.02}
