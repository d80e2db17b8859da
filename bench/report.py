"""From measured runs to the published figures (pure: no I/O).

``summarize`` takes the raw runs of ``bench/run.py`` and returns the full report (medians, ratios,
goals); ``latest`` reduces it to the stable shape of ``bench/results/latest.json``; ``markdown``
renders docs/benchmarks.md; ``regressions`` compares a quick run's ratios with the committed
baseline (bench/baseline-quick.json) and says which fell beyond the tolerance written there.
"""

from __future__ import annotations

import statistics

STACKS = ("plain", "typical", "upstack")
WORKLOADS = {"anonymous": "anonymous browsing", "logged_in": "logged-in readers reading articles",
             "mixed_writes": "browsing mixed with writes"}
_MEDIAN_KEYS = ("rps", "p50_ms", "p95_ms", "p99_ms", "errors", "steal_pct", "queries_per_request",
                "backend_requests_per_view")


def median_run(runs: list[dict]) -> dict:
    """Each figure's median over the interleaved rounds (figure by figure, as the rounds vary)."""
    return {k: round(statistics.median(r[k] for r in runs), 3) for k in _MEDIAN_KEYS if k in runs[0]}


def _ratio(a: float, b: float, digits: int = 2) -> float:
    return round(a / b, digits) if b else float("inf")


def goals(table: dict, limits: dict, stampede: dict, freshness: dict) -> list[dict]:
    """The issue's five goals: what was asked, what was measured, met or not."""
    anon, logged = table["anonymous"], table["logged_in"]
    anon_x = _ratio(anon["upstack"]["rps"], anon["typical"]["rps"], 1)
    edge_share = _ratio(limits["upstack_edge_hit"]["rps"], limits["varnish_static"]["rps"])
    logged_x = _ratio(logged["upstack"]["rps"], logged["typical"]["rps"], 1)
    p99_s = _seconds(freshness.get("lag_ms_p99"))
    worst = max(stampede["upstack"]["computations_per_round"])
    return [
        {"goal": "anonymous mixed throughput >= 10x typical, with a lower p99",
         "measured": f"x{anon_x}; p99 {anon['upstack']['p99_ms']} vs {anon['typical']['p99_ms']} ms",
         "met": anon_x >= 10 and anon["upstack"]["p99_ms"] < anon["typical"]["p99_ms"]},
        {"goal": "edge-hit throughput >= 90% of Varnish's static-object limit",
         "measured": f"{round(100 * edge_share)}% ({limits['upstack_edge_hit']['rps']} vs "
                     f"{limits['varnish_static']['rps']} req/s)", "met": edge_share >= 0.9},
        {"goal": "logged-in article views >= 3x typical", "measured": f"x{logged_x}", "met": logged_x >= 3},
        {"goal": "freshness lag p99 <= 1 s", "measured": f"{p99_s} s over {freshness.get('writes')} writes"
         f" ({freshness.get('stale_after_timeout')} still stale after 5 s)",
         "met": p99_s is not None and p99_s <= 1 and not freshness.get("stale_after_timeout")},
        {"goal": f"<= 1 computation per expiry under {stampede['readers']} concurrent readers",
         "measured": f"worst round {worst} (upstack) vs median {stampede['django']['computations_per_expiry_median']}"
                     " (Django get_or_set)", "met": worst <= 1},
    ]


def summarize(meta: dict, results: dict, limits: dict, ladder: dict, stampede: dict, freshness: dict,
              datasize: list[dict] | None = None) -> dict:
    table = {w: {s: median_run(runs) for s, runs in stacks.items()} for w, stacks in results.items()}
    ratios = {w: {"ratio_vs_plain": _ratio(t["upstack"]["rps"], t["plain"]["rps"], 1),
                  "ratio_vs_typical": _ratio(t["upstack"]["rps"], t["typical"]["rps"], 1)}
              for w, t in table.items()}
    ratios["anonymous"]["ratio_vs_varnish_static"] = _ratio(table["anonymous"]["upstack"]["rps"],
                                                            limits["varnish_static"]["rps"])
    steals = [r["steal_pct"] for stacks in results.values() for runs in stacks.values() for r in runs]
    return {**meta, "steal_pct": round(statistics.median(steals), 2), "table": table, "ratios": ratios,
            "limits": limits, "ladder": ladder, "stampede": stampede, "freshness": freshness,
            "datasize": datasize or [], "goals": goals(table, limits, stampede, freshness), "raw": results}


def latest(report: dict) -> dict:
    """The stable summary every run writes to bench/results/latest.json."""
    workloads = {}
    for workload, stacks in report["table"].items():
        workloads[workload] = {s: {"rps": stacks[s]["rps"], "p99_ms": stacks[s]["p99_ms"]} for s in STACKS}
        workloads[workload].update(report["ratios"][workload])
    stampede, fresh = report["stampede"], report["freshness"]
    return {"date": report["date"], "mode": report["mode"], "scale": {"articles": report["articles"]},
            "steal_pct": report["steal_pct"], "workloads": workloads,
            "stampede": {"upstack_computations": max(stampede["upstack"]["computations_per_round"]),
                         "django_computations": stampede["django"]["computations_per_expiry_median"],
                         "readers": stampede["readers"]},
            "freshness_lag_s": {"p50": _seconds(fresh.get("lag_ms_p50")), "p99": _seconds(fresh.get("lag_ms_p99"))},
            "goals_met": sum(g["met"] for g in report["goals"]), "goals": len(report["goals"])}


def _seconds(ms: float | None) -> float | None:
    return None if ms is None else round(ms / 1000, 4)


def flat_ratios(summary: dict) -> dict[str, float]:
    """``{"anonymous.ratio_vs_typical": x, ...}`` from a latest.json-shaped summary."""
    return {f"{w}.{k}": v for w, figures in summary["workloads"].items() for k, v in figures.items()
            if k.startswith("ratio_")}


def regressions(summary: dict, baseline: dict) -> list[str]:
    """Each ratio below ``baseline * (1 - tolerance)``, said in one line; [] when none regressed."""
    tolerance = baseline["tolerance"]
    current = flat_ratios(summary)
    failures = []
    for name, expected in baseline["ratios"].items():
        floor = expected * (1 - tolerance)
        if name not in current:
            failures.append(f"{name}: not measured (baseline {expected})")
        elif current[name] < floor:
            failures.append(f"{name}: {current[name]} < {round(floor, 2)} (baseline {expected}, tolerance "
                            f"{round(100 * tolerance)}%)")
    if summary["stampede"]["upstack_computations"] > baseline.get("max_stampede_computations", 1):
        failures.append(f"stampede: {summary['stampede']['upstack_computations']} computations per expiry")
    return failures


def _stack_table(stacks: dict) -> list[str]:
    lines = ["| stack | req/s | p50 ms | p95 ms | p99 ms | errors | DB queries / request | backend requests / view "
             "| CPU steal % |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name in STACKS:
        row = stacks[name]
        lines.append(f"| {name} | {row['rps']} | {row['p50_ms']} | {row['p95_ms']} | {row['p99_ms']} | "
                     f"{row['errors']} | {row.get('queries_per_request', '-')} | "
                     f"{row.get('backend_requests_per_view', '-')} | {row['steal_pct']} |")
    return lines


def markdown(report: dict) -> str:
    quick = report["mode"] == "quick"
    source = f"bench/results/{'quick' if quick else 'bench'}-{report['date']}.json"
    lines = [f"# Benchmarks{' (quick)' if quick else ''}, {report['date']}", "",
             f"Generated by `make {'bench-quick' if quick else 'bench'}` (bench/run.py) from {source}; "
             "do not edit by hand. "
             f"One machine ({report['cpus']} CPUs), one data set ({report['articles']} articles on PostgreSQL 15), "
             f"wrk with {report['connections']} connections{' pinned to CPU 0' if report.get('pinned') else ''}, "
             f"{report['seconds_per_run']} s per run, each figure the median of {report['rounds']} interleaved rounds "
             "(plain, typical, upstack, plain, ...). plain: Django with every upstack layer off, database sessions, "
             "no persistent connections. typical: plus a Redis cache, WhiteNoise, persistent connections. upstack: "
             "the full stack, measured through Varnish. All three run gunicorn (3 workers x 4 threads) on the same "
             f"PostgreSQL. Median CPU steal over all runs: {report['steal_pct']}%.", "", "## Goals", "",
             "| goal | measured | met |", "| --- | --- | --- |"]
    lines += [f"| {g['goal']} | {g['measured']} | {'yes' if g['met'] else 'no'} |" for g in report["goals"]]
    for workload, stacks in report["table"].items():
        r = report["ratios"][workload]
        lines += ["", f"## {WORKLOADS[workload]}", "", *_stack_table(stacks), "",
                  f"upstack / plain: x{r['ratio_vs_plain']}; upstack / typical: x{r['ratio_vs_typical']}"
                  + (f"; upstack / Varnish's static-object limit: {r['ratio_vs_varnish_static']}"
                     if "ratio_vs_varnish_static" in r else "")]
    lines += ["", "## Limits (same connections as the workloads)", "", "| what | req/s | p50 ms | p99 ms | CPU steal % |",
              "| --- | --- | --- | --- | --- |"]
    lines += [f"| {k.replace('_', ' ')} | {v['rps']} | {v['p50_ms']} | {v['p99_ms']} | {v['steal_pct']} |"
              for k, v in report["limits"].items()]
    lines += ["", "## The response-time ladder (one article page, 4 connections)", "",
              "| layer | p50 ms | p99 ms | req/s | CPU steal % |", "| --- | --- | --- | --- | --- |"]
    lines += [f"| {k} | {v['p50_ms']} | {v['p99_ms']} | {v['rps']} | {v['steal_pct']} |"
              for k, v in report["ladder"].items()]
    fresh, stampede = report["freshness"], report["stampede"]
    lines += ["", "## Freshness after writes", "",
              f"{fresh['writes']} writes through upstack (comments, likes, ORM and admin title edits; "
              "bench/freshness.py), each followed by polling the article through the edge: lag p50 "
              f"{fresh['lag_ms_p50']} ms, p99 {fresh['lag_ms_p99']} ms, max {fresh['lag_ms_max']} ms; "
              f"{fresh['stale_after_timeout']} still stale after 5 s; an unrelated page still cached "
              f"{fresh['unrelated_still_cached']}.", "", "## Stampede", "",
              f"{stampede['readers']} readers released at once on a hot key as it expires, {stampede['rounds']} "
              f"interleaved rounds, {stampede['compute_ms']:g} ms to compute (bench/stampede.py, real Redis): "
              f"computations per expiry - upstack `get_or_compute` {stampede['upstack']['computations_per_round']}, "
              f"Django `cache.get_or_set` {stampede['django']['computations_per_round']}."]
    if report["datasize"]:
        lines += ["", "## Data size", "", "One stack per size (bench/datasize.py): edge-hit throughput on one article "
                  "(16 connections) and a cold render (signed fresh-render bypass over 200 different articles "
                  "straight from the app server, 4 connections).", "",
                  "| articles | edge hit req/s | edge hit p99 ms | cold render p50 ms | cold render p95 ms | "
                  "cold render req/s |", "| --- | --- | --- | --- | --- | --- |"]
        lines += [f"| {row['articles']:,} | {row['edge_hit']['rps']} | {row['edge_hit']['p99_ms']} | "
                  f"{row['cold_render']['p50_ms']} | {row['cold_render']['p95_ms']} | {row['cold_render']['rps']} |"
                  for row in report["datasize"]]
    else:
        lines += ["", "The data-size series runs with `make bench` only (docs/benchmarks.md)."]
    lines += ["", "## What limits these figures", "", *LIMITS_TEXT]
    return "\n".join(lines) + "\n"


LIMITS_TEXT = [
    "- The load generator: one wrk thread on CPU 0, while the servers use both CPUs. Edge hits and the "
    "static-object limit run close to what that one thread can drive, so they are lower bounds of what "
    "Varnish can serve here, and their ratio says more than either figure.",
    "- Renders: plain and typical render every page in Python (3 gunicorn workers x 4 threads) on the CPU "
    "that PostgreSQL, Redis and Varnish also use; their throughput is that CPU's.",
    "- Logged-in views: the page comes from the edge, but each article view sends its three per-user ESI "
    "fragments (user bar, like, comment form) to Django; those fragment requests set the pace.",
    "- Mixed writes: every comment, like and admin save purges the pages it changes, so the next views of "
    "those pages are renders; the written-to pages set the pace.",
    "- Short runs on a shared machine: figures move between runs (see the CPU steal column); the ratios, "
    "measured side by side in one run, are what the regression check compares.",
]
