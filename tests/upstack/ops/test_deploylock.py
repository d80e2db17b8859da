"""The deploy lock (upstack.ops.deploylock): up, release, restore and down refuse to start while another
command or an operator holds it - exit 3 naming the holder - and a lock never outlives its process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.upstack.cli import upstack
from upstack.ops import deploylock

ROOT = Path(__file__).resolve().parents[3]
HOLD = """
import sys, time
from pathlib import Path
from upstack.ops import deploylock
with deploylock.held(Path(sys.argv[1]), "release"):
    Path(sys.argv[2]).write_text("held")
    time.sleep(60)
"""


@pytest.fixture
def holder(tmp_path):
    """Another process holding the lock, as a running `release` would; killed afterwards."""
    state, ready = tmp_path / "state", tmp_path / "ready"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(state), str(ready)], env=env)
    deadline = time.monotonic() + 30
    while not ready.exists():
        assert process.poll() is None and time.monotonic() < deadline, "the holder did not take the lock"
        time.sleep(0.05)
    yield state, process
    process.kill()
    process.wait(10)


@pytest.mark.parametrize("argv", [("down",), ("release", "--warm", "0"), ("up", "--memory", "2G"),
                                  ("restore", "BACKUP", "--yes")])
def test_a_held_lock_refuses_each_locking_command_with_exit_3_naming_the_holder(settings, holder, tmp_path, argv):
    state, process = holder
    settings.UPSTACK_STATE_DIR = str(state)
    backup = tmp_path / "db.dump"
    backup.write_bytes(b"x")
    Path(str(backup) + ".json").write_text("{}")
    argv = [str(backup) if a == "BACKUP" else a for a in argv]
    code, _, err = upstack(*argv)
    assert code == 3, err
    assert f"pid {process.pid}" in err and "`release`" in err and "Fix: wait for it to finish" in err
    assert not (state / "supervisord.pid").exists()


def test_the_lock_ends_with_its_process_and_then_commands_run(settings, holder):
    state, process = holder
    settings.UPSTACK_STATE_DIR = str(state)
    assert deploylock.status(state)["held"]
    code, _, err = upstack("unlock")
    assert code == 3 and "a running command" in err  # unlock does not lift another command's lock
    process.kill()
    process.wait(10)
    assert deploylock.status(state) == {"held": False, "manual": False, "holder": None,
                                        "path": str(state / "deploy.lock")}
    code, out, err = upstack("down")  # not running, but it ran: the lock was free
    assert code == 0 and "not running" in out, err


def test_lock_by_hand_until_unlock(settings, tmp_path):
    settings.UPSTACK_STATE_DIR = str(tmp_path)
    code, out, _ = upstack("lock", "--reason", "database migration window", "--json")
    assert code == 0
    shown = json.loads(out)
    assert shown["held"] and shown["manual"] and shown["holder"]["reason"] == "database migration window"
    code, _, err = upstack("down")
    assert code == 3 and "database migration window" in err and "upstack unlock" in err
    code, _, err = upstack("lock")
    assert code == 3  # twice is a conflict too
    code, out, _ = upstack("unlock")
    assert code == 0 and "Lifted the lock" in out
    code, out, err = upstack("down")
    assert code == 0, err
    code, out, _ = upstack("unlock")
    assert code == 0 and "nothing to lift" in out


def test_the_lock_is_released_when_the_command_fails(tmp_path):
    with pytest.raises(ZeroDivisionError), deploylock.held(tmp_path, "release"):
        1 / 0  # noqa: B018
    assert not deploylock.status(tmp_path)["held"]
    with deploylock.held(tmp_path, "release") as me:
        assert me["pid"] == os.getpid()
        with pytest.raises(deploylock.LockHeld, match=f"pid {os.getpid()}"), deploylock.held(tmp_path, "up"):
            pass
