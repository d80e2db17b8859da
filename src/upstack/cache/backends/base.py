"""What every upstack cache backend adds to Django's: namespaces, instrumentation, fault tolerance.

A backend is ``UpstackCacheMixin`` + one of Django's own backends, so with a healthy server the
behaviour is exactly Django's. The mixin adds:

* a **namespace generation** in every key (``<prefix>|g<generation>:<version>:<key>``). ``clear()``
  bumps the generation on the server instead of flushing it: this namespace's old keys become
  unreachable (and age out), other namespaces sharing the server are untouched. The generation is
  held once per process (``GENERATIONS``), shared by every alias and thread that uses the same
  server and key prefix, and replaced in place by ``clear()``: in this process the change is
  immediate. Other processes read it again from the server at most ``GENERATION_TTL`` (1 s) later:
  that is the one window in which another process can still read a cleared value.
* **key validation on the key Django would have made** (without the generation), so a key is
  accepted or rejected exactly as by Django's backend, with the same error or warning.
* **instrumentation**: each outer operation reports a ``hooks.CacheEvent`` (count, time, hits).
* **fault tolerance** (when the subclass names its connection errors): an operation that fails
  because the server is unreachable (refused, timed out, reset, closed) is a miss or a no-op, logged
  (rate-limited) and counted; a per-server circuit breaker then skips the server for a cooldown.
  After an outage the namespace's generation is bumped once the server is back, because
  invalidations sent while it was unreachable were lost. Every other error (a non-integer ``incr``,
  an over-size value, an unpicklable object) is the caller's and propagates exactly as from Django's
  backend, without touching the breaker.

Subclasses implement three raw operations on un-prefixed keys (``_raw_get``, ``_raw_incr``,
``_raw_add``) used for the generation and shared counters.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
import time

from django.core.cache.backends.base import DEFAULT_TIMEOUT  # noqa: F401 - re-exported for subclasses

from .. import breaker as breakers
from .. import hooks

logger = logging.getLogger("upstack.cache")

GENERATION_TTL = 1.0  # seconds a process trusts its copy of a namespace's generation (cross-process bound)
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



_USERINFO = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:@/;,\s]*):[^@/;,\s]*@", re.IGNORECASE)


def redacted(location) -> str:
    """A cache location for the logs: each URL's password (``redis://:secret@host``,
    ``sentinel://user:secret@host``) replaced with ``***``; lists joined with commas."""
    text = ",".join(map(str, location)) if isinstance(location, (list, tuple)) else str(location)
    return _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:***@", text)

class Generations:
    """Each namespace's generation as this process last read or set it, shared by every backend
    instance: Django builds one instance per alias and per thread, and they must all agree at once
    after a ``clear()``. Generations only grow (``incr``, or a restart from the clock after an
    eviction), so a late reader never puts back an older value than one already stored."""

    def __init__(self):
        self._lock = threading.Lock()
        self._entries: dict[tuple, tuple[int, float]] = {}

    def fresh(self, ident: tuple, now: float) -> int | None:
        entry = self._entries.get(ident)
        if entry is not None and now - entry[1] < GENERATION_TTL:
            return entry[0]
        return None

    def last(self, ident: tuple) -> int:
        entry = self._entries.get(ident)
        return entry[0] if entry else 0

    def store(self, ident: tuple, value: int, now: float, *, replace: bool = False) -> int:
        """Record ``value`` read (or, with ``replace``, just set) at ``now``; returns the value in force."""
        with self._lock:
            entry = self._entries.get(ident)
            if entry is not None and not replace and entry[0] > value:
                value = entry[0]
            self._entries[ident] = (value, now)
            return value

    def forget(self, ident: tuple | None = None) -> None:
        with self._lock:
            if ident is None:
                self._entries.clear()
            else:
                self._entries.pop(ident, None)


GENERATIONS = Generations()


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
    # Exceptions that mean "the server is unreachable" (subclasses): a miss, and the breaker trips.
    # Empty: never fails (locmem). Any other exception propagates as from Django's backend.
    connection_errors: tuple[type[BaseException], ...] = ()
    breaker_kind = "cache"

    def __init__(self, server, params):
        options = dict(params.get("OPTIONS") or {})
        self.namespace = options.pop("NAMESPACE", None) or params.get("KEY_PREFIX") or "default"
        self.cooldown = float(options.pop("BREAKER_COOLDOWN", 5.0))
        self.flush_on_recovery = bool(options.pop("FLUSH_ON_RECOVERY", True))
        params = {**params, "OPTIONS": self._server_options(options)}
        super().__init__(server, params)
        self._location = redacted(server)  # for the logs: never a password
        self._generation_ident = (self.breaker_kind, str(server), self.key_prefix)
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
        cached = GENERATIONS.fresh(self._generation_ident, now)
        if cached is not None:
            return cached
        value = self._safely(lambda: self._raw_get(self._generation_key), None)
        if value is None and self.breaker.allow():
            # Missing (first use, or evicted): start from the clock, so an evicted counter can never
            # bring back a generation that was already used.
            self._safely(lambda: self._raw_add(self._generation_key, int(time.time() * 1000)), None)
            value = self._safely(lambda: self._raw_get(self._generation_key), None)
        if value is None:  # unreachable: keep the last known one (every call is a miss anyway)
            value = GENERATIONS.last(self._generation_ident)
        return GENERATIONS.store(self._generation_ident, int(value), now)

    def make_key(self, key, version=None):
        if version is None:
            version = self.version
        return self.key_func(key, f"{self.key_prefix}|g{self.generation()}", version)

    def make_and_validate_key(self, key, version=None):
        """Validate the key Django would have made (no generation): same limits, same errors."""
        if version is None:
            version = self.version
        self.validate_key(self.key_func(key, self.key_prefix, version))
        return self.make_key(key, version=version)

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
        GENERATIONS.store(self._generation_ident, int(value), time.monotonic(), replace=True)
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

    def is_connection_error(self, exc: BaseException) -> bool:
        """Does ``exc`` mean the server is unreachable (rather than a bad key, value or command)?"""
        return isinstance(exc, self.connection_errors)

    def _safely(self, thunk, fallback):
        """Run a raw server call under the breaker; the fallback when the server is unreachable."""
        if not self.breaker.allow():
            return fallback
        try:
            result = thunk()
        except Exception as exc:
            if not self.is_connection_error(exc):
                self._succeeded()
                raise
            self._failed(exc, "raw")
            return fallback
        self._succeeded()
        return result

    def _guarded(self, name, method, args, kwargs, outcome):
        if not self.connection_errors:
            return method(self, *args, **kwargs)
        self.generation()  # may be the call that finds the server gone: then the breaker is open below
        if not self.breaker.allow():
            outcome["skipped"] = True
            return self._fallback(name, args, kwargs)
        try:
            result = method(self, *args, **kwargs)
        except Exception as exc:
            if not self.is_connection_error(exc):
                self._succeeded()  # the server answered: a client error says it is up
                raise
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
