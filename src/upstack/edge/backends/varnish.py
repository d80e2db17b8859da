"""Purge Varnish nodes by xkey: ``PURGE /`` with an ``xkey: k1 k2 ...`` header to every node.

The rendered VCL accepts it only from the purge ACL and answers 200 with the number of objects
removed. Options: ``NODES`` (base URLs, e.g. ``["http://10.0.0.5:6081"]``), ``TIMEOUT`` seconds, and
``RESOLVE``: when true, each node's host name is resolved at every purge and every address gets the
PURGE - a Kubernetes headless Service (``varnish-nodes``) names all Varnish replicas that way
(docs/deploy.md).
"""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from .base import PurgeBackend


def addresses(node: str) -> list[tuple[str, str]]:
    """``(base URL, Host header)`` for every address ``node``'s host name resolves to, in resolver order."""
    parts = urlsplit(node)
    if not parts.hostname:
        raise ValueError(f"purge node {node!r} has no host name")
    infos = socket.getaddrinfo(parts.hostname, parts.port or 80, type=socket.SOCK_STREAM)
    unique = dict.fromkeys(info[4][:2] for info in infos)
    return [(f"{parts.scheme}://{f'[{ip}]' if ':' in ip else ip}:{port}", parts.netloc) for ip, port in unique]


class VarnishBackend(PurgeBackend):
    # The xkey header of one PURGE must fit Varnish's request-header limit (http_req_hdr_len, 8 KB by
    # default); a longer one is answered 400 and the whole batch fails.
    max_keys = 1000
    max_bytes = 6000

    def __init__(self, alias, nodes=(), timeout=2.0, resolve=False, **options):
        super().__init__(alias, **options)
        self.nodes = [n.rstrip("/") for n in nodes]
        self.timeout = timeout
        self.resolve = bool(resolve)

    def _targets(self) -> tuple[list[tuple[str, str | None]], list[str]]:
        if not self.resolve:
            return [(node, None) for node in self.nodes], []
        targets, failures = [], []
        for node in self.nodes:
            try:
                targets += addresses(node)
            except OSError as exc:  # socket.gaierror: the name does not resolve (no ready replica)
                failures.append(f"{node}: {exc}")
        return targets, failures

    def purge_batch(self, keys):
        targets, failures = self._targets()
        for url, host in targets:
            headers = {"xkey": " ".join(keys), **({"Host": host} if host else {})}
            request = urllib.request.Request(url + "/", method="PURGE", headers=headers)
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    response.read()
            except (urllib.error.URLError, OSError) as exc:
                failures.append(f"{url}: {exc}")
        if failures:
            raise ConnectionError("; ".join(failures))
