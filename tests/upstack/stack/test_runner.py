"""``upstack up/status/stop/start/restart/env/down`` end to end with real processes.

One stack (PostgreSQL, two Redis, Varnish, gunicorn, Celery worker and beat, plus PgBouncer,
HAProxy and memcached) is brought up once for the module in a temp state dir, exercised through the
real command line, and brought down; afterwards no process that carried the stack's environment may
be left.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from bench import report as reports
from tests import servers
from upstack.ops import checklist, warm
from upstack.stack import machine

ROOT = Path(__file__).resolve().parents[3]
NEEDED = ("postgres", "initdb", "psql", "redis-server", "varnishd", "varnishadm", "pgbouncer", "haproxy",
          "memcached", "openssl")
pytestmark = [pytest.mark.servers, pytest.mark.slow]


def upstack(state: Path, *args: str, env: dict | None = None, timeout: float = 240) -> subprocess.CompletedProcess:
    full = {**os.environ, "DJANGO_SETTINGS_MODULE": "newsroom.settings.dev", "UPSTACK_STATE_DIR": str(state),
            **(env or {})}
    return subprocess.run([sys.executable, "manage.py", "upstack", *args], cwd=ROOT, env=full, capture_output=True,
                          text=True, timeout=timeout)


def status(state: Path) -> dict:
    result = upstack(state, "status", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def service(state: Path, name: str) -> dict:
    return next(s for s in status(state)["services"] if s["name"] == name)


def get(url: str, **headers) -> tuple[int, dict, str]:
    request = urllib.request.Request(url, headers={"Host": "127.0.0.1", **headers})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


def stack_processes(state: Path) -> list[int]:
    """Every live process whose environment names this stack's state dir."""
    marker = f"UPSTACK_STATE_DIR={state}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker in (entry / "environ").read_bytes().split(b"\0") and \
                    (entry / "stat").read_text().split(") ", 1)[1][:1] != "Z":
                found.append(int(entry.name))
        except OSError:
            continue
    return found


@contextmanager
def running_stack(prefix: str, *up_args: str):
    """`upstack up` (deploy settings, 2 GB, 60 articles, plus ``up_args``) in a temp state dir; always down."""
    for name in NEEDED:
        servers.require_binary(name)
    import tempfile

    state = Path(tempfile.mkdtemp(prefix=prefix))
    state.chmod(0o755)
    result = upstack(state, "up", "--stack-settings", "newsroom.settings.deploy", "--memory", "2G",
                     "--seed-articles", "60", *up_args)
    try:
        assert result.returncode == 0, result.stdout + result.stderr
        yield state, result
    finally:
        upstack(state, "down")
        for pid in stack_processes(state):  # never leave a test's processes behind, even on failure
            os.kill(pid, signal.SIGKILL)
        subprocess.run(["rm", "-rf", str(state)])


@pytest.fixture(scope="module")
def stack():
    with running_stack("upstack-stack-", "--with", "pgbouncer,haproxy,memcached") as pair:
        yield pair


def test_up_prints_the_edge_url_and_every_service_runs(stack):
    state, result = stack
    data = status(state)
    assert f"The stack is up at {data['edge_url']}" in result.stdout
    assert data["edge_url"].startswith("http://127.0.0.1:")
    names = [s["name"] for s in data["services"]]
    assert names == ["postgres", "redis-cache", "redis-broker", "varnish", "app", "worker", "beat", "pgbouncer",
                     "haproxy", "memcached"]
    for svc in data["services"]:
        assert svc["state"] == "running" and svc["pid"] > 0, svc
        if svc["name"] not in ("worker", "beat"):
            assert svc["address"].startswith("127.0.0.1:") and machine.port_in_use(int(svc["address"].split(":")[1]))


def test_the_edge_serves_and_caches_the_newsroom(stack):
    state, _ = stack
    edge = status(state)["edge_url"]
    code, headers, body = get(edge + "/")
    assert code == 200 and "<article" in body
    code, headers, _ = get(edge + "/")
    assert headers["X-Cache"] == "HIT"
    assert get(edge + "/healthz")[0] == 200


def test_env_points_django_at_the_stack(stack):
    state, _ = stack
    result = upstack(state, "env")
    env = dict(line.split("=", 1) for line in result.stdout.splitlines())
    assert env["DJANGO_SETTINGS_MODULE"] == "newsroom.settings.deploy"
    for key in ("DATABASE_URL", "REDIS_URL", "BROKER_URL", "EDGE_URL", "SECRET_KEY"):
        assert env[key], key
    shell = subprocess.run([sys.executable, "manage.py", "shell", "-c",
                            "from django.db import connection; from newsroom.news.models import Article; "
                            "print(connection.vendor, Article.objects.count())"],
                           cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=60)
    assert shell.returncode == 0, shell.stderr
    assert shell.stdout.split()[-2:] == ["postgresql", "60"]


def test_up_again_says_so_and_changes_nothing(stack):
    state, _ = stack
    before = {s["name"]: s["pid"] for s in status(state)["services"]}
    again = upstack(state, "up", "--stack-settings", "newsroom.settings.deploy")
    assert again.returncode == 0 and "already up" in again.stdout
    assert {s["name"]: s["pid"] for s in status(state)["services"]} == before


def test_stop_and_start_one_service(stack):
    state, _ = stack
    app = service(state, "app")
    assert upstack(state, "stop", "app").returncode == 0
    assert service(state, "app")["state"] == "stopped"
    assert not machine.port_in_use(int(app["address"].split(":")[1]))
    assert upstack(state, "start", "app").returncode == 0
    restarted = service(state, "app")
    assert restarted["state"] == "running" and restarted["pid"] != app["pid"]
    servers.wait_until(lambda: get(status(state)["edge_url"] + "/healthz")[0] == 200, 30, "edge after start")
    bad = upstack(state, "restart", "mongodb")
    assert bad.returncode == 2 and "invalid choice: 'mongodb'" in bad.stderr and "redis-cache" in bad.stderr


def test_a_crashed_app_is_restarted_by_the_supervisor(stack):
    state, _ = stack
    before = service(state, "app")["pid"]
    workers = [int(p) for p in Path(f"/proc/{before}/task/{before}/children").read_text().split()]
    os.kill(before, signal.SIGKILL)
    # The orphaned workers notice their master is gone and exit; the replacement then owns the port.
    servers.wait_until(lambda: not any(Path(f"/proc/{w}").exists() and "Z" not in
                                       Path(f"/proc/{w}/stat").read_text().split(") ")[1][:1] for w in workers),
                       60, "the old workers to exit")
    servers.wait_until(lambda: service(state, "app")["pid"] not in (None, before)
                       and service(state, "app")["state"] == "running", 30, "app restart")
    servers.wait_until(lambda: get(status(state)["edge_url"] + "/healthz")[0] == 200, 30, "edge after crash")


@pytest.fixture(scope="module")
def freshness(stack):
    """Random writes (comments, likes, ORM and admin edits) through the running stack, purged through
    the Celery worker (bench/freshness.py)."""
    state, _ = stack
    env = dict(line.split("=", 1) for line in upstack(state, "env").stdout.splitlines())
    app = service(state, "app")["address"]
    result = subprocess.run([sys.executable, "-m", "bench.freshness", "--writes", "16", "--no-save", "--app",
                             f"http://{app}"], cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True,
                            timeout=180)
    data = json.loads(result.stdout[result.stdout.index("{"):]) if "{" in result.stdout else {}
    print(f"freshness: {data}")
    # Its writes' purges (some repeated after a delay) must not land in the tests that follow.
    import redis

    broker = redis.Redis.from_url(env["BROKER_URL"])
    servers.wait_until(lambda: servers.broker_idle(broker), 60, "the stack's task queues to empty")
    broker.close()
    return result, data


def test_writes_are_fresh_at_the_edge(freshness):
    """Each changed page shows the change through the edge (a like: the new count) and then equals a
    fresh render; the check judging the run (bench/report.py) finds nothing wrong."""
    result, data = freshness
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert data["stale_after_timeout"] == 0 and data["edge_vs_fresh_mismatches"] == 0
    assert reports.freshness_problems(data) == []  # which includes: unrelated pages were checked


def test_unrelated_pages_stay_cached_after_a_write(freshness):
    """Each unrelated page was an edge hit before the write and is not fetched again until checked."""
    _, data = freshness
    assert data["unrelated_checked"] > 0
    assert data["unrelated_kept"] == data["unrelated_checked"], data["unrelated_purged"]


def test_logged_in_readers_get_shared_pages_with_only_their_fragments_from_django(stack):
    """Several readers in parallel with anonymous visitors: pages come from the edge, only the
    per-user ESI fragments reach Django, and no one sees another reader's name or CSRF token."""
    state, _ = stack
    env = dict(line.split("=", 1) for line in upstack(state, "env").stdout.splitlines())
    code = ("import json, bench.edge_mix as m; r = m.run({edge!r}, {vdir!r}, 120, 3); "
            "r['article'] = m.logged_in_backend_requests({edge!r}, {vdir!r}, 12); print(json.dumps(r))").format(
        edge=env["EDGE_URL"], vdir=str(state / "varnish"))
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, **env}, capture_output=True,
                            text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    data = json.loads(result.stdout.strip().splitlines()[-1])
    assert data["errors"] == 0 and data["leak_count"] == 0, data["leaks"]
    # Every page and anonymous fragment came from the edge; the only misses are each reader's own include
    # (one for article pages, one for the others), fetched once and then kept for their session.
    assert data["varnish"]["cache_miss"] <= 2 * 3
    # One include per logged-in view, for all of the reader's parts (upstack.edge.personal), the same on
    # every article page: the edge fetched it once for this newly logged-in reader and kept it. Only the
    # views' own fetches count (the stack's HAProxy health-checks through the edge every 2 s).
    article = data["article"]
    assert article["esi_per_view"] == 1.0 and article["backend_requests"] == 1, article
    assert article["backend_urls"][0].startswith("/_esi/reader/?"), article


def test_no_reader_sees_another_readers_name_token_or_like_state(stack):
    """Readers in parallel through Varnish, one client switching accounts, a logged-out cookie
    replayed; likes at once for the liker, counts within a second for everyone, a comment posted
    with the page's token (bench/reader_leaks.py)."""
    state, _ = stack
    env = dict(line.split("=", 1) for line in upstack(state, "env").stdout.splitlines())
    result = subprocess.run([sys.executable, "-m", "bench.reader_leaks", "--readers", "16", "--views", "10"],
                            cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=240)
    data = json.loads(result.stdout[result.stdout.index("{"):]) if "{" in result.stdout else {}
    assert result.returncode == 0 and data["problem_count"] == 0, (data, result.stderr[-3000:])
    assert data["views"] >= 16 * 10 and data["like_count_seconds"] < 1.0


def test_a_reader_comments_through_the_edge_in_a_browser(stack):
    chromium = servers.require_binary("chromium")
    from playwright.sync_api import sync_playwright

    state, _ = stack
    edge = status(state)["edge_url"]
    env = dict(line.split("=", 1) for line in upstack(state, "env").stdout.splitlines())
    subprocess.run([sys.executable, "manage.py", "demo_user"], cwd=ROOT, env={**os.environ, **env}, check=True,
                   capture_output=True, timeout=60)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page()
            page.set_default_timeout(15_000)
            page.goto(edge + "/")
            page.locator("section.latest article.teaser h3 a").first.click()
            page.wait_for_url("**/articles/**")
            article_url = page.url
            page.get_by_role("link", name="Log in").first.click()
            page.fill("input[name=username]", "demo")
            page.fill("input[name=password]", "read-the-news")
            page.get_by_role("button", name="Log in").click()
            page.goto(article_url)
            assert "Signed in as" in page.locator("nav.userbar").inner_text()
            # The one include's parts were moved into their slots (upstack.edge.personal).
            assert page.locator("header.masthead nav.userbar").count() == 1
            assert page.locator("p.likes form.like").count() == 1 and page.locator("[data-upstack-slot]").count() == 0
            page.fill("textarea[name=body]", "Posted through Varnish with ESI")
            page.get_by_role("button", name="Post comment").click()
            page.wait_for_url("**#comments")
            assert page.locator(".comment", has_text="Posted through Varnish with ESI").count() == 1
        finally:
            browser.close()


def test_metrics_add_up_across_workers_and_top_and_report_read_the_stack(stack):
    state, _ = stack
    app = "http://" + service(state, "app")["address"]

    def search_count() -> float:
        body = get(app + "/metrics")[2]
        return sum(float(line.rsplit(" ", 1)[1]) for line in body.splitlines()
                   if line.startswith("upstack_request_seconds_count{") and 'view="news:search"' in line)

    before = search_count()
    for i in range(40):  # spread over the gunicorn workers
        assert get(f"{app}/search/?q=metrics-{i}")[0] == 200
    assert search_count() - before == 40
    top = upstack(state, "top", "--once", "--json", "--interval", "0.5")
    assert top.returncode == 0, top.stderr
    snapshot = json.loads(top.stdout)
    assert set(snapshot) == {"source", "edge", "app", "cache", "namespaces", "db", "queues", "purges"}
    assert snapshot["source"]["name"] == "direct"  # this stack runs no Prometheus
    assert not [k for k, v in snapshot.items() if isinstance(v, dict) and "error" in v], snapshot
    assert snapshot["app"]["requests"] >= 40 and snapshot["db"]["connections"] >= 1
    assert snapshot["edge"]["totals"]["client_req"] > 0 and "high" in snapshot["queues"]
    report = upstack(state, "report", "views", "--json")
    rows = {row["view"]: row for row in json.loads(report.stdout)}
    assert rows["news:search"]["requests"] >= 40 and set(rows["news:search"]["share"]) == {
        "sql", "cache", "template", "http", "python"}
    assert "news:search" in upstack(state, "report", "views").stdout
    # The stack's own request log feeds `warm --from access-log` (the JSON lines carry no query string).
    assert "/search/" in warm.from_access_log(state / "logs" / "app.log", 50)
    # `upstack logs` finds one request's lines by the id its response carried.
    request_id = get(f"{app}/search/?q=logs")[1]["X-Request-ID"]

    def request_lines():  # supervisord writes the app's output a moment later
        logs = upstack(state, "logs", "app", "--request-id", request_id, "--json")
        assert logs.returncode == 0, logs.stderr
        return [json.loads(line) for line in logs.stdout.splitlines()]

    servers.wait_until(request_lines, 10, "the request's log line")
    lines = request_lines()
    assert lines and all(line["request_id"] == request_id and line["service"] == "app" for line in lines)


def test_the_launch_checklist_probes_the_running_stack(stack):
    state, _ = stack
    stack_env = dict(line.split("=", 1) for line in upstack(state, "env").stdout.splitlines())
    env = {**stack_env, "BACKUP_DIR": str(state / "backups")}  # the checklist looks at the deployed settings
    missing = upstack(state, "check", "--live", status(state)["edge_url"], "--json", env=env)
    assert missing.stdout.startswith("{"), missing.stderr[-3000:]
    items = {item["check"]: item for item in json.loads(missing.stdout)["items"]}
    assert missing.returncode == 1 and items["a recent backup exists and verifies"]["status"] == "fail"
    made = subprocess.run([sys.executable, "manage.py", "upstack", "backup"], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=120)
    assert made.returncode == 0, made.stderr
    result = upstack(state, "check", "--live", status(state)["edge_url"], "--json", env=env)
    assert result.stdout.startswith("{"), result.stderr[-3000:]
    data = json.loads(result.stdout)
    items = {item["check"]: item for item in data["items"]}
    for title in ("the edge caches anonymous pages", "a purge from outside is refused",
                  "the bypass parameter is ignored for outsiders", "error pages at the edge and in Django",
                  "the health endpoint works behind the proxy", "/metrics is not public",
                  "a recent backup exists and verifies", "the stack is HTTP-only on loopback (UPSTACK HTTP_ONLY)"):
        assert items[title]["status"] == "pass", items[title]
    # The local stack declares itself HTTP-only on loopback: Django's HTTPS checks are not applicable
    # (never passes), so nothing fails.
    tls = [i for i in items.values() if i["id"] in checklist.TLS_CHECKS]
    assert tls and all(i["status"] == "n/a" for i in tls)
    assert data["counts"]["fail"] == 0 and result.returncode == 0, [i for i in items.values() if i["status"] == "fail"]


@contextmanager
def under_load(edge: str):
    """Three readers hitting the edge (half the requests reach the app) while the block runs; yields
    the list their status codes (or connection errors) go into. Bounded in requests and in time."""
    import threading

    paths = ["/", "/feed/", "/sitemap.xml"]
    results, stop = [], threading.Event()

    def load(worker: int):
        i = 0
        while not stop.is_set() and len(results) < 20000:
            path = paths[i % 3] if i % 2 else f"/search/?q=load-{worker}-{i}"
            try:
                code = get(edge + path)[0]
            except OSError as exc:
                code = f"{type(exc).__name__}"
            results.append(code)
            i += 1
            stop.wait(0.01)  # readers, not a flood: on a shared 2-core machine a flood gets 503s with or without a release

    threads = [threading.Thread(target=load, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    try:
        yield results
    finally:
        stop.set()
        for t in threads:
            t.join(30)


def json_of(result: subprocess.CompletedProcess):
    """The JSON document on stdout (a release's manage.py children may print before it)."""
    out = result.stdout
    start = min(i for i in (out.find("["), out.find("{")) if i >= 0)
    return json.loads(out[start:])


def test_release_under_load_drops_nothing_and_refuses_debug(stack):
    state, _ = stack
    with under_load(status(state)["edge_url"]) as results:
        released = upstack(state, "release", "--backup", "--warm", "30", "--json",
                           env={"BACKUP_DIR": str(state / "backups")}, timeout=600)
    assert released.returncode == 0, released.stdout[-3000:] + released.stderr[-3000:]
    steps = json_of(released)
    assert [s["step"] for s in steps] == ["deploy checks", "backup", "migrate", "collectstatic",
                                          "edge: error page and VCL reload", "graceful app reload",
                                          "graceful worker restart", "cache warming", "record the release"]
    failures = [code for code in results if code != 200]
    print(f"release under load: {len(results)} requests, {len(failures)} failed {Counter(failures)}; "
          f"{sum(s['seconds'] for s in steps):.1f}s; steps {steps}")
    assert len(results) > 50 and failures == []
    refused = upstack(state, "release", "--warm", "0", env={"DEBUG": "true"})
    assert refused.returncode == 1 and "release stopped at 'deploy checks'" in refused.stderr
    assert "security.W018" in refused.stderr  # Django's own check, which upstack does not repeat


def active_vcl(state: Path) -> str:
    listed = subprocess.run([machine.require("varnishadm"), "-n", str(state / "varnish"), "vcl.list"],
                            capture_output=True, text=True, timeout=30).stdout
    return next(line.split()[-1] for line in listed.splitlines() if line.startswith("active"))


def test_rollback_under_load_returns_to_the_previous_release_or_names_what_blocks_it(stack):
    state, _ = stack
    before = json_of(upstack(state, "releases", "--json"))
    if not before:  # this test alone: release once so there is a previous one
        assert upstack(state, "release", "--warm", "0").returncode == 0
    second = upstack(state, "release", "--warm", "0", "--json")
    assert second.returncode == 0, second.stderr[-3000:]
    records = json_of(upstack(state, "releases", "--json"))
    live, previous = records[-1], records[-2]
    assert live["vcl"]["name"] == active_vcl(state) and live["migrations"]["news"] and live["status"] == "live"
    with under_load(status(state)["edge_url"]) as results:
        rolled = upstack(state, "rollback", "--json")
    assert rolled.returncode == 0, rolled.stdout[-3000:] + rolled.stderr[-3000:]
    done = json_of(rolled)
    failures = [code for code in results if code != 200]
    print(f"rollback under load: {len(results)} requests, {len(failures)} failed {Counter(failures)}; "
          f"{done['seconds']}s; {done}")
    assert (done["from"], done["to"]) == (live["number"], previous["number"]) and failures == [] and len(results) > 20
    assert active_vcl(state).startswith(f"rollback_{previous['number']}_")
    assert json_of(upstack(state, "releases", "--json"))[-1]["status"] == "rolled back"

    # Blocked: a migration applied after the release it would return to. Nothing changes.
    assert upstack(state, "release", "--warm", "0").returncode == 0
    records = json_of(upstack(state, "releases", "--json"))
    target = next(r for r in reversed(records[:-1]) if r["status"] == "live")
    last = target["migrations"]["news"].pop()
    (state / "releases.json").write_text(json.dumps(records))
    vcl = active_vcl(state)
    blocked = upstack(state, "rollback")
    assert blocked.returncode == 1 and f"migration news.{last} was applied after release {target['number']}" in \
        blocked.stderr and "Nothing was changed" in blocked.stderr, blocked.stderr
    assert active_vcl(state) == vcl


@pytest.mark.parametrize("scenario", ["editors", "readers", "package"])
def test_a_bounded_locust_scenario_writes_csv_html_and_charts(stack, scenario):
    """The newsroom's scenarios (UPSTACK["LOADTEST_LOCUSTFILE"]), and the package's own locustfile for
    any site on a URL file."""
    state, _ = stack
    stack_env = dict(line.split("=", 1) for line in upstack(state, "env").stdout.splitlines())
    out = state / f"loadtest-{scenario}"
    extra = ["--scenario", scenario]
    if scenario == "package":
        (state / "urls.txt").write_text("/\n/feed/\n")
        extra = ["--locustfile", str(ROOT / "src" / "upstack" / "ops" / "locustfile.py"), "--urls", str(state / "urls.txt")]
    result = upstack(state, "loadtest", *extra, "--users", "3", "--duration", "8s", "--out", str(out),
                     "--target", status(state)["edge_url"], "--json", env=stack_env, timeout=200)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout)
    assert summary["requests"] > 0 and summary["failures"] == 0
    assert {"report.html", "run_stats.csv", "run_stats_history.csv", "layers.csv", "latency_over_time.png",
            "histogram_by_x_cache.png", "histogram_by_x_page_cache.png"} <= set(summary["files"]) | set(summary["charts"])
    names = (out / "run_stats.csv").read_text()
    expected = {"editors": ["admin save"], "readers": ["login"], "package": [",/feed/,", ",/,"]}[scenario]
    assert all(name in names for name in expected), names
    refused = upstack(state, "loadtest", "--target", "http://192.0.2.1:80", "--duration", "5s", env=stack_env)
    assert refused.returncode == 2 and "not on loopback" in refused.stderr


def test_grace_drill_pages_survive_the_app_being_down(stack):
    state, _ = stack
    edge = status(state)["edge_url"]
    assert get(edge + "/")[0] == 200 and get(edge + "/")[1]["X-Cache"] == "HIT"
    assert upstack(state, "stop", "app").returncode == 0
    try:
        code, headers, body = get(edge + "/")
        assert code == 200 and headers["X-Cache"] == "HIT"
        code, _, body = get(edge + "/search/?q=never-cached-query")
        assert code == 503 and "will be right back" in body
    finally:
        assert upstack(state, "start", "app").returncode == 0
    servers.wait_until(lambda: get(edge + "/search/?q=never-cached-query")[0] == 200, 30, "recovery")


@contextmanager
def top_in_tmux(state: Path, tmp_path: Path, *args: str):
    """`upstack top ARGS` in the stack's environment, in a detached 150x45 tmux window; yields the
    session's name; the session is killed afterwards."""
    import shlex

    servers.require_binary("tmux")
    stack_env = dict(line.split("=", 1) for line in upstack(state, "env").stdout.splitlines())
    script = tmp_path / "top.sh"
    exports = {**stack_env, "UPSTACK_STATE_DIR": str(state), "PYTHONPATH": f"{ROOT}:{ROOT / 'src'}"}
    script.write_text("unset COLUMNS LINES\n" +  # the terminal's own size, not one inherited from the test run
                      "".join(f"export {k}={shlex.quote(v)}\n" for k, v in exports.items()) +
                      f"cd {shlex.quote(str(ROOT))} && exec {shlex.quote(sys.executable)} manage.py upstack top "
                      f"{shlex.join(args)}\n")
    session = f"upstack-top-{os.getpid()}"
    tmux("new-session", "-d", "-s", session, "-x", "150", "-y", "45", "sleep", "600")
    try:
        tmux("set-option", "-t", session, "remain-on-exit", "on")
        tmux("set-option", "-t", session, "window-size", "manual")  # detached: 150x45, not tmux's 80x24
        tmux("resize-window", "-t", session, "-x", "150", "-y", "45")
        tmux("respawn-pane", "-k", "-t", session, "bash", str(script))  # top starts in the 150x45 window
        yield session
    finally:
        subprocess.run([machine.require("tmux"), "kill-session", "-t", session], capture_output=True, timeout=30)


def top_screens_under_load(state: Path, session: str, *shown: str) -> list[str]:
    """Three captures of top's screen showing every one of ``shown``, taken while readers hit the edge
    (none of them may fail); asserts it is on the alternate screen."""
    import time

    with under_load(status(state)["edge_url"]) as results:
        deadline, screens = time.monotonic() + 90, []
        while time.monotonic() < deadline and len(screens) < 3:
            time.sleep(1.5)
            screen = tmux("capture-pane", "-p", "-t", session)
            if all(text in screen for text in shown):
                screens.append(screen)
    assert len(screens) >= 3, tmux("capture-pane", "-p", "-t", session)
    assert tmux("display-message", "-p", "-t", session, "#{alternate_on}").strip() == "1"
    assert [code for code in results if code != 200] == []
    return screens


def quit_top(session: str) -> None:
    """Ctrl-C: top stops, gives the terminal back (no alternate screen) and printed no traceback."""
    import time

    tmux("send-keys", "-t", session, "C-c")
    deadline = time.monotonic() + 30
    while tmux("display-message", "-p", "-t", session, "#{pane_dead}").strip() != "1":
        assert time.monotonic() < deadline, "top did not stop on Ctrl-C"
        time.sleep(0.5)
    assert tmux("display-message", "-p", "-t", session, "#{alternate_on}").strip() == "0"
    assert "Traceback" not in tmux("capture-pane", "-p", "-t", session)


def test_top_is_a_full_screen_live_view_under_tmux(stack, tmp_path):
    """`upstack top` in a real terminal (tmux), under load: the alternate screen, every panel, numbers
    that change every second, and Ctrl-C gives the terminal back."""
    state, _ = stack
    with top_in_tmux(state, tmp_path) as session:
        screens = top_screens_under_load(state, session, "req/s", "news:")
        screen = screens[-1]
        print("upstack top under load:\n" + screen)
        for panel in ("edge", "req/s", "hit ratio", "app workers", "busy", "idle", "p50/p99 per view", "p99 ms",
                      "cache hit ratio per namespace", "pages", "database", "connections", "queues", "high",
                      "purge backlog"):
            assert panel in screen, panel
        # This stack runs no Prometheus: the app's figures are read from the app servers, and it says so.
        assert "app workers - read directly" in screen
        assert len(set(screens)) > 1  # it refreshes
        quit_top(session)


def dashboard_in_chromium(state: Path, out: Path, *prometheus: str) -> dict:
    """`report dashboard` (from ``prometheus``, or the stack's own when none is given) opened in headless
    Chromium; checks its panels have data (and the Redis one, with no exporter, says it has none)."""
    chromium = servers.require_binary("chromium")
    from playwright.sync_api import sync_playwright

    made = upstack(state, "report", "dashboard", *(("--prometheus", *prometheus) if prometheus else ()),
                   "--out", str(out), "--minutes", "2", "--json")
    assert made.returncode == 0, made.stderr
    panels = {p["title"]: p for p in json_of(made)["panels"]}
    for title in ("Requests per second by status", "p95 latency by view", "Time by part", "Page cache"):
        assert panels[title]["series"] > 0 and panels[title]["points"] > 3, panels[title]
    # No exporter for Varnish or Redis is scraped here: those panels say so instead of drawing nothing.
    assert panels["Redis memory"]["series"] == 0
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page()
            page.goto(out.as_uri())
            drawn = page.eval_on_selector_all(
                "figure", "els => els.map(e => [e.querySelector('figcaption').textContent, "
                          "e.dataset.series, !!e.querySelector('img') && e.querySelector('img').naturalWidth])")
        finally:
            browser.close()
    shown = {title: (int(series), width) for title, series, width in drawn}
    assert shown["Requests per second by status"][0] > 0 and shown["Requests per second by status"][1] > 100
    assert shown["Redis memory"] == (0, False)
    return panels


def test_the_dashboard_as_static_html_from_a_real_prometheus_has_data_in_chromium(stack, tmp_path):
    """Grafana cannot be installed here (docs/observability.md): the rendered dashboard's panels are
    drawn from a real Prometheus scraping the stack, and the report is opened in headless Chromium."""
    import time

    servers.require_binary("prometheus")
    state, _ = stack
    out = tmp_path / "dashboard.html"
    # This stack runs no Prometheus of its own: without --prometheus the report says how to get one.
    missing = upstack(state, "report", "dashboard", "--out", str(out))
    assert missing.returncode == 2 and "--with observability" in missing.stderr and not out.exists()
    with servers.Prometheus([service(state, "app")["address"]]) as prometheus:
        with under_load(status(state)["edge_url"]):
            time.sleep(12)  # a dozen scrapes while readers hit the edge
        dashboard_in_chromium(state, out, prometheus.url)
    remote = upstack(state, "report", "dashboard", "--prometheus", "http://192.0.2.1:9090", "--out", str(out))
    assert remote.returncode == 2 and "not on loopback" in remote.stderr


# Keep this after every test that needs the module's stack: it stops it.
def test_down_leaves_nothing_running_and_a_port_collision_is_refused(stack):
    state, _ = stack
    pids = [s["pid"] for s in status(state)["services"]]
    assert stack_processes(state), "the probe must see the running stack, or it proves nothing below"
    down = upstack(state, "down")
    assert down.returncode == 0 and "down" in down.stdout
    assert stack_processes(state) == []
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split(") ")[1][:1]
    assert all(s["state"] == "stopped" for s in status(state)["services"])
    assert "not running" in upstack(state, "down").stdout
    # Something else now holds the edge's port: `up` refuses, names it, and starts nothing.
    port = json.loads((state / "state.json").read_text())["ports"]["varnish"]
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # the edge's old sockets may be in TIME_WAIT
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        refused = upstack(state, "up", "--stack-settings", "newsroom.settings.deploy")
    assert refused.returncode == 3
    assert f"varnish on 127.0.0.1:{port}" in refused.stderr and "state.json" in refused.stderr
    assert stack_processes(state) == []


def test_a_missing_binary_names_the_fix(monkeypatch, open_tmp, settings):
    real = machine.find_binary
    monkeypatch.setattr(machine, "find_binary", lambda name: None if name == "varnishd" else real(name))
    settings.UPSTACK = {"STATE_DIR": str(open_tmp)}
    with pytest.raises(CommandError, match="varnishd is not installed.*scripts/install-services"):
        call_command("upstack", "up", "--memory", "2G")
    assert not (open_tmp / "supervisord.pid").exists()


def tmux(*args: str) -> str:
    result = subprocess.run([machine.require("tmux"), *args], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_top_needs_a_running_stack(tmp_path):
    refused = upstack(tmp_path / "never", "top")
    assert refused.returncode == 1 and "upstack up" in refused.stderr
