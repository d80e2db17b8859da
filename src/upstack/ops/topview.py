"""The full-screen layout of ``upstack top`` (in the manner of htop and varnishstat): one panel per
layer of a snapshot (``upstack.ops.top.snapshot``), laid out by rich. Pure: a snapshot in, a
renderable out, so tests can render one without a terminal.
"""

from __future__ import annotations

from rich.console import Group
from rich.layout import Layout
from rich.panel import Panel
from rich.table import Table
from rich.text import Text


def _pct(value) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _broken(section) -> Text | None:
    return Text(section["error"], style="red") if isinstance(section, dict) and "error" in section else None


def _grid(*columns: str) -> Table:
    grid = Table(expand=True, box=None, header_style="bold", pad_edge=False)
    for i, column in enumerate(columns):
        grid.add_column(column, justify="left" if i == 0 else "right", overflow="ellipsis", no_wrap=True)
    return grid


def edge(e: dict):
    return _broken(e) or Text.assemble(
        ("req/s ", "bold"), f"{e['requests_per_second']:>8}", ("   hit ratio ", "bold"), f"{_pct(e['hit_ratio_now']):>6}",
        f" (overall {_pct(e['hit_ratio'])})", ("   backend req/s ", "bold"), str(e["backend_requests_per_second"]))


def workers(a: dict):
    if _broken(a):
        return _broken(a)
    idle = "-" if a["idle_workers"] is None else a["idle_workers"]
    rps = a.get("requests_per_second")
    errors = a.get("error_ratio")
    return Text.assemble(("busy ", "bold"), str(a["busy_workers"]), ("   idle ", "bold"), str(idle),
                         f"   ({a['capacity'] or '?'} threads)   ", ("req/s ", "bold"), "-" if rps is None else str(rps),
                         ("   errors ", "bold"), (_pct(errors), "red" if errors else ""),
                         ("   mean ", "bold"), f"{a['mean_ms']} ms",
                         *((f"   {a['requests']} requests",) if "requests" in a else ()))


def views(a: dict):
    if _broken(a):
        return _broken(a)
    rate = any("requests_per_second" in row for row in a["views"])  # Prometheus gives rates, the files counts
    grid = _grid("view", "req/s" if rate else "requests", "p50 ms", "p99 ms")
    for row in a["views"]:
        grid.add_row(row["view"], str(row["requests_per_second" if rate else "requests"]),
                     str(row["p50_ms"] or "-"), str(row["p99_ms"] or "-"))
    return grid


def source(s: dict | None) -> tuple[str, Text]:
    """The app panels' title suffix and the footer's note: where the app's figures come from, and why."""
    if not s:
        return "", Text("")
    if s["name"] == "prometheus":
        return f" - from Prometheus {s['url']}", Text("")
    return " - read directly", Text(f"   app figures read directly: {s['reason']}", style="yellow")


def namespaces(n: dict, c: dict):
    server = _broken(c) or Text.assemble(("redis ", "bold"), f"hit ratio {_pct(c['hit_ratio'])}, "
                                         f"{c['used_memory'] // 1024 // 1024} MB, {c['evicted_keys']} evicted")
    if _broken(n):
        return Group(server, _broken(n))
    grid = _grid("namespace", "hit ratio", "calls", "errors")
    for name, row in n.items():
        grid.add_row(name, _pct(row["hit_ratio"]), str(row["calls"]), str(row["errors"]))
    return Group(server, grid)


def database(d: dict):
    if _broken(d):
        return _broken(d)
    head = Text.assemble(("connections ", "bold"), str(d["connections"]))
    statements = d["top_statements"]
    if isinstance(statements, dict):
        return Group(head, Text(statements.get("unavailable", ""), style="yellow"))
    grid = _grid("statement", "calls", "total ms")
    for row in statements:
        grid.add_row(" ".join(row["query"].split()), str(row["calls"]), f"{row['total_ms']:.0f}")
    return Group(head, grid)


def queues(q: dict, p: dict):
    if _broken(q):
        return _broken(q)
    grid = _grid("queue", "depth", "sent", "failed")
    for name, row in q.items():
        grid.add_row(name, str(row["depth"]), str(row["sent"]), str(row["failed"]))
    backlog = _broken(p) or Text.assemble(("purge backlog ", "bold"), f"{p['waiting']} waiting, ",
                                          (f"{p['failed_keys']} keys failed", "red" if p["failed_keys"] else ""))
    return Group(grid, backlog)


def render(data: dict) -> Layout:
    a = data["app"]
    origin, note = source(data.get("source"))
    window = f"p50/p99 per view ({a.get('window', '')})" if isinstance(a, dict) else "views"
    layout = Layout(name="top")
    layout.split_column(
        Layout(Panel(edge(data["edge"]), title="edge", title_align="left"), size=3),
        Layout(Panel(workers(a), title="app workers" + origin, title_align="left"), size=3),
        Layout(name="middle", ratio=2),
        Layout(Panel(database(data["db"]), title="database", title_align="left"), ratio=1),
        Layout(Text.assemble((" upstack top - refreshes every --interval seconds (1) - Ctrl-C quits", "dim"), note),
               size=1),
    )
    layout["middle"].split_row(
        Layout(Panel(views(a), title=window, title_align="left"), ratio=3),
        Layout(name="side", ratio=2),
    )
    layout["side"].split_column(
        Layout(Panel(namespaces(data["namespaces"], data["cache"]), title="cache hit ratio per namespace", title_align="left")),
        Layout(Panel(queues(data["queues"], data["purges"]), title="queues", title_align="left")),
    )
    return layout


__all__ = ["render"]
