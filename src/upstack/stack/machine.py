"""Facts about this machine: its resources and where the server binaries are.

The thin I/O side of sizing: reads /proc, cgroups and PATH. Never starts processes.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
from pathlib import Path

from .context import Resources
from .sizing import parse_size

INSTALL_HINT = "install it with scripts/install-services (as root), or apt-get install {package}"
# Binary -> Debian package, for error messages.
PACKAGES = {
    "postgres": "postgresql", "initdb": "postgresql", "pg_ctl": "postgresql", "psql": "postgresql-client",
    "redis-server": "redis-server", "redis-cli": "redis-tools", "varnishd": "varnish", "varnishadm": "varnish",
    "haproxy": "haproxy", "nginx": "nginx-light", "pgbouncer": "pgbouncer", "memcached": "memcached",
    "openssl": "openssl", "tmux": "tmux",
}


class MissingBinary(RuntimeError):
    def __init__(self, name: str):
        self.name = name
        super().__init__(f"{name} is not installed; " + INSTALL_HINT.format(package=PACKAGES.get(name, name)))


def find_binary(name: str) -> str | None:
    """``name`` on PATH (plus the sbin directories), or in PostgreSQL's versioned bin directory."""
    path = os.environ.get("PATH", "") + ":/usr/sbin:/sbin:/usr/local/sbin"
    found = shutil.which(name, path=path)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    return candidates[0] if candidates else None


def require(name: str) -> str:
    path = find_binary(name)
    if not path:
        raise MissingBinary(name)
    return path


def cpus() -> int:
    try:
        count = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        count = os.cpu_count() or 1
    quota = Path("/sys/fs/cgroup/cpu.max")
    if quota.exists():
        limit, period = (quota.read_text().split() + ["100000"])[:2]
        if limit != "max":
            count = min(count, max(1, int(int(limit) / int(period))))
    return max(1, count)


def memory() -> int:
    total = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            total = int(line.split()[1]) * 1024
    limit = Path("/sys/fs/cgroup/memory.max")
    if limit.exists() and limit.read_text().strip() not in ("", "max"):
        total = min(total, int(limit.read_text()))
    return total


def resources(cpus_override: int | None = None, memory_override: str | int | None = None) -> Resources:
    """This machine's resources, or the given ones (``--cpus``, ``--memory``)."""
    n = cpus_override if cpus_override is not None else cpus()
    if n < 1:
        raise ValueError(f"--cpus must be at least 1, got {n}")
    size = parse_size(memory_override) if memory_override is not None else memory()
    return Resources(cpus=n, memory_bytes=size)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_in_use(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False
