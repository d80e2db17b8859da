"""The cost of the per-request instrumentation (upstack.metrics): the same requests with the
metrics middleware on and off, interleaved in one run (off, on, off, on, ...), medians of the rounds.

    python -m bench.instrumentation [--rounds 7] [--requests 200]

In-process (Django's test client) on a temporary SQLite database with 300 seeded articles, so the
figure is the middleware's own cost, not the network's. Two paths: full renders (page cache off)
and page-cache hits. Writes bench/results/instrumentation-<date>.json.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from datetime import date

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "newsroom.settings.test")
os.environ.setdefault("DATABASE_URL", f"sqlite:///{tempfile.mkdtemp(prefix='bench-instr-')}/db.sqlite3")
import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import override_settings  # noqa: E402

from bench.results import save  # noqa: E402

METRICS = "upstack.metrics.middleware.RequestMetricsMiddleware"


def urls() -> list[str]:
    from newsroom.news.models import Article, Section

    articles = [a.get_absolute_url() for a in Article.objects.published().order_by("-read_count")[:20]]
    return ["/", *articles, *[s.get_absolute_url() for s in Section.objects.all()[:4]]]


def round_time(paths: list[str], requests: int, instrumented: bool, page_cache: bool) -> float:
    middleware = list(settings.MIDDLEWARE) if instrumented else [m for m in settings.MIDDLEWARE if m != METRICS]
    upstack = {**settings.UPSTACK, "PAGE_CACHE": page_cache, "SLOW_QUERY_MS": 0}
    with override_settings(MIDDLEWARE=middleware, UPSTACK=upstack, LOGGING_CONFIG=None):
        client = Client(HTTP_HOST="127.0.0.1")
        for path in paths:  # warm: the page cache (if on) and this round's code paths
            client.get(path)
        started = time.perf_counter()
        for i in range(requests):
            client.get(paths[i % len(paths)])
        return (time.perf_counter() - started) / requests


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args(argv)
    import logging

    logging.getLogger("upstack.request").disabled = False
    logging.getLogger("upstack.request").handlers = [logging.NullHandler()]  # the line is built, not printed
    logging.getLogger("upstack.request").propagate = False
    call_command("migrate", verbosity=0)
    call_command("seed", articles=300, users=20, comments=2000, no_progress=True, verbosity=0, if_empty=True)
    paths = urls()
    result = {"date": date.today().isoformat(), "rounds": args.rounds, "requests_per_round": args.requests}
    for label, page_cache in (("render", False), ("page_cache_hit", True)):
        off, on = [], []
        for _ in range(args.rounds):
            off.append(round_time(paths, args.requests, False, page_cache))
            on.append(round_time(paths, args.requests, True, page_cache))
        m_off, m_on = statistics.median(off), statistics.median(on)
        result[label] = {"off_ms": round(m_off * 1000, 3), "on_ms": round(m_on * 1000, 3),
                         "overhead_us": round((m_on - m_off) * 1e6, 1), "ratio": round(m_on / m_off, 3)}
    save("instrumentation", result)
    return result


if __name__ == "__main__":
    main()
