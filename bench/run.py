"""``make bench`` / ``make bench-quick``: upstack side by side with plain Django, a typical
production template, Django's per-site cache and nginx micro-caching, on one machine, one data set,
runs interleaved.

1. ``upstack up`` brings up the full stack and seeds the data (quick: 2,000 articles; full: 20,000).
2. The peers run the same code on the same PostgreSQL (bench/peers.py): ``plain`` (every upstack
   layer off, database sessions), ``typical`` (a Redis cache, WhiteNoise, database sessions,
   persistent connections), ``sitecache`` (typical plus Django's per-site cache, 60 s) and
   ``microcache`` (nginx with a 5 s proxy_cache in front of typical). upstack is measured through
   its edge (Varnish).
3. Each stack gets its own logged-in readers and an editor, logged in through it (the logged-in
   workload's 200 reader sessions are made in the shared database: bench/readers.py); every kind of
   write is tried once on each stack (a 302 to where a successful write goes, and its row in the
   database, are required: bench/writers.py) and all must serve the same article before anything is
   measured.
4. Freshness after writes through upstack (bench/freshness.py); staleness after writes on every
   stack (bench/staleness.py).
5. wrk (pinned to CPU 0 where there are 2+ CPUs) replays each workload (bench/workloads.py:
   anonymous, logged-in readers on articles, browsing mixed with writes) against each stack in turn -
   plain, typical, sitecache, microcache, upstack, plain, ... - for ``--rounds`` rounds; each figure is the median, with
   the CPU steal of that run (/proc/stat) beside it. Then bytes on the wire (bench/wire.py).
6. Limits (bench/limits.py): a bare Varnish serving the article page's bytes as a static object and
   upstack's edge on that article, interleaved over the rounds, each an edge hit before and after every run; a
   minimal Django view (/healthz) on the same app server. The ladder: edge hit,
   page-cache hit, warm render, cold render, and plain Django's render, with the CPU ms per
   request of the processes serving each (bench/cpu.py).
7. With the stack down: the stampede benchmark (its own Redis), the precision oracle (bench/precision.py,
   its own SQLite database: quick 80 pages and 2 writes of each kind; full 300 pages of 2,000 articles
   and 100 writes of each kind) and, in full mode, issues 17's and 18's befores (``measure_variant``: a
   second stack with the table keys, UPSTACK_EDGE_KEYS=table, and typical, under the mixed workload,
   and the oracle with the table keys; a second stack whose reader include is never kept,
   UPSTACK_READER_EDGE_TTL=0, and typical, under the logged-in workload) and the data-size series
   (one stack per size: 10k, 100k, 1M articles).
8. Results: bench/results/{bench|quick}-<date>.json, bench/results/latest.json, docs/benchmarks.md
   (full) or docs/benchmarks-quick.md (quick) with its chart (bench/chart.py) - unless the run is invalid (bench/report.py
   ``problems``: errors, an unverified limit, a check that did not run or failed); then it exits 1
   and its files go to var/bench/rejected/ (or --out). A quick run then compares its ratios and
   goals with bench/baseline-quick.json and exits 1 when one regressed (bench/README.md).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

from bench import chart, cpu, paced, peer_report, peers, staleness, wire, workloads, wrk
from bench import report as reports
from bench.limits import edge_limits, fetch, wait_for_idle_broker
from bench.writers import check_writes, writers

ROOT = Path(__file__).resolve().parents[1]
MANAGE = [sys.executable, "manage.py"]
BASELINE = ROOT / "bench" / "baseline-quick.json"
MODES = {  # articles, seconds per run, connections, freshness writes, stampede rounds, data sizes
    "quick": {"articles": 2000, "seconds": 5, "connections": 16, "writes": 30, "stampede_rounds": 3, "sizes": [],
              "staleness_writes": 6, "precision": {"articles": 300, "pages": 80, "writes": 2}},
    # The precision oracle renders every sampled page once per write (a write's "after" is the next one's
    # "before") in two worker processes: 300 pages of 2,000 articles cost 1.75 to 2.15 s a write on this
    # 2-core machine beside other work (load 2 to 2.5; 3.25 s in one process), measured 2026-11-26 with
    # `python -m bench.precision --articles 2000 --pages 300 --writes 3` (33 writes) and `--writes 5
    # --edge-keys table` (55). So the 100 writes of each of the 11 kinds (1,100 writes) project to
    # 32 to 40 minutes; the table keys' "before" (20 of each kind, 220 writes) to 6 to 8. "before_after":
    # full mode only, the oracle with the table keys and the second stacks of ``VARIANTS``.
    "full": {"articles": 20000, "seconds": 20, "connections": 32, "writes": 120, "stampede_rounds": 5,
             "sizes": [10_000, 100_000, 1_000_000], "staleness_writes": 12,
             "precision": {"articles": 2000, "pages": 300, "writes": 100},
             "before_after": {"articles": 2000, "pages": 300, "writes": 20}},
}


def sh(args, env=None, timeout=900, check=True) -> str:
    result = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, args))} failed:\n{result.stdout[-1500:]}{result.stderr[-2500:]}")
    return result.stdout


def bring_up(articles: int, env: dict, timeout: int) -> tuple[dict, dict, str]:
    """``upstack up`` with ``articles`` seeded (``env`` picks its state dir); the stack's environment,
    its status and its app server's URL."""
    sh([*MANAGE, "upstack", "up", "--stack-settings", "newsroom.settings.deploy", "--memory", "4G",
        "--seed-articles", str(articles)], env=env, timeout=timeout)
    stack_env = dict(line.split("=", 1) for line in sh([*MANAGE, "upstack", "env"], env=env).splitlines())
    status = json.loads(sh([*MANAGE, "upstack", "status", "--json"], env=env))
    app = "http://" + next(s["address"] for s in status["services"] if s["name"] == "app")
    return stack_env, status, app


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- the run ------------------------------------------------------------------------------------------

def measure_stacks(mode: dict, rounds: int, env: dict, state_dir: Path) -> dict:
    """Everything measured while the stack and its two peers run; the stack is left as found."""
    was_up = json.loads(sh([*MANAGE, "upstack", "status", "--json"], env=env, check=False) or "{}").get("running")
    log(f"bringing the stack up with {mode['articles']} articles")
    try:
        stack_env, status, app = bring_up(mode["articles"], env, timeout=3600)
        edge = status["edge_url"]
        direct = stack_env.get("DIRECT_DATABASE_URL") or stack_env["DATABASE_URL"]
        with peers.start(peers_env(stack_env, direct)) as started:
            return measure_all({**started, "upstack": edge}, mode, rounds, stack_env, app, direct, state_dir)
    finally:
        if not was_up:  # leave the machine as we found it
            sh([*MANAGE, "upstack", "down"], env=env, check=False)


def site_of(stack_env: dict) -> tuple[dict, str]:
    """The stack's pages and editor (bench/site.py, with a fresh editor password), and that password."""
    editor_password = secrets.token_urlsafe(18)
    site = json.loads(sh([sys.executable, "-m", "bench.site"],
                         env={**os.environ, **stack_env, "BENCH_EDITOR_PASSWORD": editor_password}))
    return site, editor_password


def readers_of(stack_env: dict) -> list:
    """The logged-in workload's readers: distinct accounts, one session each (bench/readers.py), in the
    stack's database; every stack on that database can use them."""
    return [workloads.Session(**r) for r in json.loads(sh(
        [sys.executable, "-m", "bench.readers", "--count", str(workloads.MIN_READERS)],
        env={**os.environ, **stack_env}))]


def measure_all(targets: dict, mode: dict, rounds: int, stack_env: dict, app: str, direct: str,
                state_dir: Path) -> dict:
    """The runs, limits, ladder, freshness and staleness, with every stack up (``targets``)."""
    edge = targets["upstack"]
    site, editor_password = site_of(stack_env)
    paths = site["paths"]
    articles = [p for p in paths if p.startswith("/articles/")]
    reader_sessions = readers_of(stack_env)
    log("warming each stack and logging readers and an editor in through it")
    cycles, probers = {}, {}
    for name, base in targets.items():  # one warm pass each, as a deploy would
        wrk.run(base, [wrk.get(p) for p in paths], 2, 4)
        w = writers(base, site, editor_password)
        cycles[name] = {"anonymous": workloads.anonymous(paths),
                        "logged_in": workloads.logged_in(articles, reader_sessions),
                        "mixed_writes": workloads.mixed_writes(paths, w["readers"], w["editor"], w["forms"])}
        check_writes(base, cycles[name]["mixed_writes"], direct)
        check_writes(base, cycles[name]["logged_in"], direct)  # the readers' sessions work on each stack
        probers[name] = w["readers"][-1]
    pages = {name: fetch(base + articles[0])[0].decode() for name, base in targets.items()}
    if reports.differing_pages(pages):
        raise RuntimeError(f"{articles[0]}: the article differs on {reports.differing_pages(pages)} from "
                           f"{next(iter(pages))}; the stacks must serve the same pages to be compared")
    log(f"freshness: {mode['writes']} writes through upstack")
    freshness = json.loads(sh([sys.executable, "-m", "bench.freshness", "--edge", edge, "--app", app,
                               "--writes", str(mode["writes"]), "--no-save"],
                              env={**os.environ, **stack_env}, check=False, timeout=1800) or "{}")
    log(f"staleness: {mode['staleness_writes']} comments through each stack, read until they show")
    staleness_figures = staleness.probe(
        targets, {name: articles[n::len(targets)] for n, name in enumerate(targets)}, probers,
        {name: peers.TTL.get(name, staleness.DEFAULT_AGE) for name in targets}, mode["staleness_writes"], 1.0)
    counters = {name: wrk.Counters(direct, state_dir / "varnish" if name == "upstack" else None)
                for name in targets}
    results = {w: {s: [] for s in targets} for w in reports.WORKLOADS}
    for n in range(rounds):
        for workload in results:
            for name, base in targets.items():
                log(f"round {n + 1}/{rounds}: {workload} on {name}")
                results[workload][name].append(wrk.run(base, cycles[name][workload], mode["seconds"],
                                                       mode["connections"], counters[name]))
    offered = paced.rates({name: reports.median_run(runs) for name, runs in results["mixed_writes"].items()})
    at_one_load = paced.measure(targets, cycles, counters, mode, rounds, offered, log) if offered else None
    article = articles[0]
    wait_for_idle_broker(stack_env["BROKER_URL"])
    log("bytes on the wire")
    on_the_wire = wire.measure(targets, [path for _, path, _, _ in cycles["upstack"]["anonymous"]])
    page, headers = fetch(edge + article, workloads.BROWSER)  # the stored, compressed page and its headers
    log("limits and the ladder")
    seconds, connections = mode["seconds"], mode["connections"]
    limits = {**edge_limits(edge, article, page, headers, rounds, seconds, connections),
              "django_minimal_view": wrk.run(app, [wrk.get("/healthz")], seconds, connections)}
    ladder = {name: wrk.run(url, [request], seconds, 4, cpu.Serving(url)) for name, url, request in (
        ("edge hit", edge, workloads.view(article)), ("page-cache hit", app, wrk.get(article)),
        ("warm render (page cache bypassed)", app, wrk.get(article, {"X-Upstack-Fresh": "1"})),
        ("cold render (every fragment re-rendered)", app, wrk.get(site["signed"])),
        ("plain Django render", targets["plain"], wrk.get(article)))}
    log("logged-in views: each per-reader request alone against the app server")
    fragments = json.loads(sh([sys.executable, "-m", "bench.fragments", "--edge", edge, "--app", app, "--json",
                               "--seconds", str(seconds)], env={**os.environ, **stack_env}, check=False) or "{}")
    return {"results": results, "limits": limits, "ladder": ladder, "freshness": freshness,
            "staleness": staleness_figures, "wire": on_the_wire, "fragments": fragments, "paced": at_one_load}


# The "before" of an issue, in full mode: a second stack with the setting that undoes it, beside
# typical on the same data, under the workload the issue is about (bench/before_after.py).
VARIANTS = {"upstack-table": ({"UPSTACK_EDGE_KEYS": "table"}, "mixed_writes"),  # issue 17
            "upstack-unkept": ({"UPSTACK_READER_EDGE_TTL": "0"}, "logged_in")}  # issue 18


def measure_variant(name: str, mode: dict, rounds: int, env: dict, state_dir: Path) -> dict:
    """A second stack (``VARIANTS[name]``: its environment and workload), its own state folder and
    data, and typical on the same data; the workload on each, interleaved over the rounds. The medians
    per stack ({"typical": ..., name: ...}); the stack is brought down after."""
    overrides, workload = VARIANTS[name]
    variant_dir = Path(f"{state_dir}-{name}")
    variant_env = {**env, "UPSTACK_STATE_DIR": str(variant_dir), **overrides}
    log(f"{name}: a second stack with {mode['articles']} articles ({' '.join(f'{k}={v}' for k, v in overrides.items())})")
    try:
        stack_env, status, _ = bring_up(mode["articles"], variant_env, timeout=3600)
        direct = stack_env.get("DIRECT_DATABASE_URL") or stack_env["DATABASE_URL"]
        with peers.start(peers_env(stack_env, direct), ("typical",)) as started:
            targets = {"typical": started["typical"], name: status["edge_url"]}
            site, editor_password = site_of(stack_env)
            articles = [p for p in site["paths"] if p.startswith("/articles/")]
            sessions = readers_of(stack_env) if workload == "logged_in" else []
            cycles = {}
            for stack, base in targets.items():
                wrk.run(base, [wrk.get(p) for p in site["paths"]], 2, 4)
                if workload == "logged_in":
                    cycles[stack] = workloads.logged_in(articles, sessions)
                else:
                    w = writers(base, site, editor_password)
                    cycles[stack] = workloads.mixed_writes(site["paths"], w["readers"], w["editor"], w["forms"])
                check_writes(base, cycles[stack], direct)
            counters = {"typical": wrk.Counters(direct), name: wrk.Counters(direct, variant_dir / "varnish")}
            runs = {stack: [] for stack in targets}
            for n in range(rounds):
                for stack, base in targets.items():
                    log(f"round {n + 1}/{rounds}: {workload} on {stack}")
                    runs[stack].append(wrk.run(base, cycles[stack], mode["seconds"], mode["connections"],
                                               counters[stack]))
        return {stack: reports.median_run(found) for stack, found in runs.items()}
    finally:
        sh([*MANAGE, "upstack", "down"], env=variant_env, check=False)


def _variant(name: str, mode: dict, rounds: int, env: dict, state_dir: Path) -> dict:
    """``measure_variant``, or what stopped it: a failure there is reported as "not measured", not fatal."""
    try:
        return {"stacks": measure_variant(name, mode, rounds, env, state_dir)}
    except (RuntimeError, OSError, subprocess.SubprocessError) as error:
        log(f"{name}: the second stack failed: {error}")
        return {"error": str(error)[-500:]}


def peers_env(stack_env: dict, direct: str) -> dict:
    """The peers' environment: the stack's data, a Redis database of their own, no upstack metrics."""
    found = {**os.environ, **stack_env, "DATABASE_URL": direct,
             "REDIS_URL": stack_env["REDIS_URL"].rsplit("/", 1)[0] + "/5"}
    found.pop("PROMETHEUS_MULTIPROC_DIR", None)
    return found


def oracle(sizes: dict, env: dict, edge_keys: str = "precise") -> dict:
    """bench/precision.py with ``sizes`` (articles, pages, writes of each kind) and the given keys."""
    log(f"precision ({edge_keys} keys): {sizes['writes']} writes of each kind over {sizes['pages']} pages")
    return json.loads(sh([sys.executable, "-m", "bench.precision", "--json", f"--edge-keys={edge_keys}",
                          *(f"--{name}={value}" for name, value in sizes.items())],
                         env={**env, "DJANGO_SETTINGS_MODULE": "newsroom.settings.test"}, timeout=5400,
                         check=False))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="upstack vs plain Django, a typical template, Django's per-site cache "
                                     "and nginx micro-caching, side by side")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--quick", action="store_true", help="small data, short runs (CI-sized, about 10 minutes)")
    which.add_argument("--full", action="store_true", help="the full benchmark, with the data-size series")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per figure (default 3)")
    parser.add_argument("--out", type=Path, default=None,
                        help="write results and the report here instead of bench/results/ and docs/")
    parser.add_argument("--state-dir", type=Path, default=None,
                        help="the stack's state folder (default: $UPSTACK_STATE_DIR or .upstack); make test gives "
                             "the quick run its own, so it never measures a stack someone left up")
    parser.add_argument("--sizes", default=None,
                        help="full: the data-size series' article counts, comma-separated (default 10000,100000,"
                             "1000000), or 'none' to skip it (it seeds a stack per size: about an hour)")
    parser.add_argument("--update-baseline", action="store_true",
                        help="quick: make this run's ratios the baseline (bench/baseline-quick.json)")
    args = parser.parse_args(argv)
    if args.rounds < 3:
        parser.error("--rounds must be at least 3 (figures are medians of at least three runs)")
    name = "quick" if args.quick else "full"
    mode = MODES[name]
    if args.sizes is not None:
        try:
            sizes_asked = [] if args.sizes.strip().lower() == "none" else [int(n) for n in args.sizes.split(",")]
        except ValueError:
            parser.error(f"--sizes takes article counts like 10000,100000 or 'none', not {args.sizes!r}")
        if any(n < 100 for n in sizes_asked):
            parser.error("--sizes: each data size needs at least 100 articles")
        mode = {**mode, "sizes": sizes_asked}
    chosen = Path(args.state_dir or os.environ.get("UPSTACK_STATE_DIR") or ".upstack")
    state_dir = chosen if chosen.is_absolute() else ROOT / chosen
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "newsroom.settings.dev", "UPSTACK_STATE_DIR": str(state_dir)}
    sys.path.insert(0, str(ROOT))
    measured = measure_stacks(mode, args.rounds, env, state_dir)
    log(f"stampede: 100 readers, {mode['stampede_rounds']} rounds")
    stampede = json.loads(sh([sys.executable, "-m", "bench.stampede", "--readers", "100", "--rounds",
                              str(mode["stampede_rounds"]), "--no-save"], env=env))
    precision = oracle(mode["precision"], env)
    before_after = None
    before_reader = None
    if "before_after" in mode:  # full mode: issues 17's and 18's befores beside their afters
        before_after = {"precision": oracle(mode["before_after"], env, "table")}
        table = _variant("upstack-table", mode, args.rounds, env, state_dir)
        before_after.update({"mixed": table["stacks"]} if "stacks" in table else {"mixed_error": table["error"]})
        unkept = _variant("upstack-unkept", mode, args.rounds, env, state_dir)
        before_reader = {"logged_in": unkept["stacks"]} if "stacks" in unkept else {"error": unkept["error"]}
    sizes = []
    if mode["sizes"]:
        from bench import datasize

        for size in mode["sizes"]:
            log(f"data size: {size} articles")
            sizes.append(datasize.measure(size, mode["seconds"]))
    meta = {"date": date.today().isoformat(), "mode": name, "articles": mode["articles"],
            "seconds_per_run": mode["seconds"], "rounds": args.rounds, "connections": mode["connections"],
            "cpus": os.cpu_count(), "pinned": bool(wrk.pinned())}
    full = reports.summarize(meta, measured["results"], measured["limits"], measured["ladder"], stampede,
                             measured["freshness"], sizes, measured["staleness"], measured["wire"])
    full["fragments"], full["precision"] = measured["fragments"], precision
    full["logged_in_design"] = reports.LOGGED_IN_DESIGN
    if measured.get("paced"):
        full["paced"] = measured["paced"]
    if before_after:
        full["before_after"] = before_after
    if before_reader:
        full["before_issue_18"] = before_reader
    summary = reports.latest(full)
    invalid = reports.problems(full)
    for problem in invalid:
        log(f"INVALID {problem}")
    # An invalid run is never published: its files go to --out or var/bench/rejected/, and it exits 1.
    rejected = ROOT / "var" / "bench" / "rejected"
    results_dir = args.out or (rejected if invalid else ROOT / "bench" / "results")
    docs = (args.out or (rejected if invalid else ROOT / "docs")) / (
        "benchmarks-quick.md" if args.quick else "benchmarks.md")
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / f"{'quick' if args.quick else 'bench'}-{full['date']}.json").write_text(json.dumps(full, indent=2) + "\n")
    (results_dir / "latest.json").write_text(json.dumps(summary, indent=2) + "\n")
    docs.write_text(reports.markdown(full))
    if peer_report.present(full):  # the chart docs/benchmarks*.md shows beside its tables
        chart.write(full, docs.with_suffix(".png"))
    print(reports.markdown(full))
    if invalid:
        log(f"the run is invalid ({len(invalid)} problems above): not published; its files are in {results_dir}")
        return 1
    if not args.quick:
        return 0
    if args.update_baseline:
        baseline = json.loads(BASELINE.read_text()) if BASELINE.exists() else {"tolerance": 0.25}
        baseline["ratios"] = reports.flat_ratios(summary)
        baseline["goals_met"] = summary["goals_met_ids"]
        BASELINE.write_text(json.dumps(baseline, indent=2) + "\n")
        log(f"baseline updated: {BASELINE}")
        return 0
    failures = reports.regressions(summary, json.loads(BASELINE.read_text()))
    for failure in failures:
        log(f"REGRESSION {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
