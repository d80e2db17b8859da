"""Locust scenarios for the newsroom. Run through ``manage.py upstack loadtest``.

Scenarios (``UPSTACK_SCENARIO``):
  anonymous  readers browsing seeded URLs with Zipf-like popularity (a few pages get most views)
  readers    logged-in readers: log in with CSRF, browse, comment, like
  editors    staff saving articles in the admin
  ajax       logged-in readers liking articles by fetch (JSON)
  mixed      anonymous readers, readers and editors together (18:4:1)

The URL list, the Zipf weights and the per-layer log (layers.csv) come from upstack.ops.locustkit, as
in the package's own locustfile for any site (upstack.ops.locustfile). UPSTACK["LOADTEST_LOCUSTFILE"]
points `upstack loadtest` here.
"""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path

from locust import HttpUser, between, events, task

from upstack.ops.locustkit import read_urls, record_layers, zipf_weights

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # Locust puts only bench/ on the path
from bench.forms import CSRF_TOKEN as TOKEN  # noqa: E402
from bench.forms import form_fields  # noqa: E402

URLS = read_urls()
ARTICLES = [u for u in URLS if u.startswith("/articles/")] or ["/"]
WEIGHTS = zipf_weights(len(URLS))
READERS = int(os.environ.get("UPSTACK_LOADTEST_READERS", "200"))
READER_PASSWORD = os.environ.get("UPSTACK_LOADTEST_READER_PASSWORD", "newsroom-seeded-reader")
record_layers(events)


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
