"""Locust scenarios for the newsroom. Run through ``manage.py upstack loadtest``.

Scenarios (``UPSTACK_SCENARIO``):
  anonymous  readers browsing seeded URLs with Zipf-like popularity (a few pages get most views)
  readers    logged-in readers: log in with CSRF, browse, comment, like
  editors    staff saving articles in the admin
  ajax       logged-in readers liking articles by fetch (JSON)
  mixed      anonymous readers, readers and editors together (18:4:1)

Every response's ``X-Cache`` and ``X-Page-Cache`` are recorded with its time, and written to
``$UPSTACK_LOADTEST_OUT/layers.csv`` at the end, so the report can split latencies by layer.
The URL list comes from ``$UPSTACK_LOADTEST_URLS`` (one path per line), written by the command.
"""

from __future__ import annotations

import csv
import os
import random
import sys
import threading
from pathlib import Path

from locust import HttpUser, between, events, task

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # Locust puts only bench/ on the path
from bench.forms import CSRF_TOKEN as TOKEN  # noqa: E402
from bench.forms import form_fields  # noqa: E402

URLS = [line.strip() for line in Path(os.environ.get("UPSTACK_LOADTEST_URLS", "/dev/null")).read_text().splitlines()
        if line.strip()] or ["/"]
ARTICLES = [u for u in URLS if u.startswith("/articles/")] or ["/"]
WEIGHTS = [1 / (rank ** 1.1) for rank in range(1, len(URLS) + 1)]
READERS = int(os.environ.get("UPSTACK_LOADTEST_READERS", "200"))
READER_PASSWORD = os.environ.get("UPSTACK_LOADTEST_READER_PASSWORD", "newsroom-seeded-reader")
_layers: list[tuple[str, str, str, float]] = []
_lock = threading.Lock()


@events.request.add_listener
def _record(request_type, name, response_time, response_length, response=None, exception=None, **kwargs):
    if response is None:
        return
    with _lock:
        _layers.append((name, response.headers.get("X-Cache", "-"), response.headers.get("X-Page-Cache", "-"),
                        response_time))


@events.quitting.add_listener
def _write_layers(environment, **kwargs):
    out = os.environ.get("UPSTACK_LOADTEST_OUT")
    if not out:
        return
    with open(Path(out) / "layers.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["name", "x_cache", "x_page_cache", "response_ms"])
        writer.writerows(_layers)


class Reader(HttpUser):
    abstract = True
    wait_time = between(0.5, 2)

    def page(self, path=None):
        path = path or random.choices(URLS, weights=WEIGHTS, k=1)[0]
        return self.client.get(path, name=_name(path))

    def login(self, username, password):
        page = self.client.get("/accounts/login/", name="/accounts/login/")
        token = TOKEN.search(page.text)
        with self.client.post("/accounts/login/", {"username": username, "password": password,
                                                   "csrfmiddlewaretoken": token.group(1) if token else "",
                                                   "next": "/"}, name="login", catch_response=True) as response:
            if "Signed in as" not in response.text:
                response.failure("login failed")


def _name(path: str) -> str:
    for prefix in ("/articles/", "/sections/", "/tags/", "/authors/", "/search/"):
        if path.startswith(prefix):
            return prefix + "*"
    return path


class AnonymousReader(Reader):
    @task
    def browse(self):
        self.page()


class LoggedInReader(Reader):
    def on_start(self):
        self.login(f"reader{random.randrange(READERS):06d}", READER_PASSWORD)

    @task(10)
    def browse(self):
        self.page()

    @task(1)
    def comment(self):
        path = random.choice(ARTICLES)
        page = self.page(path)
        token = TOKEN.search(page.text)
        if token and "/comments/" in page.text:
            self.client.post(path + "comments/", {"body": "A thought from the load test.",
                                                  "csrfmiddlewaretoken": token.group(1)}, name="comment")

    @task(2)
    def like(self):
        path = random.choice(ARTICLES)
        page = self.page(path)
        token = TOKEN.search(page.text)
        if token:
            self.client.post(path + "like/", {"csrfmiddlewaretoken": token.group(1)}, name="like")


class AjaxLiker(Reader):
    def on_start(self):
        self.login(f"reader{random.randrange(READERS):06d}", READER_PASSWORD)

    @task
    def like(self):
        path = random.choice(ARTICLES)
        page = self.page(path)
        token = TOKEN.search(page.text)
        if token:
            self.client.post(path + "like/", {"csrfmiddlewaretoken": token.group(1)}, name="like (ajax)",
                             headers={"X-Requested-With": "XMLHttpRequest", "Accept": "application/json"})


class Editor(Reader):
    wait_time = between(2, 5)

    def on_start(self):
        self.login(os.environ["UPSTACK_LOADTEST_EDITOR"], os.environ["UPSTACK_LOADTEST_EDITOR_PASSWORD"])
        self.admin = os.environ.get("UPSTACK_LOADTEST_ADMIN", "/newsroom-desk/")

    @task
    def save_article(self):
        ids = os.environ.get("UPSTACK_LOADTEST_ARTICLE_IDS", "1").split(",")
        change = f"{self.admin}news/article/{random.choice(ids)}/change/"
        form = self.client.get(change, name="admin change form")
        fields = [*form_fields(form.text, "article_form"), ("_save", "Save")]
        self.client.post(change, fields, name="admin save")


SCENARIOS = {"anonymous": [AnonymousReader], "readers": [LoggedInReader], "editors": [Editor],
             "ajax": [AjaxLiker], "mixed": [AnonymousReader, LoggedInReader, Editor]}
_chosen = SCENARIOS[os.environ.get("UPSTACK_SCENARIO", "anonymous")]
AnonymousReader.weight, LoggedInReader.weight, Editor.weight, AjaxLiker.weight = 18, 4, 1, 4
for _cls in (AnonymousReader, LoggedInReader, Editor, AjaxLiker):
    if _cls not in _chosen:
        _cls.abstract = True
