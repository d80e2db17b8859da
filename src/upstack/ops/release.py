"""``upstack release``: one command, in order, each step timed, the first failure
stops it with a clear message and a non-zero exit.

    checks -> [backup] -> migrate (lock_timeout, statement_timeout) -> collectstatic
    -> edge (re-render the VCL with the error page, reload Varnish - never restart)
    -> reload the app (gunicorn HUP: new workers start, old ones finish their requests)
    -> restart the workers (warm shutdown, tasks are acked late) -> warm the caches
    -> record the release (``upstack.ops.releases``: git revision, migrations, VCL) for ``rollback``

This drives the local stack (``upstack up``); the Django commands run in the stack's environment.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable

MIGRATION_OPTIONS = "-c lock_timeout=5s -c statement_timeout=300s"


class ReleaseError(RuntimeError):
    pass


def _manage(env: dict, base_dir: str, *args: str, extra_env: dict | None = None) -> str:
    result = subprocess.run([sys.executable, "manage.py", *args], cwd=base_dir, env={**env, **(extra_env or {})},
                            capture_output=True, text=True, timeout=1800)
    if result.returncode != 0:
        raise ReleaseError(f"manage.py {' '.join(args)} failed:\n{(result.stdout + result.stderr).strip()[-2500:]}")
    return result.stdout


def deploy_checks(env: dict, base_dir: str) -> None:
    """`upstack check` in the release's environment: any failure, or a warning in
    ``checklist.RELEASE_BLOCKERS`` (DEBUG on, a weak SECRET_KEY), stops the release."""
    import json

    from .checklist import release_blockers

    result = subprocess.run([sys.executable, "manage.py", "upstack", "check", "--json"], cwd=base_dir, env=env,
                            capture_output=True, text=True, timeout=600)
    try:
        items = json.loads(result.stdout)["items"]
    except (ValueError, KeyError):
        raise ReleaseError(f"manage.py upstack check failed:\n{(result.stdout + result.stderr).strip()[-2500:]}") from None
    blockers = release_blockers(items)
    if blockers:
        raise ReleaseError("; ".join(f"{i['check']} (fix: {i['fix'] or i['doc']})" for i in blockers))


def steps(stack, env: dict, *, backup: bool, warm_top: int) -> list[tuple[str, Callable[[], str]]]:
    from ..stack import project

    base = str(project.base_dir())
    migrate_env = {"PGOPTIONS": MIGRATION_OPTIONS}
    if env.get("DIRECT_DATABASE_URL"):  # migrations hold session state: never through PgBouncer
        migrate_env["DATABASE_URL"] = env["DIRECT_DATABASE_URL"]
    plan = [("deploy checks", lambda: deploy_checks(env, base))]
    if backup:
        plan.append(("backup", lambda: _manage(env, base, "upstack", "backup")))
    plan += [
        ("migrate", lambda: _manage(env, base, "migrate", "--noinput", extra_env=migrate_env)),
        ("collectstatic", lambda: _manage(env, base, "collectstatic", "--noinput", "-v", "0")),
        ("edge: error page and VCL reload", stack.reload_edge),
        ("graceful app reload", stack.reload_app),
        ("graceful worker restart", stack.restart_workers),
    ]
    if warm_top:
        plan.append(("cache warming", lambda: _manage(env, base, "upstack", "warm", "--top", str(warm_top), "--json")))
    return plan


def release(stack, *, backup: bool = False, warm_top: int = 100, say=print) -> list[dict]:
    from ..stack import project
    from . import releases

    env = {**os.environ, **stack.env()}
    base = project.base_dir()
    done, results = [], {}
    plan = [*steps(stack, env, backup=backup, warm_top=warm_top),
            ("record the release", lambda: releases.record(
                stack.dir, revision=releases.git_revision(base), migrations=releases.applied_migrations(env, base),
                vcl_name=results["edge: error page and VCL reload"], vcl_file=stack.vcl_file(), steps=done))]
    for name, action in plan:
        started = time.monotonic()
        try:
            results[name] = action()
        except Exception as exc:
            seconds = round(time.monotonic() - started, 2)
            done.append({"step": name, "ok": False, "seconds": seconds})
            say(f"  FAILED  {name} after {seconds}s")
            raise ReleaseError(f"release stopped at '{name}': {exc}") from exc
        seconds = round(time.monotonic() - started, 2)
        done.append({"step": name, "ok": True, "seconds": seconds})
        say(f"  ok      {name} ({seconds}s)")
    return done


__all__ = ["ReleaseError", "release"]
