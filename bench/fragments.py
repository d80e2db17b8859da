"""What one logged-in page view costs the app server, part by part: each per-reader ESI fragment
measured alone with wrk against the app server of a running stack (no edge in between), beside
``/healthz`` (the cheapest Django request) and the whole logged-in page through the edge.

    python manage.py upstack up ...
    env $(python manage.py upstack env) python -m bench.fragments --edge EDGE_URL --app APP_URL

A reader logs in through the edge; every request carries that reader's session cookie, as Varnish
passes it to an include. Prints a Markdown table (docs/benchmarks.md, "Logged-in views").
"""

from __future__ import annotations

import argparse
import json
import sys

from bench import wrk
from bench.edge_mix import SEEDED_PASSWORD, Browser


def targets() -> dict[str, str]:
    """The requests measured, by label: each part alone, then all of them in the one combined include
    an article view makes (upstack.edge.personal; the same on every article page, so the edge keeps
    it per session and most views never reach the app - these figures are its cost when it does)."""
    return {
        "/healthz (minimal Django view)": "/healthz",
        "user bar alone": "/_esi/userbar/",
        "like alone": "/_esi/like/",
        "comment form alone": "/_esi/comment-form/",
        "combined reader include (all parts)": "/_esi/reader/?comment-form&like&staff-tools&userbar",
    }


def measure(edge: str, app: str, seconds: int, connections: int) -> list[tuple[str, dict]]:
    import django

    django.setup()
    from newsroom.news.models import Article

    article = Article.objects.published().order_by("-read_count", "pk").first()
    browser = Browser(edge)
    browser.login("reader000001", SEEDED_PASSWORD)
    cookie = "; ".join(f"{c.name}={c.value}" for c in browser.jar if c.name == "sessionid")
    rows = []
    for label, path in targets().items():
        rows.append((label, wrk.run(app, [wrk.get(path, {"Cookie": cookie})], seconds, connections)))
    rows.append(("whole logged-in page through the edge",
                 wrk.run(edge, [wrk.get(article.get_absolute_url(), {"Cookie": cookie})], seconds, connections)))
    return rows


def table(rows: list[tuple[str, dict]]) -> str:
    lines = ["| request | req/s | p99 ms | errors |", "| --- | ---: | ---: | ---: |"]
    lines += [f"| {label} | {r['rps']:.0f} | {r['p99_ms']:.1f} | {r['errors']} |" for label, r in rows]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="req/s of each per-reader fragment against the app server")
    parser.add_argument("--edge", required=True, help="the stack's edge URL (upstack status)")
    parser.add_argument("--app", required=True, help="the stack's app server URL (upstack status)")
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--json", action="store_true", help="print the runs as JSON instead of a table")
    args = parser.parse_args(argv)
    rows = measure(args.edge, args.app, args.seconds, args.connections)
    print(json.dumps(dict(rows), indent=2) if args.json else table(rows))
    return 0 if all(r["errors"] == 0 for _, r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
