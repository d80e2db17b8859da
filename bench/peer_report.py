"""upstack against the peers teams pick for speed - Django's per-site cache (``sitecache``) and nginx
micro-caching (``microcache``) - and the staleness every stack shows after writes (pure: no I/O).

``goals`` judges issue 21's two peer goals; ``staleness_problems`` says why the staleness figures
cannot be trusted; ``staleness_table`` renders them for docs/benchmarks.md. Runs from before the
peers existed have neither: every function returns nothing for them.
"""

from __future__ import annotations

FAST_PEERS = ("sitecache", "microcache")
PEER_SHARE = 0.9  # anonymous: upstack's throughput over the faster of the fast peers
STALENESS_P99_S = 1.0


def _share(a: float, b: float) -> float:
    return a / b if b else float("inf")


def present(report: dict) -> bool:
    """Whether this run measured the fast peers and staleness."""
    stale = report.get("staleness") or {}
    return all(p in report["table"]["anonymous"] and p in stale for p in (*FAST_PEERS, "upstack"))


def staleness_problems(staleness: dict | None, stacks) -> list[str]:
    """The probe ran on every stack and every write was read back; [] when it did."""
    if not staleness:
        return ["the staleness probe did not run"]
    found = [f"{stack}: not probed" for stack in stacks if stack not in staleness]
    found += [f"{stack}: no writes" for stack, figures in staleness.items() if not figures.get("writes")]
    return found


def mixed_p99(mixed: dict, paced: dict | None) -> tuple[list[str], str]:
    """The peers whose mixed-writes p99 is at or below upstack's, and how it was compared (pure). With a
    paced run (bench/paced.py), each fast peer is compared with upstack at equal load (its own pair);
    the others, and runs without one, closed-loop."""
    pairs = paced or {}

    def level(s):
        if s in pairs:
            return pairs[s]["stacks"][s]["p99_ms"] <= pairs[s]["stacks"]["upstack"]["p99_ms"]
        return mixed[s]["p99_ms"] <= mixed["upstack"]["p99_ms"]

    closed = ", ".join(f"{s} {mixed[s]['p99_ms']:g}" for s in mixed if s != "upstack")
    how = [f"p99 at equal load: upstack {pair['stacks']['upstack']['p99_ms']:g} ms vs {s} {pair['stacks'][s]['p99_ms']:g} "
           f"at {pair['offered_rps']:g} req/s" for s, pair in pairs.items()]
    how.append(f"p99 closed-loop{' (the others)' if pairs else ''}: upstack {mixed['upstack']['p99_ms']:g} ms "
               f"(peers: {closed})")
    return [s for s in mixed if s != "upstack" and level(s)], "; ".join(how)


def goals(table: dict, staleness: dict, paced: dict | None = None) -> list[dict]:
    """Anonymous: upstack >= 0.9x the faster of sitecache and microcache, staleness p99 <= 1 s.
    Mixed writes: upstack ahead of every peer in req/s and in p99 (at one offered load for the fast peers
    when the run has one: ``mixed_p99``), and no stale read after 1 s."""
    anon, mixed, mine = table["anonymous"], table["mixed_writes"], staleness["upstack"]
    fastest = max(FAST_PEERS, key=lambda p: anon[p]["rps"])
    anon_x = _share(anon["upstack"]["rps"], anon[fastest]["rps"])
    p99_s = mine["lag_ms_p99"] / 1000
    slower = [s for s in mixed if s != "upstack" and mixed[s]["rps"] >= mixed["upstack"]["rps"]]
    later, how = mixed_p99(mixed, paced)
    behind = sorted(set(slower) | set(later))
    lags = "; ".join(f"{s} {staleness[s]['lag_ms_p99'] / 1000:.3g} s" for s in FAST_PEERS)
    return [
        {"id": "peers_anonymous", "goal": "anonymous throughput >= 0.9x the faster of sitecache and microcache, "
         "staleness p99 <= 1 s",
         "measured": f"x{anon_x:.2f} of {fastest}; staleness p99 {p99_s:.3g} s (peers: {lags})",
         "met": anon_x >= PEER_SHARE and p99_s <= STALENESS_P99_S},
        {"id": "peers_mixed", "goal": "mixed writes: ahead of every peer in req/s and p99, 0 stale reads after 1 s",
         "measured": (f"behind or level with {', '.join(behind)}" if behind else "ahead of every peer")
         + f"; {how}; {mine['stale_reads_after_1s']} stale reads after 1 s",
         "met": not behind and mine["stale_reads_after_1s"] == 0 and not mine["stale_at_horizon"]},
    ]


def ratios(table: dict) -> dict[str, dict[str, float]]:
    """upstack's req/s over each fast peer's, per workload (only the peers this run measured)."""
    return {w: {f"ratio_vs_{p}": round(_share(t["upstack"]["rps"], t[p]["rps"]), 2) for p in FAST_PEERS if p in t}
            for w, t in table.items()}


def staleness_table(staleness: dict, stacks) -> list[str]:
    lines = ["| stack | lag p50 ms | lag p99 ms | lag max ms | stale reads (share of the 6 s after a write) | "
             "stale reads after 1 s | still stale after 75 s |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for stack in stacks:
        s = staleness[stack]
        lines.append(f"| {stack} | {s['lag_ms_p50']} | {s['lag_ms_p99']} | {s['lag_ms_max']} | "
                     f"{100 * s['stale_read_share']:.1f}% | {s['stale_reads_after_1s']} | {s['stale_at_horizon']} |")
    return lines


WIRE_SHARE = 0.3  # HTML on the wire at most this share of its uncompressed size


def wire_goal(wire: dict) -> dict:
    """Compressed HTML at most 30% of its size, and every revalidation of an unchanged page a 304."""
    mine = wire["upstack"]
    return {"id": "wire", "goal": "HTML on the wire <= 30% of its uncompressed size; an unchanged page "
            "revalidates as a 304", "measured": f"{100 * mine['compressed_share']:.1f}% "
            f"({mine['bytes_per_view_compressed']} of {mine['bytes_per_view_uncompressed']} bytes per view); "
            f"{100 * mine['revalidated_304_share']:.1f}% 304s",
            "met": mine["compressed_share"] is not None and mine["compressed_share"] <= WIRE_SHARE
            and mine["revalidated_304_share"] == 1}


def wire_table(wire: dict, stacks) -> list[str]:
    lines = ["| stack | bytes / view, compressed | bytes / view, uncompressed | compressed share | "
             "revalidations answered 304 |", "| --- | --- | --- | --- | --- |"]
    lines += [f"| {s} | {wire[s]['bytes_per_view_compressed']} | {wire[s]['bytes_per_view_uncompressed']} | "
              f"{100 * wire[s]['compressed_share']:.1f}% | {100 * wire[s]['revalidated_304_share']:.1f}% |"
              for s in stacks]
    return lines


WIRE_TEXT = (
    "Every page of the anonymous cycle fetched through each stack with `Accept-Encoding` as browsers send it, "
    "without it, and then again with the validators of the first answer (bench/wire.py); body bytes, each page "
    "weighted by its views. A page without validators cannot be revalidated: a full download."
)

def probed(staleness: dict) -> str:
    """How the stacks were probed: alone, one after another (bench/staleness.py since 2026-11-26), or
    all at once (earlier results, which lack the mark)."""
    stacks = [figures for figures in staleness.values() if isinstance(figures, dict)]
    if stacks and all(figures.get("alone") for figures in stacks):
        return "each stack probed alone, one after another"
    return "every stack probed at once"


STALENESS_TEXT = (
    "{writes} comments per stack, each through the stack as a logged-in reader on an article of its own that is "
    "read anonymously once a second until then (a popular page: a TTL cache always holds a copy), at random times "
    "over the stack's TTL plus a second per write (so the copy is of random age); then the article is read "
    "anonymously through the stack every 50 ms for 1 s, then every 200 ms, until the comment shows "
    "(bench/staleness.py; {probed}). Lag: from the write's answer to the first "
    "read that showed it. Stale reads: the share of the 6 s after each write during which a steady reader got "
    "the page without the comment. sitecache's TTL is 60 s, microcache's 5 s; upstack purges."
)
