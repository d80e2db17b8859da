"""``make bench`` / ``make bench-quick``: upstack side by side with plain Django and a typical
production template, on one machine, one data set, runs interleaved (BLUEPRINT I2, I3).

1. ``upstack up`` brings up the full stack and seeds the data (quick: 2,000 articles; full: 20,000).
2. Two more gunicorn servers run the same code on the same PostgreSQL: ``plain`` (every upstack
   layer off, database sessions) and ``typical`` (a Redis cache, WhiteNoise, database sessions,
   persistent connections). upstack is measured through its edge (Varnish).
3. wrk (pinned to CPU 0 with taskset where there are 2+ CPUs) drives each workload against each
   stack in turn - plain, typical, upstack, plain, ... - for ``--rounds`` rounds; each figure is the
   median, with the CPU steal of that run (/proc/stat) beside it.
   Workloads: anonymous browsing (Zipf-like over popular pages), logged-in browsing (one reader's
   session), and browsing mixed with writes (a Locust "mixed" run: readers comment and like,
   editors save) for upstack only in quick mode.
4. Limits: Varnish serving one cached article page, and a minimal Django view (/healthz) on the
   same app server. The ladder: edge hit, page-cache hit, warm render, cold render.
5. Results go to bench/results/bench-<date>.json and docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MANAGE = [sys.executable, "manage.py"]


def sh(args, env=None, timeout=900, check=True) -> str:
    result = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, args))} failed:\n{result.stdout[-1500:]}{result.stderr[-2500:]}")
    return result.stdout


def steal() -> tuple[int, int]:
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    values = [int(v) for v in fields]
    return values[7] if len(values) > 7 else 0, sum(values)


class Counters:
    """Database statements (pg_stat_statements) and edge backend requests, read around a run."""

    def __init__(self, database_url: str | None = None, varnish_dir: Path | None = None):
        self.database_url, self.varnish_dir = database_url, varnish_dir

    def read(self) -> dict:
        values = {}
        if self.database_url:
            import psycopg

            with psycopg.connect(self.database_url.replace("postgres://", "postgresql://", 1)) as conn:
                values["statements"] = int(conn.execute(
                    "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid "
                    "WHERE d.datname = current_database()").fetchone()[0])
        if self.varnish_dir:
            from upstack.ops.top import varnish_counters

            values["backend_req"] = varnish_counters(self.varnish_dir, ("backend_req",))["backend_req"]
        return values


def wrk(url: str, paths: list[str], seconds: int, connections: int, cookie: str = "", counters=None) -> dict:
    script = ROOT / "var" / "bench" / "paths.lua"
    script.parent.mkdir(parents=True, exist_ok=True)
    lua_paths = ",".join(json.dumps(p) for p in paths)
    header = f'wrk.headers["Cookie"] = {json.dumps(cookie)}\n' if cookie else ""
    script.write_text(f'local paths = {{{lua_paths}}}\nlocal i = 0\nwrk.headers["Host"] = "127.0.0.1"\n{header}'
                      "request = function()\n  i = i % #paths + 1\n  return wrk.format(nil, paths[i])\nend\n"
                      "done = function(summary, latency, requests)\n"
                      '  io.write(string.format("JSON {\\"requests\\": %d, \\"errors\\": %d, \\"p50\\": %d, '
                      '\\"p95\\": %d, \\"p99\\": %d}\\n", summary.requests, summary.errors.status + '
                      "summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout, "
                      "latency:percentile(50), latency:percentile(95), latency:percentile(99)))\nend\n")
    pin = ["taskset", "-c", "0"] if (os.cpu_count() or 1) > 1 and shutil.which("taskset") else []
    before = steal()
    counted = counters.read() if counters else {}
    out = sh([*pin, "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", str(script), url],
             timeout=seconds + 60)
    after = steal()
    data = json.loads(out.split("JSON ", 1)[1].splitlines()[0])
    total = max(1, after[1] - before[1])
    extra = {}
    if counters:
        now = counters.read()
        requests = max(1, data["requests"])
        extra["queries_per_request"] = round((now["statements"] - counted["statements"] - 1) / requests, 2)
        extra["backend_requests_per_view"] = round(
            (now["backend_req"] - counted["backend_req"]) / requests, 3) if "backend_req" in now else 1.0
    return {**extra, "rps": round(data["requests"] / seconds, 1), "p50_ms": data["p50"] / 1000, "p95_ms": data["p95"] / 1000,
            "p99_ms": data["p99"] / 1000, "errors": data["errors"], "requests": data["requests"],
            "steal_pct": round(100 * (after[0] - before[0]) / total, 2)}


def start_gunicorn(profile: str, port: int, env: dict, workers: int) -> subprocess.Popen:
    log = open(ROOT / "var" / "bench" / f"{profile}.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "newsroom.wsgi:application", "--bind",
                             f"127.0.0.1:{port}", "--workers", str(workers), "--threads", "4", "--worker-class",
                             "gthread"], cwd=ROOT, env={**env, "DJANGO_SETTINGS_MODULE": f"newsroom.settings.{profile}"},
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2).status == 200:
                return proc
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"{profile} gunicorn did not start; see var/bench/{profile}.log")


def login_cookie(base: str) -> str:
    """The session cookie of a seeded reader, logged in through ``base`` (edge_mix's browser)."""
    from bench.edge_mix import SEEDED_PASSWORD, Browser

    browser = Browser(base)
    browser.login("reader000001", SEEDED_PASSWORD)
    return "; ".join(f"{c.name}={c.value}" for c in browser.jar if c.name == "sessionid")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="upstack vs plain Django vs a typical template, side by side")
    parser.add_argument("--quick", action="store_true", help="small data, short runs (CI-sized)")
    parser.add_argument("--full", action="store_true", help="the full benchmark")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    articles, seconds, connections = (2000, 5, 16) if not args.full else (20000, 20, 32)
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "newsroom.settings.dev"}
    was_up = json.loads(sh([*MANAGE, "upstack", "status", "--json"], env=env, check=False) or "{}").get("running")
    sh([*MANAGE, "upstack", "up", "--stack-settings", "newsroom.settings.deploy", "--memory", "4G",
        "--seed-articles", str(articles)], env=env, timeout=1800)
    stack_env = dict(line.split("=", 1) for line in sh([*MANAGE, "upstack", "env"], env=env).splitlines())
    status = json.loads(sh([*MANAGE, "upstack", "status", "--json"], env=env))
    app = "http://" + next(s["address"] for s in status["services"] if s["name"] == "app")
    edge = status["edge_url"]
    peers_env = {**os.environ, **stack_env, "DATABASE_URL": stack_env.get("DIRECT_DATABASE_URL") or stack_env["DATABASE_URL"],
                 "REDIS_URL": stack_env["REDIS_URL"].rsplit("/", 1)[0] + "/5"}
    peers_env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # the peers have no upstack metrics
    (ROOT / "var" / "bench").mkdir(parents=True, exist_ok=True)
    ports = {"plain": 18501, "typical": 18502}
    procs = {p: start_gunicorn(p, port, peers_env, workers=3) for p, port in ports.items()}
    targets = {"plain": f"http://127.0.0.1:{ports['plain']}", "typical": f"http://127.0.0.1:{ports['typical']}",
               "upstack": edge}
    try:
        sys.path.insert(0, str(ROOT))
        paths = [line for line in sh([sys.executable, "-c", PATHS_CODE], env={**os.environ, **stack_env}).splitlines()
                 if line.startswith("/")]
        for base in targets.values():  # one warm pass each, as a deploy would
            wrk(base, paths, 2, 4)
        cookies = {name: login_cookie(base) for name, base in targets.items()}
        direct = stack_env.get("DIRECT_DATABASE_URL") or stack_env["DATABASE_URL"]
        counters = {"plain": Counters(direct), "typical": Counters(direct),
                    "upstack": Counters(direct, ROOT / ".upstack" / "varnish")}
        results = {w: {s: [] for s in targets} for w in ("anonymous", "logged_in")}
        for _ in range(args.rounds):
            for workload in results:
                for name, base in targets.items():
                    results[workload][name].append(
                        wrk(base, paths, seconds, connections, cookies[name] if workload == "logged_in" else "",
                            counters[name]))
        article = next(p for p in paths if p.startswith("/articles/"))
        limits = {"varnish_cached_article": wrk(edge, [article], seconds, connections),
                  "django_minimal_view": wrk(app, ["/healthz"], seconds, connections)}
        ladder = {"edge hit": wrk(edge, [article], seconds, 4),
                  "page-cache hit": wrk(app, [article], seconds, 4),
                  "cold render (plain)": wrk(targets["plain"], [article], seconds, 4)}
    finally:
        for proc in procs.values():
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(30)
        if not was_up:  # leave the machine as we found it
            sh([*MANAGE, "upstack", "down"], env=env, check=False)
    report = summarize(results, limits, ladder, articles, seconds, connections, args.rounds)
    from bench.results import save

    save("bench", report, echo=False)
    (ROOT / "docs" / "benchmarks.md").write_text(markdown(report))
    print(markdown(report))
    return 0


PATHS_CODE = ("import django; django.setup(); from newsroom.news.models import Article, Section; "
              "print('/'); [print(a.get_absolute_url()) for a in Article.objects.published().order_by('-read_count')[:60]]; "
              "[print(s.get_absolute_url()) for s in Section.objects.all()]")


def _median(runs: list[dict]) -> dict:
    keys = ("rps", "p50_ms", "p95_ms", "p99_ms", "errors", "steal_pct", "queries_per_request", "backend_requests_per_view")
    return {k: statistics.median(r[k] for r in runs) for k in keys if k in runs[0]}


def _freshness() -> str:
    found = sorted((ROOT / "bench" / "results").glob("freshness-*.json"))
    if not found:
        return "not measured"
    data = json.loads(found[-1].read_text())
    return f"p50 {data['lag_ms_p50']} ms, p99 {data['lag_ms_p99']} ms over {data['writes']} writes ({found[-1].name})"


def summarize(results, limits, ladder, articles, seconds, connections, rounds) -> dict:
    table = {w: {s: _median(runs) for s, runs in stacks.items()} for w, stacks in results.items()}
    ratios = {w: {"upstack_vs_plain": round(t["upstack"]["rps"] / max(t["plain"]["rps"], 0.1), 1),
                  "upstack_vs_typical": round(t["upstack"]["rps"] / max(t["typical"]["rps"], 0.1), 1),
                  "upstack_vs_varnish_limit": round(t["upstack"]["rps"] / max(limits["varnish_cached_article"]["rps"], 0.1), 2)}
              for w, t in table.items()}
    return {"date": date.today().isoformat(), "articles": articles, "seconds_per_run": seconds, "rounds": rounds,
            "connections": connections, "cpus": os.cpu_count(), "table": table, "ratios": ratios,
            "limits": limits, "ladder": ladder, "freshness": _freshness(), "raw": results}


def markdown(report: dict) -> str:
    lines = [f"# Benchmarks ({report['date']})", "",
             "Generated by `make bench-quick` / `make bench` (bench/run.py) from "
             f"bench/results/bench-{report['date']}.json. One machine ({report['cpus']} CPUs), one data set "
             f"({report['articles']} articles on PostgreSQL), wrk with {report['connections']} connections pinned to "
             f"CPU 0, {report['seconds_per_run']} s per run, medians of {report['rounds']} interleaved rounds.", ""]
    for workload, stacks in report["table"].items():
        lines += [f"## {workload.replace('_', ' ')} browsing", "",
                  "| stack | req/s | p50 ms | p95 ms | p99 ms | errors | DB queries / request | backend requests / view "
                  "| CPU steal % |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        for name, row in stacks.items():
            lines.append(f"| {name} | {row['rps']} | {row['p50_ms']} | {row['p95_ms']} | {row['p99_ms']} | "
                         f"{row['errors']} | {row.get('queries_per_request', '-')} | "
                         f"{row.get('backend_requests_per_view', '-')} | {row['steal_pct']} |")
        r = report["ratios"][workload]
        lines += ["", f"upstack / plain: x{r['upstack_vs_plain']}; upstack / typical: x{r['upstack_vs_typical']}; "
                  f"upstack / the Varnish limit: {r['upstack_vs_varnish_limit']}", ""]
    lines += ["## Limits", "", "| what | req/s | p50 ms | p99 ms |", "| --- | --- | --- | --- |"]
    lines += [f"| {k.replace('_', ' ')} | {v['rps']} | {v['p50_ms']} | {v['p99_ms']} |" for k, v in report["limits"].items()]
    lines += ["", "## The response-time ladder (4 connections)", "", "| layer | p50 ms | p99 ms | req/s |",
              "| --- | --- | --- | --- |"]
    lines += [f"| {k} | {v['p50_ms']} | {v['p99_ms']} | {v['rps']} |" for k, v in report["ladder"].items()]
    lines += ["", f"Freshness after writes through the edge (upstack, bench/freshness.py): {report.get('freshness')}.",
              "", "Not yet measured here: the workload mixed with writes side by side (see `upstack loadtest "
              "--scenario mixed`), and the data-size series (bench/datasize.py, results under bench/results/).", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
