"""``upstack warm``: request the most popular URLs through the edge before traffic
arrives, with a progress bar, and report status counts and the edge and page-cache hit ratios of
the warming pass (before) and of a second pass over the same URLs (after).

URL sources: the site's sitemap (fetched through the edge), a file with one URL or path per line,
or an access log in the common/combined format (the most requested GET paths first).
"""

from __future__ import annotations

import re
import urllib.request
import xml.etree.ElementTree as ET
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

LOG_LINE = re.compile(r'"GET (?P<path>\S+) HTTP/[\d.]+" (?P<status>\d{3})')
SITEMAP_NS = "{http://www.sitemaps.org/schemas/sitemap/0.9}"


def _path(url: str) -> str:
    parts = urlsplit(url.strip())
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def from_sitemap(edge: str, host: str, top: int) -> list[str]:
    found: list[str] = []
    pending = ["/sitemap.xml"]
    while pending and len(found) < top:
        request = urllib.request.Request(edge + pending.pop(0), headers={"Host": host})
        with urllib.request.urlopen(request, timeout=30) as response:
            root = ET.fromstring(response.read())
        for loc in root.iter(f"{SITEMAP_NS}loc"):
            target = found if root.tag.endswith("urlset") else pending
            target.append(_path(loc.text))
    return ["/", *[p for p in found if p != "/"]][:top]


def from_file(path: Path, top: int) -> list[str]:
    lines = [line.strip() for line in path.read_text().splitlines()]
    return [_path(line) for line in lines if line and not line.startswith("#")][:top]


def from_access_log(path: Path, top: int) -> list[str]:
    counts = Counter(m["path"] for m in map(LOG_LINE.search, path.read_text(errors="replace").splitlines())
                     if m and m["status"].startswith(("2", "3")))
    return [p for p, _ in counts.most_common(top)]


def _fetch(edge: str, host: str, path: str) -> tuple[int, str | None, str | None]:
    request = urllib.request.Request(edge + path, headers={"Host": host})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()
            return response.status, response.headers.get("X-Cache"), response.headers.get("X-Page-Cache")
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("X-Cache"), error.headers.get("X-Page-Cache")
    except OSError:
        return 0, None, None


def _pass(edge: str, host: str, paths: list[str], concurrency: int, progress=None, task=None) -> dict:
    statuses, edge_hits, page_hits = Counter(), 0, 0
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for status, x_cache, x_page in pool.map(lambda p: _fetch(edge, host, p), paths):
            statuses[status] += 1
            edge_hits += x_cache == "HIT"
            page_hits += x_page == "HIT"
            if progress is not None:
                progress.advance(task)
    total = max(1, len(paths))
    return {"statuses": {str(k): v for k, v in sorted(statuses.items())},
            "edge_hit_ratio": round(edge_hits / total, 4), "page_cache_hit_ratio": round(page_hits / total, 4)}


def warm(edge: str, paths: list[str], host: str = "127.0.0.1", concurrency: int = 4, show_progress: bool = True) -> dict:
    if not paths:
        raise ValueError("no URLs to warm")
    if concurrency < 1:
        raise ValueError("--concurrency must be at least 1")
    edge = edge.rstrip("/")
    if show_progress:
        from rich.progress import Progress

        with Progress(transient=True) as progress:
            task = progress.add_task("warming", total=len(paths))
            before = _pass(edge, host, paths, concurrency, progress, task)
    else:
        before = _pass(edge, host, paths, concurrency)
    after = _pass(edge, host, paths, concurrency)
    return {"urls": len(paths), "before": before, "after": after}
