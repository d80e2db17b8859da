"""``add_replicas``: one call wires replicas into settings (the overlay and the reference site's deploy
profile use it); no URL, no change; the result passes the E120-E122 checks, and a replica named like
the primary is refused."""

from __future__ import annotations

import pytest

from upstack.checks import rules
from upstack.db.configure import add_replicas
from upstack.stack import overlay


def _settings() -> dict:
    return {"DATABASES": {"default": {"ENGINE": "django.db.backends.postgresql", "CONN_MAX_AGE": 600}},
            "MIDDLEWARE": ["upstack.page.middleware.UpstackPageMiddleware"], "UPSTACK": {"PAGE_CACHE": True}}


def test_a_replica_url_adds_the_alias_the_router_and_the_middleware_first():
    namespace = _settings()
    assert add_replicas(namespace, {"replica": "postgres://u@127.0.0.1:5433/site"}) == ["replica"]
    replica = namespace["DATABASES"]["replica"]
    assert (replica["HOST"], replica["PORT"], replica["NAME"], replica["CONN_MAX_AGE"]) == ("127.0.0.1", 5433, "site", 600)
    assert namespace["DATABASE_ROUTERS"] == [rules.REPLICA_ROUTER]
    assert namespace["MIDDLEWARE"][0] == rules.REPLICA_MIDDLEWARE
    assert namespace["UPSTACK"] == {"PAGE_CACHE": True, "DATABASE_REPLICAS": ["replica"]}
    assert rules.replica_problems(namespace["DATABASE_ROUTERS"], namespace["DATABASES"],
                                  namespace["UPSTACK"]["DATABASE_REPLICAS"], namespace["MIDDLEWARE"]) == []
    add_replicas(namespace, {"replica": "postgres://u@127.0.0.1:5433/site"})  # twice: nothing doubles
    assert namespace["MIDDLEWARE"].count(rules.REPLICA_MIDDLEWARE) == 1
    assert namespace["UPSTACK"]["DATABASE_REPLICAS"] == ["replica"]


def test_no_url_changes_nothing_and_the_primary_alias_is_refused():
    namespace = _settings()
    assert add_replicas(namespace, {"replica": ""}) == [] and namespace == _settings()
    with pytest.raises(ValueError, match="primary"):
        add_replicas(namespace, {"default": "postgres://u@h/db"})


def test_the_stack_overlay_routes_reads_to_the_stacks_replica():
    environ = {"DATABASE_URL": "postgres://u@127.0.0.1:5432/site", "REDIS_URL": "redis://127.0.0.1:6379/0",
               "SECRET_KEY": "x" * 50, "REPLICA_DATABASE_URL": "postgres://u@127.0.0.1:5433/site"}
    namespace = _settings()
    overlay.apply(namespace, environ)
    assert namespace["DATABASES"]["replica"]["PORT"] == 5433
    assert namespace["UPSTACK"]["DATABASE_REPLICAS"] == ["replica"]
    assert namespace["MIDDLEWARE"][0] == rules.REPLICA_MIDDLEWARE
    without = _settings()
    overlay.apply(without, {k: v for k, v in environ.items() if k != "REPLICA_DATABASE_URL"})
    assert "replica" not in without["DATABASES"] and "DATABASE_ROUTERS" not in without


def test_replica_urls_names_each_of_several_replicas():
    from upstack.db.configure import replica_urls

    assert replica_urls("") == {}
    assert replica_urls("postgres://a/x") == {"replica": "postgres://a/x"}
    assert replica_urls(" postgres://a/x , postgres://b/x,") == {"replica": "postgres://a/x", "replica2": "postgres://b/x"}
