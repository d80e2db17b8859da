"""CPU time of the processes that serve a port, for the ladder's CPU ms per request.

``Serving(url)`` finds the processes listening on ``url``'s port - psutil names one holder of a
shared socket, so it climbs to the oldest ancestor that holds it too (a gunicorn master above its
workers, varnishd's manager above its child) - and all their descendants, and reads their user +
system CPU time, plus that of their children already reaped (a gunicorn worker recycled during the
run), around a wrk run, as ``bench.wrk.Counters`` does with database statements. It counts the
serving layer only: PostgreSQL's and Redis's CPU for the same requests is not in it.
"""

from __future__ import annotations

import urllib.parse

import psutil


def _listens(process: psutil.Process, port: int) -> bool:
    connections = getattr(process, "net_connections", None) or process.connections
    return any(c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port for c in connections(kind="tcp"))


def listening(port: int) -> list[psutil.Process]:
    """The processes holding a listening socket on ``port``, and all their descendants."""
    found = {}
    for conn in psutil.net_connections(kind="tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port and conn.pid:
            with _gone():
                process = psutil.Process(conn.pid)
                while process.parent() is not None and _listens(process.parent(), port):
                    process = process.parent()
                for p in (process, *process.children(recursive=True)):
                    found[p.pid] = p
    return list(found.values())


class _gone:
    def __enter__(self):
        return self

    def __exit__(self, kind, *_):
        return kind is not None and issubclass(kind, (psutil.NoSuchProcess, psutil.AccessDenied))


class Serving:
    """``read()`` gives ``{"cpu_s": ...}``: the CPU seconds so far of whatever serves ``url``."""

    def __init__(self, url: str):
        self.port = urllib.parse.urlsplit(url).port

    def read(self) -> dict:
        total = 0.0
        for process in listening(self.port):
            with _gone():
                times = process.cpu_times()
                total += times.user + times.system + times.children_user + times.children_system
        return {"cpu_s": total}
