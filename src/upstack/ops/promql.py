"""A thin adapter over Prometheus' HTTP API (``/api/v1/query``, ``query_range``, ``status/config``),
shared by ``report dashboard`` (``upstack.ops.dashboard``) and ``top`` (``upstack.ops.top``).

urllib rather than a client library: the three GET endpoints and their JSON envelope are all that is
used, and the maintained client (``prometheus-api-client``) would pull pandas and matplotlib into
the package for it. Only a Prometheus on loopback is queried (reach a remote one through an SSH
tunnel); errors name the URL and the fix.
"""

from __future__ import annotations

import ipaddress
import json
import re
import urllib.parse
import urllib.request


def require_loopback(url: str, who: str = "upstack") -> str:
    """``url`` when it is an http(s) URL on 127.0.0.0/8 (or localhost), else a ValueError (bad input)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    try:
        ok = ipaddress.ip_address(host).is_loopback
    except ValueError:
        ok = host == "localhost"
    if parts.scheme not in ("http", "https") or not ok:
        raise ValueError(f"{url} is not on loopback; {who} only queries a Prometheus on 127.0.0.0/8 "
                         "(http://127.0.0.1:PORT; reach a remote one through an SSH tunnel)")
    return url.rstrip("/")


def _get(prometheus: str, path: str, params: dict | None = None, timeout: float = 10) -> dict:
    query = "?" + urllib.parse.urlencode(params) if params else ""
    try:
        with urllib.request.urlopen(f"{prometheus.rstrip('/')}{path}{query}", timeout=timeout) as response:
            body = json.load(response)
    except OSError as exc:
        raise ConnectionError(f"could not query Prometheus at {prometheus}: {exc}. Fix: start it, or pass "
                              "--prometheus URL") from None
    if body.get("status") != "success":
        raise RuntimeError(f"Prometheus at {prometheus} refused {params}: {body.get('error')}")
    return body["data"]


def query(prometheus: str, expr: str, timeout: float = 5) -> list[dict]:
    """Prometheus' instant vector for ``expr``: ``[{"metric": {...}, "value": [t, "v"]}]``."""
    return _get(prometheus, "/api/v1/query", {"query": expr}, timeout)["result"]


def query_range(prometheus: str, expr: str, start: float, end: float, step: float) -> list[dict]:
    """Prometheus' matrix for ``expr``: ``[{"metric": {...}, "values": [[t, "v"], ...]}]``."""
    return _get(prometheus, "/api/v1/query_range", {"query": expr, "start": start, "end": end, "step": step})["result"]


DURATION = re.compile(r"(\d+)(ms|s|m|h|d)")
SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def seconds(duration: str) -> float:
    """A Prometheus duration (``15s``, ``1m30s``) in seconds; ValueError when it is not one."""
    if not duration or DURATION.sub("", duration):
        raise ValueError(f"not a Prometheus duration: {duration!r}")
    return sum(int(n) * SECONDS[unit] for n, unit in DURATION.findall(duration))


def scrape_interval(prometheus: str) -> float:
    """The global scrape interval of the Prometheus at ``prometheus`` (its loaded config), in seconds."""
    import yaml

    config = yaml.safe_load(_get(prometheus, "/api/v1/status/config", timeout=3)["yaml"]) or {}
    return seconds(str((config.get("global") or {}).get("scrape_interval", "1m")))


__all__ = ["query", "query_range", "require_loopback", "scrape_interval", "seconds"]
