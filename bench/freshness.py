"""Freshness after writes, through the edge.

Run inside the site's environment (it uses the ORM and the admin in-process, on the same database
and caches as the running app server), e.g. against `upstack up`:

    env $(python manage.py upstack env) python -m bench.freshness --writes 100 --app http://127.0.0.1:APP

For each write it picks a random sampled article and makes one kind of write - a comment, a like,
a title change through the ORM, or a title change through the admin - then polls the article's
page through the edge until the change shows (for a like: the new count in the page), recording the
lag from the commit. It checks that the edge's HTML then equals a fresh, uncached render straight from
the app server (signed bypass), and that an unrelated article page - an edge hit just before the
write, not linking to the written article nor to one written in the last seconds (whose repeated purge
may still arrive), and not fetched again in between - is still a hit.
Prints JSON: p50/p99 lag, stale counts, mismatches, unrelated pages checked and kept; writes
bench/results/freshness-<date>.json unless --no-save. Exits 1 when a page stayed stale or differed.
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


def like_count_html(count: int) -> str:
    """How the article page shows its like count (newsroom/templates/news/article.html)."""
    return f'<span class="like-count" data-like-count>{count}</span>'


def shows(status: int, body: str, marker: str) -> bool:
    """The change is at the edge: a 200 whose page contains ``marker`` (the new title, the comment,
    or the new like count). Any other answer - a 503, a PASS of the old page - is not fresh."""
    return status == 200 and marker in body


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
    from upstack import conf
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

    lags, stale_after_timeout, mismatches, kinds = [], 0, 0, {}
    unrelated = {"checked": 0, "kept": 0, "not_primed": 0, "linking": 0}
    purged: list[dict] = []  # unrelated pages that lost their edge hit: what was written, and where
    # Articles written lately, with when: a write's purge is sent again PURGE_REPEAT_AFTER later
    # through the worker (and may arrive later still on a loaded machine), so a page showing one of
    # them may rightly be purged during a later round. Such a page is not "unrelated" to the run.
    recent: list[tuple[float, int, str]] = []
    settle = (conf.get("PURGE_REPEAT_AFTER") or 0) + 2.0
    bypass = conf.get("BYPASS_PARAM")
    for i in range(writes):
        article = rng.choice(sample)
        recent = [r for r in recent if time.perf_counter() - r[0] < settle]
        other = rng.choice([a for a in sample if a.pk != article.pk and a.pk not in {r[1] for r in recent}])
        url, other_url = article.get_absolute_url(), other.get_absolute_url()
        fetch(edge + url)
        # The unrelated page: an edge hit before the write, and not fetched again until it is checked.
        fetch(edge + other_url)
        _, other_headers, other_body = fetch(edge + other_url)
        primed = other_headers.get("X-Cache") == "HIT"
        # It shows the written article (or one written lately), so the write may rightly purge it.
        linking = any(u in other_body for u in [url, *(r[2] for r in recent)])
        kind = rng.choice(["comment", "like", "title", "admin"])
        kinds[kind] = kinds.get(kind, 0) + 1
        marker = f"fresh-{seed}-{i}-{rng.randrange(10**9)}"
        if kind == "comment":
            Comment.objects.create(article=article, user=rng.choice(readers), body=f"Comment {marker}")
        elif kind == "like":
            user = rng.choice(readers)  # a like or an unlike: either way the shown count changes
            if not Like.objects.filter(article=article, user=user).delete()[0]:
                Like.objects.create(article=article, user=user)
            marker = like_count_html(Like.objects.filter(article=article).count())
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
        recent.append((committed, article.pk, url))
        fresh = None
        while time.perf_counter() - committed < timeout:
            status, _, body = fetch(edge + url)
            if shows(status, body, marker):
                fresh = time.perf_counter() - committed
                break
            time.sleep(0.005)
        if fresh is None:
            stale_after_timeout += 1
        else:
            lags.append(fresh)
        if app:
            direct = fetch(f"{app}{url}?{bypass}={bypass_signature(url)}")[2]
            # The only legitimate difference: links that echo the request's query (the bypass signature).
            direct = re.sub(rf"%3F{re.escape(bypass)}%3D[0-9a-f]+", "", direct)
            mismatches += int(direct != fetch(edge + url)[2])
        if not primed:
            unrelated["not_primed"] += 1
        elif linking:
            unrelated["linking"] += 1
        else:
            unrelated["checked"] += 1
            if fetch(edge + other_url)[1].get("X-Cache") == "HIT":
                unrelated["kept"] += 1
            else:
                purged.append({"write": i, "kind": kind, "written": url, "unrelated": other_url})
    result = {
        "date": date.today().isoformat(), "writes": writes, "kinds": kinds,
        "lag_ms_p50": round(percentile(lags, 0.5) * 1000, 1) if lags else None,
        "lag_ms_p99": round(percentile(lags, 0.99) * 1000, 1) if lags else None,
        "lag_ms_max": round(max(lags) * 1000, 1) if lags else None,
        "lag_ms_mean": round(statistics.mean(lags) * 1000, 1) if lags else None,
        "stale_after_timeout": stale_after_timeout, "edge_vs_fresh_mismatches": mismatches if app else None,
        "unrelated_checked": unrelated["checked"], "unrelated_kept": unrelated["kept"],
        "unrelated_not_primed": unrelated["not_primed"], "unrelated_linking": unrelated["linking"],
        "unrelated_purged": purged,
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
    return 0 if result["stale_after_timeout"] == 0 and not result["edge_vs_fresh_mismatches"] else 1


if __name__ == "__main__":
    sys.exit(main())
