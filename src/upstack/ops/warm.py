"""``upstack warm``: request the most popular URLs through the edge before traffic
arrives, with a progress bar, and report status counts and the edge and page-cache hit ratios of
the warming pass (before) and of a second pass over the same URLs (after).

URL sources: the site's sitemap (fetched through the edge), a file with one URL or path per line,
or an access log (the most requested successful GET paths first) in any of three formats, line by
line, mixed or not: the stack's own JSON request lines (``upstack.metrics.logs``; the local stack's
are in ``.upstack/logs/app.log``), the common/combined format of nginx and Apache, and HAProxy's
HTTP log format (``option httplog``).
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

# nginx/Apache common or combined: ... "GET /path HTTP/1.1" 200 ...
COMBINED_LINE = re.compile(r'"GET (?P<path>\S+) HTTP/[\d.]+" (?P<status>\d{3}) ')
# HAProxy's httplog: ... [date] frontend backend/server Tq/Tw/Tc/Tr/Ta 200 bytes ... "GET /path HTTP/1.1"
HAPROXY_LINE = re.compile(r'\] \S+ \S+ [-+\d/]+ (?P<status>\d{3}) .*"GET (?P<path>\S+) HTTP/[\d.]+"')
SOURCES = "sitemap, access-log (the local stack's request log), access-log:PATH, or a file with one URL per line"
SITEMAP_NS = "{http://www.sitemaps.org/schemas/sitemap/0.9}"


def _path(url: str) -> str:
    parts = urlsplit(url.strip())
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def from_sitemap(edge: str, host: str, top: int) -> list[str]:
    found: list[str] = []
    pending = ["/sitemap.xml"]
    while pending and len(found) < top:
        url = edge + pending.pop(0)
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers={"Host": host}), timeout=30) as response:
                root = ET.fromstring(response.read())
        except (OSError, ET.ParseError) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise ConnectionError(f"could not read the sitemap at {url}: {reason}. Fix: check the edge is up "
                                  "(`manage.py upstack status`) or pass --edge URL, or warm --from a file") from None
        for loc in root.iter(f"{SITEMAP_NS}loc"):
            target = found if root.tag.endswith("urlset") else pending
            target.append(_path(loc.text))
    return ["/", *[p for p in found if p != "/"]][:top]


def from_file(path: Path, top: int) -> list[str]:
    lines = [line.strip() for line in path.read_text().splitlines()]
    return [_path(line) for line in lines if line and not line.startswith("#")][:top]


def parse_source(source: str, default_log: Path) -> tuple[str, Path | None]:
    """``--from``: ("sitemap", None), ("access-log", PATH) or ("file", PATH); ValueError names the choices."""
    if source == "sitemap":
        return "sitemap", None
    if source == "access-log" or source.startswith("access-log:"):
        path = Path(source.partition(":")[2] or default_log)
        if not path.is_file():
            raise ValueError(f"--from {source}: no log at {path}; give access-log:PATH")
        return "access-log", path
    if Path(source).is_file():
        return "file", Path(source)
    raise ValueError(f"--from {source!r} is not a file; use {SOURCES}")


def request_path(line: str) -> str | None:
    """The path of a successful (2xx/3xx) GET in one log line of any supported format, else None."""
    if line.startswith("{"):
        try:
            data = json.loads(line)
        except ValueError:
            return None
        ok = isinstance(data, dict) and data.get("method") == "GET" and str(data.get("status", "")).startswith("2")
        return data.get("path") if ok and isinstance(data.get("path"), str) else None
    match = COMBINED_LINE.search(line) or HAPROXY_LINE.search(line)
    return match["path"] if match and match["status"].startswith(("2", "3")) else None


def from_access_log(path: Path, top: int) -> list[str]:
    counts = Counter(filter(None, map(request_path, path.read_text(errors="replace").splitlines())))
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
    if before["statuses"].get("0") == len(paths):
        raise ConnectionError(f"no answer from the edge at {edge} for any of {len(paths)} URLs. Fix: check it is up "
                              "(`manage.py upstack status`) or pass --edge URL")
    after = _pass(edge, host, paths, concurrency)
    return {"urls": len(paths), "before": before, "after": after}
