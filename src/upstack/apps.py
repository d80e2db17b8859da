"""Django app configuration. ``ready()`` connects signals and installs instrumentation - nothing else."""

from django.apps import AppConfig


class UpstackConfig(AppConfig):
    name = "upstack"
    verbose_name = "upstack"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import conf
        from .checks import system  # noqa: F401 - registers the upstack.* system checks
        from .edge import invalidation, lean, personal, tracking

        conf.connect()
        lean.install()
        personal.install()
        tracking.install()
        invalidation.install()
        from .db import querycache

        querycache.install()  # with read replicas: their query cache follows the primary's writes
        from .metrics import exporter

        metrics = exporter()  # None without the metrics extra: metrics are off
        if metrics:
            from .edge import purge

            purge._listeners.append(metrics.observe_purge)
