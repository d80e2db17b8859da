"""Stampede: N concurrent readers hit a hot key just as it expires. How many computations?

Side by side in one run, on a real Redis started for the run (loopback, temp dir):

  upstack   upstack.cache.get_or_compute (single flight through Redis, previous value served)
  django    Django's cache.get_or_set on Django's RedisCache

    python -m bench.stampede [--readers 100] [--rounds 5] [--compute-ms 50]

Each round stores a value that has just expired (for upstack: past its soft expiry, still in the
stale window; for Django: deleted, which is what expiry is to get_or_set), releases all readers at
once with a barrier, and counts computations and the readers that got no value (bench/report.py
requires exactly one computation per expiry and a value for every reader). Writes bench/results/stampede-<date>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import threading
import time
from datetime import date

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "newsroom.settings.test")
import django  # noqa: E402

django.setup()

from django.core.cache import caches  # noqa: E402
from django.core.cache.backends.redis import RedisCache as DjangoRedis  # noqa: E402
from django.test.utils import override_settings  # noqa: E402

from bench.results import save  # noqa: E402
from tests.servers import Redis  # noqa: E402
from upstack.cache import caches_setting, get_or_compute  # noqa: E402


def storm(readers: int, read) -> tuple[int, float, int]:
    """Release ``readers`` threads at once on ``read(counter)``; (computations, max wait seconds,
    readers that got no value - None or an exception)."""
    counter = {"n": 0, "lock": threading.Lock()}
    barrier = threading.Barrier(readers)
    waits, values = [], []

    def reader():
        barrier.wait()
        started = time.perf_counter()
        try:
            values.append(read(counter))
        finally:
            waits.append(time.perf_counter() - started)

    threads = [threading.Thread(target=reader) for _ in range(readers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return counter["n"], max(waits), readers - sum(v is not None for v in values)


def computation(counter, compute_s):
    def compute():
        with counter["lock"]:
            counter["n"] += 1
        time.sleep(compute_s)
        return "fresh"
    return compute


def run_rounds(args, compute_s, rows) -> None:
    for _ in range(args.rounds):  # interleaved: upstack, django, upstack, django...
        caches["data"].set("hot", ("stale", compute_s, time.time() - 1), 60)
        rows["upstack"].append(storm(args.readers, lambda c: get_or_compute(
            "hot", computation(c, compute_s), 60, beta=0)))
        caches["django"].delete("hot")
        rows["django"].append(storm(args.readers, lambda c: caches["django"].get_or_set(
            "hot", computation(c, compute_s), 60)))


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readers", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--compute-ms", type=float, default=50)
    parser.add_argument("--no-save", action="store_true", help="print the JSON only (bench/run.py collects it)")
    args = parser.parse_args(argv)
    compute_s = args.compute_ms / 1000
    rows = {"upstack": [], "django": []}
    with Redis() as server:
        # Both through the cache handler: one backend instance (and connection pool) per thread each.
        settings = {**caches_setting(server.url),
                    "django": {"BACKEND": f"{DjangoRedis.__module__}.{DjangoRedis.__name__}", "LOCATION": server.url,
                               "KEY_PREFIX": "bench-django"}}
        with override_settings(CACHES=settings):
            run_rounds(args, compute_s, rows)
    result = {  # interleaved: upstack, django, upstack, django...
"date": date.today().isoformat(), "readers": args.readers, "rounds": args.rounds,
              "compute_ms": args.compute_ms}
    for name, runs in rows.items():
        result[name] = {"computations_per_expiry_median": statistics.median(n for n, _, _ in runs),
                        "computations_per_round": [n for n, _, _ in runs],
                        "readers_without_value_per_round": [e for _, _, e in runs],
                        "slowest_reader_ms_median": round(statistics.median(w for _, w, _ in runs) * 1000, 1)}
    if args.no_save:
        print(json.dumps(result, indent=2))
    else:
        save("stampede", result)
    return result


if __name__ == "__main__":
    main()
