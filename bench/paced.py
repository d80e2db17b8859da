"""Mixed writes at one offered load: upstack and the fast peers sent the same requests at the same rate.

The workloads run closed-loop (wrk's connections each send the next request as soon as the last one is
answered), so a stack that answers reads faster is also sent more writes a second: in the mixed workload
upstack, serving about twice sitecache's requests, handles about twice its comments, likes and admin
saves, each with the renders its purges cause, on the same two CPUs. Its p99 there is the p99 of a
machine doing twice the work. Latency is compared honestly at one load: here every fast peer and
upstack replay the mixed cycle at ``SHARE`` of the slower fast peer's closed-loop throughput (so that
no stack is driven past what it can serve), paced by wrk (``bench.wrk``, ``rate``), in interleaved
rounds. Both figures are published; the mixed-writes goal states which it judges on
(``bench.peer_report.goals``).
"""

from __future__ import annotations

from bench import wrk
from bench.peer_report import FAST_PEERS

SHARE = 0.8

TEXT = ("The workloads above run closed-loop: each of wrk's connections sends its next request when the last is "
        "answered, so the stack that answers reads fastest is also sent the most writes a second (upstack's mixed "
        "figures above are for about {writes_x}x sitecache's writes a second, on the same CPUs). Here the same mixed "
        "cycle is offered to upstack and to the fast peers at one rate, {share:.0%} of the slower fast peer's "
        "closed-loop throughput, paced by wrk (bench/paced.py), in interleaved rounds; latency is measured from "
        "each request's send.")


def rate(mixed: dict) -> float | None:
    """The offered rate: ``SHARE`` of the slower fast peer's closed-loop req/s in the mixed workload (pure)."""
    peers = [mixed[p]["rps"] for p in FAST_PEERS if p in mixed]
    return round(SHARE * min(peers), 1) if peers and min(peers) > 0 else None


def measure(targets: dict, cycles: dict, counters: dict, mode: dict, rounds: int, offered: float, log) -> dict:
    """Median figures per stack of the mixed cycle at ``offered`` requests a second."""
    from bench.report import median_run

    names = [n for n in (*FAST_PEERS, "upstack") if n in targets]
    runs = {n: [] for n in names}
    for n in range(rounds):
        for name in names:
            log(f"round {n + 1}/{rounds}: mixed_writes at {offered} req/s on {name}")
            runs[name].append(wrk.run(targets[name], cycles[name]["mixed_writes"], mode["seconds"],
                                      mode["connections"], counters[name], rate=offered))
    return {"offered_rps": offered, "stacks": {n: {**median_run(r), "errors": sum(x["errors"] for x in r)}
                                               for n, r in runs.items()}}


def table(paced: dict) -> list[str]:
    lines = ["| stack | offered req/s | served req/s | p50 ms | p95 ms | p99 ms | errors |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {name} | {paced['offered_rps']} | {r['rps']} | {r['p50_ms']} | {r['p95_ms']} | {r['p99_ms']} | "
              f"{r['errors']} |" for name, r in paced["stacks"].items()]
    return lines
