"""A first drill on simulated hosts (issue 19, item 6): two Varnish edges, each in a network namespace
of its own (``ip netns``, a veth pair each), purged by the pipeline from this one - the app's side.

1. A write is visible on both edges within 1 s.
2. One edge is partitioned (it drops every packet) while writes happen; it keeps its cache and
   serves the old page when the partition ends, until the purge backlog catches it up - within 5 s.

Each edge fetches from an origin bound to this namespace's end of its veth (never 0.0.0.0). The
figures are printed as one JSON line (``-s`` shows it).
"""

from __future__ import annotations

import json
import time
import urllib.request

from tests import servers
from tests.netns import hosts
from upstack.edge import purge

from .test_purge_backlog import EDGE_VCL, _clean_backlog, _edge_settings, _wait_for, serve_story  # noqa: F401 - fixture


class EdgeOnHost(servers.Varnish):
    """varnishd inside ``host``'s namespace, listening on the host's address."""

    def __init__(self, host, vcl: str):
        super().__init__(vcl=vcl)
        self.host = host

    def command(self):
        argv = super().command()
        argv[argv.index("-a") + 1] = f"{self.host.address}:{self.port}"
        return ["ip", "netns", "exec", self.host.name, *argv]

    def adm(self, *args):
        import subprocess

        return subprocess.run(["ip", "netns", "exec", self.host.name, servers.find_binary("varnishadm") or "varnishadm",
                               "-n", str(self.workdir), *args], capture_output=True, text=True, timeout=10)

    @property
    def url(self) -> str:
        return f"http://{self.host.address}:{self.port}"


def _page(url: str) -> str:
    with urllib.request.urlopen(url + "/story", timeout=2) as response:
        return response.read().decode()


def test_a_purge_reaches_both_edges_and_a_partitioned_one_is_caught_up():
    summary = {}
    with hosts(2) as machines:
        origins = [serve_story(m.gateway) for m in machines]
        edges = []
        try:
            for machine, origin in zip(machines, origins, strict=True):
                edge = EdgeOnHost(machine, EDGE_VCL.format(port=origin.server_address[1]).replace(
                    '"127.0.0.1"', f'"{machine.gateway}"'))
                edges.append(edge.start())
            for edge in edges:
                assert _page(edge.url) == "v1" and _page(edge.url) == "v1"
            with _edge_settings([e.url for e in edges], WAIT=0.5, TIMEOUT=1.0, COOLDOWN=0.5):
                # 1. A write reaches both edges.
                started = time.monotonic()
                for origin in origins:
                    origin.version = 2
                purge.add({"story"})
                assert _wait_for(lambda: all(_page(e.url) == "v2" for e in edges), 1.0), "a write missed an edge"
                summary["write_visible_on_both_s"] = round(time.monotonic() - started, 3)

                # 2. The second edge is partitioned during two writes.
                machines[1].drop_everything()
                writes = []
                for version in (3, 4):
                    for origin in origins:
                        origin.version = version
                    started = time.monotonic()
                    purge.add({"story"})
                    writes.append(round(time.monotonic() - started, 3))
                summary["write_seconds_while_partitioned"] = writes
                assert _page(edges[0].url) == "v4"
                machines[1].drop_everything(on=False)
                returned = time.monotonic()
                stale = _page(edges[1].url)
                assert stale == "v2", "the partitioned edge lost its cache: the catch-up would prove nothing"
                assert _wait_for(lambda: _page(edges[1].url) == "v4", 5.0), "the returning edge was not caught up"
                summary["stale_on_return"] = stale
                summary["caught_up_after_return_s"] = round(time.monotonic() - returned, 3)
        finally:
            for edge in edges:
                edge.stop()
            for origin in origins:
                origin.shutdown()
                origin.server_close()
    print(json.dumps({"drill": "edges on simulated hosts", "passed": True, **summary}))
    assert max(summary["write_seconds_while_partitioned"]) < 1.0
