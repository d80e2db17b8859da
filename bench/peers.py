"""The peers upstack is measured against, started on free loopback ports beside the stack.

- ``plain``: Django with every upstack layer off (newsroom/settings/plain.py);
- ``typical``: a Redis cache, WhiteNoise, persistent connections (newsroom/settings/typical.py);
- ``sitecache``: typical plus Django's per-site cache on Redis, 60 s TTL
  (newsroom/settings/sitecache.py);
- ``microcache``: nginx from the system packages in front of typical's gunicorn, ``proxy_cache``
  with a 5 s TTL, ``proxy_cache_lock`` and ``proxy_cache_use_stale updating``, bypassed (and not
  stored) for requests with a session cookie - the usual micro-caching recipe.

Each gunicorn has the same sizing (3 workers x 4 threads). ``TTL`` says how long each peer may
serve a page after a write; the staleness probe (bench/staleness.py) uses it to age the pages it
writes to. ``start`` yields the base URL of each peer and stops them all afterwards.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from upstack.stack.machine import find_binary, free_port

ROOT = Path(__file__).resolve().parents[1]
PEERS = ("plain", "typical", "sitecache", "microcache")
TTL = {"sitecache": 60, "microcache": 5}  # seconds a cached page may be served after a write
WORKERS = 3


def start_gunicorn(profile: str, port: int, env: dict, workers: int = WORKERS) -> subprocess.Popen:
    out = open(ROOT / "var" / "bench" / f"{profile}.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "newsroom.wsgi:application", "--bind",
                             f"127.0.0.1:{port}", "--workers", str(workers), "--threads", "4", "--worker-class",
                             "gthread"], cwd=ROOT, env={**env, "DJANGO_SETTINGS_MODULE": f"newsroom.settings.{profile}"},
                            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    if not _answers(f"http://127.0.0.1:{port}/healthz", proc):
        stop(proc)
        raise RuntimeError(f"{profile} gunicorn did not start; see var/bench/{profile}.log")
    return proc


def _answers(url: str, proc: subprocess.Popen, timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if urllib.request.urlopen(url, timeout=2).status == 200:
                return True
        except OSError:
            time.sleep(0.3)
    return False


def stop(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def nginx_conf(listen: int, upstream: int, folder: str, ttl: int = TTL["microcache"]) -> str:
    """nginx micro-caching in front of ``upstream`` (pure). Anonymous GETs are cached for ``ttl``
    seconds, one request per object refills it (the lock) while the others get the stale copy
    (``use_stale updating``); a request with a session cookie neither reads nor fills the cache.
    X-Cache says which it was."""
    return f"""daemon off;
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {folder}/body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    proxy_cache_path {folder}/cache levels=1:2 keys_zone=micro:10m max_size=256m inactive=60s use_temp_path=off;
    upstream app {{
        server 127.0.0.1:{upstream};
        keepalive 32;
        # Shorter than gunicorn's keep-alive (2 s): else nginx may send a request on a connection
        # gunicorn is closing, and a POST (never retried) comes back as a 502.
        keepalive_timeout 1s;
    }}
    server {{
        listen 127.0.0.1:{listen};
        location / {{
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_cache micro;
            proxy_cache_valid 200 301 302 {ttl}s;
            proxy_cache_lock on;
            proxy_cache_use_stale updating;
            proxy_cache_bypass $cookie_sessionid;
            proxy_no_cache $cookie_sessionid;
            add_header X-Cache $upstream_cache_status;
        }}
    }}
}}
"""


@contextlib.contextmanager
def microcache(upstream: int, ttl: int = TTL["microcache"]):
    """nginx (system package) micro-caching in front of 127.0.0.1:``upstream`` on a free loopback
    port, in a temporary folder; yields its URL and stops it afterwards."""
    binary = find_binary("nginx")
    if not binary:
        raise RuntimeError("nginx is not installed (scripts/install-services installs it)")
    folder = tempfile.mkdtemp(prefix="upstack-microcache-")
    os.chmod(folder, 0o777)  # nginx's workers drop to nobody when the master runs as root
    port = free_port()
    Path(folder, "nginx.conf").write_text(nginx_conf(port, upstream, folder, ttl))
    (ROOT / "var" / "bench").mkdir(parents=True, exist_ok=True)
    with open(ROOT / "var" / "bench" / "microcache.log", "wb") as out:
        proc = subprocess.Popen([binary, "-c", f"{folder}/nginx.conf", "-p", folder], stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        if not _answers(f"http://127.0.0.1:{port}/healthz", proc, 30):
            raise RuntimeError(f"nginx did not start: {Path(folder, 'error.log').read_text()[-1500:]}"
                               if Path(folder, "error.log").exists() else "nginx did not start")
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(proc)
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def start(env: dict, names=PEERS):
    """The peers ``names`` (default: every one) on the stack's data (``env``: its database and a Redis of
    their own); yields ``{name: base URL}`` in PEERS order."""
    unknown = set(names) - set(PEERS)
    if unknown:
        raise ValueError(f"unknown peers {sorted(unknown)}; known: {', '.join(PEERS)}")
    (ROOT / "var" / "bench").mkdir(parents=True, exist_ok=True)
    procs, ports = [], {}
    try:
        with contextlib.ExitStack() as stack:
            for profile in ("plain", "typical", "sitecache"):
                if profile in names or (profile == "typical" and "microcache" in names):
                    ports[profile] = free_port()
                    procs.append(start_gunicorn(profile, ports[profile], env))
            urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
            if "microcache" in names:
                urls["microcache"] = stack.enter_context(microcache(ports["typical"]))
            yield {name: urls[name] for name in PEERS if name in names}
    finally:
        for proc in procs:
            stop(proc)
