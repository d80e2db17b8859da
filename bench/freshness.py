"""Freshness after writes, through the edge (BLUEPRINT C3, issue "fresh within a second").

Run inside the site's environment (it uses the ORM and the admin in-process, on the same database
and caches as the running app server), e.g. against `upstack up`:

    env $(python manage.py upstack env) python -m bench.freshness --writes 100 --app http://127.0.0.1:APP

For each write it picks a random sampled article and makes one kind of write - a comment, a like,
a title change through the ORM, or a title change through the admin - then polls the article's
page through the edge until the change shows, recording the lag from the commit. After each write
it also checks an unrelated article page is still an edge hit, and that the edge's HTML equals a
fresh, uncached render straight from the app server (signed bypass). Prints JSON: p50/p99 lag,
stale counts, unrelated hits; writes bench/results/freshness-<date>.json unless --no-save.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import sys
import time
import urllib.request
from datetime import date

from bench.results import save


def fetch(url: str, host: str = "127.0.0.1") -> tuple[int, dict, str]:
    request = urllib.request.Request(url, headers={"Host": host})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def run(edge: str, app: str | None, writes: int, seed: int = 1, timeout: float = 5.0) -> dict:
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.test.utils import setup_test_environment

    setup_test_environment()  # response.context for the admin form (this process only)

    from newsroom.news.models import Article, Comment, Like
    from upstack.cache.bypass import bypass_signature

    rng = random.Random(seed)
    users = get_user_model().objects
    staff, _ = users.get_or_create(username="freshness-editor", defaults={"is_staff": True, "is_superuser": True})
    staff.set_password("freshness-editor-pw")
    staff.save()
    readers = list(users.filter(is_staff=False).order_by("pk")[:50])
    sample = list(Article.objects.published().order_by("-published_at")[:40])
    admin = Client(HTTP_HOST="127.0.0.1")
    admin.force_login(staff)
    from django.conf import settings

    lags, stale_after_timeout, unrelated_hits, unrelated_checks, mismatches, kinds = [], 0, 0, 0, 0, {}
    recent: list[int] = []  # written in the last rounds: their repeated purges may still arrive
    for i in range(writes):
        article = rng.choice(sample)
        other = rng.choice([a for a in sample if a.pk != article.pk and a.pk not in recent])
        recent = [article.pk, *recent][:3]
        url = article.get_absolute_url()
        fetch(edge + url)
        fetch(edge + other.get_absolute_url())
        fetch(edge + other.get_absolute_url())  # now surely cached at the edge
        kind = rng.choice(["comment", "like", "title", "admin"])
        kinds[kind] = kinds.get(kind, 0) + 1
        marker = f"fresh-{seed}-{i}-{rng.randrange(10**9)}"
        if kind == "comment":
            Comment.objects.create(article=article, user=rng.choice(readers), body=f"Comment {marker}")
        elif kind == "like":
            user = rng.choice(readers)
            Like.objects.filter(article=article, user=user).delete()
            Like.objects.create(article=article, user=user)
            marker = None  # the like count changes; check by comparing with a fresh render below
        elif kind == "title":
            article.title = f"Title {marker}"
            article.save()
        else:
            change = f"/{settings.ADMIN_URL}news/article/{article.pk}/change/"
            form = admin.get(change).context["adminform"].form
            data = {k: v for k, v in form.initial.items()
                    if v is not None and not isinstance(v, list) and k != "lead_image"}
            data.update({"title": f"Admin {marker}", "tags": [t.pk for t in article.tags.all()],
                         "published_at_0": article.published_at.strftime("%Y-%m-%d"),
                         "published_at_1": article.published_at.strftime("%H:%M:%S"),
                         "section": article.section_id, "author": article.author_id})
            data.pop("published_at", None)
            response = admin.post(change, data)
            if response.status_code != 302:
                raise RuntimeError(f"admin save failed: {response.status_code} {response.content[:500]!r}")
        committed = time.perf_counter()
        fresh = None
        while time.perf_counter() - committed < timeout:
            status, headers, body = fetch(edge + url)
            if marker and marker in body:
                fresh = time.perf_counter() - committed
                break
            if marker is None and headers.get("X-Cache") != "HIT":
                fresh = time.perf_counter() - committed
                break
            time.sleep(0.005)
        if fresh is None:
            stale_after_timeout += 1
        else:
            lags.append(fresh)
        if app:
            direct = fetch(f"{app}{url}?{settings.UPSTACK.get('BYPASS_PARAM', 'flush-the-cache')}="
                           f"{bypass_signature(url)}")[2]
            # The only legitimate difference: links that echo the request's query (the bypass signature).
            direct = re.sub(r"%3Fflush-the-cache%3D[0-9a-f]+", "", direct)
            mismatches += int(direct != fetch(edge + url)[2])
        unrelated_checks += 1
        related = article.get_absolute_url() in fetch(edge + other.get_absolute_url())[2]
        status, headers, _ = fetch(edge + other.get_absolute_url())
        unrelated_hits += int(headers.get("X-Cache") == "HIT" or related)
    result = {
        "date": date.today().isoformat(), "writes": writes, "kinds": kinds,
        "lag_ms_p50": round(percentile(lags, 0.5) * 1000, 1) if lags else None,
        "lag_ms_p99": round(percentile(lags, 0.99) * 1000, 1) if lags else None,
        "lag_ms_max": round(max(lags) * 1000, 1) if lags else None,
        "lag_ms_mean": round(statistics.mean(lags) * 1000, 1) if lags else None,
        "stale_after_timeout": stale_after_timeout, "edge_vs_fresh_mismatches": mismatches if app else None,
        "unrelated_still_cached": f"{unrelated_hits}/{unrelated_checks}",
    }
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edge", default=os.environ.get("EDGE_URL"), help="edge base URL (default: $EDGE_URL)")
    parser.add_argument("--app", help="app server base URL, for the fresh-render comparison")
    parser.add_argument("--writes", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args(argv)
    if not args.edge:
        parser.error("--edge or EDGE_URL is required")
    result = run(args.edge.rstrip("/"), args.app, args.writes, args.seed)
    if not args.no_save:
        save("freshness", result, echo=False)
    print(json.dumps(result, indent=2))
    return 0 if result["stale_after_timeout"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
