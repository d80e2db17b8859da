"""The precision oracle's figures in the benchmark report (bench/precision.py, docs/edge.md): the goal
and its table. Pure: from the oracle's JSON to lines of Markdown and a goal verdict."""

from __future__ import annotations

from bench import before_after as before_after_rows

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


BEFORE_AFTER_TEXT = (
    "Issue 17 scoped list keys by their filters, fields and ranks. Its \"before\" here is the table keys, "
    "`UPSTACK[\"EDGE_KEYS\"] = \"table\"` (docs/settings.md): one key per model's lists, purged by every write "
    "of the model, as Drupal's `node_list` - a lower bound of the old behaviour, which already scoped "
    "equality filters. Purges: the oracle with each kind of key, in this run. Mixed workload: the precise "
    "stack against typical (the main rounds above), and a second stack with the table keys against typical "
    "on its own copy of the data, interleaved over as many rounds (`bench/run.py` `measure_variant`).")


def _pct(row: dict | None, name: str) -> str:
    return f"{100 * row[name]:.1f}%" if row else "-"


def before_after(before: dict, after_precision: dict, mixed_after: dict) -> list[str]:
    """Issue 17's before (table keys) and after (precise keys), from the same run (pure): ``before``
    is the run's "before_after" ({"precision": the oracle with the table keys, "mixed": medians of
    typical and upstack-table}), ``mixed_after`` the main rounds' mixed-workload medians per stack."""
    table, precise = before["precision"], after_precision
    lines = ["| write | recall before / after | precision before / after | pages purged per write before / after |",
             "| --- | --- | --- | --- |"]
    kinds = list(dict.fromkeys([*precise["by_kind"], *table["by_kind"]]))
    for kind in [*kinds, "overall"]:
        old = table["overall"] if kind == "overall" else table["by_kind"].get(kind)
        new = precise["overall"] if kind == "overall" else precise["by_kind"].get(kind)
        lines.append(f"| {kind} | {_pct(old, 'recall')} / {_pct(new, 'recall')} | {_pct(old, 'precision')} / "
                     f"{_pct(new, 'precision')} | {old['purged_per_write'] if old else '-'} / "
                     f"{new['purged_per_write'] if new else '-'} |")
    lines += ["", f"Purges: {table['overall']['writes']} writes with the table keys, {precise['overall']['writes']} "
              f"with the precise keys, over {precise['pages']} sampled pages.", ""]
    return lines + before_after_rows.versus_typical(
        "mixed workload", [("before: upstack, table keys", before.get("mixed"), "upstack-table"),
         ("after: upstack, precise keys", mixed_after, "upstack")], before.get("mixed_error"))


def before_summary(before: dict) -> dict:
    """What latest.json keeps of the "before" (table keys): the oracle's summary, and the mixed
    workload's req/s over typical's and p99s (None when the second stack was not measured)."""
    mixed = before_after_rows.figures(before.get("mixed"), "upstack-table")
    return {"precision": summary(before["precision"]), "mixed_x_typical": mixed["x_typical"],
            "mixed_p99_ms": mixed["p99_ms"], "typical_p99_ms": mixed["typical_p99_ms"]}
