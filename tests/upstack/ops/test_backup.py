"""Backups against a real PostgreSQL: create, verify, detect damage, encrypt, rotate, restore."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from tests import servers

ROOT = Path(__file__).resolve().parents[3]
pytestmark = [pytest.mark.servers]


@pytest.fixture(scope="module")
def site(postgres_server, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("backup")
    name = f"backup_site_{os.getpid()}"
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:{postgres_server.port}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}" OWNER {postgres_server.user}')
    url = f"postgres://{postgres_server.user}@127.0.0.1:{postgres_server.port}/{name}"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "newsroom.settings.test", "DATABASE_URL": url,
           "BACKUP_DIR": str(tmp / "backups"), "PYTHONPATH": f"{ROOT}:{ROOT / 'src'}"}
    env.pop("BACKUP_ENCRYPTION_KEY", None)
    manage(env, "migrate", "--noinput", "-v", "0")
    manage(env, "seed", "--articles", "120", "--users", "10", "--comments", "300", "--no-progress")
    return {"env": env, "url": url, "dir": tmp / "backups"}


def manage(env, *args, input_text=None, check=True):
    result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=300, input=input_text)
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def count(url, table="news_article"):
    with psycopg.connect(url.replace("postgres://", "postgresql://")) as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def test_backup_verify_and_restore_cycle(site):
    env = site["env"]
    made = manage(env, "upstack", "backup")
    assert "Backed up" in made.stdout
    backups = sorted(site["dir"].glob("*.dump"))
    assert len(backups) == 1 and backups[0].stat().st_size > 10_000
    manifest = json.loads(Path(str(backups[0]) + ".json").read_text())
    assert manifest["tables"]["public.news_article"]["rows"] == 120
    verified = manage(env, "upstack", "backup", "verify")
    assert "Verified" in verified.stdout
    # Data changes after the backup; a refused restore changes nothing, a confirmed one brings it back.
    with psycopg.connect(site["url"].replace("postgres://", "postgresql://")) as conn:
        conn.execute("DELETE FROM news_comment")
        conn.execute("DELETE FROM news_like")
    assert count(site["url"], "news_comment") == 0
    refused = manage(env, "upstack", "restore", str(backups[0]), input_text="wrong-name\n", check=False)
    assert refused.returncode == 1 and "nothing was changed" in refused.stderr
    assert count(site["url"], "news_comment") == 0
    name = site["url"].rsplit("/", 1)[1]
    manage(env, "upstack", "restore", str(backups[0]), input_text=name + "\n")
    assert count(site["url"], "news_comment") == manifest["tables"]["public.news_comment"]["rows"] > 0


def test_a_damaged_backup_fails_verification(site, tmp_path):
    env = site["env"]
    manage(env, "upstack", "backup")
    newest = sorted(site["dir"].glob("*.dump"))[-1]
    manifest_path = Path(str(newest) + ".json")
    manifest = json.loads(manifest_path.read_text())
    manifest["tables"]["public.news_article"]["rows"] += 1  # the dump no longer matches what was recorded
    manifest_path.write_text(json.dumps(manifest))
    failed = manage(env, "upstack", "backup", "verify", "--file", str(newest), check=False)
    assert failed.returncode == 1 and "does not match" in failed.stderr
    truncated = tmp_path / newest.name
    truncated.write_bytes(newest.read_bytes()[: newest.stat().st_size // 2])
    Path(str(truncated) + ".json").write_text(json.dumps(json.loads(manifest_path.read_text())))
    broken = manage(env, "upstack", "backup", "verify", "--file", str(truncated), check=False)
    assert broken.returncode == 1 and "pg_restore failed" in broken.stderr


def test_encrypted_backups_and_rotation(site):
    env = {**site["env"], "BACKUP_ENCRYPTION_KEY": "a-long-random-key-from-the-vault"}
    for _ in range(3):
        manage(env, "upstack", "backup", "--keep", "2")
    encrypted = sorted(site["dir"].glob("*.dump.enc"))
    assert len(encrypted) <= 2 and len([p for p in site["dir"].iterdir() if p.name.endswith((".dump", ".enc"))]) == 2
    assert not encrypted[-1].read_bytes().startswith(b"PGDMP")  # not a readable pg_dump file
    assert "Verified" in manage(env, "upstack", "backup", "verify").stdout
    wrong = manage({**env, "BACKUP_ENCRYPTION_KEY": "not-the-key"}, "upstack", "backup", "verify", check=False)
    assert wrong.returncode == 1 and "decrypt" in wrong.stderr
    assert servers.find_binary("openssl")


def test_backups_need_postgresql(tmp_path):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "newsroom.settings.test",
           "DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}", "PYTHONPATH": f"{ROOT}:{ROOT / 'src'}"}
    result = manage(env, "upstack", "backup", check=False)
    assert result.returncode == 2 and "need PostgreSQL" in result.stderr
