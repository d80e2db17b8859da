"""``manage.py upstack``: one command, native subparsers (``upstack.management.arguments``).

Each subcommand's handler is a few lines over the public library (``upstack.ops``, ``upstack.stack``,
...): parse, call, report - a rich table for humans, ``--json`` for machines (``upstack.ops.tables``,
``upstack.ops.console``). Errors become ``CommandError`` with the exit code of the CLI contract
(docs/cli.md): 1 an operational failure, 2 bad input, 3 a conflict.
"""

import ipaddress
import os
import tempfile
from pathlib import Path
from urllib.parse import quote, urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

import upstack
from upstack import cache as upstack_cache
from upstack import conf, stack
from upstack.management.arguments import add_arguments
from upstack.ops import console, tables
from upstack.ops.console import BAD_INPUT, FAILED
from upstack.stack.machine import MissingBinary


class Command(BaseCommand):
    help = (
        "upstack: run, render, inspect and operate the stack around this Django project. "
        "Use 'manage.py upstack SUBCOMMAND --help' for each subcommand. Exit codes: 0 success, "
        "1 operational failure, 2 bad input, 3 conflict (docs/cli.md)."
    )

    def add_arguments(self, parser):
        add_arguments(parser)

    def handle(self, *args, subcommand, **options):
        handler = getattr(self, "handle_" + subcommand.replace("-", "_"))
        return handler(**options)

    # --- subcommand handlers -------------------------------------------------------------------

    def handle_info(self, json, **options):
        data = {"version": upstack.__version__, "settings": {k: conf.get(k) for k in conf.DEFAULTS}}
        self.report(data, json, tables.info)

    def handle_render(self, target, out, cpus, memory, with_services, app_server, pod_cpus, pod_memory, app_hosts,
                      inventory, **options):
        paths = self.guard(stack.render_target, target, out, cpus=cpus, memory=memory,
                           with_services=with_services, app_server=app_server, pod_cpus=pod_cpus,
                           pod_memory=pod_memory, app_hosts=app_hosts, inventory=inventory)
        self.stdout.write(f"Wrote {len(paths)} files for target {target} under {out}")

    def handle_up(self, cpus, memory, with_services, app_server, seed_articles, stack_settings, json, **options):
        with self.locked("up"), console.working("up", self.progress_writer(json)) as say:
            status = self.guard(stack.up, cpus=cpus, memory=memory, with_services=with_services,
                                app_server=app_server, seed_articles=seed_articles, settings_module=stack_settings,
                                say=say)
        self.report(status, json, tables.status)

    def handle_seed(self, size, **options):
        from upstack.ops.seed import seed

        seeded = self.guard(seed, size)
        self.stdout.write("Seeded." if seeded else "UPSTACK['SEED'] is not set; nothing to seed.")

    def handle_down(self, **options):
        with self.locked("down"):
            self.guard(stack.LocalStack().down, say=self.stdout.write)

    def handle_status(self, json, **options):
        self.report(self.guard(stack.LocalStack().status), json, tables.status)

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
        self.report(self.guard(upstack_cache.stats), options["json"], tables.cache_stats)

    def handle_tasks(self, tasks_action, json, **options):
        from upstack.tasks import stats

        self.report(self.guard(stats), json, tables.task_stats)

    def handle_top(self, once, json, interval, prometheus, **options):
        import time

        from upstack.ops import top

        local = stack.LocalStack()
        running = local.supervisor.running()
        if not running and not prometheus:
            self.fail("the stack is not running; start it with `manage.py upstack up`, or pass --prometheus URL",
                      FAILED)
        stack_env = self.guard(local.env) if running else None
        url = prometheus or self.guard(local.prometheus_url)
        source = self.guard(top.prometheus_source, url) if url else None

        def take(previous=None):
            started = time.monotonic()
            master = (local.supervisor.processes().get("app") or {}).get("pid") or None if running else None
            data = top.snapshot(local.dir, stack_env, interval, previous, master, source)
            time.sleep(max(0.0, interval - (time.monotonic() - started)))  # the edge's read paces it when it runs
            return data

        if once or json:
            data = take()
            if json:
                self.stdout.write(top.dumps(data))
            else:
                console.show(self.stdout, top.render(data))
            return
        from rich.live import Live

        data = take()
        try:  # the alternate screen, like htop: the terminal comes back as it was on Ctrl-C
            with Live(top.render(data), screen=True, auto_refresh=False,
                      console=console.console(self.stdout)) as live:
                while True:
                    data = take(data)  # takes ``interval`` seconds (the edge's rate is measured over it)
                    live.update(top.render(data), refresh=True)
        except KeyboardInterrupt:
            pass

    def handle_report(self, report_kind, json, **options):
        if report_kind == "dashboard":
            return self.report_dashboard(json=json, **options)
        from upstack.ops import report

        threshold = options["threshold"]

        rows = report.views(Path(self.guard(stack.LocalStack().env)["PROMETHEUS_MULTIPROC_DIR"]), threshold)
        self.report(rows, json, lambda data: tables.views(data, report.PARTS))

    def report_dashboard(self, prometheus, out, minutes, json, **options):
        from upstack.ops import dashboard
        from upstack.stack.observability import dashboard as board

        prometheus = prometheus or self.guard(stack.LocalStack().prometheus_url)
        if not prometheus:
            self.fail("no Prometheus to draw from: the local stack runs none (start it with `upstack up --with "
                      "observability`), or pass --prometheus URL", BAD_INPUT)
        page, panels = self.guard(dashboard.report, board(conf.project_module()), prometheus, minutes)
        Path(out).write_text(page)
        self.report({"file": str(out), "panels": panels}, json, tables.dashboard)

    def handle_backup(self, action, file, dir, keep, remote, json, **options):
        from upstack.ops import backup, backupcrypt, backupstore

        directory = self.backup_dir(dir)
        if action == "key":
            pair = backupcrypt.new_pair()
            self.stdout.write(console.dumps(pair) if json else "\n".join(f"{k}={v}" for k, v in pair.items()))
            return
        if action == "list":
            listed = self.guard(backupstore.describe) if remote else backup.describe_backups(directory)
            self.report(listed, json, tables.backups)
            return
        if action == "create":
            with console.working("backup", self.progress_writer(json)) as say:
                path = self.guard(backup.backup, self.database_url(), directory, keep or conf.get("BACKUP_KEEP"),
                                  say=say)
                result = {"file": str(path), "bytes": path.stat().st_size}
                if self.guard(backupstore.storage) is not None:
                    result["remote"] = self.guard(backupstore.upload, path)
                    say(f"Copied to the backup storage as {result['remote']}")
            self.stdout.write(console.dumps(result) if json else f"Backup written: {path} ({result['bytes']} bytes).")
            return
        with tempfile.TemporaryDirectory(prefix="upstack-remote-") as fetched:
            if remote:
                path = self.guard(backupstore.download, file, Path(fetched))
            else:
                path = Path(file) if file else next(iter(backup.list_backups(directory)), None)
            if path is None or not path.exists():
                self.fail(f"no backup to verify in {directory}; run `manage.py upstack backup` first, or give --file",
                          BAD_INPUT)
            with console.working(f"verifying {path.name}", self.progress_writer(json)) as say:
                result = self.guard(backup.verify, self.database_url(), path, say=say)
        if json:
            self.stdout.write(console.dumps(result))
        if not result["ok"]:
            self.fail(f"backup {path.name} does not match its manifest: {result['differences']}. Fix: take a new "
                      "backup and find out why this one does not restore.", FAILED)

    def handle_restore(self, file, yes, remote, **options):
        from upstack.ops import backup, backupstore

        with tempfile.TemporaryDirectory(prefix="upstack-remote-") as fetched:
            path = self.guard(backupstore.download, file, Path(fetched)) if remote else Path(file)
            if not path.exists() or not Path(str(path) + ".json").exists():
                self.fail(f"{path} is not a complete upstack backup (the file and its .json manifest); "
                          "`manage.py upstack backup list` shows the backups", BAD_INPUT)
            name = settings.DATABASES["default"]["NAME"]
            with self.locked("restore"):
                if not yes:
                    answer = input(f"This replaces every table of database {name!r} with {path.name}. Type the "
                                   "database name to go on: ")
                    if answer.strip() != name:
                        self.fail("Not confirmed; nothing was changed.", FAILED)
                with console.working(f"restoring {path.name}", self.stdout.write) as say:
                    self.guard(backup.restore, self.database_url(), path, say=say)

    def handle_check(self, live, host, json, **options):
        from upstack.ops import checklist

        postgres = settings.DATABASES["default"]["ENGINE"].endswith("postgresql") or conf.get("DIRECT_DATABASE_URL")
        db_url = self.database_url() if postgres else None
        with console.working("checking" + (f" {live}" if live else "")):
            result = checklist.summary(self.guard(checklist.run, live, host, db_url, self.backup_dir(None)))
        self.report(result, json, tables.checks)
        if result["counts"]["fail"]:
            self.fail(f"{result['counts']['fail']} of {len(result['items'])} checks failed", FAILED)

    def handle_warm(self, source, top, concurrency, edge, host, json, **options):
        from upstack.ops import warm

        local = stack.LocalStack()
        edge = edge or self.guard(local.edge_url)
        kind, path = self.guard(warm.parse_source, source, default_log=local.dir / "logs" / "app.log")
        if kind == "sitemap":
            paths = self.guard(warm.from_sitemap, edge, host, top)
        elif kind == "access-log":
            paths = self.guard(warm.from_access_log, path, top)
        else:
            paths = self.guard(warm.from_file, path, top)
        self.report(self.guard(warm.warm, edge, paths, host, concurrency, not json), json, tables.warm)

    def handle_release(self, backup, warm, json, **options):
        from upstack.ops import release

        with self.locked("release"), console.working("release", self.progress_writer(json)) as say:
            try:
                done = release.release(stack.LocalStack(), backup=backup, warm_top=warm, say=say)
            except (release.ReleaseError, stack.StackError) as exc:
                self.fail(str(exc), getattr(exc, "returncode", FAILED))
        self.report(done, json, tables.release)

    def handle_rollback(self, json, **options):
        from upstack.ops import releases
        from upstack.stack import project

        local = stack.LocalStack()
        with self.locked("rollback"), console.working("rollback", self.progress_writer(json)) as say:
            env = self.guard(local.env)
            try:
                done = releases.rollback(local, {**os.environ, **env}, project.base_dir(), say=say)
            except releases.RollbackBlocked as exc:
                self.fail(f"{exc}. Nothing was changed.", FAILED)
            except stack.StackError as exc:
                self.fail(str(exc), exc.returncode)
            except (RuntimeError, OSError) as exc:
                self.fail(f"rollback stopped: {exc}. Logs: `manage.py upstack logs app`", FAILED)
        self.report(done, json, tables.rollback)

    def handle_releases(self, json, **options):
        from upstack.ops import releases

        self.report(self.guard(releases.load, stack.LocalStack().dir), json, tables.releases)

    def handle_loadtest(self, scenario, locustfile, urls, users, duration, target, out, allow_remote, json, **options):
        from upstack.ops import loadtest

        seconds = self.guard(loadtest.parse_duration, duration)
        locustfile = self.guard(loadtest.locustfile_for, locustfile)  # bad input first, before the stack
        offered = self.guard(loadtest.scenarios, locustfile)
        if scenario not in offered:
            self.fail(f"unknown scenario {scenario!r}; {locustfile} offers: {', '.join(offered)}", BAD_INPUT)
        target = target or self.guard(stack.LocalStack().edge_url)
        host = urlsplit(target).hostname or ""
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = host == "localhost"
        if not loopback and not allow_remote:
            self.fail(f"{target} is not on loopback; load tests only hit 127.0.0.0/8 unless --allow-remote", BAD_INPUT)
        directory = Path(out) if out else Path(settings.BASE_DIR) / "var" / "loadtest" / scenario
        with console.working(f"load test {scenario}: {users} users for {seconds}s"):
            summary = self.guard(loadtest.run, scenario, users, duration, target, directory, locustfile, urls)
        self.report(summary, json, lambda data: tables.loadtest(data, directory))

    def handle_lock(self, reason, status, json, **options):
        from upstack.ops import deploylock

        state_dir = stack.LocalStack().dir
        if not status:
            self.guard(deploylock.lock, state_dir, reason)
        self.report(deploylock.status(state_dir), json, tables.lock)

    def handle_unlock(self, json, **options):
        from upstack.ops import deploylock

        state_dir = stack.LocalStack().dir
        lifted = self.guard(deploylock.unlock, state_dir)
        if json:
            self.stdout.write(console.dumps({"lifted": lifted, **deploylock.status(state_dir)}))
        else:
            self.stdout.write(f"Lifted the lock taken by {deploylock.describe(lifted)}." if lifted else
                              "The deploy lock was not held by hand; nothing to lift.")

    def handle_logs(self, services, follow, level, request_id, lines, json, **options):
        from upstack.ops import logview

        local = stack.LocalStack()
        names = services or [s["name"] for s in self.guard(local.status)["services"]]
        files = logview.log_files(local.dir, names)
        if not any(path.exists() for path in files.values()):
            self.fail(f"no logs under {local.dir / 'logs'} for {', '.join(names)}; start the stack with "
                      "`manage.py upstack up`", FAILED)
        out, colours = console.console(self.stdout), logview.colours_for(names)
        try:
            for stream in (logview.merged(files, lines), logview.follow(files) if follow else ()):
                for entry in stream:
                    if logview.matches(entry, level, request_id):
                        out.print(console.dumps_line(entry) if json else logview.render(entry, colours),
                                  markup=False, highlight=False, soft_wrap=True)
        except KeyboardInterrupt:
            pass

    # --- helpers -------------------------------------------------------------------------------

    def report(self, data, as_json, table):
        """The contract's two faces of one result: JSON for machines, a rich table for humans."""
        if as_json:
            self.stdout.write(console.dumps(data))
        else:
            console.show(self.stdout, table(data))

    def progress_writer(self, as_json):
        """Where step messages go: stdout for humans, stderr under --json (stdout is the JSON alone)."""
        return self.stderr.write if as_json else self.stdout.write

    def locked(self, command):
        from upstack.ops import deploylock

        return _Guarded(self, deploylock.held(stack.LocalStack().dir, command))

    def database_url(self) -> str:
        if conf.get("DIRECT_DATABASE_URL"):
            return conf.get("DIRECT_DATABASE_URL")
        db = settings.DATABASES["default"]
        if db["ENGINE"] != "django.db.backends.postgresql":
            self.fail("backups need PostgreSQL (DATABASE_URL=postgres://...); this database is " + db["ENGINE"],
                      BAD_INPUT)
        auth = db["USER"] + (f":{quote(db['PASSWORD'], safe='')}" if db.get("PASSWORD") else "")
        return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"

    def backup_dir(self, given) -> Path:
        path = Path(given or conf.get("BACKUP_DIR"))
        return path if path.is_absolute() else Path(settings.BASE_DIR) / path

    def guard(self, function, *args, **kwargs):
        """Call the library; turn its expected errors into a CommandError with the contract's exit code:
        3 for a conflict, 2 for bad input (arguments, a missing file or binary), 1 when the operation failed."""
        from upstack.ops.backup import BackupError
        from upstack.ops.deploylock import LockHeld

        try:
            return function(*args, **kwargs)
        except (stack.StackError, LockHeld) as exc:
            self.fail(str(exc), exc.returncode)
        except (ValueError, MissingBinary) as exc:
            self.fail(str(exc), BAD_INPUT)
        except (BackupError, ConnectionError, ImproperlyConfigured, RuntimeError) as exc:
            self.fail(str(exc).strip(), FAILED)
        except OSError as exc:  # a file that is not there, a path that is not allowed
            self.fail(str(exc), BAD_INPUT)
        except Exception as exc:
            if type(exc).__module__.startswith("psycopg"):
                self.fail(str(exc).strip(), FAILED)
            raise

    def fail(self, message, returncode=FAILED):
        raise CommandError(message, returncode=returncode)


class _Guarded:
    """A context manager whose expected errors on entry (a held lock) become the contract's exit codes."""

    def __init__(self, command, manager):
        self.command, self.manager = command, manager

    def __enter__(self):
        return self.command.guard(self.manager.__enter__)

    def __exit__(self, *exc):
        return self.manager.__exit__(*exc)

