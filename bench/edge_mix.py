"""A mixed anonymous and logged-in browse through the edge: hit ratio, backend requests per page
view, and a leak check (no reader's name or CSRF token in anyone else's response).

Run in the stack's environment (`upstack up`), e.g.:

    env $(python manage.py upstack env) python -m bench.edge_mix --views 600 --readers 4 \
        --varnish-dir .upstack/varnish

Readers are seeded accounts logged in through the edge; anonymous and logged-in views alternate
over the sampled pages with Zipf-like popularity (a few pages get most views), in parallel threads.
The edge's own counters (varnishstat) give hits, misses, passes and backend requests. Prints JSON
and writes bench/results/edge-mix-<date>.json unless --no-save.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import json
import os
import random
import re
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from datetime import date
from pathlib import Path

from bench.results import save

SEEDED_PASSWORD = "newsroom-seeded-reader"
VIEW_HEADER = "X-Bench-View"  # marks the requests whose backend fetches a measurement counts


class Browser:
    def __init__(self, edge: str):
        self.edge = edge
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def get(self, path: str, data: dict | None = None, headers: dict | None = None) -> tuple[int, dict, str]:
        body = urllib.parse.urlencode(data).encode() if data else None
        request = urllib.request.Request(self.edge + path, data=body, headers={"Host": "127.0.0.1", **(headers or {})})
        try:
            with self.opener.open(request, timeout=15) as response:
                return response.status, dict(response.headers), response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read().decode()

    def login(self, username: str, password: str) -> None:
        _, _, page = self.get("/accounts/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        status, _, body = self.get("/accounts/login/", {"username": username, "password": password,
                                                        "csrfmiddlewaretoken": token, "next": "/"})
        if "Signed in as" not in body:
            raise RuntimeError(f"login as {username} failed ({status})")


def varnish_counters(workdir: str) -> dict[str, int]:
    from upstack.ops.top import EDGE_FIELDS
    from upstack.ops.top import varnish_counters as read

    return read(Path(workdir), (*EDGE_FIELDS, "esi_req"))


def zipf_choice(rng: random.Random, items: list, s: float = 1.1):
    weights = [1 / (rank ** s) for rank in range(1, len(items) + 1)]
    return rng.choices(items, weights=weights, k=1)[0]


def run(edge: str, varnish_dir: str, views: int, readers: int, seed: int = 1) -> dict:
    import django

    django.setup()
    from django.contrib.auth import get_user_model

    from newsroom.news.models import Article

    rng = random.Random(seed)
    users = list(get_user_model().objects.filter(username__startswith="reader").order_by("pk")[:readers])
    if len(users) < readers:
        raise RuntimeError(f"need {readers} seeded readers, found {len(users)}")
    articles = [a.get_absolute_url() for a in Article.objects.published().order_by("-read_count")[:60]]
    urls = ["/", *articles[:40], "/sections/" + Article.objects.published().first().section.slug + "/"]
    browsers = []
    for user in users:
        browser = Browser(edge)
        browser.login(user.username, SEEDED_PASSWORD)
        browsers.append((user, browser))
    tokens_seen: dict[str, str] = {}  # CSRF token -> the reader it was served to
    # Warm the edge with one pass over the pages, as a deploy's cache warming would: anonymous and
    # logged in, as each page has two variants (fragments inline, and ESI includes).
    anonymous = Browser(edge)
    for url in urls:
        anonymous.get(url)
        browsers[0][1].get(url)
    before = varnish_counters(varnish_dir)
    leaks, errors, lock = [], 0, threading.Lock()
    counts = {"anonymous": 0, "logged_in": 0}
    plan = [(rng.random() < 0.5, zipf_choice(rng, urls)) for _ in range(views)]

    def worker(index: int):
        nonlocal errors
        user, browser = browsers[index % len(browsers)]
        for logged_in, url in plan[index::len(browsers) * 2]:
            client = browser if logged_in else Browser(edge)
            status, _, body = client.get(url)
            me = user.username if logged_in else "anonymous"
            signed_in_as = re.findall(r"Signed in as <strong>([^<]+)</strong>", body)
            expected = [user.get_full_name() or user.username] if logged_in else []
            tokens = re.findall(r'name="csrfmiddlewaretoken" value="([^"]+)"', body)
            with lock:
                counts["logged_in" if logged_in else "anonymous"] += 1
                errors += status != 200
                if signed_in_as != expected:
                    leaks.append((url, me, f"user bar shows {signed_in_as}"))
                if tokens and not logged_in:
                    leaks.append((url, me, "a CSRF token in an anonymous page"))
                for token in tokens:
                    if tokens_seen.setdefault(token, me) != me:
                        leaks.append((url, me, f"{tokens_seen[token]}'s CSRF token"))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(browsers) * 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    after = varnish_counters(varnish_dir)
    delta = {k: after[k] - before[k] for k in after}
    page_views = counts["anonymous"] + counts["logged_in"]
    lookups = delta["cache_hit"] + delta["cache_miss"] + delta["s_pass"]
    return {
        "date": date.today().isoformat(), "page_views": page_views, "counts": counts, "readers": readers,
        "errors": errors, "leaks": leaks[:10], "leak_count": len(leaks), "varnish": delta,
        "edge_hit_ratio": round(delta["cache_hit"] / lookups, 4) if lookups else None,
        "backend_requests_per_page_view": round(delta["backend_req"] / page_views, 3) if page_views else None,
    }


def logged_in_backend_requests(edge: str, varnish_dir: str, views: int = 30) -> dict:
    """Backend requests per logged-in article view, once the pages are in the edge."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model

    from newsroom.news.models import Article

    user = get_user_model().objects.filter(username__startswith="reader").order_by("pk").first()
    browser = Browser(edge)
    browser.login(user.username, SEEDED_PASSWORD)
    urls = [a.get_absolute_url() for a in Article.objects.published().order_by("-read_count")[:10]]
    for url in urls:
        Browser(edge).get(url)
    # The views are marked, so that only their own fetches count: the edge's counters also see others'
    # requests (a load balancer's health check goes through to Django every 2 s).
    mark = {VIEW_HEADER: f"logged-in-{time.time_ns()}"}
    before = varnish_counters(varnish_dir)
    for i in range(views):
        browser.get(urls[i % len(urls)], headers=mark)
    after = varnish_counters(varnish_dir)
    fetched = backend_fetches(varnish_dir, mark[VIEW_HEADER])
    return {"views": views, "backend_requests": len(fetched), "backend_urls": fetched,
            "backend_requests_per_view": round(len(fetched) / views, 3),
            "esi_per_view": round((after["esi_req"] - before["esi_req"]) / views, 3)}


def backend_fetches(varnish_dir: str, mark: str) -> list[str]:
    """The URLs the edge fetched from Django for the requests marked ``VIEW_HEADER: mark`` and their
    ESI includes (which start from their page's request headers), from varnishlog's copy of the
    edge's shared memory log."""
    out = subprocess.run(["varnishlog", "-n", str(Path(varnish_dir).resolve()), "-d", "-g", "request",
                          "-q", f'ReqHeader:{VIEW_HEADER} eq "{mark}"', "-i", "BereqURL"],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    return re.findall(r"BereqURL\s+(\S+)", out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edge", default=os.environ.get("EDGE_URL"))
    parser.add_argument("--varnish-dir", default=".upstack/varnish", help="varnishd's -n directory")
    parser.add_argument("--views", type=int, default=600)
    parser.add_argument("--readers", type=int, default=4)
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args(argv)
    result = run(args.edge.rstrip("/"), args.varnish_dir, args.views, args.readers)
    result["logged_in_article_view"] = logged_in_backend_requests(args.edge.rstrip("/"), args.varnish_dir)
    if not args.no_save:
        save("edge-mix", result, echo=False)
    print(json.dumps(result, indent=2))
    return 0 if result["leak_count"] == 0 and result["errors"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
