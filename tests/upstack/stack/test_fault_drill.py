"""The fault drill (issue 14, item 11) against a real local stack: ``upstack.ops.drill``.

``upstack up`` brings up PostgreSQL, the cache and broker Redis, Varnish, gunicorn and Celery on
loopback; the drill reads and writes through the edge while each fault happens in turn, and this
test holds it to its goals: no 5xx for cached pages, no acknowledged comment lost, no failed one
saved, recovery within 5 s of the service returning. The table goes to var/drill/latest.md (make
test prints it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.upstack.stack.test_runner import ROOT, running_stack, upstack
from upstack.ops import drill

pytestmark = [pytest.mark.servers, pytest.mark.slow]
READER_PASSWORD = "newsroom-seeded-reader"  # what `seed` gives its readers (bench.edge_mix)


@pytest.fixture(scope="module")
def stack():
    with running_stack("upstack-drill-") as (state, _):
        yield state, dict(line.split("=", 1) for line in upstack(state, "env").stdout.splitlines())


class CliStack:
    """The stack as its operator drives it: `manage.py upstack status/stop/start` (what drill.run needs)."""

    def __init__(self, state: Path):
        self.state = state

    def status(self) -> dict:
        result = upstack(self.state, "status", "--json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def edge_url(self) -> str:
        return self.status()["edge_url"]

    def control(self, action: str, name: str) -> None:
        result = upstack(self.state, action, name)
        assert result.returncode == 0, result.stdout + result.stderr


def shell(env: dict, code: str) -> str:
    result = subprocess.run([sys.executable, "manage.py", "shell", "-c", code], cwd=ROOT, env={**os.environ, **env},
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.strip().splitlines()[-1]


def test_the_fault_drill_meets_its_goals(stack):
    state, env = stack
    facts = json.loads(shell(env, (
        "import json; from django.contrib.auth import get_user_model; from newsroom.news.models import Article; "
        "a = [x.get_absolute_url() for x in Article.objects.published().order_by('-read_count')[:8]]; "
        "u = list(get_user_model().objects.filter(username__startswith='reader').order_by('pk')"
        ".values_list('username', flat=True)[:2]); print(json.dumps({'articles': a, 'users': u}))")))

    def stored(prefix: str) -> set[str]:
        code = ("import json; from newsroom.news.models import Comment; print(json.dumps(list("
                f"Comment.objects.filter(body__startswith={prefix!r}).values_list('body', flat=True))))")
        return set(json.loads(shell(env, code)))

    urls = ["/", *facts["articles"][1:]]
    reader, writer = facts["users"]
    rows = drill.run(CliStack(state), urls, facts["articles"][0], (reader, READER_PASSWORD),
                     (writer, READER_PASSWORD), stored, say=lambda *_: None)
    out = ROOT / "var" / "drill"
    out.mkdir(parents=True, exist_ok=True)
    (out / "latest.md").write_text(drill.table(rows) + "\n")
    (out / "latest.json").write_text(json.dumps(rows, indent=2) + "\n")
    print("\n" + drill.table(rows))
    assert [r["fault"] for r in rows] == ["cache Redis SIGKILLed", "PostgreSQL stopped", "every app server stopped",
                                          "worker SIGKILLed", "Varnish restarted"]
    assert all(r["reads"] > 0 and r["writes_ok"] > 0 for r in rows), rows  # the drill did run traffic
    assert all(drill.meets_goals(r) for r in rows), drill.table(rows)


def test_the_drill_summary_counts_lost_and_phantom_writes():
    tally = drill.Tally(reads=10, cached_5xx=1, writes_ok=["a", "b"], writes_failed=["c", "d"])
    row = drill.summarise("x", tally, stored={"a", "c"}, recovery_s=1.234)
    assert (row["lost_writes"], row["phantom_writes"], row["recovery_s"]) == (1, 1, 1.23)
    assert not drill.meets_goals(row)
    assert drill.meets_goals(drill.summarise("y", drill.Tally(reads=5, writes_ok=["a"]), {"a"}, 0.5))
    assert not drill.meets_goals(drill.summarise("z", drill.Tally(), set(), None))


def test_a_write_with_no_answer_is_unknown_not_phantom():
    """A post whose connection dropped (the edge restarting) may have been committed; only a post
    answered with an error status and saved anyway is a phantom."""
    tally = drill.Tally(reads=5, writes_ok=["a"], writes_unanswered=["b", "c"])
    row = drill.summarise("x", tally, stored={"a", "b"}, recovery_s=0.1)
    assert (row["phantom_writes"], row["writes_unanswered"], row["unanswered_saved"]) == (0, 2, 1)
    assert drill.meets_goals(row)
    assert "| 1 / 0 / 2 (1) |" in drill.table([row])
