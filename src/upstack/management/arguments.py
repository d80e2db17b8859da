"""The arguments of ``manage.py upstack``: every subcommand's parser, kept apart from the handlers.

The CLI contract (docs/cli.md) is enforced here: every enumerated argument has ``choices`` (argparse
then refuses a bad value with exit 2 and lists the valid ones), every reporting command has
``--json`` (``REPORTING``). tests/upstack/ops/test_cli_contract.py walks this parser to keep it so.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..cache import NAMESPACES
from ..ops.logview import LEVELS
from ..stack import OPTIONAL_SERVICES
from ..stack.render import TARGETS
from ..stack.services import CORE, OPTIONAL

SERVICES = (*CORE, *OPTIONAL)
BACKUP_ACTIONS = ("create", "verify", "list", "key")
# Subcommands (space-separated paths) that report something: each has --json with a stable schema.
REPORTING = ("info", "up", "status", "cache stats", "tasks stats", "top", "report views", "report dashboard", "backup", "check", "warm",
             "release", "rollback", "releases", "loadtest", "lock", "unlock", "logs")


class CommaChoices:
    """``--with a,b``: a comma-separated subset of ``choices`` (argparse's ``choices`` takes one value)."""

    def __init__(self, choices):
        self.choices = tuple(choices)

    def __call__(self, value: str) -> tuple[str, ...]:
        picked = tuple(filter(None, (v.strip() for v in value.split(","))))
        unknown = [v for v in picked if v not in self.choices]
        if unknown:
            raise argparse.ArgumentTypeError(f"unknown {', '.join(map(repr, unknown))}; choose from "
                                             f"{', '.join(self.choices)} (comma-separated)")
        return picked


class OneOf(CommaChoices):
    """One of ``choices``, for ``nargs="*"`` (argparse 3.11 checks an empty list's default against
    ``choices`` and refuses it)."""

    def __call__(self, value: str) -> str:
        if value not in self.choices:
            raise argparse.ArgumentTypeError(f"unknown {value!r}; choose from {', '.join(self.choices)}")
        return value


def _json(parser) -> None:
    parser.add_argument("--json", action="store_true", help="Print machine-readable JSON (schema: docs/cli.md).")


def _sizing(parser) -> None:
    parser.add_argument("--cpus", type=int, help="Size for this many CPUs (default: this machine's).")
    parser.add_argument("--memory", help="Size for this much memory, e.g. 4G (default: this machine's).")
    parser.add_argument("--with", dest="with_services", default=(), type=CommaChoices(OPTIONAL_SERVICES),
                        help=f"Optional services, comma-separated: {','.join(OPTIONAL_SERVICES)} (observability: "
                             "Prometheus; flower: Flower for Celery; replica: a PostgreSQL streaming replica the app "
                             "reads from; these three only on the local stack).")
    parser.add_argument("--app-server", choices=("gunicorn", "granian"), default="gunicorn",
                        help="The WSGI server (default gunicorn).")


def add_arguments(parser) -> None:
    sub = parser.add_subparsers(dest="subcommand", required=True, metavar="SUBCOMMAND")

    _json(sub.add_parser("info", help="Show the upstack version and its effective settings."))

    render = sub.add_parser("render", help="Write every server's configuration for a target, sized for a machine.")
    render.add_argument("--target", required=True, choices=TARGETS, help="Where the stack will run.")
    render.add_argument("--out", required=True, help="Directory to write into (created if missing); compose "
                                                      "also writes a .dockerignore beside pyproject.toml when "
                                                      "the project has none.")
    _sizing(render)
    render.add_argument("--pod-cpus", type=int, help="kubernetes: CPUs requested by each app and worker pod (1).")
    render.add_argument("--pod-memory", help="kubernetes: memory of each app and worker pod, e.g. 2G (1G).")
    render.add_argument("--app-hosts", metavar="HOST:PORT,...",
                        help="The app servers behind each edge's round-robin director, health-probed, "
                             "e.g. a:8000,b:8000 (default: the target's one app service; not for local).")
    render.add_argument("--inventory", metavar="FILE",
                        help="A TOML inventory of hosts and roles (docs/scaling.md): systemd writes one folder "
                             "per host, bound to its address; compose and kubernetes take replica counts from it.")

    up = sub.add_parser("up", help="Start the whole stack on loopback under supervisord; print the edge URL. "
                                   "Takes the deploy lock.")
    _sizing(up)
    up.add_argument("--seed-articles", type=int, default=3000, metavar="N",
                    help="The size passed to the project's UPSTACK['SEED'] hook, if it has one (default "
                         "3000; a news site might read it as a number of articles).")
    up.add_argument("--stack-settings", metavar="MODULE",
                    help="Settings module the stack's Django processes use (default: UPSTACK STACK_SETTINGS, "
                         "else the current one), e.g. myproject.settings.deploy.")
    _json(up)
    sub.add_parser("down", help="Stop everything `up` started (by pid, nothing else). Takes the deploy lock.")
    _json(sub.add_parser("status", help="List the stack's services, their pids, states and addresses."))
    for action in ("stop", "start", "restart"):
        one = sub.add_parser(action, help=f"{action.capitalize()} one service of the running stack.")
        one.add_argument("service", choices=SERVICES, help="The service (the optional ones when enabled).")

    cache = sub.add_parser("cache", help="Flush one cache namespace, or show hits and misses per namespace.")
    cache_sub = cache.add_subparsers(dest="cache_action", required=True, metavar="ACTION")
    flush = cache_sub.add_parser("flush", help="Invalidate one namespace by bumping its generation "
                                               "(never FLUSHDB/flush_all; other namespaces are untouched).")
    flush.add_argument("namespace", choices=NAMESPACES)
    _json(cache_sub.add_parser("stats", help="Hits, misses, errors and skipped calls per namespace, "
                                             "summed over every process using the same servers."))
    tasks = sub.add_parser("tasks", help="Background tasks: queue depths and counts per queue.")
    tasks_sub = tasks.add_subparsers(dest="tasks_action", required=True, metavar="ACTION")
    _json(tasks_sub.add_parser("stats", help="Depth and sent/succeeded/failed/retried per queue, "
                                             "and enqueue failures."))

    top = sub.add_parser("top", help="A live view of the running stack: edge, app, cache, database, queues.")
    top.add_argument("--once", action="store_true", help="Print one snapshot and exit.")
    top.add_argument("--json", action="store_true", help="One snapshot as JSON (implies --once).")
    top.add_argument("--interval", type=float, default=1.0, help="Seconds between refreshes (default 1).")
    top.add_argument("--prometheus", help="Read the app's request rate, errors and latency from this Prometheus "
                                          "(on loopback, e.g. http://127.0.0.1:9090; default: the local stack's, when "
                                          "`up --with observability` runs it; without one, the app servers directly).")
    report = sub.add_parser("report", help="Reports from the running stack's metrics.")
    report_sub = report.add_subparsers(dest="report_kind", required=True, metavar="REPORT")
    rviews = report_sub.add_parser("views", help="Views by total time, with their breakdown; flags any part "
                                                 "over 30%% of a view's time.")
    _json(rviews)
    rviews.add_argument("--threshold", type=float, default=0.30, help="Flag parts above this share (0.30).")
    board = report_sub.add_parser("dashboard", help="The Grafana dashboard as one static HTML file, its charts "
                                                    "drawn from a Prometheus on loopback (no Grafana needed).")
    board.add_argument("--prometheus", help="Prometheus' base URL, e.g. http://127.0.0.1:9090 (default: the local "
                                            "stack's, when `up --with observability` runs it).")
    board.add_argument("--out", required=True, help="The HTML file to write.")
    board.add_argument("--minutes", type=float, default=15, help="How far back (default 15).")
    _json(board)

    backup = sub.add_parser("backup", help="PostgreSQL backups: create (default; copied to UPSTACK BACKUP_STORAGE "
                                           "when set), verify, list; key prints a new age key pair.")
    backup.add_argument("action", nargs="?", default="create", choices=BACKUP_ACTIONS,
                        help="create a backup, verify one by restoring it into a scratch database, list them, or "
                             "print a new age key pair (BACKUP_AGE_RECIPIENT, BACKUP_AGE_IDENTITY)")
    backup.add_argument("--file", help="The backup to verify (default: the newest); with --remote its name there.")
    backup.add_argument("--remote", action="store_true", help="verify or list the copies in UPSTACK BACKUP_STORAGE.")
    backup.add_argument("--dir", help="Backup directory (default: UPSTACK BACKUP_DIR).")
    backup.add_argument("--keep", type=int, help="Backups to keep (default: UPSTACK BACKUP_KEEP).")
    _json(backup)
    restore = sub.add_parser("restore", help="Replace the database's contents with a backup (asks first). "
                                             "Takes the deploy lock.")
    restore.add_argument("file", help="The backup file; with --remote its name in the backup storage.")
    restore.add_argument("--remote", action="store_true", help="Fetch the backup from UPSTACK BACKUP_STORAGE.")
    restore.add_argument("--yes", action="store_true", help="Do not ask for confirmation.")

    check = sub.add_parser("check", help="The launch checklist: deploy settings, and with --live the running stack.")
    check.add_argument("--live", metavar="EDGE_URL", help="Probe the running stack through its edge.")
    check.add_argument("--host", help="The public Host header for the probes (default: 127.0.0.1).")
    _json(check)

    warm = sub.add_parser("warm", help="Request the most popular URLs through the edge, with a progress bar.")
    warm.add_argument("--from", dest="source", default="sitemap", metavar="SOURCE",
                      help="sitemap (default); access-log (the local stack's request log) or access-log:PATH "
                           "(JSON request lines, or nginx/HAProxy combined format); or a file, one URL per line.")
    warm.add_argument("--top", type=int, default=500, help="How many URLs (default 500).")
    warm.add_argument("--concurrency", type=int, default=4, help="Parallel requests (default 4).")
    warm.add_argument("--edge", help="The edge URL (default: the local stack's).")
    warm.add_argument("--host", default="127.0.0.1", help="The Host header to send (default 127.0.0.1).")
    _json(warm)

    release = sub.add_parser("release", help="Release in one command: checks, [backup], migrate, collectstatic, "
                                            "edge reload, graceful app reload, worker restart, cache warming. "
                                            "Takes the deploy lock.")
    release.add_argument("--backup", action="store_true", help="Take a backup before migrating.")
    release.add_argument("--warm", type=int, default=100, metavar="N", help="Warm the N top URLs (0: skip).")
    _json(release)

    rollback = sub.add_parser("rollback", help="Return to the release before the live one: its VCL, a graceful "
                                               "app reload and worker restart. Refused, naming each blocker, when a "
                                               "migration was applied since or the code is not that release's. "
                                               "Takes the deploy lock.")
    _json(rollback)
    _json(sub.add_parser("releases", help="What each release deployed: git revision, migrations, VCL, time."))

    load = sub.add_parser("loadtest", help="Run one Locust scenario headless and bounded; CSV, HTML and PNG charts.")
    # No argparse choices: the scenarios are the locustfile's (its SCENARIOS), checked before anything runs.
    load.add_argument("--scenario", default="anonymous",
                      help="One of the locustfile's SCENARIOS (the package's: anonymous; default anonymous).")
    load.add_argument("--locustfile", help="The locustfile to run (default: UPSTACK['LOADTEST_LOCUSTFILE'], "
                                           "else the package's, which browses the URL list).")
    load.add_argument("--urls", type=Path, help="A file of URL paths to visit, one per line, most visited first "
                                                "(default: the project's LOADTEST_PREPARE hook, else the sitemap, "
                                                "else /).")
    load.add_argument("--users", type=int, default=20, help="Concurrent simulated users (default 20).")
    load.add_argument("--duration", default="60s", help="How long, e.g. 60s or 5m (at most 1h).")
    load.add_argument("--target", help="Base URL to load (default: the local stack's edge). Loopback only "
                                       "unless --allow-remote.")
    load.add_argument("--out", help="Output directory (default: var/loadtest/<scenario>).")
    load.add_argument("--allow-remote", action="store_true", help="Allow a target outside 127.0.0.0/8.")
    _json(load)

    lock = sub.add_parser("lock", help="Hold the deploy lock by hand (a maintenance window) until `unlock`; "
                                       "up, release, restore and down refuse to start meanwhile (exit 3).")
    lock.add_argument("--reason", default="", help="Why, shown to whoever is refused.")
    lock.add_argument("--status", action="store_true", help="Only show who holds the lock, if anyone.")
    _json(lock)
    _json(sub.add_parser("unlock", help="Lift a lock taken with `upstack lock`."))

    logs = sub.add_parser("logs", help="The local stack's logs merged, coloured per service, filterable by level "
                                       "and request id; -f follows them.")
    logs.add_argument("services", nargs="*", metavar="SERVICE", type=OneOf(SERVICES),
                      help=f"Only these services ({', '.join(SERVICES)}); default: all.")
    logs.add_argument("-f", "--follow", action="store_true", help="Keep printing new lines until Ctrl-C.")
    logs.add_argument("--level", choices=LEVELS, help="Only lines at this level or above.")
    logs.add_argument("--request-id", help="Only lines of this request (the X-Request-ID a response carried).")
    logs.add_argument("-n", "--lines", type=int, default=50, help="Lines of each log to start with (default 50).")
    _json(logs)

    seed = sub.add_parser("seed", help="Run the project's UPSTACK['SEED'] hook (`up` does, after migrating).")
    seed.add_argument("--size", type=int, default=3000, help="The size passed to the hook (default 3000).")

    sub.add_parser("env", help="Print KEY=VALUE lines that point Django at the running stack, e.g. "
                               "env $(python manage.py upstack env) python manage.py shell")
