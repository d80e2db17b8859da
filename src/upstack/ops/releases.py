"""Releases you can undo: what each ``upstack release`` deployed, and ``upstack rollback``.

A release is recorded in the stack's state directory (``releases.json``, a copy of its VCL beside it
under ``releases/``): its number, time, git revision (if the project is a git checkout), the
migrations applied per app once it had migrated, the VCL it loaded (name and sha256) and how long it
took. ``rollback`` returns to the newest release before the live one: it reloads that release's VCL
into the running Varnish and reloads the app and the workers gracefully. It never reverses a
migration: a migration applied since that release, or code that is not that release's revision,
blocks it, and each blocker names what to do (docs/cli.md).

The policy (which release is live, what blocks a rollback) is pure functions over the records; the
rest reads and writes the files.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROLLED_BACK = "rolled back"


class RollbackBlocked(RuntimeError):
    """The previous release cannot be returned to without reversing something; ``blockers`` say what."""

    def __init__(self, blockers: list[str]):
        super().__init__("rollback refused: " + "; ".join(blockers))
        self.blockers = blockers


# --- policy ----------------------------------------------------------------------------------------

def parse_showmigrations(output: str) -> dict[str, list[str]]:
    """``manage.py showmigrations --list`` -> {app: [applied migration names]} (Django's own format:
    an app's label, then `` [X] name`` per migration, ``[ ]`` when not applied)."""
    applied: dict[str, list[str]] = {}
    app = None
    for line in output.splitlines():
        if line and not line[0].isspace():
            app = line.strip()
            applied.setdefault(app, [])
        elif app and line.strip().startswith("[X]"):
            applied[app].append(line.strip()[3:].split()[0])
    return applied


def live_and_previous(records: list[dict]) -> tuple[dict | None, dict | None]:
    """The live release (the newest not rolled back) and the one a rollback returns to."""
    standing = [r for r in records if r.get("status") != ROLLED_BACK]
    return (standing[-1] if standing else None), (standing[-2] if len(standing) > 1 else None)


def blockers(previous: dict, applied_now: dict[str, list[str]], revision_now: str | None) -> list[str]:
    """Why returning to ``previous`` would need more than a VCL and an app reload: migrations applied
    since (rollback never reverses one), or code that is not that release's."""
    found = []
    for app, names in sorted(applied_now.items()):
        kept = set(previous["migrations"].get(app, ()))
        newer = [n for n in names if n not in kept]
        if newer:
            target = previous["migrations"].get(app, [None])[-1] if previous["migrations"].get(app) else "zero"
            found.append(f"migration {app}.{', '.join(newer)} was applied after release {previous['number']}; "
                         f"reverse it first if that is safe (manage.py migrate {app} {target}), then roll back")
    if previous.get("revision") and revision_now and previous["revision"] != revision_now:
        found.append(f"the code is at git {revision_now[:12]}, release {previous['number']} ran "
                     f"{previous['revision'][:12]}; check it out first (git checkout {previous['revision'][:12]})")
    return found


# --- records ---------------------------------------------------------------------------------------

def load(state_dir: Path) -> list[dict]:
    path = Path(state_dir) / "releases.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return []
    except ValueError as exc:
        raise ValueError(f"{path} is not valid JSON ({exc}); fix or delete it") from None


def _save(state_dir: Path, records: list[dict]) -> None:
    path = Path(state_dir) / "releases.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(records, indent=2, sort_keys=True))
    os.replace(tmp, path)


def git_revision(base_dir: Path) -> str | None:
    """HEAD of the project's checkout, or None when it is not one (or git is missing)."""
    try:
        result = subprocess.run(["git", "rev-parse", "HEAD"], cwd=base_dir, capture_output=True, text=True, timeout=10)
    except OSError:
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def applied_migrations(env: dict, base_dir: Path) -> dict[str, list[str]]:
    result = subprocess.run([sys.executable, "manage.py", "showmigrations", "--list"], cwd=base_dir, env=env,
                            capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        raise RuntimeError(f"manage.py showmigrations failed: {(result.stdout + result.stderr).strip()[-1500:]}")
    return parse_showmigrations(result.stdout)


def record(state_dir: Path, *, revision: str | None, migrations: dict, vcl_name: str, vcl_file: Path,
           steps: list[dict]) -> dict:
    """Append the release just deployed; its VCL is copied so a rollback can load it again."""
    records = load(state_dir)
    number = max((r["number"] for r in records), default=0) + 1
    kept = Path(state_dir) / "releases" / f"{number}.vcl"
    kept.parent.mkdir(exist_ok=True)
    shutil.copyfile(vcl_file, kept)
    entry = {"number": number, "at": datetime.now(UTC).isoformat(timespec="seconds"), "revision": revision,
             "migrations": migrations, "vcl": {"name": vcl_name, "sha256": hashlib.sha256(kept.read_bytes()).hexdigest(),
                                               "file": str(kept)},
             "seconds": round(sum(s["seconds"] for s in steps), 2), "status": "live"}
    _save(state_dir, [*records, entry])
    return entry


def rollback(stack, env: dict, base_dir: Path, say=print) -> dict:
    """Return to the release before the live one (see the module docstring); returns what was done."""
    started = time.monotonic()
    records = load(stack.dir)
    live, previous = live_and_previous(records)
    if previous is None:
        raise RollbackBlocked([f"there is no release before the live one ({len(records)} recorded in "
                               f"{Path(stack.dir) / 'releases.json'}); release at least twice to roll back"])
    found = blockers(previous, applied_migrations(env, base_dir), git_revision(base_dir))
    if found:
        raise RollbackBlocked(found)
    vcl_file = Path(previous["vcl"]["file"])
    if not vcl_file.exists() or hashlib.sha256(vcl_file.read_bytes()).hexdigest() != previous["vcl"]["sha256"]:
        raise RollbackBlocked([f"release {previous['number']}'s VCL ({vcl_file}) is missing or was changed"])
    steps = []
    for name, action in (("edge: previous VCL", lambda: stack.use_vcl(vcl_file, f"rollback_{previous['number']}")),
                         ("graceful app reload", stack.reload_app),
                         ("graceful worker restart", stack.restart_workers)):
        step_started = time.monotonic()
        action()
        steps.append({"step": name, "ok": True, "seconds": round(time.monotonic() - step_started, 2)})
        say(f"  ok      {name} ({steps[-1]['seconds']}s)")
    for entry in records:
        if entry["number"] == live["number"]:
            entry["status"] = ROLLED_BACK
    _save(stack.dir, records)
    return {"from": live["number"], "to": previous["number"], "steps": steps,
            "seconds": round(time.monotonic() - started, 2)}


__all__ = ["RollbackBlocked", "applied_migrations", "blockers", "git_revision", "live_and_previous", "load",
           "parse_showmigrations", "record", "rollback"]
