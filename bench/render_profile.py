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
renders, after one untimed render) and the functions with the most CPU of their own (pyinstrument's
self time, summed per function, over another ``--renders`` renders). JSON with ``--json``.
"""

from __future__ import annotations

import argparse
import json
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


def measure(client, path: str, headers: dict, renders: int, limit: int) -> dict:
    from pyinstrument import Profiler

    response = client.get(path, **headers)
    if response.status_code != 200:
        raise SystemExit(f"{path}: {response.status_code}")
    started = time.process_time()
    for _ in range(renders):
        client.get(path, **headers)
    cpu_ms = (time.process_time() - started) * 1000 / renders
    profiler = Profiler(interval=0.0005)
    profiler.start()
    for _ in range(renders):
        client.get(path, **headers)
    session = profiler.stop()
    return {"cpu_ms_per_render": round(cpu_ms, 2), "top": top_functions(session, limit),
            "profiled_ms_per_render": round(session.duration * 1000 / renders, 2)}


def run(renders: int, limit: int, plain: bool) -> dict:
    import django

    django.setup()
    from django.test import Client

    from newsroom.news.models import Article

    article = Article.objects.published().order_by("-read_count", "pk").first().get_absolute_url()
    client = Client(HTTP_HOST="127.0.0.1", REMOTE_ADDR="127.0.0.1")
    results = {}
    for page, path in (("home", "/"), ("article", article)):
        if plain:
            results[f"{page}: plain"] = measure(client, path, {}, renders, limit)
            continue
        from bench.site import signed

        results[f"{page}: warm"] = measure(client, path, {"HTTP_X_UPSTACK_FRESH": "1"}, renders, limit)
        results[f"{page}: cold"] = measure(client, signed(path), {}, renders, limit)
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--renders", type=int, default=40)
    parser.add_argument("--top", type=int, default=12, help="functions listed per profile")
    parser.add_argument("--plain", action="store_true", help="profile plain Django (its settings module)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    results = run(args.renders, args.top, args.plain)
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    for name, figures in results.items():
        print(f"\n{name}: {figures['cpu_ms_per_render']} CPU ms per render")
        for kind, rows in figures["top"].items():
            print(f"  {kind} (ms per render):")
            for function, ms in rows:
                print(f"  {ms / args.renders:8.2f}  {function}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
