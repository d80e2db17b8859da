"""Purge batches fit what a backend accepts: Varnish answers 400 to a PURGE whose xkey header is
longer than its request-header limit (8 KB), and the whole batch would fail."""

from __future__ import annotations

from upstack.edge.backends.varnish import VarnishBackend

PURGE_VCL = """vcl 4.1;
import xkey;
backend default { .host = "127.0.0.1"; .port = "9"; }
sub vcl_recv {
  if (req.method == "PURGE") { return (synth(200, "Purged " + xkey.softpurge(req.http.xkey))); }
}
"""


def test_batches_respect_both_the_key_count_and_the_byte_budget():
    from upstack.edge.backends.base import batches

    keys = [f"news.article~published_at@slug=story-{i}&status=published" for i in range(500)]
    split = list(batches(keys, max_keys=200, max_bytes=6000))
    assert [k for batch in split for k in batch] == keys
    assert all(len(" ".join(batch).encode()) <= 6000 and len(batch) <= 200 for batch in split)
    assert list(batches(["a", "b", "c"], max_keys=2)) == [["a", "b"], ["c"]]
    assert list(batches([], max_keys=2)) == []


def test_a_large_purge_of_long_keys_reaches_a_real_varnish(varnish_factory):
    edge = varnish_factory(vcl=PURGE_VCL)
    keys = [f"news.article~published_at@slug=a-rather-long-article-slug-{i}&status=published" for i in range(2000)]
    VarnishBackend("edge", nodes=[edge.url]).purge(keys)  # raises ConnectionError on any 400
