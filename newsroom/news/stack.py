"""The newsroom's hook for `upstack up` (``UPSTACK["SEED"]``): demo content sized by ``--seed-articles``,
only into an empty database."""

from __future__ import annotations

from django.core.management import call_command


def seed(size: int) -> None:
    call_command("seed", "--if-empty", "--no-progress", "--articles", str(size), "--users", str(max(10, size // 15)),
                 "--comments", str(size * 5), "--seed", "1")
