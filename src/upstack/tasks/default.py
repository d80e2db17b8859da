"""A Celery application for projects that have none of their own: the local stack's worker and beat
run ``celery --app upstack.tasks.default:app`` unless ``UPSTACK["CELERY_APP"]`` or a ``<project>.celery``
module names the project's. It is ``make_celery`` on the project's settings
(``DJANGO_SETTINGS_MODULE``), so upstack's tasks (purges, refresh-ahead, thumbnails) and the
project's ``tasks.py`` modules run."""

import django

django.setup()

from upstack.stack.project import project_name  # noqa: E402
from upstack.tasks import make_celery  # noqa: E402 - needs Django set up

app = make_celery(project_name())
