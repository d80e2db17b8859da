"""From measured runs to the published figures (pure: no I/O).

``summarize`` takes the raw runs of ``bench/run.py`` and returns the full report (medians, ratios,
goals); ``latest`` reduces it to the stable shape of ``bench/results/latest.json``; ``markdown``
renders docs/benchmarks.md; ``regressions`` compares a quick run's ratios with the committed
baseline (bench/baseline-quick.json) and says which fell beyond the tolerance written there.
"""

from __future__ import annotations

import re
import statistics

from bench import before_after, paced, peer_report, precision_report

STACKS = ("plain", "typical", "sitecache", "microcache", "upstack")  # runs before issue 21 lack the middle two
WORKLOADS = {"anonymous": "anonymous browsing", "logged_in": "logged-in readers reading articles",
             "mixed_writes": "browsing mixed with writes"}
_MEDIAN_KEYS = ("rps", "p50_ms", "p95_ms", "p99_ms", "errors", "steal_pct", "queries_per_request",
                "backend_requests_per_view", "loadgen_cpu_pct")


def median_run(runs: list[dict]) -> dict:
    """Each figure's median over the interleaved rounds (figure by figure, as the rounds vary)."""
    return {k: round(statistics.median(r[k] for r in runs), 3) for k in _MEDIAN_KEYS if k in runs[0]}


def _ratio(a: float, b: float, digits: int = 2) -> float:
    return round(a / b, digits) if b else float("inf")


def _share(a: float, b: float) -> float:
    """``a / b`` unrounded: goals are judged on this, and only the text is rounded."""
    return a / b if b else float("inf")


EDGE_LIMIT_SHARE = 0.9
LIMIT_PAIR = ("varnish_static", "upstack_edge_hit")  # judged together by limit_problems
LOADGEN_SATURATED_PCT = 95  # wrk's one thread using this much of its CPU is what limits the figure


def limit_problems(limits: dict) -> list[str]:
    """Why the static-object limit does not limit the edge figure; [] when it does. The limit is a
    measurement too: it counts only if both objects were edge hits, nothing failed, the load
    generator was not saturated, and the limit measured at least the edge figure it bounds (else
    the load generator, not Varnish, set both)."""
    static, edge = limits["varnish_static"], limits["upstack_edge_hit"]
    problems = [f"{name}: not checked to be an edge hit" if "hit" not in run else f"{name}: not an edge hit"
                for name, run in (("varnish static", static), ("upstack edge hit", edge)) if not run.get("hit")]
    problems += [f"{name}: {run['errors']} errors" for name, run in (("varnish static", static),
                                                                   ("upstack edge hit", edge)) if run["errors"]]
    problems += [f"{name}: the load generator was saturated ({run['loadgen_cpu_pct']}% of its CPU), so it set the "
                 "figure" for name, run in (("varnish static", static), ("upstack edge hit", edge))
                 if run.get("loadgen_cpu_pct", 0) >= LOADGEN_SATURATED_PCT]
    if static["rps"] < edge["rps"]:
        problems.append(f"the limit ({static['rps']} req/s) measured below the edge it limits ({edge['rps']} req/s):"
                        " the load generator set both")
    return problems


def stampede_problems(stampede: dict) -> list[str]:
    """Exactly one computation per expiry, and every reader got a value, in every round."""
    rounds = stampede["upstack"]["computations_per_round"]
    problems = [f"round {n + 1}: {c} computations (exactly 1 per expiry)" for n, c in enumerate(rounds) if c != 1]
    empty = stampede["upstack"].get("readers_without_value_per_round")
    if empty is None:
        problems.append("whether every reader got a value was not checked")
    else:
        problems += [f"round {n + 1}: {e} of {stampede['readers']} readers got no value"
                     for n, e in enumerate(empty) if e]
    return problems


def freshness_problems(freshness: dict) -> list[str]:
    """The freshness check ran, and no page stayed stale or differed from a fresh render."""
    if not freshness.get("writes"):
        return ["the freshness check did not run"]
    problems = []
    if freshness.get("stale_after_timeout"):
        problems.append(f"{freshness['stale_after_timeout']} pages still stale after 5 s")
    if freshness.get("edge_vs_fresh_mismatches") != 0:
        problems.append(f"edge vs fresh render: {freshness.get('edge_vs_fresh_mismatches')} mismatches "
                        "(None: not compared)")
    if not freshness.get("unrelated_checked"):
        problems.append("no unrelated page was checked (primed as a hit before the write)")
    return problems


def _at_most(value, limit: float) -> bool:
    """A per-request count within ``limit``; not measured is not met."""
    return value is not None and value <= limit


def goals(table: dict, limits: dict, stampede: dict, freshness: dict) -> list[dict]:
    """The issue's five goals: what was asked, what was measured, met or not. Each is judged on
    unrounded figures, and a goal whose check could not be trusted is not met."""
    anon, logged = table["anonymous"], table["logged_in"]
    anon_x = _share(anon["upstack"]["rps"], anon["typical"]["rps"])
    edge_share = _share(limits["upstack_edge_hit"]["rps"], limits["varnish_static"]["rps"])
    unverified = limit_problems(limits)
    logged_x = _share(logged["upstack"]["rps"], logged["typical"]["rps"])
    up = logged["upstack"]
    p99_s = _seconds(freshness.get("lag_ms_p99"))
    worst = max(stampede["upstack"]["computations_per_round"])
    return [
        {"id": "anonymous", "goal": "anonymous mixed throughput >= 10x typical, with a lower p99",
         "measured": f"x{round(anon_x, 1)}; p99 {anon['upstack']['p99_ms']} vs {anon['typical']['p99_ms']} ms",
         "met": anon_x >= 10 and anon["upstack"]["p99_ms"] < anon["typical"]["p99_ms"]},
        {"id": "edge_limit", "goal": "edge-hit throughput >= 90% of Varnish's static-object limit",
         "measured": f"{100 * edge_share:.1f}% ({limits['upstack_edge_hit']['rps']} vs "
                     f"{limits['varnish_static']['rps']} req/s)"
                     + (f"; limit unverified: {'; '.join(unverified)}" if unverified else ""),
         "met": not unverified and edge_share >= EDGE_LIMIT_SHARE},
        {"id": "logged_in", "goal": "logged-in article views >= 5x typical with a lower p99, <= 1 backend request "
                                    "and <= 1 database query per view",
         "measured": f"x{round(logged_x, 1)}; p99 {up['p99_ms']} vs {logged['typical']['p99_ms']} ms; "
                     f"{up.get('backend_requests_per_view')} backend requests, {up.get('queries_per_request')} "
                     "queries per view",
         "met": logged_x >= 5 and up["p99_ms"] < logged["typical"]["p99_ms"]
         and _at_most(up.get("backend_requests_per_view"), 1) and _at_most(up.get("queries_per_request"), 1)},
        {"id": "freshness", "goal": "freshness lag p99 <= 1 s", "measured": f"{p99_s} s over {freshness.get('writes')}"
         f" writes ({freshness.get('stale_after_timeout')} still stale after 5 s)",
         "met": p99_s is not None and p99_s <= 1 and freshness.get("stale_after_timeout") == 0
         and freshness.get("edge_vs_fresh_mismatches") == 0},
        {"id": "stampede", "goal": f"<= 1 computation per expiry under {stampede['readers']} concurrent readers",
         "measured": f"worst round {worst} (upstack) vs median {stampede['django']['computations_per_expiry_median']}"
                     " (Django get_or_set)" + "".join(f"; {p}" for p in stampede_problems(stampede)),
         "met": not stampede_problems(stampede)},
    ]


def article_element(html: str) -> str | None:
    """The article itself (``<article class="story">...</article>``) from an article page."""
    match = re.search(r'<article class="story">.*?</article>', html, re.S)
    return match.group(0) if match else None


def differing_pages(pages: dict[str, str]) -> list[str]:
    """The stacks whose article differs from the first stack's (or that served none); [] when every
    stack served the same article, so they are measured doing the same work."""
    elements = {name: article_element(html) for name, html in pages.items()}
    first, expected = next(iter(elements.items()))
    if expected is None:
        return list(elements)
    return [name for name, element in elements.items() if element != expected]


def problems(report: dict) -> list[str]:
    """Why this run may not be published; [] when it may. A run is invalid when any measured run
    had errors (a fast error is not throughput), when the static-object limit is unverified, or
    when a check behind a figure did not run or failed (freshness, the stampede)."""
    found = [f"{workload} on {stack}, round {n + 1}: {run['errors']} errors"
             for workload, stacks in report["raw"].items() for stack, runs in stacks.items()
             for n, run in enumerate(runs) if run["errors"]]
    found += [f"{part} '{name}': {run['errors']} errors" for part in ("limits", "ladder")
              for name, run in report[part].items() if run["errors"] and name not in LIMIT_PAIR]
    found += [f"limit: {p}" for p in limit_problems(report["limits"])]
    found += [f"freshness: {p}" for p in freshness_problems(report["freshness"])]
    found += [f"stampede: {p}" for p in stampede_problems(report["stampede"])]
    if "staleness" in report:  # every run since issue 21 has it
        found += [f"staleness: {p}" for p in peer_report.staleness_problems(report["staleness"],
                                                                             report["table"]["anonymous"])]
    return found


def summarize(meta: dict, results: dict, limits: dict, ladder: dict, stampede: dict, freshness: dict,
              datasize: list[dict] | None = None, staleness: dict | None = None, wire: dict | None = None) -> dict:
    table = {w: {s: median_run(runs) for s, runs in stacks.items()} for w, stacks in results.items()}
    ratios = {w: {"ratio_vs_plain": _ratio(t["upstack"]["rps"], t["plain"]["rps"], 1),
                  "ratio_vs_typical": _ratio(t["upstack"]["rps"], t["typical"]["rps"], 1)}
              for w, t in table.items()}
    ratios["anonymous"]["ratio_vs_varnish_static"] = _ratio(table["anonymous"]["upstack"]["rps"],
                                                            limits["varnish_static"]["rps"])
    for workload, extra in peer_report.ratios(table).items():
        ratios[workload].update(extra)
    steals = [r["steal_pct"] for stacks in results.values() for runs in stacks.values() for r in runs]
    full = {**meta, "steal_pct": round(statistics.median(steals), 2), "table": table, "ratios": ratios,
            "limits": limits, "ladder": ladder, "stampede": stampede, "freshness": freshness,
            "datasize": datasize or [], "raw": results, **({"staleness": staleness} if staleness else {}),
            **({"wire": wire} if wire else {})}
    return {**full, "goals": rejudged(full)}


def latest(report: dict) -> dict:
    """The stable summary every run writes to bench/results/latest.json."""
    workloads = {}
    for workload, stacks in report["table"].items():
        workloads[workload] = {s: {"rps": stacks[s]["rps"], "p99_ms": stacks[s]["p99_ms"]} for s in STACKS
                               if s in stacks}
        workloads[workload].update(report["ratios"][workload])
    stampede, fresh, judged = report["stampede"], report["freshness"], rejudged(report)
    return {"date": report["date"], "mode": report["mode"], "scale": {"articles": report["articles"]},
            "steal_pct": report["steal_pct"], "workloads": workloads,
            "stampede": {"upstack_computations": max(stampede["upstack"]["computations_per_round"]),
                         "django_computations": stampede["django"]["computations_per_expiry_median"],
                         "readers": stampede["readers"]},
            "freshness_lag_s": {"p50": _seconds(fresh.get("lag_ms_p50")), "p99": _seconds(fresh.get("lag_ms_p99"))},
            **({"precision": precision_report.summary(report["precision"])} if "precision" in report else {}),
            **({"before_issue_17": precision_report.before_summary(report["before_after"])}
               if "before_after" in report else {}),
            **({"before_issue_18": before_after.figures(report["before_issue_18"].get("logged_in"), "upstack-unkept")}
               if "before_issue_18" in report else {}),
            **({"mixed_at_equal_load": {peer: {"offered_rps": pair["offered_rps"],
                                                **{s: {"rps": r["rps"], "p99_ms": r["p99_ms"]}
                                                   for s, r in pair["stacks"].items()}}
                                         for peer, pair in report["paced"].items()}}
               if report.get("paced") else {}),
            "goals_met": sum(g["met"] for g in judged), "goals": len(judged),
            "goals_met_ids": [g["id"] for g in judged if g["met"]]}


def rejudged(report: dict) -> list[dict]:
    """The goals judged now from a report's measurements (not the verdicts stored with it): results
    taken before a check became honest are published with the honest verdict."""
    found = goals(report["table"], report["limits"], report["stampede"], report["freshness"])
    found += (peer_report.goals(report["table"], report["staleness"], report.get("paced"))
              if peer_report.present(report) else [])
    found += [precision_report.goal(report["precision"])] if "precision" in report else []
    return found + ([peer_report.wire_goal(report["wire"])] if "wire" in report else [])


def _seconds(ms: float | None) -> float | None:
    return None if ms is None else round(ms / 1000, 4)


def flat_ratios(summary: dict) -> dict[str, float]:
    """``{"anonymous.ratio_vs_typical": x, ...}`` from a latest.json-shaped summary."""
    return {f"{w}.{k}": v for w, figures in summary["workloads"].items() for k, v in figures.items()
            if k.startswith("ratio_")}


# Whatever the baseline says, upstack must not be slower than the typical template (per workload).
FLOORS = {"ratio_vs_typical": 1.0}


def regressions(summary: dict, baseline: dict) -> list[str]:
    """What regressed against the baseline, one line each; [] when nothing did. A ratio regresses
    when it falls below ``baseline x (1 - tolerance)`` (the ratio's own tolerance in
    ``tolerances``, else ``tolerance``) or below its floor (FLOORS); a goal regresses when the
    baseline met it and this run does not."""
    current = flat_ratios(summary)
    failures = []
    for name, expected in baseline["ratios"].items():
        tolerance = baseline.get("tolerances", {}).get(name, baseline["tolerance"])
        least = expected * (1 - tolerance)
        if name not in current:
            failures.append(f"{name}: not measured (baseline {expected})")
        elif current[name] < least:
            failures.append(f"{name}: {current[name]} < {round(least, 2)} (baseline {expected}, tolerance "
                            f"{round(100 * tolerance)}%)")
    for workload, figures in summary["workloads"].items():  # judged unrounded: x0.96 is not x1.0
        for ratio, floor in FLOORS.items():
            value = _share(figures["upstack"]["rps"], figures[ratio.removeprefix("ratio_vs_")]["rps"])
            if value < floor:
                failures.append(f"{workload}.{ratio}: {value:.3f} < {floor} (the floor: never slower than typical)")
    met = set(summary.get("goals_met_ids", []))
    failures += [f"goal '{goal}': met in the baseline, missed now" for goal in baseline.get("goals_met", [])
                 if goal not in met]
    if summary["stampede"]["upstack_computations"] != 1:
        failures.append(f"stampede: {summary['stampede']['upstack_computations']} computations per expiry")
    return failures


def _stack_table(stacks: dict) -> list[str]:
    lines = ["| stack | req/s | p50 ms | p95 ms | p99 ms | errors | DB queries / request | backend requests / view "
             "| CPU steal % |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name in (s for s in STACKS if s in stacks):
        row = stacks[name]
        lines.append(f"| {name} | {row['rps']} | {row['p50_ms']} | {row['p95_ms']} | {row['p99_ms']} | "
                     f"{row['errors']} | {row.get('queries_per_request', '-')} | "
                     f"{row.get('backend_requests_per_view', '-') if name == 'upstack' else '-'} | {row['steal_pct']} |")
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
             f"({', '.join(s for s in STACKS if s in report['table']['anonymous'])}, plain, ...). plain: Django with "
             "every upstack layer off, database sessions, no persistent connections. typical: plus a Redis cache, "
             "WhiteNoise, persistent connections. "
             + (PEERS_TEXT if peer_report.present(report) else "")
             + "upstack: the full stack, measured through Varnish. "
             + ("Every stack runs" if peer_report.present(report) else "All three run")
             + " gunicorn (3 workers x 4 threads) on the same "
             f"PostgreSQL. Median CPU steal over all runs: {report['steal_pct']}%.", "", "## Goals", "",
             "| goal | measured | met |", "| --- | --- | --- |"]
    lines += [f"| {g['goal']} | {g['measured']} | {_yes_no(g['met'])} |" for g in rejudged(report)]
    for workload, stacks in report["table"].items():
        r = report["ratios"][workload]
        lines += ["", f"## {WORKLOADS[workload]}", "", *_stack_table(stacks), "",
                  f"upstack / plain: x{r['ratio_vs_plain']}; upstack / typical: x{r['ratio_vs_typical']}"
                  + "".join(f"; upstack / {p}: x{r[f'ratio_vs_{p}']}" for p in peer_report.FAST_PEERS
                            if f"ratio_vs_{p}" in r)
                  + (f"; upstack / Varnish's static-object limit: {r['ratio_vs_varnish_static']}"
                     if "ratio_vs_varnish_static" in r else "")]
    text = LOGGED_IN_TEXT if report.get("logged_in_design") == LOGGED_IN_DESIGN else LOGGED_IN_TEXT_ONE_INCLUDE
    lines += ["", "## Logged-in views", "", *text, ""]
    if report.get("fragments"):
        lines += ["| request (against the app server, one reader's session) | req/s | p99 ms | errors |",
                  "| --- | --- | --- | --- |"]
        lines += [f"| {label} | {r['rps']} | {r['p99_ms']} | {r['errors']} |" for label, r in report["fragments"].items()]
    else:
        lines += ["The per-part figures (bench/fragments.py) were not measured in this run."]
    lines += ["", "## Limits (same connections as the workloads)", "",
              "| what | req/s | p50 ms | p99 ms | edge hit before and after | load generator CPU % | CPU steal % |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {k.replace('_', ' ')} | {v['rps']} | {v['p50_ms']} | {v['p99_ms']} | "
              f"{_yes_no(v.get('hit')) if k in LIMIT_PAIR else '-'} | {v.get('loadgen_cpu_pct', '-')} | "
              f"{v['steal_pct']} |" for k, v in report["limits"].items()]
    cpu = any("cpu_ms_per_request" in v for v in report["ladder"].values())  # runs since issue 21
    lines += ["", "## The response-time ladder (one article page, 4 connections)", "",
              "| layer | p50 ms | p99 ms | req/s | " + ("CPU ms / request (serving processes) | " if cpu else "")
              + "CPU steal % |", "| --- | --- | --- | --- | " + ("--- | " if cpu else "") + "--- |"]
    lines += [f"| {k} | {v['p50_ms']} | {v['p99_ms']} | {v['rps']} | "
              + (f"{v.get('cpu_ms_per_request', '-')} | " if cpu else "") + f"{v['steal_pct']} |"
              for k, v in report["ladder"].items()]
    if cpu:
        lines += ["", "CPU ms / request: user and system CPU of the processes serving the layer (Varnish for the "
                  "edge hit, gunicorn otherwise; bench/cpu.py) over the run, per request; PostgreSQL's and Redis's "
                  "are not in it. Where a render's CPU goes, with profiles before and after: docs/render-profiles.md."]
    if peer_report.present(report):
        stacks = [s for s in STACKS if s in report["staleness"]]
        chart = f"benchmarks{'-quick' if quick else ''}.png"
        lines += ["", "## Throughput against staleness", "", f"![req/s against staleness p99 after a write, per stack "
                  f"and workload; latency percentiles below]({chart})", "",
                  f"{chart}, drawn by bench/chart.py from the same results: top, each stack's req/s per workload "
                  "against its staleness p99 (below 10 ms drawn at 10 ms); bottom, its p50, p95 and p99 latency."]
        lines += ["", "## Staleness after writes, every stack", "",
                  peer_report.STALENESS_TEXT.format(writes=report["staleness"]["upstack"]["writes"],
                                                    probed=peer_report.probed(report["staleness"])), "",
                  *peer_report.staleness_table(report["staleness"], stacks)]
    if report.get("paced"):
        mixed = report["table"]["mixed_writes"]
        lines += ["", "## Mixed writes at equal load", "",
                  paced.TEXT.format(writes_x=round(_share(mixed["upstack"]["rps"], mixed["sitecache"]["rps"]), 1),
                                    share=paced.SHARE), "", *paced.table(report["paced"])]
    if "precision" in report:
        lines += ["", "## Precision of purges", "", precision_report.TEXT, "", *precision_report.table(report["precision"])]
    if "before_after" in report:  # full runs since issue 17
        lines += ["", "## Issue 17, before and after (same run)", "", precision_report.BEFORE_AFTER_TEXT, "",
                  *precision_report.before_after(report["before_after"], report["precision"],
                                                 report["table"]["mixed_writes"])]
    if "before_issue_18" in report:  # full runs since issue 18
        lines += ["", "## Issue 18, before and after (same run)", "", before_after.READER_TEXT, "",
                  *before_after.reader_section(report["before_issue_18"], report["table"]["logged_in"])]
    if "wire" in report:
        lines += ["", "## Bytes on the wire", "", peer_report.WIRE_TEXT, "",
                  *peer_report.wire_table(report["wire"], [s for s in STACKS if s in report["wire"]])]
    fresh, stampede = report["freshness"], report["stampede"]
    lines += ["", "## Freshness after writes", "",
              f"{fresh.get('writes')} writes through upstack (comments, likes, ORM and admin title edits; "
              "bench/freshness.py), each followed by polling the article through the edge: lag p50 "
              f"{fresh.get('lag_ms_p50')} ms, p99 {fresh.get('lag_ms_p99')} ms, max {fresh.get('lag_ms_max')} ms; "
              f"{fresh.get('stale_after_timeout')} still stale after 5 s; {_unrelated(fresh)}.", "", "## Stampede", "",
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
    elif report.get("mode") == "full":
        lines += ["", "The data-size series was not run in this run (`--sizes none`); the last one is in "
                  "bench/results/datasize-*.json."]
    else:
        lines += ["", "The data-size series runs with `make bench` only (docs/benchmarks.md)."]
    lines += ["", "## What limits these figures", "", *LIMITS_TEXT]
    lines += ["", "## When a run is invalid, and how each goal is checked", "", *VALIDITY_TEXT]
    return "\n".join(lines) + "\n"


def _yes_no(value: bool | None) -> str:
    return "not checked" if value is None else "yes" if value else "no"


def _unrelated(fresh: dict) -> str:
    if "unrelated_checked" not in fresh:  # runs before issue 23 refilled the page before counting it
        return "whether unrelated pages stay cached was not checked in this run"
    return (f"unrelated pages still edge hits after a write {fresh['unrelated_kept']}/{fresh['unrelated_checked']} "
            "(each a hit before the write, not fetched again until checked; issue 17 is about the rest)")


PEERS_TEXT = ("sitecache: typical plus Django's per-site cache on Redis, 60 s TTL (newsroom/settings/sitecache.py); "
              "as Django does, a logged-in reader's pages are cached too, per session cookie (Vary: Cookie), "
              "so their comments and likes show up to 60 s late. "
              "microcache: nginx in front of typical's gunicorn, proxy_cache with a 5 s TTL, proxy_cache_lock and "
              "proxy_cache_use_stale updating, bypassed for session cookies (bench/peers.py). ")

LIMITS_TEXT = [
    "- The load generator: one wrk thread on CPU 0, while the servers use both CPUs. The limits table gives "
    "its CPU use: below 100% it was not saturated, but it shares the two CPUs with Varnish: edge hits and the static-object limit are lower bounds of what "
    "Varnish can serve here, and their ratio says more than either figure. A limit that measures below the "
    "edge it bounds makes the run invalid.",
    "- Renders: plain and typical render every page in Python (3 gunicorn workers x 4 threads) on the CPU "
    "that PostgreSQL, Redis and Varnish also use; their throughput is that CPU's.",
    "- Logged-in views: the page and the reader's include come from the edge; what reaches Django is each "
    "session's first include, the includes after the reader's own writes and the pages those writes purge, "
    "so the writes set the pace.",
    "- Mixed writes: every comment, like and admin save purges the pages it changes, so the next views of "
    "those pages are renders; the written-to pages set the pace.",
    "- Short runs on a shared machine: figures move between runs (see the CPU steal column); the ratios, "
    "measured side by side in one run, are what the regression check compares.",
]

# What a run measured for logged-in readers, recorded in its results (bench/run.py), so that a page
# regenerated from an older run keeps the text of the design that run measured.
LOGGED_IN_DESIGN = "one reader include, kept per session"
LOGGED_IN_TEXT_ONE_INCLUDE = [
    "A logged-in article view is the shared page from the edge plus one per-reader include, `/_esi/reader/`, "
    "that renders every part of the page that differs by reader (user bar, like button, comment form, the staff "
    "edit link) from ids, through a lean middleware path with a cached user (upstack.edge.personal and "
    "upstack.edge.lean; docs/edge.md has the design and the alternatives measured). The logged-in workload has "
    "200 distinct reader sessions (bench/readers.py), so nothing cached per session can make the figure, reads "
    "articles with Zipf-like popularity, and likes or comments on 3% of views (bench/workloads.py); backend "
    "requests and database queries per request are in its table above. Below, each request alone with wrk "
    "against upstack's app server during this run (bench/fragments.py):",
]
LOGGED_IN_TEXT = [
    "A logged-in article view is the shared page from the edge plus one per-reader include, `/_esi/reader/`, "
    "that renders every part of the page that differs by reader (user bar, like button, comment form, the staff "
    "edit link), through a lean middleware path with a cached user (upstack.edge.personal and upstack.edge.lean). "
    "The include is the same on every page (no part takes the article; the like state is CSS), so the edge keeps "
    "it per session, purged on the reader's writes, logout and user saves; docs/edge.md has the design and the "
    "alternatives measured. The logged-in workload has 200 distinct reader sessions (bench/readers.py), each "
    "reading about 5 articles per 1,000-request cycle with Zipf-like popularity, and likes or comments on 3% of "
    "views (bench/workloads.py); backend requests and database queries per request are in its table above (a "
    "session's first include, the includes after its writes, and the article pages those writes purge). Below, "
    "what a view costs when it does reach the app: each request alone with wrk against upstack's app server "
    "during this run (bench/fragments.py):",
]
VALIDITY_TEXT = [
    "A run is not published (bench/run.py exits 1 and writes neither bench/results/ nor docs/) when:",
    "- any measured run had errors - wrk's non-2xx/3xx responses or socket errors; req/s counts successful "
    "responses only, so a stack answering errors fast cannot look faster;",
    "- the static-object limit is unverified: the bare Varnish object or the edge's article was not an edge hit "
    "(X-Cache: HIT before and after each run), wrk used 95% or more of its CPU on either, or the limit measured "
    "below the edge figure it bounds (then the load generator, not Varnish, set both);",
    "- a check behind a figure did not run or failed: freshness (no page stale after 5 s, the edge's HTML equal "
    "to a fresh render, at least one unrelated page primed as a hit before its write), the stampede (exactly one "
    "computation per expiry and a value for every reader, each round), and, before anything is measured, every "
    "kind of write landing and the same article HTML from plain, typical and upstack.",
    "",
    "Each goal is judged on unrounded figures (only the text is rounded):",
    "- anonymous: upstack's req/s over typical's >= 10 and upstack's p99 below typical's;",
    "- edge limit: the edge hit's req/s over the bare Varnish's >= 0.9, and the limit verified (above);",
    "- logged-in: upstack's req/s over typical's >= 5 for logged-in readers' article views, upstack's p99 below "
    "typical's, and upstack's backend requests and database queries per request each <= 1;",
    "- freshness: the p99 lag from commit to the change showing at the edge <= 1 s (a like counts as shown "
    "when the page shows the new count), no page stale after 5 s, no edge-vs-fresh-render mismatch;",
    "- stampede: every round exactly one computation, and every reader got a value.",
    "",
    "The quick run in `make test` also fails when a ratio fell more than its tolerance (25% unless "
    "bench/baseline-quick.json gives that ratio its own) below the baseline, when upstack is slower than "
    "typical on any workload, or when a goal the baseline met is missed.",
]
