"""Scenarios run in a separate process against the same database, broker and media as the test's
real Celery worker (``python -m tests.upstack.tasks.scenarios NAME``); each prints one JSON line."""

from __future__ import annotations

import io
import json
import os
import sys
import time
from pathlib import Path

import django

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.files.base import ContentFile  # noqa: E402
from django.db import transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402

from newsroom.news.models import Article, Comment  # noqa: E402
from upstack import images  # noqa: E402
from upstack.tasks import enqueue_on_commit, stats  # noqa: E402

MAIL = Path(os.environ.get("MAIL_DIR", "/nonexistent"))


def wait(check, timeout=30.0):
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if check():
            return time.monotonic() - started
        time.sleep(0.02)
    return None


def mail_count() -> int:
    return len(list(MAIL.glob("*.log"))) if MAIL.exists() else 0


def _thread():
    users = get_user_model().objects
    first, second = users.filter(username__startswith="reader").order_by("pk")[:2]
    first.email, second.email = "first@example.com", "second@example.com"
    first.save(), second.save()
    article = Article.objects.published().order_by("pk").first()
    Comment.objects.create(article=article, user=first, body="the first word")
    return article, second


def on_commit() -> dict:
    article, second = _thread()
    before_mail, before = mail_count(), stats()["queues"]["default"]["sent"]
    try:
        with transaction.atomic():
            comment = Comment.objects.create(article=article, user=second, body="rolled back")
            enqueue_on_commit("newsroom.notify_thread", comment.pk)
            raise RuntimeError
    except RuntimeError:
        pass
    rolled_back_sent = stats()["queues"]["default"]["sent"] - before
    with transaction.atomic():
        comment = Comment.objects.create(article=article, user=second, body="a reply that is kept")
        enqueue_on_commit("newsroom.notify_thread", comment.pk)
        inside_sent = stats()["queues"]["default"]["sent"] - before
    def mail_text() -> str:
        return "".join(p.read_text() for p in MAIL.glob("*.log")) if MAIL.exists() else ""

    # The file backend creates the file before it has written the messages: wait for the content.
    delivered = wait(lambda: mail_count() > before_mail and "a reply that is kept" in mail_text())
    body = mail_text()
    return {"rolled_back_sent": rolled_back_sent, "sent_before_commit": inside_sent,
            "sent_after_commit": stats()["queues"]["default"]["sent"] - before, "mail_seconds": delivered,
            "mail_to_first": "first@example.com" in body, "reply_in_mail": "a reply that is kept" in body,
            "rolled_back_in_mail": "rolled back" in body}


def _jpeg(width=2400, height=1600) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (120, 30, 200)).save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


def thumbnails() -> dict:
    article = Article.objects.published().order_by("-pk").first()
    started = time.monotonic()
    article.lead_image.save("drill-lead.jpg", ContentFile(_jpeg()), save=True)
    names = [images.thumbnail_name(article.lead_image.name, s, f) for s in images.sizes() for f in images.FORMATS]
    storage = article.lead_image.storage
    took = wait(lambda: all(storage.exists(n) for n in names), 60)
    took = None if took is None else round(time.monotonic() - started, 3)  # from the start of the upload
    again = images.generate_all(article.lead_image)  # idempotent: same files, nothing new
    files = sorted(p.name for p in Path(storage.path("thumbs")).rglob("*") if p.is_file())
    # A thumbnail no worker has made yet is made on the spot by the template tag.
    other = Article.objects.published().order_by("pk").first()
    other.lead_image.name = storage.save("leads/no-worker.jpg", ContentFile(_jpeg(800, 600)))
    Article.objects.filter(pk=other.pk).update(lead_image=other.lead_image.name)  # no signal, no task
    on_the_spot = images.url(other.lead_image, "small", "webp")
    from PIL import Image

    with storage.open(names[0]) as handle:
        size = Image.open(handle).size
    return {"seconds": took, "expected": len(names), "again_same": sorted(again) == sorted(names),
            "files": len(files), "first_size": size, "on_the_spot_exists": storage.exists(
                images.thumbnail_name(other.lead_image.name, "small", "webp")), "on_the_spot_url": on_the_spot}


def broker_down() -> dict:
    """The broker is unreachable (BROKER_URL points at a dead port): requests still succeed."""
    setup_test_environment()
    article = Article.objects.published().order_by("pk").first()
    user = get_user_model().objects.filter(username__startswith="reader").order_by("pk").first()
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)
    before = stats()["enqueue_failed"]
    started = time.monotonic()
    from django.conf import settings
    from django.test.utils import override_settings

    from upstack.edge.backends import dummy

    dummy_backend = {"dummy": {"BACKEND": "upstack.edge.backends.dummy.DummyBackend"}}
    with override_settings(UPSTACK={**settings.UPSTACK, "PURGE_BACKENDS": dummy_backend, "PURGE_REPEAT_AFTER": 0}):
        response = client.post(article.get_absolute_url() + "comments/", {"body": "while the broker is down"})
        page = client.get(article.get_absolute_url())

    return {"post_status": response.status_code, "page_status": page.status_code,
            "comment_saved": Comment.objects.filter(body="while the broker is down").exists(),
            "enqueue_failed": stats()["enqueue_failed"] - before, "seconds": round(time.monotonic() - started, 2),
            "purged_synchronously": any(f"news.comment@article={article.pk}" in batch for batch in dummy.purged)}


if __name__ == "__main__":
    print(json.dumps(globals()[sys.argv[1]]()))
