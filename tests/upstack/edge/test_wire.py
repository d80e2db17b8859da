"""Bytes on the wire through a real varnishd with the rendered VCL: HTML is gzipped once per
object at the edge, and shared pages carry validators, so a revalidation of an unchanged page is a
304 from the edge - never for the logged-in variant, whose per-user fragments they do not cover."""

from __future__ import annotations

import gzip
import http.client

import pytest

from tests.upstack.edge.test_vcl import FRESH_SECRET, running_edge

pytestmark = pytest.mark.servers


@pytest.fixture(scope="module")
def edge():
    with running_edge(FRESH_SECRET, internal_networks=("127.0.0.2",)) as pair:
        yield pair


def get(varnish, path, source="127.0.0.1", method="GET", **headers):
    conn = http.client.HTTPConnection("127.0.0.1", varnish.port, timeout=10, source_address=(source, 0))
    conn.request(method, path, headers={"Host": "127.0.0.1", **{k.replace("_", "-"): v for k, v in headers.items()}})
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, body


def test_html_is_gzipped_at_the_edge_for_clients_that_accept_it(edge):
    varnish, backend = edge
    _, plain_headers, plain = get(varnish, "/big-gzip")
    status, headers, body = get(varnish, "/big-gzip", Accept_Encoding="gzip, deflate, br")
    assert status == 200 and headers["content-encoding"] == "gzip" and headers["x-cache"] == "HIT"
    assert gzip.decompress(body) == plain and "content-encoding" not in plain_headers
    assert len(body) <= 0.3 * len(plain)  # the goal: at most 30% of the uncompressed size
    assert backend.count("/big-gzip") == 1  # one fetch, stored compressed, served both ways


def test_an_unchanged_page_revalidates_as_a_304_from_the_edge(edge):
    varnish, backend = edge
    _, headers, _ = get(varnish, "/big-validators", Accept_Encoding="gzip")
    etag, modified = headers["etag"], headers["last-modified"]
    status, again, body = get(varnish, "/big-validators", Accept_Encoding="gzip", If_None_Match=etag)
    assert (status, body, again["x-cache"]) == (304, b"", "HIT")
    assert get(varnish, "/big-validators", If_Modified_Since=modified)[0] == 304
    assert get(varnish, "/big-validators", If_None_Match='"something-else"')[0] == 200  # the check can fail
    assert backend.count("/big-validators") == 1


def test_after_a_purge_the_old_validators_get_the_new_page(edge):
    varnish, backend = edge
    etag = get(varnish, "/big-purged")[1]["etag"]
    assert get(varnish, "/", source="127.0.0.2", method="PURGE", xkey="page:/big-purged")[0] == 200
    status, headers, _ = get(varnish, "/big-purged", If_None_Match=etag)
    assert status == 200 and headers["etag"] != etag and backend.count("/big-purged") == 2


def test_the_logged_in_variant_never_answers_304(edge):
    varnish, _ = edge
    etag = get(varnish, "/big-logged-in", Cookie="sessionid=s1")[1]["etag"]
    assert get(varnish, "/big-logged-in", Cookie="sessionid=s1", If_None_Match=etag)[0] == 200
    anonymous = get(varnish, "/big-logged-in")[1]["etag"]
    assert get(varnish, "/big-logged-in", If_None_Match=anonymous)[0] == 304


def test_pages_that_are_not_shared_get_no_validators(edge):
    varnish, backend = edge
    backend.set_cookie_paths.add("/big-cookie")
    assert "etag" not in get(varnish, "/big-cookie")[1]
