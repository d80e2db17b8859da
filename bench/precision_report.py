"""The precision oracle's figures in the benchmark report (bench/precision.py, docs/edge.md): the goal
and its table. Pure: from the oracle's JSON to lines of Markdown and a goal verdict."""

from __future__ import annotations

TEXT = ("Each write of every kind, then every sampled page rendered fresh before and after it: a page whose "
        "HTML changed must have been purged (recall), and a purged page should have changed (precision). "
        "`python -m bench.precision` (its own SQLite database, the newsroom seeded); docs/edge.md.")
OVERALL, PER_KIND = 0.9, 0.8


def goal(precision: dict) -> dict:
    """Recall 100% for every kind; precision >= 90% overall and >= 80% for every kind."""
    kinds = precision["by_kind"]
    worst = min(kinds, key=lambda k: kinds[k]["precision"])
    overall = precision["overall"]
    return {"id": "precision", "goal": "purges: recall 100% for every kind of write; precision >= 90% overall "
                                       "and >= 80% for every kind",
            "measured": f"recall {100 * overall['recall']:.1f}%, precision {100 * overall['precision']:.1f}% over "
                        f"{overall['writes']} writes on {precision['pages']} pages; lowest "
                        f"{worst} {100 * kinds[worst]['precision']:.1f}%",
            "met": all(row["recall"] == 1 for row in kinds.values()) and precision["recall_ok"]
            and overall["precision"] >= OVERALL and all(row["precision"] >= PER_KIND for row in kinds.values())}


def table(precision: dict) -> list[str]:
    lines = ["| write | writes | recall | precision | pages purged per write | share of sampled pages |",
             "| --- | --- | --- | --- | --- | --- |"]
    for kind, row in {**precision["by_kind"], "overall": precision["overall"]}.items():
        lines.append(f"| {kind} | {row['writes']} | {100 * row['recall']:.1f}% | {100 * row['precision']:.1f}% | "
                     f"{row['purged_per_write']} | {100 * row['purged_share']:.1f}% |")
    return lines


def summary(precision: dict) -> dict:
    """What latest.json keeps: overall recall and precision, and the lowest kind's precision."""
    kinds = precision["by_kind"]
    return {"recall": precision["overall"]["recall"], "precision": precision["overall"]["precision"],
            "lowest_kind_precision": min(row["precision"] for row in kinds.values()),
            "pages": precision["pages"], "writes": precision["overall"]["writes"]}
