"""Purge Varnish nodes by xkey: ``PURGE /`` with an ``xkey: k1 k2 ...`` header to every node.

The rendered VCL accepts it only from the purge ACL and answers 200 with the number of objects
removed. Options: ``NODES`` (base URLs, e.g. ``["http://10.0.0.5:6081"]``), ``TIMEOUT`` seconds.
"""

from __future__ import annotations

import urllib.error
import urllib.request

from .base import PurgeBackend


class VarnishBackend(PurgeBackend):
    # The xkey header of one PURGE must fit Varnish's request-header limit (http_req_hdr_len, 8 KB by
    # default); a longer one is answered 400 and the whole batch fails.
    max_keys = 1000
    max_bytes = 6000

    def __init__(self, alias, nodes=(), timeout=2.0, **options):
        super().__init__(alias, **options)
        self.nodes = [n.rstrip("/") for n in nodes]
        self.timeout = timeout

    def purge_batch(self, keys):
        failures = []
        for node in self.nodes:
            request = urllib.request.Request(node + "/", method="PURGE", headers={"xkey": " ".join(keys)})
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    response.read()
            except (urllib.error.URLError, OSError) as exc:
                failures.append(f"{node}: {exc}")
        if failures:
            raise ConnectionError("; ".join(failures))
