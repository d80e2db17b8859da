"""What every upstack cache backend adds to Django's: namespaces, instrumentation, fault tolerance.

A backend is ``UpstackCacheMixin`` + one of Django's own backends, so with a healthy server the
behaviour is exactly Django's. The mixin adds:

* a **namespace generation** in every key (``<prefix>|g<generation>:<version>:<key>``). ``clear()``
  bumps the generation on the server instead of flushing it: this namespace's old keys become
  unreachable (and age out), other namespaces sharing the server are untouched, and other processes
  see the new generation within ``GENERATION_TTL`` seconds.
* **instrumentation**: each outer operation reports a ``hooks.CacheEvent`` (count, time, hits).
* **fault tolerance** (when the subclass names its server errors): a failed operation is a miss
  or a no-op, logged (rate-limited) and counted; a per-server circuit breaker then skips the server
  for a cooldown. After an outage the namespace's generation is bumped once the server is back,
  because invalidations sent while it was unreachable were lost.

Subclasses implement three raw operations on un-prefixed keys (``_raw_get``, ``_raw_incr``,
``_raw_add``) used for the generation and shared counters.
"""

from __future__ import annotations

import functools
import logging
import threading
import time

from django.core.cache.backends.base import DEFAULT_TIMEOUT  # noqa: F401 - re-exported for subclasses

from .. import breaker as breakers
from .. import hooks

logger = logging.getLogger("upstack.cache")

GENERATION_TTL = 1.0  # seconds a process trusts its copy of a namespace's generation
LOG_EVERY = 10.0      # at most one error log line per server per this many seconds
_MISSING = object()

# operation -> what it returns when the server is unavailable (callables build a fresh value).
FALLBACKS = {
    "get": lambda args, kwargs: kwargs.get("default", args[1] if len(args) > 1 else None),
    "get_many": lambda args, kwargs: {},
    "set": lambda args, kwargs: None,
    "add": lambda args, kwargs: False,
    "touch": lambda args, kwargs: False,
    "delete": lambda args, kwargs: False,
    "has_key": lambda args, kwargs: False,
    "set_many": lambda args, kwargs: list(args[0] if args else kwargs.get("data", {})),
    "delete_many": lambda args, kwargs: None,
    "get_or_set": lambda args, kwargs: _call_default(kwargs.get("default", args[1] if len(args) > 1 else None)),
    "incr": "raise",     # like a missing key: ValueError, as Django's incr/decr do
    "decr": "raise",
}


def _call_default(default):
    return default() if callable(default) else default


INSTRUMENTED = ("get", "get_many", "set", "add", "touch", "delete", "has_key", "set_many", "delete_many",
                "get_or_set", "incr", "decr", "clear")

_depth = threading.local()


def _instrument(name: str):
    def decorator(method):
        @functools.wraps(method)
        def wrapper(self, *args, **kwargs):
            outer = getattr(_depth, "value", 0) == 0
            _depth.value = getattr(_depth, "value", 0) + 1
            started = time.perf_counter()
            outcome = {"error": False, "skipped": False}
            result = _MISSING
            try:
                result = self._guarded(name, method, args, kwargs, outcome)
                return result
            finally:
                _depth.value -= 1
                if outer:
                    hits, misses = _hits(name, args, kwargs, result)
                    hooks.report(hooks.CacheEvent(self.namespace, name, time.perf_counter() - started, hits,
                                                  misses, outcome["error"], outcome["skipped"]))
        return wrapper
    return decorator


def _hits(name, args, kwargs, result) -> tuple[int, int]:
    if result is _MISSING:
        return 0, 0
    if name == "get":
        default = kwargs.get("default", args[1] if len(args) > 1 else None)
        return (0, 1) if result is default else (1, 0)
    if name == "get_many":
        keys = list(args[0] if args else kwargs.get("keys", ()))
        return len(result), len(keys) - len(result)
    if name == "has_key":
        return (1, 0) if result else (0, 1)
    return 0, 0


class UpstackCacheMixin:
    # Exceptions that mean "the server failed" (subclasses); empty: never fails (locmem).
    server_errors: tuple[type[BaseException], ...] = ()
    # Of those, the ones that mean "unreachable" and trip the breaker.
    connection_errors: tuple[type[BaseException], ...] = ()
    breaker_kind = "cache"

    def __init__(self, server, params):
        options = dict(params.get("OPTIONS") or {})
        self.namespace = options.pop("NAMESPACE", None) or params.get("KEY_PREFIX") or "default"
        self.cooldown = float(options.pop("BREAKER_COOLDOWN", 5.0))
        self.flush_on_recovery = bool(options.pop("FLUSH_ON_RECOVERY", True))
        params = {**params, "OPTIONS": self._server_options(options)}
        super().__init__(server, params)
        self._location = server
        self._generation_value = 0
        self._generation_at = float("-inf")
        self._last_log = float("-inf")
        self._suppressed = 0
        self.breaker = breakers.for_server(self.breaker_kind, server, self.cooldown)

    def _server_options(self, options: dict) -> dict:
        """Hook: add timeouts and the like to the server client's options."""
        return options

    # --- keys ----------------------------------------------------------------------------------
    @property
    def _generation_key(self) -> str:
        return f"{self.key_prefix}|generation"

    def generation(self) -> int:
        now = time.monotonic()
        if now - self._generation_at < GENERATION_TTL:
            return self._generation_value
        value = self._safely(lambda: self._raw_get(self._generation_key), None)
        if value is None and self.breaker.allow():
            # Missing (first use, or evicted): start from the clock, so an evicted counter can never
            # bring back a generation that was already used.
            self._safely(lambda: self._raw_add(self._generation_key, int(time.time() * 1000)), None)
            value = self._safely(lambda: self._raw_get(self._generation_key), None)
        if value is not None:
            self._generation_value = int(value)
        self._generation_at = now
        return self._generation_value

    def make_key(self, key, version=None):
        if version is None:
            version = self.version
        return self.key_func(key, f"{self.key_prefix}|g{self.generation()}", version)

    def clear(self):
        """Invalidate this namespace only: bump its generation (never FLUSHDB / flush_all)."""
        started = time.perf_counter()
        bumped = self.bump_generation()
        hooks.report(hooks.CacheEvent(self.namespace, "clear", time.perf_counter() - started, error=not bumped))

    def bump_generation(self) -> bool:
        value = self._safely(lambda: self._raw_incr(self._generation_key), None)
        if value is None:
            if not self._safely(lambda: self._raw_add(self._generation_key, int(time.time() * 1000)), False):
                return False
            value = self._safely(lambda: self._raw_get(self._generation_key), None)
            if value is None:
                return False
        self._generation_value = int(value)
        self._generation_at = time.monotonic()
        return True

    # --- shared counters (raw, not instrumented) --------------------------------------------------
    def incr_counter(self, name: str, delta: int) -> None:
        key = f"{self.key_prefix}|stats|{name}"
        if self._safely(lambda: self._raw_incr(key, delta), None) is None:
            self._safely(lambda: self._raw_add(key, 0), None)
            self._safely(lambda: self._raw_incr(key, delta), None)

    def read_counter(self, name: str) -> int:
        value = self._safely(lambda: self._raw_get(f"{self.key_prefix}|stats|{name}"), None)
        return int(value or 0)

    # --- fault tolerance -------------------------------------------------------------------------
    def is_available(self) -> bool:
        """False while the breaker is open (callers may skip work that needs the cache)."""
        return not self.breaker.is_open

    def _safely(self, thunk, fallback):
        """Run a raw server call under the breaker; the fallback on failure."""
        if not self.breaker.allow():
            return fallback
        try:
            result = thunk()
        except self.server_errors as exc:
            self._failed(exc, "raw")
            return fallback
        self._succeeded()
        return result

    def _guarded(self, name, method, args, kwargs, outcome):
        if not self.server_errors:
            return method(self, *args, **kwargs)
        self.generation()  # may be the call that finds the server gone: then the breaker is open below
        if not self.breaker.allow():
            outcome["skipped"] = True
            return self._fallback(name, args, kwargs)
        try:
            result = method(self, *args, **kwargs)
        except self.server_errors as exc:
            outcome["error"] = True
            self._failed(exc, name)
            return self._fallback(name, args, kwargs)
        self._succeeded()
        return result

    def _fallback(self, name, args, kwargs):
        fallback = FALLBACKS.get(name)
        if fallback == "raise":
            raise ValueError(f"Key '{args[0] if args else kwargs.get('key')}' not found (cache unavailable)")
        return fallback(args, kwargs) if fallback else None

    def _failed(self, exc, operation) -> None:
        if isinstance(exc, self.connection_errors):
            self.breaker.failure()
        now = time.monotonic()
        if now - self._last_log >= LOG_EVERY:
            extra = f" ({self._suppressed} more since the last report)" if self._suppressed else ""
            logger.warning("cache %s on %s failed: %s: %s; serving a miss%s", operation, self._location,
                           type(exc).__name__, exc, extra)
            self._last_log, self._suppressed = now, 0
        else:
            self._suppressed += 1

    def _succeeded(self) -> None:
        if self.breaker.success():
            logger.warning("cache server %s is back", self._location)
            if self.flush_on_recovery:
                # Writes (and so invalidations) sent while it was unreachable were lost.
                self.bump_generation()

    # --- raw operations: subclasses ---------------------------------------------------------------
    def _raw_get(self, key: str):
        raise NotImplementedError

    def _raw_incr(self, key: str, delta: int = 1):
        """Increment; None when the key does not exist."""
        raise NotImplementedError

    def _raw_add(self, key: str, value: int) -> bool:
        raise NotImplementedError


def install(cls):
    """Wrap a concrete backend's public operations with ``_instrument`` (and the guard)."""
    for name in INSTRUMENTED:
        if name == "clear":
            continue
        method = getattr(cls, name)
        setattr(cls, name, _instrument(name)(method))
    return cls
