"""The local stack's read replica (`upstack up --with replica`): a hot standby of the stack's PostgreSQL,
made once with ``pg_basebackup -R`` (which writes ``primary_conninfo`` and ``standby.signal``) into
``<state>/postgres-replica/data`` and run by supervisord as the ``postgres-replica`` program with the
primary's configuration, its own data directory and port (upstack.stack.services). The primary's
initdb (``-A trust``) lets loopback replication in and its defaults (``wal_level = replica``,
``max_wal_senders``) suffice. The app reads from it through upstack.db (docs/scaling.md).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

IN_RECOVERY = "SELECT pg_is_in_recovery()"  # 't' on a replica that follows its primary


class ReplicaError(RuntimeError):
    pass


def data_dir(state_dir: Path) -> Path:
    return Path(state_dir) / "postgres-replica" / "data"


def basebackup(ctx, state_dir: Path, as_postgres, timeout: float = 300) -> bool:
    """Copy the running primary into the replica's data directory, once; True when it made one.

    ``as_postgres(argv)`` runs a command as the postgres user when we are root (PostgreSQL refuses root)."""
    data = data_dir(state_dir)
    if (data / "PG_VERSION").exists():
        return False
    shutil.rmtree(data, ignore_errors=True)  # a half-made copy from an interrupted run
    data.parent.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(data.parent, "postgres", "postgres")
    result = subprocess.run(as_postgres([ctx.binaries["pg_basebackup"], "-h", "127.0.0.1", "-p",
                                         str(ctx.ports["postgres"]), "-U", "postgres", "-D", str(data), "-R",
                                         "-X", "stream", "-c", "fast"]),
                            capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        shutil.rmtree(data, ignore_errors=True)
        raise ReplicaError(f"pg_basebackup failed: {result.stderr.strip()[-1500:]}")
    return True

