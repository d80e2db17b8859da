"""Sentry through sentry-sdk: on when a DSN is given, nothing at all otherwise.
sentry-sdk is imported here only, and only when there is a DSN."""

from __future__ import annotations

from importlib.util import find_spec


def init_sentry(dsn: str, environment: str = "production", traces_sample_rate: float = 0.0) -> bool:
    if not dsn:
        return False
    import sentry_sdk
    from sentry_sdk.integrations.django import DjangoIntegration

    integrations = [DjangoIntegration()]
    if find_spec("celery"):  # Celery is optional too
        from sentry_sdk.integrations.celery import CeleryIntegration

        integrations.append(CeleryIntegration())
    # Personal data stays out by default (the SDK sends none unless told to).
    sentry_sdk.init(dsn=dsn, environment=environment, traces_sample_rate=traces_sample_rate,
                    integrations=integrations)
    return True
