"""A minimal site on a real PostgreSQL primary and its streaming replica, driven by Django's test client
in a subprocess of the test (its own settings: DATABASES names both servers, which the test process's
settings cannot). ``python -m tests.upstack.db.replica_site STEP ...`` prints one JSON line per step:

- ``migrate``: the auth tables on the primary (the replica gets them by replication);
- ``C:write:NAME`` (client C posts a group NAME, then reads it back in the same request);
- ``C:read[:NAME]`` (client C reads; which server answered, whether NAME was found);
- ``pause`` / ``resume`` (WAL replay on the replica); ``sleep:SECONDS``; ``metrics`` (the replica gauges).

Environment: UPSTACK_TEST_PRIMARY_PORT, UPSTACK_TEST_REPLICA_PORT, UPSTACK_TEST_MAX_LAG (seconds).
"""

from __future__ import annotations

import json
import os
import sys
import time

SECRET_KEY = "replica-site-test-only"
DEBUG = False
ALLOWED_HOSTS = ["testserver"]
USE_TZ = True
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "upstack"]
ROOT_URLCONF = __name__
SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
MIDDLEWARE = ["upstack.db.middleware.ReplicaMiddleware", "upstack.page.middleware.UpstackPageMiddleware",
              "django.contrib.sessions.middleware.SessionMiddleware"]
DATABASE_ROUTERS = ["upstack.db.router.ReplicaRouter"]


def _database(port_variable: str) -> dict:
    return {"ENGINE": "django.db.backends.postgresql", "HOST": "127.0.0.1", "NAME": "upstack", "USER": "upstack",
            "PORT": os.environ.get(port_variable, "5432"), "OPTIONS": {"connect_timeout": 3}}


DATABASES = {"default": _database("UPSTACK_TEST_PRIMARY_PORT"), "replica": _database("UPSTACK_TEST_REPLICA_PORT")}
CACHES = __import__("upstack.cache", fromlist=["caches_setting"]).caches_setting(None)  # in-process namespaces
UPSTACK = {"DATABASE_REPLICAS": ["replica"], "REPLICA_MAX_LAG": float(os.environ.get("UPSTACK_TEST_MAX_LAG", "2")),
           "REPLICA_CHECK_EVERY": 0.2, "FRESH_AFTER_WRITE": 5, "PURGE_IN_WORKER": False, "PURGE_REPEAT_AFTER": 0}


def _answered(read) -> tuple[object, list[str]]:
    """``read()``'s result and the aliases whose connection ran a query on auth_group meanwhile."""
    from django.db import connections

    seen: list[str] = []

    def wrapper(alias):
        def record(execute, sql, params, many, context):
            if "auth_group" in sql:
                seen.append(alias)
            return execute(sql, params, many, context)
        return record

    from contextlib import ExitStack

    with ExitStack() as stack:
        for alias in connections:
            stack.enter_context(connections[alias].execute_wrapper(wrapper(alias)))
        result = read()
    return result, seen


def _server(alias: str) -> bool:
    from django.db import connections

    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT pg_is_in_recovery()")
        return cursor.fetchone()[0]


def read_view(request):
    from django.contrib.auth.models import Group
    from django.http import JsonResponse

    name = request.GET.get("name", "")
    found, seen = _answered(lambda: Group.objects.filter(name=name).exists())
    response = JsonResponse({"found": found, "db": seen, "in_recovery": [_server(a) for a in seen]})
    response["Cache-Control"] = "private, no-store"
    return response


def write_view(request):
    from django.contrib.auth.models import Group
    from django.http import JsonResponse

    name = request.POST["name"]
    request.session["writer"] = name
    Group.objects.create(name=name)
    found, seen = _answered(lambda: Group.objects.filter(name=name).exists())
    return JsonResponse({"found": found, "db": seen, "in_recovery": [_server(a) for a in seen]})


def _urls():
    from django.urls import path

    from upstack.metrics.prometheus import metrics_view

    return [path("read", read_view), path("write", write_view), path("metrics", metrics_view)]


def __getattr__(name):  # urlpatterns on first use: this module is the settings too (imported before setup)
    if name == "urlpatterns":
        return _urls()
    raise AttributeError(name)


def _metrics(client) -> dict:
    text = client.get("/metrics").content.decode()
    return {line.split(" ")[0]: float(line.split(" ")[1]) for line in text.splitlines()
            if line.startswith("upstack_db_replica")}


def run(steps: list[str]) -> None:
    from django.core.management import call_command
    from django.db import connections
    from django.test import Client

    clients: dict[str, Client] = {}
    for step in steps:
        kind, _, rest = step.partition(":")
        out: dict = {"step": step}
        if kind == "migrate":
            call_command("migrate", "auth", database="default", verbosity=0)
        elif kind in ("pause", "resume"):
            with connections["replica"].cursor() as cursor:
                cursor.execute(f"SELECT pg_wal_replay_{kind}()")
        elif kind == "sleep":
            time.sleep(float(rest))
        elif kind == "metrics":
            out["metrics"] = _metrics(Client())
        else:
            client = clients.setdefault(kind, Client())
            action, _, name = rest.partition(":")
            response = client.post("/write", {"name": name}) if action == "write" else client.get("/read", {"name": name})
            out.update(status=response.status_code, fresh_cookie="upstack_fresh" in response.cookies,
                       **(response.json() if response.status_code == 200 else {"body": response.content.decode()[:500]}))
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.upstack.db.replica_site"
    import django

    django.setup()
    run(sys.argv[1:])
