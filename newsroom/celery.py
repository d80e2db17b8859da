"""The newsroom's Celery application: ``celery --app newsroom.celery:app worker``."""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "newsroom.settings.dev")
django.setup()

from upstack.tasks import make_celery  # noqa: E402 - needs Django set up

app = make_celery("newsroom")
