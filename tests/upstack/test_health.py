"""The package's probes, routed by upstack.urls: liveness without the database, readiness with it."""

import pytest


def test_liveness_is_served_by_the_package_without_the_database(client):
    response = client.get("/healthz")  # no django_db mark: any query would raise
    assert response.status_code == 200 and response.content == b"ok\n"
    assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]


@pytest.mark.django_db
def test_readiness_asks_the_database(client, django_assert_num_queries):
    with django_assert_num_queries(1):
        response = client.get("/readyz")
    assert response.status_code == 200 and response.content == b"ready\n"


@pytest.mark.django_db
def test_readiness_fails_when_the_database_does(client, monkeypatch):
    from django.db import DatabaseError
    from django.db.backends.utils import CursorWrapper

    def broken(*args, **kwargs):
        raise DatabaseError("down")

    monkeypatch.setattr(CursorWrapper, "execute", broken)
    response = client.get("/readyz")
    assert response.status_code == 503


def test_media_is_routed_only_when_asked_and_with_a_url(tmp_path):
    from django.views.static import serve

    from upstack.urls import media_patterns

    (tmp_path / "covers").mkdir()
    (tmp_path / "covers" / "a.txt").write_text("cover")
    [pattern] = media_patterns(True, "/media/", tmp_path)
    match = pattern.resolve("media/covers/a.txt")  # a URLconf's paths have no leading slash
    assert match.func is serve and match.kwargs == {"path": "covers/a.txt", "document_root": tmp_path}
    assert media_patterns(False, "/media/", tmp_path) == []
    assert media_patterns(True, "", tmp_path) == [] and media_patterns(True, "/", tmp_path) == []
