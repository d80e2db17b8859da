"""One measured load run: wrk (pinned to CPU 0 where there are two or more CPUs) replaying a cycle of
requests, with the CPU steal of the run and, optionally, database statements and edge backend
requests counted around it.

A request is ``(method, path, headers, body)``. The Lua script wrk runs is generated from that list
(``lua_script``, pure); every request carries its own headers, because ``wrk.format`` does not merge
``wrk.headers`` into headers it is given.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"  # the newsroom's ALLOWED_HOSTS on the local stack

Request = tuple[str, str, dict, "str | None"]


def get(path: str, headers: dict | None = None) -> Request:
    return ("GET", path, headers or {}, None)


def post(path: str, body: str, headers: dict | None = None) -> Request:
    return ("POST", path, {"Content-Type": "application/x-www-form-urlencoded", **(headers or {})}, body)


def _lua(value: str) -> str:
    if not value.isascii():
        raise ValueError(f"wrk requests must be ASCII (URL-encode them): {value[:60]!r}")
    return json.dumps(value)  # an ASCII JSON string is a valid Lua string literal


# Paced sending (``rate``): wrk's ``delay()`` hands each request the next slot of a fixed schedule,
# read from the monotonic clock through LuaJIT's FFI (wrk's Lua has no wall clock of its own); slots
# missed for more than a second are dropped rather than sent in a burst. wrk2 does this properly but is
# not packaged; latency is still measured from the actual send, the same way for every stack.
PACING = """local ffi = require("ffi")
ffi.cdef[[ typedef struct { long tv_sec; long tv_nsec; } upstack_ts; int clock_gettime(int, upstack_ts *); ]]
local ts = ffi.new("upstack_ts")
local function now_ms() ffi.C.clock_gettime(1, ts); return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6 end
local interval, slot = %s, nil
delay = function()
  local now = now_ms()
  if slot == nil or slot < now - 1000 then slot = now end
  slot = slot + interval
  if slot <= now then return 0 end
  return slot - now
end
"""


def lua_script(requests: list[Request], rate: float | None = None) -> str:
    """A wrk script that cycles through ``requests`` and prints one JSON summary line; with ``rate``,
    it sends at most ``rate`` requests a second (one wrk thread: one schedule)."""
    if not requests:
        raise ValueError("no requests to replay")
    if rate is not None and not rate > 0:
        raise ValueError(f"a rate must be a positive number of requests a second, not {rate!r}")
    specs = []
    for method, path, headers, body in requests:
        fields = ", ".join(f"[{_lua(k)}] = {_lua(v)}" for k, v in {"Host": HOST, **headers}.items())
        specs.append(f"  {{{_lua(method)}, {_lua(path)}, {{{fields}}}, {_lua(body) if body is not None else 'nil'}}}")
    pacing = PACING % repr(1000.0 / rate) if rate else ""
    return (pacing + "local specs = {\n" + ",\n".join(specs) + "\n}\nlocal reqs = {}\nlocal i = 0\n"
            "init = function(args)\n  for n, s in ipairs(specs) do reqs[n] = wrk.format(s[1], s[2], s[3], s[4]) end\n"
            "end\n"
            "request = function()\n  i = i % #reqs + 1\n  return reqs[i]\nend\n"
            "done = function(summary, latency, requests)\n"
            '  io.write(string.format("JSON {\\"requests\\": %d, \\"status_errors\\": %d, \\"socket_errors\\": %d, '
            '\\"p50\\": %d, \\"p95\\": %d, \\"p99\\": %d}\\n", summary.requests, summary.errors.status, '
            "summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout, "
            "latency:percentile(50), latency:percentile(95), latency:percentile(99)))\nend\n")


def steal() -> tuple[int, int]:
    """(steal, total) jiffies from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
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


def _children_cpu() -> float:
    """CPU seconds used by finished child processes (wrk): how busy the load generator was."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def pinned() -> list[str]:
    return ["taskset", "-c", "0"] if (os.cpu_count() or 1) > 1 and shutil.which("taskset") else []


def run(url: str, requests: list[Request], seconds: int, connections: int, counters: Counters | None = None,
        rate: float | None = None) -> dict:
    """Replay ``requests`` against ``url`` for ``seconds``; rps (successful responses), latency
    percentiles, errors, steal. ``rate``: offer at most that many requests a second (``lua_script``)."""
    script = ROOT / "var" / "bench" / "requests.lua"
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(lua_script(requests, rate))
    before, counted, cpu = steal(), (counters.read() if counters else {}), _children_cpu()
    result = subprocess.run([*pinned(), "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s",
                             "-s", str(script), url], capture_output=True, text=True, timeout=seconds + 60)
    after, cpu = steal(), _children_cpu() - cpu
    if result.returncode != 0 or "JSON " not in result.stdout:
        raise RuntimeError(f"wrk against {url} failed: {result.stdout[-1000:]}{result.stderr[-1000:]}")
    data = json.loads(result.stdout.split("JSON ", 1)[1].splitlines()[0])
    extra = {}
    if counters:
        now, done = counters.read(), max(1, data["requests"])
        if "statements" in now:  # minus our own counting statement
            extra["queries_per_request"] = round((now["statements"] - counted["statements"] - 1) / done, 2)
        if "backend_req" in now:  # measured at an edge only; without one there is nothing to count
            extra["backend_requests_per_view"] = round((now["backend_req"] - counted["backend_req"]) / done, 3)
        if "cpu_s" in now:  # the serving processes' CPU (bench/cpu.py)
            extra["cpu_ms_per_request"] = round(1000 * (now["cpu_s"] - counted["cpu_s"]) / done, 3)
    return {**extra, **figures(data, seconds), "loadgen_cpu_pct": round(100 * cpu / seconds, 1),
            "steal_pct": round(100 * (after[0] - before[0]) / max(1, after[1] - before[1]), 2)}


def figures(data: dict, seconds: float) -> dict:
    """From wrk's summary line to a run's figures. Throughput counts successful responses only: wrk's
    ``requests`` includes responses with an error status (4xx/5xx), and a stack that answered errors
    fast must not look fast. ``errors`` adds the socket errors (connect, read, write, timeout)."""
    ok = data["requests"] - data["status_errors"]
    return {"rps": round(ok / seconds, 1), "p50_ms": data["p50"] / 1000, "p95_ms": data["p95"] / 1000,
            "p99_ms": data["p99"] / 1000, "errors": data["status_errors"] + data["socket_errors"],
            "requests": data["requests"]}
