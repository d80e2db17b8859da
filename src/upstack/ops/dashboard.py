"""``upstack report dashboard``: the rendered Grafana dashboard as a static HTML report, its charts
drawn from Prometheus' own data.

Grafana cannot be installed on these machines (Debian has no package, PyPI and npm only unrelated or
placeholder ones), so the dashboard's panels (``upstack.stack.observability.dashboard``) are queried
from Prometheus' HTTP API (``query_range``, the same expressions Grafana would send) and drawn with
matplotlib into one self-contained HTML file (PNG data URIs). A panel without data says so. Prometheus
itself comes from Debian (``prometheus``). Only Prometheus on loopback is queried (``upstack.ops.promql``).
"""

from __future__ import annotations

import base64
import html
import io
import time

from .promql import query_range, require_loopback


def _label(metric: dict, legend: str) -> str:
    text = legend
    for key, value in metric.items():
        text = text.replace("{{" + key + "}}", value)
    import re

    return re.sub(r"\{\{\w+\}\}", "", text) or metric.get("__name__", "value")


def chart(title: str, series: list[dict], legend: str) -> str:
    """One panel as a PNG data URI (matplotlib: the bench extra)."""
    from importlib.util import find_spec

    if find_spec("matplotlib") is None:
        raise ValueError("report dashboard draws its charts with matplotlib: pip install 'django-upstack[bench]'")
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(7, 3), dpi=90)
    for item in series:
        times = [float(t) for t, _ in item["values"]]
        values = [float(v) for _, v in item["values"]]
        axes.plot([t - times[0] for t in times] if times else [], values, label=_label(item["metric"], legend))
    axes.set_title(title)
    axes.set_xlabel("seconds")
    if series:
        axes.legend(fontsize="small", loc="upper left")
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png")
    pyplot.close(figure)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def report(board: dict, prometheus: str, minutes: float = 15, step: float | None = None) -> tuple[str, list[dict]]:
    """The HTML report and, per panel, how many series and points it drew."""
    prometheus = require_loopback(prometheus, "the dashboard report")
    end = time.time()
    start = end - minutes * 60
    step = step or max(1.0, minutes * 60 / 300)
    panels, figures = [], []
    for panel in board["panels"]:
        target = panel["targets"][0]
        series = [s for s in query_range(prometheus, target["expr"], start, end, step) if s["values"]]
        points = sum(len(s["values"]) for s in series)
        panels.append({"title": panel["title"], "expr": target["expr"], "series": len(series), "points": points})
        body = (f'<img alt="{html.escape(panel["title"])}" src="{chart(panel["title"], series, target["legendFormat"])}">'
                if series else '<p class="empty">no data from Prometheus for this panel</p>')
        figures.append(f'<figure data-series="{len(series)}" data-points="{points}"><figcaption>'
                       f'{html.escape(panel["title"])}</figcaption>{body}<code>{html.escape(target["expr"])}</code>'
                       "</figure>")
    page = ("<!doctype html><html><head><meta charset=utf-8><title>" + html.escape(board["title"]) + "</title><style>"
            "body{font-family:sans-serif;margin:1em}main{display:grid;grid-template-columns:repeat(auto-fill,"
            "minmax(640px,1fr));gap:1em}figure{margin:0;border:1px solid #ccc;padding:.5em}img{max-width:100%}"
            "code{font-size:.75em;color:#555;display:block}.empty{color:#a00}</style></head><body><h1>"
            + html.escape(board["title"]) + "</h1><p>From " + html.escape(prometheus) + f", the last {minutes:g} "
            f"minutes, drawn {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(end))}.</p><main>"
            + "".join(figures) + "</main></body></html>\n")
    return page, panels


__all__ = ["chart", "query_range", "report"]
