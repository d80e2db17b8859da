"""What a request pays for a blackholed cache server, before and after the circuit breaker opens.

A blackhole accepts TCP connections and never answers: the worst failure, because every call
waits for the full timeout. Measured side by side in one run on loopback:

  upstack   upstack.cache.backends.redis.RedisCache (timeout UPSTACK["CACHE_TIMEOUT"], breaker)
  django    Django's RedisCache with the same socket timeout, no breaker

    python -m bench.cache_faults [--calls 200]

Prints per-call latency for the first call (the one that discovers the outage) and the median of
the following calls, the same for whole home-page requests (SQLite, 300 seeded articles) against a
healthy in-process cache and against the blackhole, and writes bench/results/cache-faults-<date>.json.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import tempfile  # noqa: E402
import threading
import time
from datetime import date

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "newsroom.settings.test")
os.environ.setdefault("DATABASE_URL", f"sqlite:///{tempfile.mkdtemp(prefix='bench-faults-')}/db.sqlite3")
import django  # noqa: E402

django.setup()

from django.core.cache.backends.redis import RedisCache as DjangoRedis  # noqa: E402

from bench.results import save  # noqa: E402
from upstack import conf  # noqa: E402
from upstack.cache.backends.redis import RedisCache  # noqa: E402


def blackhole() -> tuple[socket.socket, int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    held = []

    def accept():
        while True:
            try:
                held.append(sock.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    return sock, sock.getsockname()[1]


def timings(cache, calls: int) -> list[float]:
    out = []
    for i in range(calls):
        started = time.perf_counter()
        cache.get(f"key-{i}")
        out.append(time.perf_counter() - started)
    return out


def page_timings(url: str, requests: int) -> list[float]:
    """GET / through Django with every cache namespace on ``url``."""
    from django.test import Client
    from django.test.utils import override_settings

    from upstack.cache import caches_setting
    from upstack.cache.breaker import reset_all

    reset_all()
    out = []
    with override_settings(CACHES=caches_setting(url), ALLOWED_HOSTS=["*"]):
        client = Client()
        for _ in range(requests):
            started = time.perf_counter()
            assert client.get("/").status_code == 200
            out.append(time.perf_counter() - started)
    return out


def seed() -> None:
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("seed", articles=300, users=20, comments=1000, no_progress=True, verbosity=0, if_empty=True)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--django-calls", type=int, default=10, help="Django's backend pays a timeout per call")
    parser.add_argument("--requests", type=int, default=30, help="home page requests per configuration")
    args = parser.parse_args(argv)
    timeout = conf.get("CACHE_TIMEOUT")
    sock, port = blackhole()
    url = f"redis://127.0.0.1:{port}/0"
    ours = RedisCache(url, {"KEY_PREFIX": "bench", "OPTIONS": {"BREAKER_COOLDOWN": 5}})
    theirs = DjangoRedis(url, {"KEY_PREFIX": "bench", "OPTIONS": {"socket_timeout": timeout,
                                                                   "socket_connect_timeout": timeout}})
    upstack_times = timings(ours, args.calls)
    django_times, django_errors = [], 0
    for i in range(args.django_calls):
        started = time.perf_counter()
        try:
            theirs.get(f"key-{i}")
        except Exception:  # noqa: BLE001 - Django's backend raises: in a view, that is a 500
            django_errors += 1
        django_times.append(time.perf_counter() - started)
    seed()
    healthy = page_timings("locmem://bench-healthy", args.requests)
    holed = page_timings(url, args.requests)
    sock.close()
    result = {
        "page": {"requests": args.requests,
                 "healthy_cache_median_ms": round(statistics.median(healthy[1:]) * 1000, 2),
                 "blackholed_first_ms": round(holed[0] * 1000, 2),
                 "blackholed_median_after_ms": round(statistics.median(holed[1:]) * 1000, 2)},
        "date": date.today().isoformat(), "timeout_s": timeout, "cooldown_s": 5,
        "upstack": {"first_call_ms": round(upstack_times[0] * 1000, 2),
                    "median_after_ms": round(statistics.median(upstack_times[1:]) * 1000, 4),
                    "calls": args.calls, "exceptions": 0},
        "django": {"median_ms": round(statistics.median(django_times) * 1000, 2), "calls": args.django_calls,
                   "exceptions": django_errors},
    }
    result["ratio_after_breaker"] = round(result["django"]["median_ms"] / max(result["upstack"]["median_after_ms"], 1e-6))
    save("cache-faults", result)
    return result


if __name__ == "__main__":
    main()
