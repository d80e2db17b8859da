"""The Locust scenario that works for any site, and the parts a project's own locustfile reuses.

``upstack loadtest`` runs Locust on this file unless the project names its own (``--locustfile`` or
``UPSTACK["LOADTEST_LOCUSTFILE"]``). The package never imports this module: only Locust does, in its
own process, so Locust stays an optional extra. A locustfile declares the scenarios it offers in a
module-level ``SCENARIOS`` (``upstack loadtest`` reads that name without importing the file) and
picks the one in ``$UPSTACK_SCENARIO``.

Scenario ``anonymous``: visitors without cookies browse the URL list (``$UPSTACK_LOADTEST_URLS``, one
path per line, most visited first) with Zipf-like popularity, as real traffic does.

Every response's cache layer and time go to ``$UPSTACK_LOADTEST_OUT/layers.csv`` (upstack.ops.locustkit,
which a project's locustfile imports too).
"""

from __future__ import annotations

import random

from locust import HttpUser, between, events, task

from upstack.ops.locustkit import path_name, read_urls, record_layers, zipf_weights

SCENARIOS = ("anonymous",)


URLS = read_urls()
WEIGHTS = zipf_weights(len(URLS))
record_layers(events)


class AnonymousVisitor(HttpUser):
    wait_time = between(0.5, 2)

    @task
    def browse(self):
        path = random.choices(URLS, weights=WEIGHTS, k=1)[0]
        self.client.get(path, name=path_name(path))
