"""The per-request time breakdown: SQL, cache, templates, outbound HTTP, Python.

A ``Collector`` lives in a context variable for the duration of one request (``start``/``stop``).
The probes add to the current one and do nothing when there is none:

* SQL through ``connection.execute_wrapper`` (installed per request by the middleware);
* cache operations through ``upstack.cache.hooks`` (count, time, hits/misses per namespace);
* template rendering by wrapping ``Template.render`` once (only the outermost render counts);
* outbound HTTP by wrapping ``http.client.HTTPConnection.getresponse`` once.

Times are exclusive: SQL and cache time spent while a template renders (lazy querysets) is taken
out of the template's share, so the parts add up to the whole and ``python`` is the rest.
"""

from __future__ import annotations

import contextvars
import time
from collections import defaultdict
from dataclasses import dataclass, field

from . import slowlog

_current: contextvars.ContextVar[Collector | None] = contextvars.ContextVar("upstack_collector", default=None)


@dataclass
class Collector:
    started: float = field(default_factory=time.perf_counter)
    sql_count: int = 0
    sql_seconds: float = 0.0
    cache_count: int = 0
    cache_seconds: float = 0.0
    cache_by_namespace: dict = field(default_factory=lambda: defaultdict(lambda: {"hits": 0, "misses": 0}))
    template_seconds: float = 0.0
    http_count: int = 0
    http_seconds: float = 0.0
    template_depth: int = 0
    nested_in_template: float = 0.0

    def add_sql(self, seconds: float) -> None:
        self.sql_count += 1
        self.sql_seconds += seconds
        if self.template_depth:
            self.nested_in_template += seconds

    def add_cache(self, namespace: str, seconds: float, hits: int, misses: int) -> None:
        self.cache_count += 1
        self.cache_seconds += seconds
        row = self.cache_by_namespace[namespace]
        row["hits"] += hits
        row["misses"] += misses
        if self.template_depth:
            self.nested_in_template += seconds

    def add_http(self, seconds: float) -> None:
        self.http_count += 1
        self.http_seconds += seconds
        if self.template_depth:
            self.nested_in_template += seconds

    def breakdown(self, total: float | None = None) -> dict:
        total = time.perf_counter() - self.started if total is None else total
        template = max(0.0, self.template_seconds - self.nested_in_template)
        python = max(0.0, total - self.sql_seconds - self.cache_seconds - template - self.http_seconds)
        return {"total": total, "sql": self.sql_seconds, "cache": self.cache_seconds, "template": template,
                "http": self.http_seconds, "python": python, "sql_count": self.sql_count,
                "cache_count": self.cache_count, "http_count": self.http_count,
                "cache_namespaces": {ns: dict(v) for ns, v in self.cache_by_namespace.items()}}


def start() -> contextvars.Token:
    return _current.set(Collector())


def stop(token: contextvars.Token) -> None:
    _current.reset(token)


def current() -> Collector | None:
    return _current.get()


# --- probes ---------------------------------------------------------------------------------------

def sql_wrapper(execute, sql, params, many, context):
    collector = _current.get()
    if collector is None:
        return execute(sql, params, many, context)
    started = time.perf_counter()
    try:
        return execute(sql, params, many, context)
    finally:
        elapsed = time.perf_counter() - started
        collector.add_sql(elapsed)
        slowlog.maybe_log(sql, params, many, context, elapsed)


def _cache_listener(event) -> None:
    collector = _current.get()
    if collector is not None:
        collector.add_cache(event.namespace, event.seconds, event.hits, event.misses)


_installed = {}


def install() -> None:
    """Wrap template rendering and outbound HTTP once; subscribe to cache events."""
    if _installed:
        return
    import http.client

    from django.template.base import Template

    from ..cache import hooks

    original_render = Template.render

    def render(self, context):
        collector = _current.get()
        if collector is None:
            return original_render(self, context)
        collector.template_depth += 1
        started = time.perf_counter()
        try:
            return original_render(self, context)
        finally:
            collector.template_depth -= 1
            if collector.template_depth == 0:
                collector.template_seconds += time.perf_counter() - started

    original_getresponse = http.client.HTTPConnection.getresponse

    def getresponse(self, *args, **kwargs):
        collector = _current.get()
        if collector is None:
            return original_getresponse(self, *args, **kwargs)
        started = time.perf_counter()
        try:
            return original_getresponse(self, *args, **kwargs)
        finally:
            collector.add_http(time.perf_counter() - started)

    Template.render = render
    http.client.HTTPConnection.getresponse = getresponse
    hooks.subscribe(_cache_listener)
    _installed.update(render=original_render, getresponse=original_getresponse)


def uninstall() -> None:
    if not _installed:
        return
    import http.client

    from django.template.base import Template

    from ..cache import hooks

    Template.render = _installed["render"]
    http.client.HTTPConnection.getresponse = _installed["getresponse"]
    hooks.unsubscribe(_cache_listener)
    _installed.clear()
