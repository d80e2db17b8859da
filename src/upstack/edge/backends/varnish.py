"""Purge Varnish nodes by xkey: ``PURGE /`` with an ``xkey: k1 k2 ...`` header to every node.

The rendered VCL accepts it only from the purge ACL and answers 200 with the number of objects
removed. Options: ``NODES`` (base URLs, e.g. ``["http://10.0.0.5:6081"]``), ``TIMEOUT`` seconds, and
``RESOLVE``: when true, each node's host name is resolved at every purge and every address gets the
PURGE - a Kubernetes headless Service (``varnish-nodes``) names all Varnish replicas that way
(docs/deploy.md).

Every node is purged in parallel. The caller waits at most ``WAIT`` seconds: a node that has not
answered by then, or answered with an error, or whose breaker is open (it failed within the last
``COOLDOWN`` seconds; one breaker per node and process, ``cache.breaker``), gets its keys in the purge
backlog (``edge.backlog``), retried until it answers. So an unreachable node costs a write at most
``WAIT`` once per cooldown, and the batch does not fail because of it.
"""

from __future__ import annotations

import logging
import socket
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor, wait
from urllib.parse import urlsplit

from ...cache.breaker import for_server
from .. import backlog
from .base import PurgeBackend, batches

logger = logging.getLogger("upstack.edge")
# Shared by every backend of the process: a blackholed node holds a thread for TIMEOUT, not the caller.
_pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="upstack-purge")


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

    def __init__(self, alias, nodes=(), timeout=1.0, resolve=False, wait=0.25, cooldown=5.0, **options):
        super().__init__(alias, **options)
        self.nodes = [n.rstrip("/") for n in nodes]
        self.timeout = timeout
        self.resolve = bool(resolve)
        self.wait = wait
        self.cooldown = cooldown

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

    def _send(self, url: str, host: str | None, keys: list[str]) -> None:
        headers = {"xkey": " ".join(keys), **({"Host": host} if host else {})}
        request = urllib.request.Request(url + "/", method="PURGE", headers=headers)
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            response.read()

    def _breaker(self, url: str, host: str | None):
        return for_server("purge", backlog.node_id(self.alias, url, host), self.cooldown)

    def _submit(self, url, host, keys):
        breaker = self._breaker(url, host)
        future = _pool.submit(self._send, url, host, keys)
        future.add_done_callback(lambda f: breaker.failure() if f.exception() else breaker.success())
        return future

    def purge_batch(self, keys):
        targets, failures = self._targets()
        futures, missed = {}, []
        for url, host in targets:
            if self._breaker(url, host).allow():
                futures[self._submit(url, host, keys)] = (url, host)
            else:
                missed.append((url, host, "breaker open"))
        done, late = wait(futures, timeout=self.wait)
        missed += [(*futures[f], f.exception()) for f in done if f.exception()]
        missed += [(*futures[f], f"no answer within {self.wait}s") for f in late]
        for future in late:  # open its breaker now: the next write must not wait for it again
            self._breaker(*futures[future]).failure()
        for url, host, why in missed:
            logger.warning("purge of %s missed (%s); %d keys kept in the purge backlog", url, why, len(keys))
            backlog.add(backlog.node_id(self.alias, url, host), keys)
        if failures:
            raise ConnectionError("; ".join(failures))
        return missed

    def purge_node(self, url: str, host: str | None, keys: list[str]) -> bool | None:
        """The backlog's retry of one node: True when it took every key, False when it is still
        unreachable, None when it is gone (``RESOLVE`` and its address no longer resolves)."""
        if self.resolve and (url, host) not in self._targets()[0]:
            return None
        if not self.resolve and url not in self.nodes:
            return None
        # The retry is the breaker's probe: it tries the node whatever the breaker says (it runs in the
        # worker or the backlog's thread, never in a request). Skipping it while the breaker is open made
        # a node that came back wait up to two beat periods (COOLDOWN 5 s = the beat's 5 s) for its keys.
        breaker = self._breaker(url, host)
        try:
            for batch in batches(keys, self.max_keys, self.max_bytes):
                self._send(url, host, batch)
        except (urllib.error.URLError, OSError) as exc:
            breaker.failure()
            logger.info("purge backlog: %s still unreachable: %s", url, exc)
            return False
        breaker.success()
        return True
