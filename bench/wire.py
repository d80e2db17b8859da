"""Bytes on the wire per stack: what a page view costs in bytes, compressed and not, and what a
revalidating browser gets.

``measure`` fetches every page of the anonymous workload's cycle through a stack three ways: as a
browser that accepts compression (``workloads.BROWSER``), as a client that does not, and then
conditionally with the validators the first answer carried (``If-None-Match``, else
``If-Modified-Since``; a page without either cannot be revalidated and counts as a full download).
``summarize`` (pure) weights each page by its views in the cycle: body bytes per view each way, the
compressed share, and the share of revalidations answered 304.
"""

from __future__ import annotations

import http.client
import urllib.parse
from collections import Counter

from bench import wrk
from bench.workloads import BROWSER


def _get(base: str, path: str, headers: dict) -> tuple[int, dict, int]:
    parts = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.request("GET", path, headers={"Host": wrk.HOST, **headers})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, len(response.read())
    finally:
        conn.close()


def page(base: str, path: str) -> dict:
    """One page's bytes both ways, and the status of a revalidation with its validators."""
    _, headers, compressed = _get(base, path, BROWSER)
    _, _, uncompressed = _get(base, path, {})
    validators = ({"If-None-Match": headers["etag"]} if "etag" in headers else
                  {"If-Modified-Since": headers["last-modified"]} if "last-modified" in headers else None)
    revalidated = _get(base, path, {**BROWSER, **validators})[0] if validators else None
    return {"compressed": compressed, "uncompressed": uncompressed, "revalidated": revalidated}


def summarize(views: list[str], pages: dict[str, dict]) -> dict:
    """Bytes per view each way and the 304 share, each page weighted by its views (pure)."""
    counts = Counter(views)
    total = sum(counts.values())
    compressed = sum(pages[p]["compressed"] * n for p, n in counts.items()) / total
    uncompressed = sum(pages[p]["uncompressed"] * n for p, n in counts.items()) / total
    not_modified = sum(n for p, n in counts.items() if pages[p]["revalidated"] == 304)
    return {"bytes_per_view_compressed": round(compressed), "bytes_per_view_uncompressed": round(uncompressed),
            "compressed_share": round(compressed / uncompressed, 4) if uncompressed else None,
            "revalidated_304_share": round(not_modified / total, 4), "pages": len(counts), "views": total}


def measure(targets: dict[str, str], views: list[str]) -> dict[str, dict]:
    """``summarize`` for every stack in ``targets`` over the page views ``views``."""
    return {name: summarize(views, {p: page(base, p) for p in set(views)}) for name, base in targets.items()}
