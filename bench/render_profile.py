"""Where a render's CPU goes: warm and cold renders of the home page and the most-read article,
in-process, with pyinstrument (a bench-only dependency).

Run inside the site's environment, e.g. against ``upstack up`` (its database and caches):

    env $(python manage.py upstack env) DJANGO_SETTINGS_MODULE=newsroom.settings.deploy \\
        python -m bench.render_profile --renders 40

- warm: the page cache bypassed as the edge does after a reader's own write (``X-Upstack-Fresh``),
  every fragment a cache hit;
- cold: the signed fresh-render parameter, every fragment re-rendered;
- plain: with ``DJANGO_SETTINGS_MODULE=newsroom.settings.plain`` (and ``--plain``), plain Django's
  render of the same pages.

For each page and kind it prints CPU ms per render (``time.process_time`` over ``--renders``
renders in ``--blocks`` blocks, after one untimed render: the median block, and the fastest, which
on a shared machine is the least disturbed) and the functions with the most CPU of their own (pyinstrument's
self time, summed per function, over another ``--renders`` renders; with ``--cpu-profile``, cProfile
on ``time.process_time`` instead, which leaves out time spent waiting or descheduled). JSON with
``--json``.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import statistics
import time
from collections import Counter


def _name(frame) -> str:
    return f"{frame.function} ({frame.file_path_short or '?'}:{frame.line_no})"


def _walk(frame, own: Counter, inclusive: Counter, above: frozenset) -> None:
    """Self time per function (pyinstrument's synthetic [self] frames counted to their caller) and
    inclusive time per function (once per stack, so recursion is not counted twice)."""
    name = _name(frame.parent) if frame.is_synthetic and frame.parent else _name(frame)
    own[name] += frame.total_self_time
    if not frame.is_synthetic and name not in above:
        inclusive[name] += frame.time
        above = above | {name}
    for child in frame.children:
        _walk(child, own, inclusive, above)


def top_functions(session, limit: int) -> dict[str, list[tuple[str, float]]]:
    """The ``limit`` functions with the most self time, and those of the site's and upstack's code
    with the most inclusive time, in a pyinstrument session (ms over the whole session)."""
    own, inclusive = Counter(), Counter()
    root = session.root_frame()
    if root is not None:
        _walk(root, own, inclusive, frozenset())
    ours = Counter({k: v for k, v in inclusive.items() if "upstack/" in k or "newsroom/" in k})
    return {"self": [(n, round(s * 1000, 2)) for n, s in own.most_common(limit)],
            "inclusive": [(n, round(s * 1000, 2)) for n, s in ours.most_common(limit)]}


def measure(client, path: str, headers: dict, renders: int, limit: int, blocks: int = 1,
            cpu_profile: bool = False) -> dict:
    from pyinstrument import Profiler

    response = client.get(path, **headers)
    if response.status_code != 200:
        raise SystemExit(f"{path}: {response.status_code}")
    per_block = max(1, renders // blocks)
    samples = []
    for _ in range(blocks):
        started = time.process_time()
        for _ in range(per_block):
            client.get(path, **headers)
        samples.append((time.process_time() - started) * 1000 / per_block)
    figures = {"cpu_ms_per_render": round(statistics.median(samples), 2), "cpu_ms_min": round(min(samples), 2)}
    if cpu_profile:
        profiler = cProfile.Profile(time.process_time)
        profiler.runcall(lambda: [client.get(path, **headers) for _ in range(renders)])
        return {**figures, "top": cpu_top_functions(pstats.Stats(profiler), limit)}
    profiler = Profiler(interval=0.0005)
    profiler.start()
    for _ in range(renders):
        client.get(path, **headers)
    session = profiler.stop()
    return {**figures, "top": top_functions(session, limit),
            "profiled_ms_per_render": round(session.duration * 1000 / renders, 2)}


def cpu_top_functions(stats, limit: int) -> dict[str, list[tuple[str, float]]]:
    """As ``top_functions``, from cProfile with a CPU clock: time descheduled or waiting on a socket
    is not in it (ms over the whole run; cProfile's own overhead inflates every figure alike)."""
    rows = [(f"{name} ({file.rsplit('site-packages/', 1)[-1]}:{line})", own, cumulative)
            for (file, line, name), (_, _, own, cumulative, _) in stats.stats.items()]
    ours = [row for row in rows if "upstack/" in row[0] or "newsroom/" in row[0]]
    return {"self": [(n, round(own * 1000, 2)) for n, own, _ in sorted(rows, key=lambda r: -r[1])[:limit]],
            "inclusive": [(n, round(c * 1000, 2)) for n, _, c in sorted(ours, key=lambda r: -r[2])[:limit]]}


def run(renders: int, limit: int, plain: bool, blocks: int = 1, cpu_profile: bool = False) -> dict:
    import django

    django.setup()
    from django.test import Client

    from newsroom.news.models import Article

    article = Article.objects.published().order_by("-read_count", "pk").first().get_absolute_url()
    client = Client(HTTP_HOST="127.0.0.1", REMOTE_ADDR="127.0.0.1")
    results = {}
    for page, path in (("home", "/"), ("article", article)):
        if plain:
            results[f"{page}: plain"] = measure(client, path, {}, renders, limit, blocks, cpu_profile)
            continue
        from bench.site import signed

        results[f"{page}: warm"] = measure(client, path, {"HTTP_X_UPSTACK_FRESH": "1"}, renders, limit, blocks, cpu_profile)
        results[f"{page}: cold"] = measure(client, signed(path), {}, renders, limit, blocks, cpu_profile)
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--renders", type=int, default=40)
    parser.add_argument("--top", type=int, default=12, help="functions listed per profile")
    parser.add_argument("--blocks", type=int, default=5,
                        help="time the renders in this many blocks: CPU ms is their median, and the minimum is shown")
    parser.add_argument("--cpu-profile", action="store_true",
                        help="profile with cProfile on the process's CPU clock instead of pyinstrument's wall clock")
    parser.add_argument("--plain", action="store_true", help="profile plain Django (its settings module)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.renders < 1 or args.blocks < 1 or args.blocks > args.renders:
        parser.error("--renders and --blocks must be positive, with no more blocks than renders")
    results = run(args.renders, args.top, args.plain, args.blocks, args.cpu_profile)
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    for name, figures in results.items():
        print(f"\n{name}: {figures['cpu_ms_per_render']} CPU ms per render (median of blocks; "
              f"fastest block {figures['cpu_ms_min']})")
        for kind, rows in figures["top"].items():
            print(f"  {kind} (ms per render):")
            for function, ms in rows:
                print(f"  {ms / args.renders:8.2f}  {function}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
