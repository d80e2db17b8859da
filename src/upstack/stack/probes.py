"""Is a local service answering? A line over a socket (Redis, memcached), an HTTP status (the app, the
edge, Prometheus) - what ``runner`` and the release steps wait on."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request


def talk(port: int, payload: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
        s.sendall(payload)
        return s.recv(128)


def http_status(url: str) -> int:
    request = urllib.request.Request(url, headers={"Host": "127.0.0.1"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
