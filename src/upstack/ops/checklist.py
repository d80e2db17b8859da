"""``upstack check``: the launch checklist - Django's deploy checks, upstack's own
(stable IDs), and with a live edge URL the probes of ``upstack.checks.live`` plus "a recent backup
exists and verifies". Every item is pass or fail with how to fix it."""

from __future__ import annotations

from pathlib import Path

from django.core import checks

BACKUP_MAX_AGE_HOURS = 26


def settings_items() -> list[dict]:
    messages = checks.run_checks(include_deployment_checks=True)
    items = []
    for message in messages:
        if message.level < checks.WARNING or message.is_silenced():
            continue
        items.append({"check": f"{message.id}: {message.msg}", "ok": False, "detail": message.id,
                      "fix": message.hint or "See docs/checks.md."})
    if not items:
        items.append({"check": "settings (Django deploy checks and upstack's)", "ok": True, "detail": "no issues",
                      "fix": None})
    return items


def backup_item(database_url: str | None, directory: Path) -> dict:
    from . import backup

    title = "a recent backup exists and verifies"
    age = backup.latest_age_hours(directory)
    if age is None:
        return {"check": title, "ok": False, "detail": f"no backup in {directory}",
                "fix": "Run `manage.py upstack backup` (beat runs it nightly)."}
    if age > BACKUP_MAX_AGE_HOURS:
        return {"check": title, "ok": False, "detail": f"the newest backup is {age:.0f} h old",
                "fix": "Check the beat schedule and the worker's log for upstack.backup."}
    if not database_url:
        return {"check": title, "ok": False, "detail": "not PostgreSQL", "fix": "Backups need PostgreSQL."}
    result = backup.verify(database_url, backup.list_backups(directory)[0], say=lambda *_: None)
    return {"check": title, "ok": result["ok"], "detail": f"{age:.1f} h old, {result['rows']} rows verified in "
            f"{result['seconds']}s" if result["ok"] else f"differences: {result['differences']}",
            "fix": None if result["ok"] else "Take a new backup and find out why the old one does not restore."}


def run(live: str | None, host: str | None, database_url: str | None, backup_dir: Path) -> list[dict]:
    items = settings_items()
    if live:
        from ..checks import live as probes
        from ..checks import live_hardening

        items.extend(probes.run(live, host or "127.0.0.1"))
        items.extend(live_hardening.run(live, host or "127.0.0.1"))
        items.append(backup_item(database_url, backup_dir))
    return items
