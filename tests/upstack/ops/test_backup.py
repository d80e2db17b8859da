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
from upstack.ops import backupcrypt
from upstack.ops.backup import SUFFIXES

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
    for name in ("BACKUP_ENCRYPTION_KEY", "BACKUP_AGE_RECIPIENT", "BACKUP_AGE_IDENTITY", "BACKUP_BUCKET"):
        env.pop(name, None)
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
    cut = manage(env, "upstack", "backup", "verify", "--file", str(truncated), check=False)
    assert cut.returncode == 1 and "sha256 differs from its manifest" in cut.stderr
    # Even with a manifest that agrees with the cut file, pg_restore finds it broken.
    manifest = json.loads(manifest_path.read_text())
    Path(str(truncated) + ".json").write_text(json.dumps({**manifest, "sha256": backupcrypt.sha256(truncated)}))
    broken = manage(env, "upstack", "backup", "verify", "--file", str(truncated), check=False)
    assert broken.returncode == 1 and "pg_restore failed" in broken.stderr


def age_keys(env) -> dict:
    made = manage(env, "upstack", "backup", "key", "--json")
    return json.loads(made.stdout)


def test_encrypted_backups_are_authenticated_and_rotated(site, tmp_path):
    keys = age_keys(site["env"])
    assert keys["BACKUP_AGE_RECIPIENT"].startswith("age1") and keys["BACKUP_AGE_IDENTITY"].startswith("AGE-SECRET-KEY-1")
    env = {**site["env"], "BACKUP_AGE_RECIPIENT": keys["BACKUP_AGE_RECIPIENT"]}  # the backup host: public key only
    for _ in range(3):
        manage(env, "upstack", "backup", "--keep", "2")
    encrypted = sorted(site["dir"].glob("*.dump.age"))
    assert len(encrypted) == 2 and len([p for p in site["dir"].iterdir() if p.name.endswith(SUFFIXES)]) == 2
    assert encrypted[-1].read_bytes().startswith(b"age-encryption.org/v1")  # not a readable pg_dump file
    no_key = manage(env, "upstack", "backup", "verify", check=False)
    assert no_key.returncode == 2 and "set BACKUP_AGE_IDENTITY" in no_key.stderr
    reader = {**env, "BACKUP_AGE_IDENTITY": keys["BACKUP_AGE_IDENTITY"]}
    assert "Verified" in manage(reader, "upstack", "backup", "verify").stdout
    other = {**env, "BACKUP_AGE_IDENTITY": age_keys(site["env"])["BACKUP_AGE_IDENTITY"]}
    wrong = manage(other, "upstack", "backup", "verify", check=False)
    assert wrong.returncode == 1 and "could not be decrypted" in wrong.stderr
    # Tampering: one flipped byte in the middle, and a manifest rewritten to match the changed file,
    # so only age's authentication can tell.
    tampered = tmp_path / encrypted[-1].name
    data = bytearray(encrypted[-1].read_bytes())
    data[len(data) // 2] ^= 0x01
    tampered.write_bytes(bytes(data))
    manifest = json.loads(Path(str(encrypted[-1]) + ".json").read_text())
    Path(str(tampered) + ".json").write_text(json.dumps({**manifest, "sha256": backupcrypt.sha256(tampered)}))
    changed = manage(reader, "upstack", "backup", "verify", "--file", str(tampered), check=False)
    assert changed.returncode == 1 and "could not be decrypted" in changed.stderr and "changed" in changed.stderr
    # The unchanged copy still verifies: the check is about the byte, not the file.
    assert "Verified" in manage(reader, "upstack", "backup", "verify", "--file", str(encrypted[-1])).stdout


def test_the_old_openssl_key_is_refused_with_the_fix(site):
    old = manage({**site["env"], "BACKUP_ENCRYPTION_KEY": "a-long-random-key"}, "upstack", "backup", check=False)
    assert old.returncode == 2 and "BACKUP_AGE_RECIPIENT" in old.stderr


def test_backups_go_to_s3_and_verify_and_restore_from_there(site, tmp_path):
    servers.require_binary("moto_server")
    import boto3

    with servers.MotoS3() as s3:
        bucket = "upstack-backups-test"
        boto3.client("s3", endpoint_url=s3.url, **{k.lower(): v for k, v in s3.env().items()
                                                   if k != "AWS_DEFAULT_REGION"},
                     region_name="us-east-1").create_bucket(Bucket=bucket)
        keys = age_keys(site["env"])
        env = {**site["env"], **s3.env(), **keys, "BACKUP_BUCKET": bucket, "BACKUP_S3_ENDPOINT_URL": s3.url,
               "BACKUP_DIR": str(tmp_path / "local")}
        made = json.loads(manage(env, "upstack", "backup", "--json").stdout)
        assert made["remote"].startswith("upstack-backups/") and made["remote"].endswith(".dump.age")
        listed = json.loads(manage(env, "upstack", "backup", "list", "--remote", "--json").stdout)
        assert [row["file"] for row in listed] == [made["remote"]] and listed[0]["bytes"] == made["bytes"]
        # The local copy is gone: verify and restore read the bucket's.
        for path in (tmp_path / "local").iterdir():
            path.unlink()
        verified = json.loads(manage(env, "upstack", "backup", "verify", "--remote", "--json").stdout)
        assert verified["ok"] and verified["rows"] > 0
        comments = count(site["url"], "news_comment")
        with psycopg.connect(site["url"].replace("postgres://", "postgresql://")) as conn:
            conn.execute("DELETE FROM news_comment")
        manage(env, "upstack", "restore", "--remote", made["remote"], "--yes")
        assert count(site["url"], "news_comment") == comments > 0
        missing = manage(env, "upstack", "backup", "verify", "--remote", "--file", "nope.dump.age", check=False)
        assert missing.returncode == 2 and "not a complete backup in the backup storage" in missing.stderr


def test_backups_need_postgresql(tmp_path):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "newsroom.settings.test",
           "DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}", "PYTHONPATH": f"{ROOT}:{ROOT / 'src'}"}
    result = manage(env, "upstack", "backup", check=False)
    assert result.returncode == 2 and "need PostgreSQL" in result.stderr
