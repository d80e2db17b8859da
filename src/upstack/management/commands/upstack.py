"""``manage.py upstack``: one command, native subparsers.

Each subcommand's handler is one to three lines over the public library (``upstack.ops``,
``upstack.stack``, ...): parse, call, print. Errors become ``CommandError`` with a return code.
"""

import json
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

import upstack
from upstack import cache as upstack_cache
from upstack import conf, stack
from upstack.cache import NAMESPACES
from upstack.stack.machine import MissingBinary
from upstack.stack.render import TARGETS


class Command(BaseCommand):
    help = (
        "upstack: run, render, inspect and operate the stack around this Django project. "
        "Use 'manage.py upstack SUBCOMMAND --help' for each subcommand."
    )

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="subcommand", required=True, metavar="SUBCOMMAND")

        info = sub.add_parser("info", help="Show the upstack version and its effective settings.")
        info.add_argument("--json", action="store_true", help="Print machine-readable JSON.")

        render = sub.add_parser("render", help="Write every server's configuration for a target, sized for a machine.")
        render.add_argument("--target", required=True, choices=TARGETS, help="Where the stack will run.")
        render.add_argument("--out", required=True, help="Directory to write into (created if missing); compose "
                                                          "also writes a .dockerignore beside pyproject.toml "
                                                          "when the project has none.")
        self._sizing_arguments(render)
        render.add_argument("--pod-cpus", type=int, help="kubernetes: CPUs requested by each app and worker pod (1).")
        render.add_argument("--pod-memory", help="kubernetes: memory of each app and worker pod, e.g. 2G (1G).")

        up = sub.add_parser("up", help="Start the whole stack on loopback under supervisord; print the edge URL.")
        self._sizing_arguments(up)
        up.add_argument("--seed-articles", type=int, default=3000, metavar="N",
                        help="Articles to seed when the database is empty (default 3000).")
        up.add_argument("--stack-settings", metavar="MODULE",
                        help="Settings module the stack's Django processes use (default: UPSTACK STACK_SETTINGS, "
                             "else the current one), e.g. myproject.settings.deploy.")
        up.add_argument("--json", action="store_true", help="Print the status as JSON once up.")
        sub.add_parser("down", help="Stop everything `up` started (by pid, nothing else).")
        status = sub.add_parser("status", help="List the stack's services, their pids, states and addresses.")
        status.add_argument("--json", action="store_true", help="Print machine-readable JSON.")
        for action in ("stop", "start", "restart"):
            one = sub.add_parser(action, help=f"{action.capitalize()} one service of the running stack.")
            one.add_argument("service", help="postgres, redis-cache, redis-broker, varnish, app, worker, beat, "
                                             "or pgbouncer/haproxy/memcached when enabled.")
        cache = sub.add_parser("cache", help="Flush one cache namespace, or show hits and misses per namespace.")
        cache_sub = cache.add_subparsers(dest="cache_action", required=True, metavar="ACTION")
        flush = cache_sub.add_parser("flush", help="Invalidate one namespace by bumping its generation "
                                                   "(never FLUSHDB/flush_all; other namespaces are untouched).")
        flush.add_argument("namespace", choices=NAMESPACES)
        stats = cache_sub.add_parser("stats", help="Hits, misses, errors and skipped calls per namespace, "
                                                   "summed over every process using the same servers.")
        stats.add_argument("--json", action="store_true", help="Print machine-readable JSON.")
        tasks = sub.add_parser("tasks", help="Background tasks: queue depths and counts per queue.")
        tasks_sub = tasks.add_subparsers(dest="tasks_action", required=True, metavar="ACTION")
        tstats = tasks_sub.add_parser("stats", help="Depth and sent/succeeded/failed/retried per queue, "
                                                    "and enqueue failures.")
        tstats.add_argument("--json", action="store_true", help="Print machine-readable JSON.")
        top = sub.add_parser("top", help="A live view of the running stack: edge, app, cache, database, queues.")
        top.add_argument("--once", action="store_true", help="Print one snapshot and exit.")
        top.add_argument("--json", action="store_true", help="With --once: print the snapshot as JSON.")
        top.add_argument("--interval", type=float, default=1.0, help="Seconds between refreshes (default 1).")
        report = sub.add_parser("report", help="Reports from the running stack's metrics.")
        report_sub = report.add_subparsers(dest="report_kind", required=True, metavar="REPORT")
        rviews = report_sub.add_parser("views", help="Views by total time, with their breakdown; flags any part "
                                                     "over 30%% of a view's time.")
        rviews.add_argument("--json", action="store_true", help="Print machine-readable JSON.")
        rviews.add_argument("--threshold", type=float, default=0.30, help="Flag parts above this share (0.30).")
        backup = sub.add_parser("backup", help="PostgreSQL backups: create (default), verify, list.")
        backup.add_argument("action", nargs="?", default="create", choices=("create", "verify", "list"),
                            help="create a backup, verify one by restoring it into a scratch database, or list them")
        backup.add_argument("--file", help="The backup to verify (default: the newest).")
        backup.add_argument("--dir", help="Backup directory (default: UPSTACK BACKUP_DIR).")
        backup.add_argument("--keep", type=int, help="Backups to keep (default: UPSTACK BACKUP_KEEP).")
        restore = sub.add_parser("restore", help="Replace the database's contents with a backup (asks first).")
        restore.add_argument("file", help="The backup file.")
        restore.add_argument("--yes", action="store_true", help="Do not ask for confirmation.")
        check = sub.add_parser("check", help="The launch checklist: deploy settings, and with --live the running stack.")
        check.add_argument("--live", metavar="EDGE_URL", help="Probe the running stack through its edge.")
        check.add_argument("--host", help="The public Host header for the probes (default: 127.0.0.1).")
        check.add_argument("--json", action="store_true", help="Print machine-readable JSON.")
        warm = sub.add_parser("warm", help="Request the most popular URLs through the edge, with a progress bar.")
        warm.add_argument("--from", dest="source", default="sitemap",
                          help="sitemap (default), access-log:PATH, or a file with one URL per line.")
        warm.add_argument("--top", type=int, default=500, help="How many URLs (default 500).")
        warm.add_argument("--concurrency", type=int, default=4, help="Parallel requests (default 4).")
        warm.add_argument("--edge", help="The edge URL (default: the local stack's).")
        warm.add_argument("--host", default="127.0.0.1", help="The Host header to send (default 127.0.0.1).")
        warm.add_argument("--json", action="store_true", help="Print the result as JSON.")
        release = sub.add_parser("release", help="Release in one command: checks, [backup], migrate, collectstatic, "
                                                "edge reload, graceful app reload, worker restart, cache warming.")
        release.add_argument("--backup", action="store_true", help="Take a backup before migrating.")
        release.add_argument("--warm", type=int, default=100, metavar="N", help="Warm the N top URLs (0: skip).")
        release.add_argument("--json", action="store_true", help="Print the steps and durations as JSON.")
        load = sub.add_parser("loadtest", help="Run one Locust scenario headless and bounded; CSV, HTML and PNG charts.")
        load.add_argument("--scenario", default="anonymous", help="anonymous, readers, editors, ajax or mixed.")
        load.add_argument("--users", type=int, default=20, help="Concurrent simulated users (default 20).")
        load.add_argument("--duration", default="60s", help="How long, e.g. 60s or 5m (at most 1h).")
        load.add_argument("--target", help="Base URL to load (default: the local stack's edge). Loopback only "
                                           "unless --allow-remote.")
        load.add_argument("--out", help="Output directory (default: var/loadtest/<scenario>).")
        load.add_argument("--allow-remote", action="store_true", help="Allow a target outside 127.0.0.0/8.")
        load.add_argument("--json", action="store_true", help="Print the summary as JSON.")
        sub.add_parser("env", help="Print KEY=VALUE lines that point Django at the running stack, e.g. "
                                   "env $(python manage.py upstack env) python manage.py shell")

    def handle(self, *args, subcommand, **options):
        handler = getattr(self, "handle_" + subcommand.replace("-", "_"))
        return handler(**options)

    # --- subcommand handlers: one to three lines each -----------------------------------------

    def handle_info(self, **options):
        data = {"version": upstack.__version__, "settings": {k: conf.get(k) for k in conf.DEFAULTS}}
        self.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str))

    def handle_render(self, target, out, cpus, memory, with_services, app_server, pod_cpus, pod_memory, **options):
        paths = self.guard(stack.render_target, target, out, cpus=cpus, memory=memory,
                           with_services=with_services, app_server=app_server, pod_cpus=pod_cpus,
                           pod_memory=pod_memory)
        self.stdout.write(f"Wrote {len(paths)} files for target {target} under {out}")

    def handle_up(self, cpus, memory, with_services, app_server, seed_articles, stack_settings, json, **options):
        status = self.guard(stack.up, cpus=cpus, memory=memory, with_services=with_services, app_server=app_server,
                            seed_articles=seed_articles, settings_module=stack_settings, say=self.stdout.write)
        self.print_status(status, json)

    def handle_down(self, **options):
        self.guard(stack.LocalStack().down, say=self.stdout.write)

    def handle_status(self, json, **options):
        self.print_status(self.guard(stack.LocalStack().status), json)

    def handle_stop(self, service, **options):
        self.guard(stack.LocalStack().control, "stop", service)

    def handle_start(self, service, **options):
        self.guard(stack.LocalStack().control, "start", service)

    def handle_restart(self, service, **options):
        self.guard(stack.LocalStack().control, "restart", service)

    def handle_env(self, **options):
        self.stdout.write("\n".join(f"{k}={v}" for k, v in self.guard(stack.LocalStack().env).items()))

    def handle_cache(self, cache_action, **options):
        if cache_action == "flush":
            self.guard(upstack_cache.flush, options["namespace"])
            self.stdout.write(f"Flushed the {options['namespace']} namespace (its generation was bumped).")
            return
        self.print_cache_stats(self.guard(upstack_cache.stats), options["json"])

    def handle_tasks(self, tasks_action, json, **options):
        from upstack.tasks import stats

        self.print_task_stats(self.guard(stats), json)

    def handle_top(self, once, json, interval, **options):
        from upstack.ops import top

        stack_env = self.guard(stack.LocalStack().env)
        state_dir = stack.LocalStack().dir
        if once:
            data = top.snapshot(state_dir, stack_env, interval)
            self.stdout.write(top.dumps(data) if json else self._rich(top.render(data)))
            return
        from rich.live import Live

        try:
            with Live(top.render(top.snapshot(state_dir, stack_env, interval)), refresh_per_second=2) as live:
                while True:
                    live.update(top.render(top.snapshot(state_dir, stack_env, interval)))
        except KeyboardInterrupt:
            pass

    def handle_report(self, report_kind, json, threshold, **options):
        from pathlib import Path

        from upstack.ops import report

        rows = report.views(Path(self.guard(stack.LocalStack().env)["PROMETHEUS_MULTIPROC_DIR"]), threshold)
        if json:
            import json as json_module

            self.stdout.write(json_module.dumps(rows, indent=2))
            return
        self.stdout.write(f"{'view':<28} {'requests':>8} {'total ms':>10} {'mean ms':>8}  sql cache tmpl http py  flagged")
        for row in rows:
            share = " ".join(f"{row['share'][p] * 100:4.0f}" for p in report.PARTS)
            self.stdout.write(f"{row['view'][:28]:<28} {row['requests']:>8} {row['total_ms']:>10} "
                              f"{row['mean_ms'] or 0:>8}  {share}  {','.join(row['flagged']) or '-'}")

    @staticmethod
    def _rich(renderable) -> str:
        from rich.console import Console

        console = Console(width=120, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
        console.print(renderable)
        return console.export_text()

    def handle_backup(self, action, file, dir, keep, **options):
        from upstack.ops import backup

        directory = self.backup_dir(dir)
        if action == "create":
            self.guard(backup.backup, self.database_url(), directory, keep or conf.get("BACKUP_KEEP"),
                       say=self.stdout.write)
        elif action == "list":
            for path in backup.list_backups(directory):
                self.stdout.write(f"{path.name}  {path.stat().st_size} bytes")
        else:
            path = Path(file) if file else next(iter(backup.list_backups(directory)), None)
            if path is None or not path.exists():
                self.fail(f"no backup to verify in {directory}; run `manage.py upstack backup` first", 2)
            result = self.guard(backup.verify, self.database_url(), path, say=self.stdout.write)
            if not result["ok"]:
                self.fail(f"backup {path.name} does not match its manifest: {result['differences']}", 1)

    def handle_restore(self, file, yes, **options):
        from upstack.ops import backup

        path = Path(file)
        if not path.exists() or not Path(str(path) + ".json").exists():
            self.fail(f"{path} is not a complete upstack backup (the file and its .json manifest)", 2)
        name = settings.DATABASES["default"]["NAME"]
        if not yes:
            answer = input(f"This replaces every table of database {name!r} with {path.name}. Type the database "
                           "name to go on: ")
            if answer.strip() != name:
                self.fail("Not confirmed; nothing was changed.", 1)
        self.guard(backup.restore, self.database_url(), path, say=self.stdout.write)

    def handle_check(self, live, host, json, **options):
        from upstack.ops import checklist

        postgres = settings.DATABASES["default"]["ENGINE"].endswith("postgresql") or conf.get("DIRECT_DATABASE_URL")
        db_url = self.database_url() if postgres else None
        items = checklist.run(live, host, db_url, self.backup_dir(None))
        if json:
            import json as json_module

            self.stdout.write(json_module.dumps(items, indent=2))
        else:
            for item in items:
                mark = self.style.SUCCESS("PASS") if item["ok"] else self.style.ERROR("FAIL")
                self.stdout.write(f"[{mark}] {item['check']} - {item['detail']}")
                if not item["ok"]:
                    self.stdout.write(f"       fix: {item['fix']}")
        failed = [i for i in items if not i["ok"]]
        if failed:
            self.fail(f"{len(failed)} of {len(items)} checks failed", 1)

    def handle_warm(self, source, top, concurrency, edge, host, json, **options):
        from upstack.ops import warm

        edge = edge or self.guard(stack.LocalStack().edge_url)
        if source == "sitemap":
            paths = self.guard(warm.from_sitemap, edge, host, top)
        elif source.startswith("access-log:"):
            paths = self.guard(warm.from_access_log, Path(source.split(":", 1)[1]), top)
        elif Path(source).exists():
            paths = warm.from_file(Path(source), top)
        else:
            self.fail(f"--from {source!r}: use sitemap, access-log:PATH, or an existing file", 2)
        result = self.guard(warm.warm, edge, paths, host, concurrency, not json)
        if json:
            import json as json_module

            self.stdout.write(json_module.dumps(result, indent=2))
            return
        self.stdout.write(f"Warmed {result['urls']} URLs. Status counts: {result['before']['statuses']}")
        for label in ("before", "after"):
            row = result[label]
            self.stdout.write(f"  {label:<6} edge hit ratio {row['edge_hit_ratio']:.1%}, "
                              f"page-cache hit ratio {row['page_cache_hit_ratio']:.1%}")

    def handle_release(self, backup, warm, json, **options):
        from upstack.ops import release

        try:
            done = release.release(stack.LocalStack(), backup=backup, warm_top=warm, say=self.stdout.write)
        except (release.ReleaseError, stack.StackError) as exc:
            self.fail(str(exc), 1)
        if json:
            import json as json_module

            self.stdout.write(json_module.dumps(done, indent=2))
        self.stdout.write(f"Released in {sum(step['seconds'] for step in done):.1f}s.")

    def handle_loadtest(self, scenario, users, duration, target, out, allow_remote, json, **options):
        import ipaddress
        from urllib.parse import urlsplit

        from upstack.ops import loadtest

        target = target or self.guard(stack.LocalStack().edge_url)
        host = urlsplit(target).hostname or ""
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = host == "localhost"
        if not loopback and not allow_remote:
            self.fail(f"{target} is not on loopback; load tests only hit 127.0.0.0/8 unless --allow-remote", 2)
        directory = Path(out) if out else Path(settings.BASE_DIR) / "var" / "loadtest" / scenario
        locustfile = Path(settings.BASE_DIR) / "bench" / "locustfile.py"
        summary = self.guard(loadtest.run, scenario, users, duration, target, directory, locustfile)
        if json:
            import json as json_module

            self.stdout.write(json_module.dumps(summary, indent=2))
            return
        self.stdout.write(f"{summary['requests']} requests, {summary['failures']} failed, {summary['rps']:.1f} req/s, "
                          f"p50 {summary['p50_ms']} ms, p95 {summary['p95_ms']} ms, p99 {summary['p99_ms']} ms")
        self.stdout.write(f"Report, CSV and charts in {directory}: {', '.join(summary['charts'])}")

    def database_url(self) -> str:
        if conf.get("DIRECT_DATABASE_URL"):
            return conf.get("DIRECT_DATABASE_URL")
        db = settings.DATABASES["default"]
        if db["ENGINE"] != "django.db.backends.postgresql":
            self.fail("backups need PostgreSQL (DATABASE_URL=postgres://...); this database is " + db["ENGINE"], 2)
        auth = db["USER"] + (f":{quote(db['PASSWORD'], safe='')}" if db.get("PASSWORD") else "")
        return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"

    def backup_dir(self, given) -> Path:
        path = Path(given or conf.get("BACKUP_DIR"))
        return path if path.is_absolute() else Path(settings.BASE_DIR) / path

    # --- helpers -------------------------------------------------------------------------------

    def _sizing_arguments(self, parser):
        parser.add_argument("--cpus", type=int, help="Size for this many CPUs (default: this machine's).")
        parser.add_argument("--memory", help="Size for this much memory, e.g. 4G (default: this machine's).")
        parser.add_argument("--with", dest="with_services", default=(), type=lambda v: tuple(filter(None, v.split(","))),
                            help="Optional services, comma-separated: pgbouncer,haproxy,memcached.")
        parser.add_argument("--app-server", choices=("gunicorn", "granian"), default="gunicorn",
                            help="The WSGI server (default gunicorn).")

    def print_status(self, status, as_json):
        if as_json:
            self.stdout.write(json.dumps(status, indent=2))
            return
        self.stdout.write(f"edge: {status['edge_url'] or '-'}")
        for svc in status["services"]:
            self.stdout.write(f"  {svc['name']:<13} {svc['state']:<9} pid {svc['pid'] or '-':<8} {svc['address'] or ''}")

    def print_cache_stats(self, stats, as_json):
        if as_json:
            self.stdout.write(json.dumps(stats, indent=2))
            return
        self.stdout.write(f"{'namespace':<10} {'calls':>9} {'hits':>9} {'misses':>9} {'hit%':>6} {'errors':>7} {'skipped':>8}")
        for namespace, row in stats.items():
            ratio = f"{row['hit_ratio'] * 100:5.1f}" if row["hit_ratio"] is not None else "    -"
            self.stdout.write(f"{namespace:<10} {row['calls']:>9} {row['hits']:>9} {row['misses']:>9} {ratio:>6} "
                              f"{row['errors']:>7} {row['skipped']:>8}")

    def print_task_stats(self, data, as_json):
        if as_json:
            self.stdout.write(json.dumps(data, indent=2))
            return
        self.stdout.write(f"broker: {data['broker']}   enqueue failures: {data['enqueue_failed']}")
        self.stdout.write(f"{'queue':<8} {'depth':>7} {'sent':>8} {'ok':>8} {'failed':>7} {'retried':>8}")
        for queue, row in data["queues"].items():
            cells = [("-" if row[k] is None else row[k]) for k in ("depth", "sent", "succeeded", "failed", "retried")]
            self.stdout.write(f"{queue:<8} {cells[0]:>7} {cells[1]:>8} {cells[2]:>8} {cells[3]:>7} {cells[4]:>8}")

    def guard(self, function, *args, **kwargs):
        """Call the library; turn its expected errors into a CommandError with a return code:
        2 for bad input (arguments, a missing file or binary), 1 when the operation failed."""
        from upstack.ops.backup import BackupError

        try:
            return function(*args, **kwargs)
        except stack.StackError as exc:
            self.fail(str(exc), exc.returncode)
        except (ValueError, MissingBinary) as exc:
            self.fail(str(exc), 2)
        except (BackupError, ConnectionError, ImproperlyConfigured, RuntimeError) as exc:
            self.fail(str(exc).strip(), 1)
        except OSError as exc:  # a file that is not there, a path that is not allowed
            self.fail(str(exc), 2)
        except Exception as exc:
            if type(exc).__module__.startswith("psycopg"):
                self.fail(str(exc).strip(), 1)
            raise

    def fail(self, message, returncode=1):
        raise CommandError(message, returncode=returncode)
