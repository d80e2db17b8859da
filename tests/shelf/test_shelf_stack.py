"""The second reference site on the real stack: `upstack up` from sites/shelf, with nothing but the
guide's two lines and its UPSTACK options (the stack's overlay does the rest), then through the edge:
cached pages and JSON, multi-table inheritance and a proxy model purged precisely, a login-only page
for a reader with a session, and an uploaded cover served."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest

from tests import servers

SITE = Path(__file__).resolve().parents[2] / "sites" / "shelf"
PASSWORD = "shelf-demo-reader"


class Visitor:
    """Keeps its cookies; never follows redirects."""

    def __init__(self, edge: str):
        self.netloc, self.cookies = urlsplit(edge).netloc, {}

    def request(self, method, path, body=None, content_type=None):
        conn = http.client.HTTPConnection(self.netloc, timeout=20)
        headers = {"Host": "127.0.0.1"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if content_type:
            headers["Content-Type"] = content_type
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            text = response.read().decode(errors="replace")
            for value in response.headers.get_all("Set-Cookie") or []:
                name, _, rest = value.partition("=")
                self.cookies[name.strip()] = rest.split(";")[0]
            return response.status, {k.lower(): v for k, v in response.getheaders()}, text
        finally:
            conn.close()

    def token(self, path):
        return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', self.request("GET", path)[2]).group(1)

    def post(self, path, form):
        return self.request("POST", path, urlencode(form).encode(), "application/x-www-form-urlencoded")

    def upload(self, path, form, field, filename, content: bytes):
        boundary = uuid.uuid4().hex
        parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
                 for k, v in form.items()]
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
                     "Content-Type: text/plain\r\n\r\n".encode() + content + b"\r\n")
        return self.request("POST", path, b"".join(parts) + f"--{boundary}--\r\n".encode(),
                            f"multipart/form-data; boundary={boundary}")


def manage(env, *args, timeout=600):
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=SITE, env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert done.returncode == 0, f"manage.py {' '.join(args)}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def until(check, what, seconds=10.0):
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


@pytest.fixture(scope="module")
def shelf():
    for name in ("postgres", "initdb", "redis-server", "varnishd"):
        servers.require_binary(name)
    state = Path(tempfile.mkdtemp(prefix="upstack-shelf-"))
    state.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "PYTHONPATH")}
    env.update(UPSTACK_STATE_DIR=str(state), SHELF_SQLITE=str(state / "dev.sqlite3"))
    try:
        out = manage(env, "upstack", "up", "--memory", "2G")
        edge = re.search(r"The stack is up at (http://127\.0\.0\.1:\d+)", out).group(1)
        stack_env = {**env, **dict(line.split("=", 1) for line in manage(env, "upstack", "env").splitlines())}
        yield edge, stack_env
    finally:
        subprocess.run([sys.executable, "manage.py", "upstack", "down"], cwd=SITE, env=env, capture_output=True,
                       timeout=120)
        for entry in Path("/proc").iterdir():
            try:
                if entry.name.isdigit() and str(state).encode() in (entry / "cmdline").read_bytes():
                    os.kill(int(entry.name), signal.SIGKILL)
            except OSError:
                continue
        kept = SITE.parents[1] / "var" / "shelf" / "logs"  # the last run's logs, for the reader of a failure
        subprocess.run(["rm", "-rf", str(kept)])
        kept.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["cp", "-r", str(state / "logs"), str(kept)])
        subprocess.run(["rm", "-rf", str(state)])


def test_pages_and_json_are_edge_hits(shelf):
    edge, _ = shelf
    visitor = Visitor(edge)
    for path in ("/", "/api/items.json", "/items/film-0/"):
        first, second = visitor.request("GET", path), visitor.request("GET", path)
        assert first[0] == 200 and second[1]["x-cache"] == "HIT", (path, second[1])
    assert ">Book 0<" in visitor.request("GET", "/")[2]


def test_a_child_model_edit_purges_parent_lists_and_its_page_only(shelf):
    """Book(Item) is multi-table: renaming a book must reach "/" (a list of the proxy AvailableItem,
    which reads the parent table) and the API, and must not purge another item's page."""
    edge, env = shelf
    visitor = Visitor(edge)
    for path in ("/", "/api/items.json", "/items/book-0/", "/items/film-0/", "/items/book-2/"):
        visitor.request("GET", path)
        visitor.request("GET", path)
    manage(env, "shell", "-c", "from catalog.models import Book; b = Book.objects.get(slug='book-0'); "
                               "b.title = 'Renamed Book'; b.save()")
    until(lambda: "Renamed Book" in visitor.request("GET", "/")[2], "the list was not purged")
    until(lambda: "Renamed Book" in visitor.request("GET", "/api/items.json")[2], "the API was not purged")
    assert "Renamed Book" in visitor.request("GET", "/items/book-0/")[2]
    for unrelated in ("/items/film-0/", "/items/book-2/"):
        assert visitor.request("GET", unrelated)[1]["x-cache"] == "HIT", unrelated


def test_the_proxy_list_drops_an_item_made_unavailable(shelf):
    edge, env = shelf
    visitor = Visitor(edge)
    assert ">Film 1<" in visitor.request("GET", "/")[2]
    manage(env, "shell", "-c", "from catalog.models import Item; i = Item.objects.get(slug='film-1'); "
                               "i.available = False; i.save()")
    until(lambda: ">Film 1<" not in visitor.request("GET", "/")[2], "the proxy's list was not purged")


def test_a_login_only_page_for_readers_with_a_session_and_uploads(shelf):
    edge, _ = shelf
    anonymous, reader = Visitor(edge), Visitor(edge)
    status, headers, _ = anonymous.request("GET", "/my-shelf/")
    assert status == 302 and headers["location"].startswith("/login/")
    status, _, _ = reader.post("/login/", {"username": "shelf-reader0", "password": PASSWORD,
                                           "csrfmiddlewaretoken": reader.token("/login/")})
    assert status == 302
    status, headers, body = reader.request("GET", "/my-shelf/")
    assert status == 200 and "<h1>shelf-reader0" in body and "x-upstack-session" not in headers
    assert anonymous.request("GET", "/my-shelf/")[0] == 302  # the reader's page was not shared

    token = reader.token("/items/book-1/cover/")
    status, _, _ = reader.upload("/items/book-1/cover/", {"csrfmiddlewaretoken": token}, "cover", "cover.txt",
                                 b"a cover, uploaded")
    assert status == 302
    until(lambda: "<img src=\"/media/covers/" in anonymous.request("GET", "/items/book-1/")[2],
          "the item page was not purged after the upload")
    src = re.search(r'<img src="([^"]+)"', anonymous.request("GET", "/items/book-1/")[2]).group(1)
    status, _, body = anonymous.request("GET", src)
    assert (status, body) == (200, "a cover, uploaded")
    assert json.loads(anonymous.request("GET", "/api/items.json")[2])["items"]


def test_staff_get_their_toolbar_on_a_cached_page_and_nobody_else_does(shelf):
    edge, _ = shelf
    anonymous, reader, editor = Visitor(edge), Visitor(edge), Visitor(edge)
    for visitor, name in ((reader, "shelf-reader1"), (editor, "shelf-editor")):
        assert visitor.post("/login/", {"username": name, "password": PASSWORD,
                                        "csrfmiddlewaretoken": visitor.token("/login/")})[0] == 302
    anonymous.request("GET", "/items/book-2/")
    status, headers, body = anonymous.request("GET", "/items/book-2/")
    assert headers["x-cache"] == "HIT" and 'class="staff-toolbar"' not in body
    editor.request("GET", "/items/book-2/")  # the first logged-in view fills the page's ESI variant
    staff_page = editor.request("GET", "/items/book-2/")
    assert 'class="staff-toolbar"' in staff_page[2], staff_page[2][-1500:]
    assert staff_page[1]["x-cache"] == "HIT"  # the shared page, plus its part
    assert 'class="staff-toolbar"' not in reader.request("GET", "/items/book-2/")[2]
    assert 'class="staff-toolbar"' not in anonymous.request("GET", "/items/book-2/")[2]
