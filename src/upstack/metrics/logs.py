"""JSON log lines on stderr: one per request, and the same format for Django's and
Celery's own logs. ``JSONFormatter`` is a logging formatter; extra fields passed with ``extra=``
become keys. Secrets never reach it: request lines carry no headers, cookies, query strings or
bodies, and values of keys that look secret are masked anyway.
"""

from __future__ import annotations

import json
import logging
import time

SECRET_WORDS = ("password", "secret", "token", "cookie", "authorization", "sessionid", "csrf", "api_key")
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


def _clean(key: str, value):
    if any(word in key.lower() for word in SECRET_WORDS):
        return "[masked]"
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, dict):
        return {k: _clean(k, v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(key, v) for v in value]
    return str(value)


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                data[key] = _clean(key, value)
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str)


class NoTraceback(logging.Filter):
    """For expected client errors (a bad Host header): one line, not a 13 KB traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.exc_info = None
        record.exc_text = None
        return True


def logging_config(level: str = "INFO") -> dict:
    """A LOGGING dict: everything (Django, Celery, upstack) as JSON lines on stderr."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "upstack.metrics.logs.JSONFormatter"}},
        "filters": {"no_traceback": {"()": "upstack.metrics.logs.NoTraceback"}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr", "formatter": "json"}},
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": {
            "django": {"handlers": ["stderr"], "level": level, "propagate": False},
            "django.server": {"handlers": ["stderr"], "level": "WARNING", "propagate": False},
            "celery": {"handlers": ["stderr"], "level": level, "propagate": False},
            "upstack.request": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
            "django.security.DisallowedHost": {"handlers": ["stderr"], "level": level, "propagate": False,
                                               "filters": ["no_traceback"]},
        },
    }
