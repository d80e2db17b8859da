"""``upstack loadtest``: one Locust scenario, headless and bounded, with CSV, HTML and PNG charts.

Locust runs as a subprocess on a locustfile: ``--locustfile``, else ``UPSTACK["LOADTEST_LOCUSTFILE"]``,
else the package's own for any site (upstack.ops.locustfile; the package never imports it). A
locustfile declares its scenarios in a module-level ``SCENARIOS``, read here without importing it.
This module prepares Locust's inputs - the URL list (a file given with ``--urls``, else the project's
``LOADTEST_PREPARE`` hook, else the site's sitemap through the target, else the home page) and a
staff account for editor scenarios - and turns its CSV output into charts with matplotlib: latency
over time, and latency histograms split by ``X-Cache`` (edge) and ``X-Page-Cache`` (page cache).
"""

from __future__ import annotations

import ast
import csv
import os
import re
import secrets
import subprocess
import sys
from collections import defaultdict
from importlib.util import find_spec
from pathlib import Path
from urllib.parse import urlsplit
from xml.etree import ElementTree as ET

PACKAGE_LOCUSTFILE = Path(__file__).with_name("locustfile.py")


def parse_duration(text: str) -> int:
    match = re.fullmatch(r"(\d+)\s*([smh]?)", text.strip())
    if not match:
        raise ValueError(f"bad duration {text!r}: use e.g. 60s, 5m, 1h")
    seconds = int(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]
    if not 1 <= seconds <= 3600:
        raise ValueError("the duration must be between 1 s and 1 h (load tests are bounded)")
    return seconds


def locustfile_for(option: str | None) -> Path:
    """The locustfile to run: the option, the project's setting (relative to BASE_DIR), or the package's."""
    from django.conf import settings

    from .. import conf

    chosen = option or conf.get("LOADTEST_LOCUSTFILE")
    if not chosen:
        return PACKAGE_LOCUSTFILE
    path = Path(chosen)
    if not path.is_absolute():
        path = Path(settings.BASE_DIR) / path if not option else path.resolve()
    if not path.is_file():
        raise ValueError(f"no locustfile at {path}; give --locustfile PATH or set UPSTACK['LOADTEST_LOCUSTFILE']")
    return path


def scenarios(locustfile: Path) -> tuple[str, ...]:
    """The names in the locustfile's module-level ``SCENARIOS`` (a tuple or list of names, or a dict
    keyed by them), read with ``ast``: importing it would need Locust in this process."""
    for node in ast.parse(locustfile.read_text(), filename=str(locustfile)).body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        if any(isinstance(t, ast.Name) and t.id == "SCENARIOS" for t in targets) and node.value is not None:
            value = node.value
            items = value.keys if isinstance(value, ast.Dict) else getattr(value, "elts", [])
            names = tuple(i.value for i in items if isinstance(i, ast.Constant) and isinstance(i.value, str))
            if names:
                return names
    raise ValueError(f"{locustfile} declares no SCENARIOS: add e.g. SCENARIOS = (\"anonymous\",) naming the "
                     "scenarios it reads from $UPSTACK_SCENARIO")


def site_urls(top: int, urls_file: Path | None = None, target: str | None = None) -> tuple[list[str], dict[str, str]]:
    """The URL list (most visited first) and extra environment for the locustfile: from ``urls_file``,
    else the ``UPSTACK["LOADTEST_PREPARE"]`` hook, else the sitemap at ``target``, else the home page."""
    from django.utils.module_loading import import_string

    from .. import conf
    from .warm import from_file, from_sitemap

    if urls_file is not None:
        if not urls_file.is_file():
            raise ValueError(f"no URL list at {urls_file} (one path or URL per line)")
        return from_file(urls_file, top) or ["/"], {}
    hook = conf.get("LOADTEST_PREPARE")
    if hook:
        urls, env = import_string(hook)(top)
        return list(urls), dict(env)
    if target:
        try:
            return from_sitemap(target.rstrip("/"), urlsplit(target).netloc, top), {}
        except (OSError, ET.ParseError):  # no sitemap, or not one: the home page
            pass
    return ["/"], {}


def prepare(out: Path, top: int = 300, urls_file: Path | None = None, target: str | None = None) -> dict[str, str]:
    """Write the URL list and make sure the editor account exists; returns Locust's environment."""
    from django.conf import settings
    from django.contrib.auth import get_user_model

    urls, site_env = site_urls(top, urls_file, target)
    (out / "urls.txt").write_text("\n".join(urls) + "\n")
    password = secrets.token_urlsafe(16)
    editor, _ = get_user_model().objects.get_or_create(username="loadtest-editor",
                                                       defaults={"is_staff": True, "is_superuser": True})
    editor.set_password(password)
    editor.save()
    return {"UPSTACK_LOADTEST_URLS": str(out / "urls.txt"), "UPSTACK_LOADTEST_OUT": str(out),
            "UPSTACK_LOADTEST_EDITOR": editor.username, "UPSTACK_LOADTEST_EDITOR_PASSWORD": password,
            "UPSTACK_LOADTEST_ADMIN": "/" + getattr(settings, "ADMIN_URL", "admin/"), **site_env}


def run(scenario: str, users: int, duration: str, target: str, out: Path, locustfile: Path,
        urls_file: Path | None = None) -> dict:
    offered = scenarios(locustfile)
    if scenario not in offered:
        raise ValueError(f"unknown scenario {scenario!r}; {locustfile.name} offers: {', '.join(offered)}")
    if users < 1:
        raise ValueError("--users must be at least 1")
    seconds = parse_duration(duration)
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **prepare(out, urls_file=urls_file, target=target), "UPSTACK_SCENARIO": scenario}
    command = [sys.executable, "-m", "locust", "-f", str(locustfile), "--headless", "--users", str(users),
               "--spawn-rate", str(max(1, users // 5)), "--run-time", f"{seconds}s", "--host", target.rstrip("/"),
               "--csv", str(out / "run"), "--csv-full-history", "--html", str(out / "report.html"),
               "--only-summary", "--stop-timeout", "5", "--loglevel", "WARNING"]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=seconds + 120)
    if not (out / "run_stats.csv").exists():
        raise RuntimeError(f"locust did not run: {result.stderr[-2000:]}")
    summary = summarize(out)
    summary["charts"] = charts(out)
    summary["exit_code"] = result.returncode  # Locust exits 1 when any request failed
    return summary


def summarize(out: Path) -> dict:
    with open(out / "run_stats.csv") as handle:
        rows = {row["Name"]: row for row in csv.DictReader(handle)}
    total = rows.get("Aggregated", {})
    return {"requests": int(total.get("Request Count", 0)), "failures": int(total.get("Failure Count", 0)),
            "rps": float(total.get("Requests/s", 0) or 0), "p50_ms": float(total.get("50%", 0) or 0),
            "p95_ms": float(total.get("95%", 0) or 0), "p99_ms": float(total.get("99%", 0) or 0),
            "files": sorted(p.name for p in out.iterdir())}


def charts(out: Path) -> list[str]:
    """The PNG charts of a run; none without matplotlib (the bench extra)."""
    if find_spec("matplotlib") is None:
        return []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    made = []
    history = out / "run_stats_history.csv"
    if history.exists():
        with open(history) as handle:
            rows = [r for r in csv.DictReader(handle) if r["Name"] == "Aggregated"]
        if rows:
            start = int(rows[0]["Timestamp"])
            seconds = [int(r["Timestamp"]) - start for r in rows]
            fig, ax = plt.subplots(figsize=(9, 4))
            for column in ("50%", "95%", "99%"):
                ax.plot(seconds, [float(r[column]) if r[column] not in ("N/A", "") else 0 for r in rows], label=f"p{column[:-1]}")
            ax.set_xlabel("seconds")
            ax.set_ylabel("response time (ms)")
            ax.set_title("Latency over time")
            ax.legend()
            fig.savefig(out / "latency_over_time.png", dpi=100, bbox_inches="tight")
            plt.close(fig)
            made.append("latency_over_time.png")
    layers = out / "layers.csv"
    if layers.exists():
        by = {"x_cache": defaultdict(list), "x_page_cache": defaultdict(list)}
        with open(layers) as handle:
            for row in csv.DictReader(handle):
                by["x_cache"][row["x_cache"]].append(float(row["response_ms"]))
                by["x_page_cache"][row["x_page_cache"]].append(float(row["response_ms"]))
        for header, groups in by.items():
            fig, ax = plt.subplots(figsize=(9, 4))
            for label, values in sorted(groups.items()):
                ax.hist(values, bins=40, alpha=0.6, label=f"{label} ({len(values)})")
            ax.set_xlabel("response time (ms)")
            ax.set_ylabel("requests")
            ax.set_title(f"Latency by {header.replace('_', '-').title()}")
            ax.legend()
            name = f"histogram_by_{header}.png"
            fig.savefig(out / name, dpi=100, bbox_inches="tight")
            plt.close(fig)
            made.append(name)
    return made
