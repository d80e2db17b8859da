"""The policy of ``upstack rollback`` (upstack.ops.releases): which release is live, what the previous
one is, and what blocks returning to it. The end-to-end rollback under load is in
tests/upstack/stack/test_runner.py."""

from __future__ import annotations

from upstack.ops import releases

SHOWMIGRATIONS = """admin
 [X] 0001_initial
 [X] 0002_logentry_remove_auto_add
news
 [X] 0001_initial
 [X] 0002_article_summary (2 squashed migrations)
 [ ] 0003_not_yet
sessions
 (no migrations)
"""


def rec(number, migrations, revision="a" * 40, status="live"):
    return {"number": number, "migrations": migrations, "revision": revision, "status": status,
            "vcl": {"name": f"upstack_{number}", "sha256": "", "file": ""}, "at": "", "seconds": 1.0}


def test_showmigrations_is_parsed_per_app_applied_only():
    assert releases.parse_showmigrations(SHOWMIGRATIONS) == {
        "admin": ["0001_initial", "0002_logentry_remove_auto_add"],
        "news": ["0001_initial", "0002_article_summary"], "sessions": []}


def test_the_previous_release_skips_rolled_back_ones():
    one, two, three = rec(1, {}), rec(2, {}, status=releases.ROLLED_BACK), rec(3, {})
    assert releases.live_and_previous([one, two, three]) == (three, one)
    assert releases.live_and_previous([one]) == (one, None)
    assert releases.live_and_previous([]) == (None, None)


def test_nothing_blocks_when_the_migrations_and_code_are_the_previous_releases():
    previous = rec(1, {"news": ["0001_initial"]})
    assert releases.blockers(previous, {"news": ["0001_initial"]}, "a" * 40) == []


def test_a_migration_applied_since_blocks_and_names_the_command_to_reverse_it():
    previous = rec(1, {"news": ["0001_initial"]})
    found = releases.blockers(previous, {"news": ["0001_initial", "0002_summary"], "tags": ["0001_initial"]}, None)
    assert found == [
        "migration news.0002_summary was applied after release 1; reverse it first if that is safe "
        "(manage.py migrate news 0001_initial), then roll back",
        "migration tags.0001_initial was applied after release 1; reverse it first if that is safe "
        "(manage.py migrate tags zero), then roll back"]


def test_other_code_blocks_and_names_the_revision_to_check_out():
    found = releases.blockers(rec(1, {}), {}, "b" * 40)
    assert found == ["the code is at git bbbbbbbbbbbb, release 1 ran aaaaaaaaaaaa; check it out first "
                     "(git checkout aaaaaaaaaaaa)"]
