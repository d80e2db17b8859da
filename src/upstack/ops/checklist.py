"""``upstack check``: the launch checklist - Django's deploy checks, upstack's own
(stable IDs, never a copy of Django's), and with a live edge URL the probes of ``upstack.checks.live``
plus "a recent backup exists and verifies".

Every item has a status: ``pass``, ``fail``, ``warn`` (a check framework warning: Django's link to its
own documentation, or docs/checks.md for upstack's) or ``n/a``. A stack that declares itself
HTTP-only on loopback (``UPSTACK["HTTP_ONLY"]``) gets Django's TLS items as not applicable - never
as passes - and only while every host it serves is a loopback one. Only ``fail`` fails the command
(exit 1, docs/cli.md); ``release`` also stops on the warnings in ``RELEASE_BLOCKERS``.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from urllib.parse import urlsplit

import django
from django.conf import settings
from django.core import checks

from .. import conf

BACKUP_MAX_AGE_HOURS = 26
STATUSES = ("pass", "warn", "fail", "n/a")
# Django's deploy checks that only make sense over HTTPS.
TLS_CHECKS = {"security.W004", "security.W005", "security.W008", "security.W012", "security.W016", "security.W021"}
# Django calls these warnings; upstack does not release with them (DEBUG on, a weak SECRET_KEY).
RELEASE_BLOCKERS = {"security.W018", "security.W009"}
# Sections of Django's "System check framework" reference, by the check ID's prefix.
DJANGO_SECTIONS = {"fields": "model-fields", "async": "asynchronous-support", "security": "security",
                   "caches": "caches", "models": "models", "database": "database", "templates": "templates",
                   "urls": "urls", "translation": "translation", "signals": "signals", "files": "files",
                   "staticfiles": "staticfiles", "admin": "admin", "auth": "auth", "contenttypes": "contenttypes",
                   "sites": "sites"}


def django_doc(check_id: str) -> str:
    section = DJANGO_SECTIONS.get(check_id.split(".")[0], "builtin-checks")
    return f"https://docs.djangoproject.com/en/{django.VERSION[0]}.{django.VERSION[1]}/ref/checks/#{section}"


def loopback_host(host: str) -> bool:
    host = host.strip().lstrip(".").strip("[]")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def http_only_problem(hosts, live: str | None) -> str | None:
    """Why the HTTP-only declaration does not hold here (a public host or edge), or None."""
    public = [h for h in hosts if not loopback_host(h)]
    if live and not loopback_host(urlsplit(live).hostname or ""):
        public.append(live)
    return f"serves {', '.join(public)}, not only loopback" if public else None


def item_from_message(message, http_only: bool) -> dict:
    """One check framework message as a checklist item."""
    ours = message.id.startswith("upstack.")
    status = "fail" if message.level >= checks.ERROR else "warn"
    if http_only and message.id in TLS_CHECKS:
        status = "n/a"
    return {"check": f"{message.id}: {message.msg}", "status": status, "id": message.id,
            "detail": "HTTP-only stack on loopback (UPSTACK HTTP_ONLY)" if status == "n/a" else message.id,
            "fix": None if status == "n/a" else message.hint,
            "doc": "docs/checks.md" if ours else django_doc(message.id)}


def settings_items(live: str | None = None) -> list[dict]:
    http_only = bool(conf.get("HTTP_ONLY"))
    problem = http_only_problem(settings.ALLOWED_HOSTS, live) if http_only else None
    items = []
    if http_only:
        items.append({"check": "the stack is HTTP-only on loopback (UPSTACK HTTP_ONLY)", "id": "http-only",
                      "status": "fail" if problem else "pass", "detail": problem or "every host is loopback",
                      "fix": "Serve HTTPS and drop UPSTACK HTTP_ONLY, which is for loopback stacks" if problem else None,
                      "doc": "docs/settings.md"})
    for message in checks.run_checks(include_deployment_checks=True):
        if message.level >= checks.WARNING and not message.is_silenced():
            items.append(item_from_message(message, http_only and not problem))
    if not any(i["id"] != "http-only" for i in items):
        items.append({"check": "settings (Django deploy checks and upstack's)", "id": "settings", "status": "pass",
                      "detail": "no issues", "fix": None, "doc": None})
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


def normalise(item: dict) -> dict:
    """The live probes say ``ok``; every item leaves with the same keys and a status."""
    status = item.get("status") or ("pass" if item["ok"] else "fail")
    return {"check": item["check"], "id": item.get("id"), "status": status, "detail": item.get("detail"),
            "fix": item.get("fix"), "doc": item.get("doc")}


def run(live: str | None, host: str | None, database_url: str | None, backup_dir: Path) -> list[dict]:
    items = settings_items(live)
    if live:
        from ..checks import live as probes
        from ..checks import live_hardening

        items.extend(probes.run(live, host or "127.0.0.1"))
        items.extend(live_hardening.run(live, host or "127.0.0.1"))
        items.append(backup_item(database_url, backup_dir))
    return [normalise(item) for item in items]


def summary(items: list[dict]) -> dict:
    """``check --json``: ``{"items": [...], "counts": {status: n}}``."""
    return {"items": items, "counts": {status: sum(i["status"] == status for i in items) for status in STATUSES}}


def release_blockers(items: list[dict]) -> list[dict]:
    return [i for i in items if i["status"] == "fail" or (i["status"] == "warn" and i["id"] in RELEASE_BLOCKERS)]
