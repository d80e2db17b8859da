"""Staleness after writes, per stack: how long a written page keeps being served without the write.

For each stack, ``probe`` makes ``writes`` comments through the stack (a logged-in reader's session,
as the mixed workload posts them), one every ``gap`` seconds on its own set of articles, and reads
the article anonymously through the same stack until the comment shows:

- each page is read once a second from the probe's start until its write, as a popular page is,
  so a TTL cache always holds a copy; the writes fall at random times over the stack's TTL
  (bench/peers.py ``TTL``; 5 s for stacks without one) plus ``gap`` seconds per write, so the copy
  is of random age when its page is written;
- after the write's answer, the page is read every 50 ms for a second, then every 200 ms, until it
  shows the comment and ``WINDOW`` seconds have passed, or ``HORIZON`` seconds (beyond the longest
  TTL) have passed.

``summarize`` (pure) gives the lag - from the write's answer to the start of the first read that
showed it - as p50, p99 and max; the share of stale reads, weighted by time, over the ``WINDOW``
seconds after each write (what a reader reading at a steady rate would get); the stale reads more
than 1 s after the write; and the writes still not shown at the horizon (their lag counts as
``HORIZON``). The stacks are probed one after another, each alone on the machine, as the
workloads are run: probed at once (until 2026-11-26), plain's and typical's renders of the probes'
reads took both CPUs at 20,000 articles, and upstack's lag (p50 0.83 s, p99 3.2 s in that full run,
against 0.05 s p99 from bench/freshness.py alone minutes earlier) was their load, not its purges.
"""

from __future__ import annotations

import http.client
import random
import secrets
import threading
import time
import urllib.parse

from bench import wrk
from bench.workloads import Session

FAST_TICK, FAST_FOR, SLOW_TICK = 0.05, 1.0, 0.2
WINDOW = 6.0  # seconds after a write over which the share of stale reads is taken
HORIZON = 75.0  # seconds; beyond the longest TTL (60 s), so a TTL cache always shows the write by then
STALE_AFTER = 1.0  # seconds; a read later than this that is stale counts in stale_reads_after_1s
DEFAULT_AGE = 5.0  # the priming age range of stacks without a TTL


KEEP_WARM = 1.0  # seconds between the reads of a page before its write


def schedule(writes: int, gap: float, max_age: float, seed: int = 1) -> list[float]:
    """When each write falls, in seconds from the probe's start: at random over ``max_age`` plus
    ``gap`` per write, so that a copy cached by the keep-warm reads is of random age (pure)."""
    rng = random.Random(seed)
    return [rng.uniform(0, max_age + writes * gap) for _ in range(writes)]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def stale_share(reads: list[tuple[float, bool]], window: float = WINDOW) -> float:
    """The share of the first ``window`` seconds after a write during which a reader got the stale
    page: each read stands for the time until the next one (the first from the write's answer, the
    last to the end of the window)."""
    if not reads:
        return 1.0
    stale = 0.0
    for n, (at, fresh) in enumerate(reads):
        start = 0.0 if n == 0 else at
        end = reads[n + 1][0] if n + 1 < len(reads) else max(window, at)
        if not fresh:
            stale += max(0.0, min(end, window) - min(start, window))
    return stale / window


def summarize(outcomes: list[list[tuple[float, bool]]]) -> dict:
    """From each write's reads - ``(seconds after the write's answer, showed it)`` in order - to the
    staleness figures (pure; the module docstring says what each means)."""
    lags = [next((at for at, fresh in reads if fresh), None) for reads in outcomes]
    counted = [HORIZON if lag is None else lag for lag in lags]
    return {
        "writes": len(outcomes), "reads": sum(len(r) for r in outcomes),
        "lag_ms_p50": round(_percentile(counted, 0.5) * 1000, 1) if counted else None,
        "lag_ms_p99": round(_percentile(counted, 0.99) * 1000, 1) if counted else None,
        "lag_ms_max": round(max(counted) * 1000, 1) if counted else None,
        "stale_read_share": round(sum(stale_share(r) for r in outcomes) / len(outcomes), 4) if outcomes else None,
        "stale_reads_after_1s": sum(1 for r in outcomes for at, fresh in r if at > STALE_AFTER and not fresh),
        "stale_at_horizon": sum(lag is None for lag in lags),
    }


def _request(base: str, method: str, path: str, headers: dict | None = None, body: str | None = None):
    parts = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.request(method, path, body=body, headers={"Host": wrk.HOST, **(headers or {})})
        response = conn.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        conn.close()


def _sleep_until(moment: float) -> None:
    time.sleep(max(0.0, moment - time.monotonic()))


def follow(base: str, article: str, reader: Session, marker: str) -> list[tuple[float, bool]]:
    """Comment ``marker`` on ``article`` through ``base`` as ``reader``, then read the page until it
    shows the comment (the module docstring gives the pace); the reads, as ``summarize`` takes them."""
    body = urllib.parse.urlencode({"body": marker, "csrfmiddlewaretoken": reader.csrf})
    status, text = _request(base, "POST", article + "comments/", {
        "Cookie": reader.cookie, "Content-Type": "application/x-www-form-urlencoded"}, body)
    if status != 302:
        raise RuntimeError(f"comment at {base}{article} answered {status}, not 302: {text[:300]!r}")
    written, reads, shown = time.monotonic(), [], False
    while True:
        at = time.monotonic() - written
        status, text = _request(base, "GET", article)
        fresh = status == 200 and marker in text
        reads.append((at, fresh))
        shown = shown or fresh
        if (shown and at >= WINDOW) or at >= HORIZON:
            return reads
        _sleep_until(written + at + (FAST_TICK if at < FAST_FOR else SLOW_TICK))


def probe(targets: dict[str, str], articles: dict[str, list[str]], readers: dict[str, Session],
          ages: dict[str, float], writes: int, gap: float, seed: int = 1) -> dict[str, dict]:
    """Every stack in ``targets`` probed in turn (the module docstring); ``{stack: summarize(...)}``.
    ``articles``, ``readers`` and ``ages`` are per stack: its own pages to write to (one per write),
    the reader who comments, and the stack's TTL (how widely its writes are spread)."""
    return {name: _probe_one(targets[name], articles[name], readers[name], ages[name], writes, gap, seed, name)
            for name in targets}


def _probe_one(base: str, articles: list[str], reader: Session, age: float, writes: int, gap: float, seed: int,
               name: str) -> dict:
    """One stack's writes, each on its own article kept warm until its time (a thread per write)."""
    outcomes: list = [None] * writes
    errors: list[str] = []
    start = time.monotonic()

    def one(n: int, write_at: float) -> None:
        try:
            article = articles[n % len(articles)]
            while time.monotonic() < start + write_at:  # keep it warm, as readers do a popular page
                _request(base, "GET", article)
                _sleep_until(min(start + write_at, time.monotonic() + KEEP_WARM))
            marker = f"staleness-{name}-{n}-{secrets.token_hex(6)}"
            outcomes[n] = follow(base, article, reader, marker)
        except Exception as error:  # reported below: a probe that failed is not a figure
            errors.append(f"{name} write {n}: {error}")

    threads = [threading.Thread(target=one, args=(n, w), daemon=True)
               for n, w in enumerate(schedule(writes, gap, age, seed))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError("staleness probe failed: " + "; ".join(errors[:5]))
    return {**summarize(outcomes), "alone": True}  # results before 2026-11-26 (probed at once) lack it
