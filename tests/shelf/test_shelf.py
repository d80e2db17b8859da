"""The second reference site (sites/shelf) on its own: migrated, seeded through its hook, and its
pages answered by Django's test client, in a process of its own (its settings are not the newsroom's).
`make test` runs this on Django 5.2 and again on Django 6 (.venv-django6)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

SITE = Path(__file__).resolve().parents[2] / "sites" / "shelf"

SMOKE = """
import json, django
django.setup()
from django.core.management import call_command
from django.test import Client
call_command("migrate", verbosity=0)
call_command("upstack", "seed", "--size", "300")
client = Client()
out = {}
for path in ("/", "/books/", "/items/book-0/", "/items/film-1/", "/api/items.json", "/my-shelf/", "/healthz",
             "/no-such-page/"):
    r = client.get(path, HTTP_HOST="127.0.0.1")
    out[path] = {"status": r.status_code, "location": r.get("Location", ""),
                 "body": r.content.decode()[:3000]}
client.login(username="shelf-reader0", password="shelf-demo-reader")
r = client.get("/my-shelf/", HTTP_HOST="127.0.0.1")
out["mine"] = {"status": r.status_code, "body": r.content.decode()}
out["reader_item"] = client.get("/items/book-0/", HTTP_HOST="127.0.0.1").content.decode()
client.login(username="shelf-editor", password="shelf-demo-reader")
out["staff_item"] = client.get("/items/book-0/", HTTP_HOST="127.0.0.1").content.decode()
print("SMOKE" + json.dumps(out))
"""


def smoke() -> dict:
    with tempfile.TemporaryDirectory() as scratch:
        env = {**{k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "PYTHONPATH")},
               "DJANGO_SETTINGS_MODULE": "shelf.settings", "SHELF_SQLITE": str(Path(scratch) / "shelf.sqlite3")}
        done = subprocess.run([sys.executable, "-c", SMOKE], cwd=SITE, env=env, capture_output=True, text=True,
                              timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads(done.stdout.split("SMOKE", 1)[1])


def test_shelf_serves_its_pages_with_upstack_installed():
    out = smoke()
    assert out["/"]["status"] == 200 and "Book 0" in out["/"]["body"] and "Film 1" in out["/"]["body"]
    assert "Film" not in out["/books/"]["body"].split("<h1>Items</h1>", 1)[1]
    assert "by Author 0" in out["/items/book-0/"]["body"]
    assert "directed by Director 1" in out["/items/film-1/"]["body"]
    api = json.loads(out["/api/items.json"]["body"])
    assert {row["kind"] for row in api["items"]} == {"book", "film"} and len(api["items"]) == 6
    assert out["/my-shelf/"]["status"] == 302 and out["/my-shelf/"]["location"].startswith("/login/")
    assert out["mine"]["status"] == 200 and "<h1>shelf-reader0" in out["mine"]["body"]
    assert out["/healthz"]["status"] == 200 and out["/no-such-page/"]["status"] == 404
    assert 'class="staff-toolbar"' in out["staff_item"] and 'class="staff-toolbar"' not in out["reader_item"]
    assert 'class="staff-toolbar"' not in out["/items/book-0/"]["body"]


def test_shelf_never_imports_the_newsroom_and_the_package_never_imports_shelf():
    for path in SITE.rglob("*.py"):
        assert "import newsroom" not in path.read_text() and "from newsroom" not in path.read_text(), path
    package = SITE.parents[1] / "src" / "upstack"
    assert not [p for p in package.rglob("*.py") if "shelf" in p.read_text().lower()]
