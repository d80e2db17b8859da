"""CPU time of the processes that serve a port, for the ladder's CPU ms per request.

``Serving(url)`` finds the processes listening on ``url``'s port (a gunicorn master and its
workers, which share the socket; varnishd's manager and child) and their children, and reads their
user + system CPU time (psutil) around a wrk run, as ``bench.wrk.Counters`` does with database
statements. It counts the serving layer only: PostgreSQL's and Redis's CPU for the same requests is
not in it. A process that exits during the run takes its CPU time with it (none do here).
"""

from __future__ import annotations

import urllib.parse

import psutil


def listening(port: int) -> list[psutil.Process]:
    """The processes with a listening socket on ``port``, and their children."""
    found = {}
    for conn in psutil.net_connections(kind="tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port and conn.pid:
            with _gone():
                process = psutil.Process(conn.pid)
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
                total += times.user + times.system
        return {"cpu_s": total}
