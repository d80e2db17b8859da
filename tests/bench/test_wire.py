"""Bytes on the wire as the benchmark measures them: through a real varnishd with the rendered VCL
(gzip and validators), and straight from a backend that has neither."""

import pytest

from bench import wire
from tests.upstack.edge.test_vcl import FRESH_SECRET, running_edge


def test_views_are_weighted_by_popularity():
    pages = {"/": {"compressed": 100, "uncompressed": 1000, "revalidated": 304},
             "/a/": {"compressed": 400, "uncompressed": 400, "revalidated": None}}
    figures = wire.summarize(["/", "/", "/", "/a/"], pages)
    assert figures["bytes_per_view_compressed"] == 175 and figures["bytes_per_view_uncompressed"] == 850
    assert figures["compressed_share"] == pytest.approx(175 / 850, abs=1e-4)
    assert figures["revalidated_304_share"] == 0.75


@pytest.mark.servers
def test_through_the_edge_pages_are_compressed_and_revalidate_as_304_and_not_without_it():
    with running_edge(FRESH_SECRET) as (varnish, backend):
        direct = f"http://127.0.0.1:{backend.port}"
        figures = wire.measure({"edge": varnish.url, "direct": direct}, ["/big-a", "/big-a", "/big-b"])
    assert figures["edge"]["compressed_share"] < 0.3 and figures["edge"]["revalidated_304_share"] == 1
    assert figures["direct"]["compressed_share"] == 1 and figures["direct"]["revalidated_304_share"] == 0
