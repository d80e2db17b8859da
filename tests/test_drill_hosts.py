"""``make drill-hosts`` inside ``make test``: the six-host drill (tests/drill_hosts.py) run as a child
process, its JSON summary printed (``-s``) and every drill required to pass. It needs root and the
services' binaries: without them it skips with the reason, and under CI=true it fails instead.
Deselect it with ``-m 'not drill_hosts'``."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests import drill_hosts
from tests.servers import in_ci

pytestmark = [pytest.mark.drill_hosts, pytest.mark.servers, pytest.mark.slow]


def test_the_six_host_drill_passes():
    why = drill_hosts.preflight()
    if why:
        if in_ci():
            pytest.fail(f"make drill-hosts cannot run here: {why}")
        pytest.skip(why)
    # Its own state folder under var/ (pytest's tmp_path is root's 0700 and the services drop privileges).
    state = drill_hosts.ROOT / "var/drill-hosts-pytest"
    done = subprocess.run([sys.executable, "-m", "tests.drill_hosts", "--state-dir", str(state)],
                          cwd=drill_hosts.ROOT, capture_output=True, text=True, timeout=600)
    print(done.stdout)
    assert done.stdout.strip(), f"no summary (exit {done.returncode}):\n{done.stderr[-3000:]}"
    summary = json.loads(done.stdout)
    failed = {name: d for name, d in summary.get("drills", {}).items() if not d["passed"]}
    assert done.returncode == 0 and summary["passed"] and not failed, (
        f"exit {done.returncode}; {summary.get('error', '')}; failed drills: {json.dumps(failed)}\n"
        f"{done.stderr[-3000:]}")
    assert set(summary["drills"]) == set(drill_hosts.DRILLS)
    assert summary["seconds"] < 540


def test_the_negative_a_failed_drill_fails_the_summary():
    """The summary's verdict is every drill's: one failed drill makes it fail (what the test above reads)."""
    drill = drill_hosts.Drill.__new__(drill_hosts.Drill)
    drill.summary = {"drills": {}}
    drill.log = lambda message: None
    drill.run("ok", lambda: (True, {}))
    drill.run("broken", lambda: 1 / 0)
    assert drill.summary["drills"]["ok"]["passed"] is True
    assert drill.summary["drills"]["broken"] == {**drill.summary["drills"]["broken"], "passed": False}
    assert "ZeroDivisionError" in drill.summary["drills"]["broken"]["error"]
