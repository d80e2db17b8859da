"""The benchmark's chart (matplotlib, a bench-only dependency): throughput against staleness p99 for
every stack and workload, and each stack's latency percentiles per workload.

``write(report, path)`` draws it from a report with the peers and staleness (bench/peer_report.py
``present``) and saves a PNG; ``points`` (pure) gives what the first row plots. A stack that never
serves a page stale (upstack, plain, typical) sits at the left; a TTL cache sits near its TTL.
Python's ``python -m bench.chart RESULTS.json OUT.png`` redraws one from saved results.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from bench import report as reports

FLOOR_S = 0.01  # staleness below this is drawn at it (the x axis is logarithmic)
COLOURS = {"plain": "#999999", "typical": "#6b8fb3", "sitecache": "#d9822b", "microcache": "#b34d4d",
           "upstack": "#2b8a3e"}


def points(report: dict) -> dict[str, list[tuple[str, float, float]]]:
    """Per workload, ``(stack, staleness p99 in s, req/s)`` for every stack probed (pure)."""
    stale = report["staleness"]
    return {workload: [(s, max(FLOOR_S, stale[s]["lag_ms_p99"] / 1000), stacks[s]["rps"])
                       for s in reports.STACKS if s in stacks and s in stale]
            for workload, stacks in report["table"].items()}


def write(report: dict, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    workloads = list(report["table"])
    figure, axes = plt.subplots(2, len(workloads), figsize=(5 * len(workloads), 8.5), squeeze=False)
    for column, (workload, found) in enumerate(points(report).items()):
        ax = axes[0][column]
        for stack, stale_s, rps in found:
            ax.scatter(stale_s, rps, s=60, color=COLOURS.get(stack), label=stack, zorder=3)
            ax.annotate(stack, (stale_s, rps), textcoords="offset points", xytext=(6, 4), fontsize=8)
        ax.set(xscale="log", yscale="log", title=reports.WORKLOADS[workload], xlabel="staleness p99 after a write (s)",
               ylabel="req/s")
        ax.grid(True, which="both", alpha=0.3)
        stacks = [s for s in reports.STACKS if s in report["table"][workload]]
        ax = axes[1][column]
        for n, pct in enumerate(("p50_ms", "p95_ms", "p99_ms")):
            ax.bar([i + (n - 1) * 0.27 for i in range(len(stacks))],
                   [max(0.01, report["table"][workload][s][pct]) for s in stacks], width=0.27,
                   label=pct.removesuffix("_ms"), color=("#c6dbef", "#6baed6", "#2171b5")[n])
        ax.set(yscale="log", ylabel="latency (ms)", xticks=range(len(stacks)))
        ax.set_xticklabels(stacks, fontsize=8)
        ax.grid(True, axis="y", which="both", alpha=0.3)
        ax.legend(fontsize=8)
    figure.suptitle(f"upstack and its peers, {report['mode']} run of {report['date']} (bench/chart.py)")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path


if __name__ == "__main__":
    write(json.loads(Path(sys.argv[1]).read_text()), Path(sys.argv[2]))
