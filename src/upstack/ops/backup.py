"""Verified PostgreSQL backups: ``upstack backup``, ``backup verify``, ``restore``.

A backup is ``pg_dump --format=custom`` (compressed) taken inside an exported snapshot, so the
manifest written beside it - the row count of every table and a checksum of a sample of each - is
exactly what the dump holds, and the sha256 of the file as written. With ``BACKUP_AGE_RECIPIENT`` in
the environment the dump is encrypted with age (``upstack.ops.backupcrypt``: authenticated, streamed,
never in memory). The newest ``keep`` backups are kept. ``verify`` checks the file's sha256, decrypts
(a changed byte fails), restores into a scratch database on the same server and compares counts and
checksums with the manifest; ``restore`` replaces the live database's contents. Copies elsewhere
(``UPSTACK["BACKUP_STORAGE"]``) are ``upstack.ops.backupstore``'s.
The heavy lifting is PostgreSQL's own tools; this module orchestrates them and never leaves a
half-written file (temporary names, renamed when complete).
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from ..stack.machine import require
from . import backupcrypt

SAMPLE_ROWS = 200
OLD_KEY_ENV = "BACKUP_ENCRYPTION_KEY"  # openssl enc -aes-256-cbc: no integrity check, replaced by age
SUFFIXES = (".dump", ".dump" + backupcrypt.SUFFIX)


class BackupError(RuntimeError):
    pass


def _psycopg_url(url: str) -> str:
    return url.replace("postgres://", "postgresql://", 1)


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(_psycopg_url(url))
    return urlunsplit(parts._replace(path="/" + name))


def _database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def fingerprint(conn) -> dict:
    """Row counts and a checksum of the first rows (by primary key) of every user table."""
    tables = [r[0] for r in conn.execute(
        "SELECT quote_ident(schemaname) || '.' || quote_ident(relname) FROM pg_stat_user_tables ORDER BY 1")]
    result = {}
    for table in tables:
        count = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608 - names from the catalog
        checksum = conn.execute(
            f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM "  # noqa: S608
            f"(SELECT * FROM {table} ORDER BY 1 LIMIT {SAMPLE_ROWS}) AS t").fetchone()[0]
        result[table] = {"rows": count, "sample_md5": checksum}
    return result


def _run(argv, **kwargs):
    result = subprocess.run(argv, capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        raise BackupError(f"{Path(argv[0]).name} failed: {result.stderr.strip()[-1500:]}")
    return result


def backup(database_url: str, directory: Path, keep: int = 7, say=print) -> Path:
    """Dump the database; returns the backup's path. Encrypted to BACKUP_AGE_RECIPIENT when it is set."""
    import psycopg

    if keep < 1:
        raise ValueError("keep must be at least 1")
    if os.environ.get(OLD_KEY_ENV):
        raise ValueError(f"{OLD_KEY_ENV} (openssl, no integrity check) is no longer used: set "
                         f"{backupcrypt.RECIPIENT_ENV} (and {backupcrypt.IDENTITY_ENV} to verify and restore); "
                         "`manage.py upstack backup key` makes a pair")
    to = backupcrypt.recipient()
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    stamp = now.strftime("%Y%m%dT%H%M%S") + f"{now.microsecond // 1000:03d}Z"  # two backups a second apart differ
    name = f"{_database_name(database_url)}-{stamp}" + SUFFIXES[bool(to)]
    final, partial = directory / name, directory / (name + ".partial")
    started = time.monotonic()
    with psycopg.connect(_psycopg_url(database_url), autocommit=False) as conn:
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        snapshot = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]
        manifest = {"database": _database_name(database_url), "created": stamp, "tables": fingerprint(conn)}
        dump = [require("pg_dump"), "--format=custom", "--compress=6", "--no-owner", f"--snapshot={snapshot}",
                f"--dbname={_psycopg_url(database_url)}"]
        with open(partial, "wb") as out:
            producer = subprocess.Popen(dump, stdout=out if to is None else subprocess.PIPE, stderr=subprocess.PIPE)
            try:
                if to is not None:
                    backupcrypt.encrypt_stream(producer.stdout, out, to)
                    producer.stdout.close()
                dump_err = producer.stderr.read().decode()
            finally:
                failed = producer.wait() != 0
            if failed:
                partial.unlink(missing_ok=True)
                raise BackupError(f"pg_dump failed: {dump_err[-1500:]}")
        conn.rollback()
    manifest.update({"size": partial.stat().st_size, "seconds": round(time.monotonic() - started, 2),
                     "encrypted": to is not None, "sha256": backupcrypt.sha256(partial)})
    Path(str(final) + ".json").write_text(json.dumps(manifest, indent=2))
    os.replace(partial, final)
    for old in list_backups(directory)[keep:]:
        old.unlink(missing_ok=True)
        Path(str(old) + ".json").unlink(missing_ok=True)
    say(f"Backed up {manifest['database']} to {final} ({manifest['size']} bytes, {manifest['seconds']}s)")
    return final


def list_backups(directory: Path) -> list[Path]:
    """Complete backups, newest first."""
    if not directory.exists():
        return []
    found = [p for p in directory.iterdir() if p.name.endswith(SUFFIXES) and Path(str(p) + ".json").exists()]
    return sorted(found, key=lambda p: p.name.rsplit("-", 1)[-1], reverse=True)


def describe_backups(directory: Path) -> list[dict]:
    """``backup list``: each complete backup's file, size and creation time (UTC), newest first."""
    return [{"file": str(p), "bytes": p.stat().st_size,
             "created": datetime.fromtimestamp(p.stat().st_mtime, UTC).isoformat(timespec="seconds")}
            for p in list_backups(directory)]


def _plain_dump(path: Path, workdir: Path) -> Path:
    """The pg_dump file of a backup: checked against the manifest's sha256, decrypted when encrypted."""
    manifest = json.loads(Path(str(path) + ".json").read_text())
    if manifest.get("sha256") and backupcrypt.sha256(path) != manifest["sha256"]:
        raise BackupError(f"{path.name} is not the file that was written (its sha256 differs from its manifest's): "
                          "it was changed or cut short; use another backup")
    if not path.name.endswith(backupcrypt.SUFFIX):
        return path
    try:
        return backupcrypt.decrypt_file(path, workdir / path.name.removesuffix(backupcrypt.SUFFIX))
    except backupcrypt.DecryptionFailed as exc:
        raise BackupError(str(exc)) from None


def _restore_list(dump: Path, workdir: Path) -> Path:
    """pg_restore's table of contents without extensions: creating them needs a superuser, and the
    server's own (pg_stat_statements) are not the application's data."""
    toc = _run([require("pg_restore"), "--list", str(dump)]).stdout
    keep = [line for line in toc.splitlines() if " EXTENSION " not in line]
    path = workdir / "restore.list"
    path.write_text("\n".join(keep) + "\n")
    return path


def verify(database_url: str, path: Path, say=print) -> dict:
    """Restore ``path`` into a scratch database and compare it with the backup's manifest."""
    import psycopg

    manifest = json.loads(Path(str(path) + ".json").read_text())
    scratch = f"upstack_verify_{int(time.time())}_{os.getpid()}"
    started = time.monotonic()
    admin = _with_database(database_url, "postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{scratch}"')
    try:
        with tempfile.TemporaryDirectory(prefix="upstack-verify-") as tmp:
            dump = _plain_dump(path, Path(tmp))
            _run([require("pg_restore"), "--no-owner", "--exit-on-error", f"--use-list={_restore_list(dump, Path(tmp))}",
                  f"--dbname={_with_database(database_url, scratch)}", str(dump)])
        with psycopg.connect(_with_database(database_url, scratch)) as conn:
            restored = fingerprint(conn)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')
    differences = {t: {"backup": manifest["tables"].get(t), "restored": restored.get(t)}
                   for t in set(manifest["tables"]) | set(restored) if manifest["tables"].get(t) != restored.get(t)}
    result = {"backup": str(path), "ok": not differences, "tables": len(restored), "differences": differences,
              "rows": sum(t["rows"] for t in restored.values()), "seconds": round(time.monotonic() - started, 2)}
    say(("Verified" if result["ok"] else "FAILED to verify") + f" {path.name}: {result['tables']} tables, "
        f"{result['rows']} rows, {result['seconds']}s")
    return result


def restore(database_url: str, path: Path, say=print) -> None:
    """Replace the database's contents with the backup's (objects it holds are dropped and recreated)."""
    with tempfile.TemporaryDirectory(prefix="upstack-restore-") as tmp:
        dump = _plain_dump(path, Path(tmp))
        _run([require("pg_restore"), "--clean", "--if-exists", "--no-owner", "--single-transaction",
              "--exit-on-error", f"--use-list={_restore_list(dump, Path(tmp))}", f"--dbname={_psycopg_url(database_url)}",
              str(dump)])
    say(f"Restored {path.name} into {_database_name(database_url)}")


def latest_age_hours(directory: Path) -> float | None:
    backups = list_backups(directory)
    if not backups:
        return None
    return (time.time() - backups[0].stat().st_mtime) / 3600


__all__ = ["BackupError", "backup", "latest_age_hours", "list_backups", "restore", "verify"]
