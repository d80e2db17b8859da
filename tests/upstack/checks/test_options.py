"""Every UPSTACK option has a type and range (upstack.checks.rules), bad values are reported by
``manage.py check`` with stable IDs, and docs/settings.md shows every rule."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from upstack import conf
from upstack.checks import rules, system

DOC = Path(__file__).resolve().parents[3] / "docs" / "settings.md"

BAD = [
    ("TTL_JITTER", 2, "E102"),
    ("TTL_JITTER", "0.2", "E101"),
    ("CACHE_TIMEOUT", 0, "E102"),
    ("PAGE_CACHE", 1, "E101"),
    ("PAGE_CACHE_TTL", True, "E101"),
    ("PAGE_CACHE_TTL", 0, "E102"),
    ("BROWSER_MAX_AGE", -1, "E102"),
    ("SLOW_QUERY_SAMPLE", 1.5, "E102"),
    ("APP_SERVERS", 2.0, "E101"),
    ("SERVER_TIMING", "sometimes", "E103"),
    ("KEY_HEADER", "X-Key", "E103"),
    ("INTERNAL_IPS", "10.0.0.0/8", "E101"),
    ("INTERNAL_IPS", ["10.0.0.0/33"], "E104"),
    ("EDGE_NOT_FOUND", ["^/wp-(admin"], "E104"),
    ("PASS_PATHS", ["accounts/"], "E104"),
    ("BYPASS_PARAM", "fresh please", "E104"),
    ("EDGE_TOUCH", {"News.Comment": ["article"]}, "E104"),
    ("EDGE_IGNORED_FIELDS", {"auth.user": "last_login"}, "E101"),
    ("EDGE_REDIRECTS", {"/old": "new"}, "E104"),
    ("TTLS", {"short": -1}, "E102"),
    ("TTLS", [60, 600], "E101"),
    ("THUMBNAIL_SIZES", {"small": [320]}, "E102"),
    ("THUMBNAIL_SIZES", {"small": [320, "180"]}, "E101"),
    ("PURGE_BACKENDS", {"edge": {"NODES": ["http://127.0.0.1:6081"]}}, "E101"),
    ("PURGE_BACKENDS", {"edge": {"BACKEND": "VarnishBackend"}}, "E104"),
    ("STATE_DIR", "", "E104"),
    ("CELERY_APP", "my project:app", "E104"),
    ("WSGI_APPLICATION", "wsgi", "E104"),
    ("STACK_SETTINGS", 3, "E101"),
]


def test_every_option_has_a_rule_and_every_rule_an_option():
    assert set(rules.RULES) == set(conf.DEFAULTS)


def test_the_defaults_pass():
    assert rules.validate(conf.DEFAULTS) == []


@pytest.mark.parametrize(("name", "value", "code"), BAD, ids=[f"{n}={v!r}" for n, v, _ in BAD])
def test_a_bad_value_is_one_problem_with_its_code(name, value, code):
    problems = rules.validate({**conf.DEFAULTS, name: value})
    assert [p.code for p in problems] == [code], problems
    assert f'UPSTACK["{name}"]' in problems[0].where and problems[0].where in problems[0].message


@pytest.mark.parametrize(("name", "value"), [("WSGI_APPLICATION", "site.wsgi.application"),
                                             ("CELERY_APP", "site.celery:app"), ("STACK_SETTINGS", None),
                                             ("KEY_HEADER", ""), ("TTL_JITTER", 0), ("CACHE_TIMEOUT", 1)])
def test_good_values_pass(name, value):
    assert rules.validate({name: value}) == []


def test_manage_py_check_reports_the_issue_examples(settings):
    settings.UPSTACK = {**settings.UPSTACK, "TTL_JITTER": 2, "SERVER_TIMING": "sometimes"}
    with pytest.raises(SystemCheckError) as raised:
        call_command("check")
    assert "upstack.E102" in str(raised.value) and "upstack.E103" in str(raised.value)


def test_flat_settings_are_checked_too(settings):
    settings.UPSTACK_PAGE_CACHE_TTL = "3600"
    assert [e.id for e in system.upstack_options(None)] == ["upstack.E101"]


def test_an_unknown_option_is_e100(settings):
    settings.UPSTACK = {**settings.UPSTACK, "TTL_JITER": 0.1}
    found = system.upstack_options(None)
    assert [e.id for e in found] == ["upstack.E100"] and "TTL_JITER" in found[0].msg


def test_the_project_settings_pass():
    assert system.upstack_options(None) == []


def test_docs_settings_md_shows_every_option_with_its_rule():
    rows = {line.split("|")[1].strip().strip("`"): line for line in DOC.read_text().splitlines()
            if line.startswith("| `")}
    for name, rule in rules.RULES.items():
        assert name in rows, f"docs/settings.md has no row for {name}"
        assert f"| {rules.describe(rule)} |" in rows[name], f"docs/settings.md: {name}'s rule is not {rules.describe(rule)!r}"
