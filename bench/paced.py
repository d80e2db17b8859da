"""Mixed writes at equal load: upstack and each fast peer sent the same requests at the same rate.

The workloads run closed-loop (wrk's connections each send the next request as soon as the last one is
answered), so a stack that answers reads faster is also sent more writes a second: in the mixed workload
upstack, serving several times sitecache's requests, handles several times its comments, likes and
admin saves, with the renders its purges cause, on the same two CPUs. Its closed-loop p99 is the p99 of
a machine doing several times the work. Latency is also compared at equal load: for each fast peer,
that peer and upstack replay the mixed cycle at ``SHARE`` of the peer's own closed-loop throughput (a
load the peer can serve), paced by wrk (``bench.wrk``, ``rate``), in interleaved rounds. Both figures
are published; the mixed-writes goal says which it judges on (``bench.peer_report.mixed_p99``).
"""

from __future__ import annotations

from bench import wrk
from bench.peer_report import FAST_PEERS

SHARE = 0.8

TEXT = ("The workloads above run closed-loop: each of wrk's connections sends its next request when the last is "
        "answered, so the stack that answers reads fastest is also sent the most writes a second (upstack's mixed "
        "figures above are for about {writes_x}x sitecache's writes a second, on the same CPUs). Here, for each "
        "fast peer, that peer and upstack are offered the same mixed cycle at one rate, {share:.0%} of the peer's "
        "own closed-loop throughput (a load it can serve), paced by wrk (bench/paced.py), in interleaved rounds; "
        "latency is measured from each request's send.")


def rates(mixed: dict) -> dict[str, float]:
    """Per fast peer measured, the rate offered to it and to upstack: ``SHARE`` of its closed-loop req/s (pure)."""
    return {p: round(SHARE * mixed[p]["rps"], 1) for p in FAST_PEERS if p in mixed and mixed[p]["rps"] > 0}


def measure(targets: dict, cycles: dict, counters: dict, mode: dict, rounds: int, offered: dict, log) -> dict:
    """``{peer: {"offered_rps": r, "stacks": {peer: figures, "upstack": figures}}}``, medians over the rounds."""
    from bench.report import median_run

    runs = {(p, name): [] for p in offered for name in (p, "upstack")}
    for n in range(rounds):
        for (peer, name), found in runs.items():
            log(f"round {n + 1}/{rounds}: mixed_writes at {offered[peer]} req/s on {name}")
            found.append(wrk.run(targets[name], cycles[name]["mixed_writes"], mode["seconds"], mode["connections"],
                                 counters[name], rate=offered[peer]))
    return {peer: {"offered_rps": rate, "stacks": {name: {**median_run(runs[peer, name]),
                                                          "errors": sum(x["errors"] for x in runs[peer, name])}
                                                   for name in (peer, "upstack")}}
            for peer, rate in offered.items()}


def table(paced: dict) -> list[str]:
    lines = ["| offered req/s | stack | served req/s | p50 ms | p95 ms | p99 ms | errors |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {pair['offered_rps']} ({peer}'s x{SHARE}) | {name} | {r['rps']} | {r['p50_ms']} | {r['p95_ms']} | "
              f"{r['p99_ms']} | {r['errors']} |" for peer, pair in paced.items() for name, r in pair["stacks"].items()]
    return lines
