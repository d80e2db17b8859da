"""Size a container's processes where it runs: ``python -m upstack.stack.here web|threads|worker``.

Procfile platforms build on one machine and run on another, so the procfile target renders no process
counts. ``WEB_CONCURRENCY`` (Heroku's Python buildpack sets it from the dyno's memory),
``GUNICORN_THREADS`` and ``CELERY_CONCURRENCY`` win when set; otherwise this container's CPUs and
memory (cgroup limits, ``machine``) through ``sizing.pod_plan``. The procfile target's gunicorn.conf.py
calls ``plan()``; its Procfile worker line runs this module. docs/deploy.md.
"""

from __future__ import annotations

import os
import sys

from . import machine
from .sizing import MB, pod_plan

ENV = {"web": "WEB_CONCURRENCY", "threads": "GUNICORN_THREADS", "worker": "CELERY_CONCURRENCY"}


def _count(env, name: str, default: int) -> int:
    value = env.get(name, "").strip()
    if not value:
        return default
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{name} must be a whole number of at least 1, got {value!r}")
    return int(value)


def plan(env=os.environ) -> dict[str, int]:
    """{"web": processes, "threads": per process, "worker": Celery processes} for this container."""
    here = machine.resources()
    workers, threads, celery = pod_plan(here.cpus, max(here.memory_bytes, 256 * MB))
    defaults = {"web": workers, "threads": threads, "worker": celery}
    return {kind: _count(env, ENV[kind], defaults[kind]) for kind in ENV}


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in ENV:
        print(f"usage: python -m upstack.stack.here {{{'|'.join(ENV)}}}", file=sys.stderr)
        return 2
    try:
        print(plan()[argv[0]])
    except ValueError as exc:
        print(f"upstack.stack.here: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover - exercised through a subprocess in the tests
    sys.exit(main(sys.argv[1:]))
