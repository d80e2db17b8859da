"""PostgreSQL's connection budget counts every app host: ``render --app-hosts`` with N hosts sizes
``max_connections`` for N x workers x threads (plus Celery, beat and the reserve), and refuses - naming
PgBouncer - when that would pass the limit, unless PgBouncer is in front. The Kubernetes render's
budget over the HPA maximum is checked by k8s_invariants.connection_budget (test_kubernetes.py)."""

from __future__ import annotations

import re

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from upstack.stack.sizing import GB, plan


def _render(out, hosts: int, *extra: str) -> int:
    app_hosts = ",".join(f"10.0.1.{i + 1}:8000" for i in range(hosts))
    call_command("upstack", "render", "--target", "systemd", "--out", str(out), "--cpus", "2", "--memory", "2G",
                 "--app-hosts", app_hosts, *extra)
    conf = (out / "etc/postgres/postgresql.conf").read_text()
    return int(re.search(r"^max_connections = (\d+)", conf, re.M).group(1))


def test_max_connections_covers_every_app_host(open_tmp):
    one, eight = plan(2, 2 * GB, app_servers=1), plan(2, 2 * GB, app_servers=8)
    per_host = eight.app_workers * eight.app_threads
    assert eight.postgres.max_connections == 8 * per_host + eight.celery_concurrency + 1 + 10
    assert one.postgres.max_connections < eight.postgres.max_connections  # the budget counted one host before
    assert _render(open_tmp / "eight", 8) == eight.postgres.max_connections


def test_past_the_limit_the_render_refuses_and_names_pgbouncer(open_tmp):
    with pytest.raises(CommandError, match="enable PgBouncer"):
        _render(open_tmp / "many", 30)
    # With PgBouncer in front the app servers share its pool: the same 30 hosts render.
    assert _render(open_tmp / "pooled", 30, "--with", "pgbouncer") < 400
