"""What each ``UPSTACK`` option may be: its type, range or choices, as data (``RULES``), and the pure
function that checks values against them (:func:`validate`). ``checks/system.py`` reports the problems
as system checks; docs/settings.md shows every rule (:func:`describe`) in one table.

Problem codes are stable: E101 a value of the wrong type, E102 a number or length out of range, E103 a
value that is not one of the choices, E104 a malformed value (a network, a regular expression, a path,
a dotted path, a model label, a query parameter name). E100 (the ``UPSTACK`` setting itself is not a
dict, or names unknown options) comes from ``upstack.conf``.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any

DAY = 86400
YEAR = 365 * DAY


@dataclass(frozen=True)
class Rule:
    kind: str  # "bool", "int", "number", "str", "list" or "dict"
    min: float | None = None  # numbers: the least value; lists: the fewest items
    max: float | None = None  # numbers: the greatest value; lists: the most items
    choices: tuple = ()  # str: the only values allowed
    form: str = ""  # str: one of FORMS
    item: Rule | None = None  # list: each item's rule
    key: Rule | None = None  # dict: each key's rule
    value: Rule | None = None  # dict: each value's rule
    fields: dict[str, Rule] = field(default_factory=dict)  # dict: keys it must have, with their rules
    optional: bool = False  # None is allowed (meaning: the default described in docs/settings.md)


def _network(text: str) -> bool:
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return True


def _regex(text: str) -> bool:
    try:
        re.compile(text)
    except re.error:
        return False
    return True


_IDENTIFIER = r"[A-Za-z_][A-Za-z0-9_]*"
# form: (test, what a good value looks like)
FORMS = {
    "nonempty": (lambda s: bool(s.strip()), "a non-empty string"),
    "network": (_network, "an address or network, e.g. 10.0.0.0/8"),
    "regex": (_regex, "a regular expression"),
    "path": (lambda s: s.startswith("/"), "a URL path starting with /"),
    "clock": (lambda s: re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", s) is not None, "a time of day, HH:MM (24 h)"),
    "param": (lambda s: re.fullmatch(r"[A-Za-z0-9_.\-]+", s) is not None, "a query parameter name"),
    "dotted": (lambda s: re.fullmatch(rf"{_IDENTIFIER}(\.{_IDENTIFIER})+", s) is not None,
               "a dotted Python path"),
    "module": (lambda s: re.fullmatch(rf"{_IDENTIFIER}(\.{_IDENTIFIER})*", s) is not None,
               "a dotted module path, e.g. myproject.settings.deploy"),
    "app": (lambda s: re.fullmatch(rf"{_IDENTIFIER}(\.{_IDENTIFIER})*(:{_IDENTIFIER})?", s) is not None,
            "module:attribute, e.g. myproject.celery:app"),
    "model": (lambda s: re.fullmatch(rf"{_IDENTIFIER}\.{_IDENTIFIER}", s) is not None and s == s.lower(),
              'a lower-case model label, "app_label.model"'),
}

BOOL = Rule("bool")
TEXT = Rule("str")
SECONDS = Rule("int", min=1, max=YEAR)
MODEL = Rule("str", form="model")
FIELD_LISTS = Rule("dict", key=MODEL, value=Rule("list", item=Rule("str", form="nonempty")))

RULES: dict[str, Rule] = {
    "STATE_DIR": Rule("str", form="nonempty"),
    "CACHE_TIMEOUT": Rule("number", min=0.01, max=30),
    "REDIS_SENTINEL_MASTER": TEXT,
    "TTLS": Rule("dict", key=Rule("str", form="nonempty"), value=SECONDS),
    "TTL_JITTER": Rule("number", min=0, max=0.5),
    "BYPASS_PARAM": Rule("str", form="param"),
    "BYPASS_SECRET": TEXT,
    "PAGE_CACHE": BOOL,
    "PAGE_CACHE_TTL": SECONDS,
    "NOT_FOUND_TTL": Rule("int", min=0, max=YEAR),
    "BROWSER_MAX_AGE": Rule("int", min=0, max=YEAR),
    "PASS_PATHS": Rule("list", item=Rule("str", form="path")),
    "TRACKING_PARAMS": Rule("list", item=Rule("str", form="nonempty")),
    "KEY_HEADER": Rule("str", choices=("xkey", "Surrogate-Key", "Cache-Tag", "")),
    "EDGE_UNTRACKED_MODELS": Rule("list", item=MODEL),
    "EDGE_IGNORED_FIELDS": FIELD_LISTS,
    "EDGE_VERSION_FIELDS": FIELD_LISTS,
    "EDGE_TOUCH": FIELD_LISTS,
    "EDGE_KEYS": Rule("str", choices=("precise", "table")),
    "PURGE_BACKENDS": Rule("dict", key=Rule("str", form="nonempty"),
                           value=Rule("dict", fields={"BACKEND": Rule("str", form="dotted")})),
    "FRESH_AFTER_WRITE": Rule("int", min=0, max=3600),
    "READER_EDGE_TTL": Rule("int", min=0, max=86400),
    "FRESH_SECRET": TEXT,
    "PURGE_IN_WORKER": BOOL,
    "PURGE_REPEAT_AFTER": Rule("number", min=0, max=60),
    "EDGE_NOT_FOUND": Rule("list", item=Rule("str", form="regex")),
    "EDGE_REDIRECTS": Rule("dict", key=Rule("str", form="path"), value=Rule("str", form="path")),
    "THUMBNAIL_SIZES": Rule("dict", key=Rule("str", form="nonempty"),
                            value=Rule("list", min=2, max=2, item=Rule("int", min=1, max=10000))),
    "SERVER_TIMING": Rule("str", choices=("trusted", "always", "never")),
    "INTERNAL_IPS": Rule("list", item=Rule("str", form="network")),
    "LOAD_BALANCERS": Rule("list", item=Rule("str", form="network")),
    "METRICS_TOKEN": TEXT,
    "SLOW_QUERY_MS": Rule("number", min=0, max=600_000),
    "SLOW_QUERY_SAMPLE": Rule("number", min=0, max=1),
    "BACKUP_DIR": Rule("str", form="nonempty"),
    "BACKUP_KEEP": Rule("int", min=1, max=1000),
    "BACKUP_STORAGE": Rule("str", form="nonempty", optional=True),
    "BACKUP_TIME": Rule("str", form="clock"),
    "DIRECT_DATABASE_URL": TEXT,
    "APP_SERVERS": Rule("int", min=1, max=10000),
    "DATABASE_REPLICAS": Rule("list", item=Rule("str", form="nonempty")),
    "REPLICA_MAX_LAG": Rule("number", min=0.1, max=3600),
    "REPLICA_CHECK_EVERY": Rule("number", min=0.1, max=600),
    "SHARED_MEDIA": BOOL,
    "SERVE_MEDIA": BOOL,
    "HTTP_ONLY": BOOL,
    "SITE_NAME": Rule("str", form="nonempty", optional=True),
    "WSGI_APPLICATION": Rule("str", form="dotted", optional=True),
    "STACK_SETTINGS": Rule("str", form="module", optional=True),
    "CELERY_APP": Rule("str", form="app", optional=True),
    "LOADTEST_PREPARE": Rule("str", form="dotted", optional=True),
    "SEED": Rule("str", form="dotted", optional=True),
    "LOADTEST_LOCUSTFILE": Rule("str", form="nonempty", optional=True),
}


@dataclass(frozen=True)
class Problem:
    code: str  # "E101".."E104"
    where: str  # e.g. 'UPSTACK["TTLS"]["short"]'
    message: str


_TYPES = {"bool": (bool,), "int": (int,), "number": (int, float), "str": (str,), "list": (list, tuple),
          "dict": (dict,)}
_TYPE_NAMES = {"bool": "True or False", "int": "a whole number", "number": "a number", "str": "a string",
               "list": "a list", "dict": "a dict"}


def check(value: Any, rule: Rule, where: str) -> list[Problem]:
    """The problems of one value against its rule (nested values included)."""
    if value is None and rule.optional:
        return []
    if not isinstance(value, _TYPES[rule.kind]) or (rule.kind != "bool" and isinstance(value, bool)):
        return [Problem("E101", where, f"{where} is {value!r}: it must be {_TYPE_NAMES[rule.kind]}.")]
    if rule.kind in ("int", "number"):
        if (rule.min is not None and value < rule.min) or (rule.max is not None and value > rule.max):
            return [Problem("E102", where, f"{where} is {value!r}: it must be {_range(rule)}.")]
    elif rule.kind == "str":
        if rule.choices and value not in rule.choices:
            return [Problem("E103", where, f"{where} is {value!r}: it must be one of "
                                           f"{', '.join(repr(c) for c in rule.choices)}.")]
        if rule.form and not FORMS[rule.form][0](value):
            return [Problem("E104", where, f"{where} is {value!r}: it must be {FORMS[rule.form][1]}.")]
    elif rule.kind == "list":
        if (rule.min is not None and len(value) < rule.min) or (rule.max is not None and len(value) > rule.max):
            return [Problem("E102", where, f"{where} has {len(value)} items: it must have {_range(rule)}.")]
        return [p for i, item in enumerate(value) for p in check(item, rule.item, f"{where}[{i}]")] if rule.item else []
    elif rule.kind == "dict":
        found = [Problem("E101", where, f"{where} has no {name!r} entry.") for name in rule.fields if name not in value]
        for key, item in value.items():
            inner = f"{where}[{key!r}]"
            if rule.key:
                found += check(key, rule.key, f"a key of {where}")
            item_rule = rule.fields.get(key, rule.value)
            if item_rule:
                found += check(item, item_rule, inner)
        return found
    return []


def validate(values: dict[str, Any], rules: dict[str, Rule] = RULES) -> list[Problem]:
    """Every problem of the effective options ``values`` (name -> value) against ``rules``."""
    return [p for name, value in values.items() if name in rules for p in check(value, rules[name], f'UPSTACK["{name}"]')]


def _number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _range(rule: Rule) -> str:
    unit = " items" if rule.kind == "list" else ""
    low, high = rule.min, rule.max
    if low is not None and high is not None:
        return f"exactly {_number(low)}{unit}" if low == high else f"{_number(low)} to {_number(high)}{unit}"
    return f"at least {_number(low)}{unit}" if low is not None else f"at most {_number(high)}{unit}"


def describe(rule: Rule) -> str:
    """The rule in words, as docs/settings.md shows it."""
    if rule.kind in ("int", "number"):
        text = _TYPE_NAMES[rule.kind] + (f", {_range(rule)}" if rule.min is not None or rule.max is not None else "")
    elif rule.kind == "str":
        text = ("one of " + ", ".join(f'"{c}"' for c in rule.choices) if rule.choices
                else FORMS[rule.form][1] if rule.form else "a string")
    elif rule.kind == "list":
        text = "a list" + (f" of {_range(rule)}" if rule.min is not None or rule.max is not None else "")
        text += f"; each item {describe(rule.item)}" if rule.item else ""
    elif rule.kind == "dict":
        text = "a dict"
        if rule.key:
            text += f"; each key {describe(rule.key)}"
        if rule.fields:
            text += "; with " + ", ".join(f'"{name}" ({describe(r)})' for name, r in rule.fields.items())
        if rule.value:
            text += f"; each value {describe(rule.value)}"
    else:
        text = _TYPE_NAMES[rule.kind]
    return text + (", or None" if rule.optional else "")


REPLICA_ROUTER = "upstack.db.router.ReplicaRouter"
REPLICA_MIDDLEWARE = "upstack.db.middleware.ReplicaMiddleware"
PAGE_MIDDLEWARE = "upstack.page.middleware.UpstackPageMiddleware"


def replica_problems(routers: list, databases: dict, replicas: list, middleware: list) -> list[Problem]:
    """The read-replica setup (upstack.db) against itself: E120 the router is on with no replica alias,
    E121 a replica alias that DATABASES lacks (or names the primary), E122 replicas named but the router
    or its middleware missing (the replicas would get no reads: a silent no-op), or the middleware inside
    the page middleware (a write would not give the writer its read-your-own-writes cookie)."""
    where = 'UPSTACK["DATABASE_REPLICAS"]'
    routed = REPLICA_ROUTER in [r if isinstance(r, str) else f"{type(r).__module__}.{type(r).__name__}" for r in routers]
    found = []
    if routed and not replicas:
        found.append(Problem("E120", where, f"{REPLICA_ROUTER} is in DATABASE_ROUTERS but {where} names no "
                                            "replica: name the DATABASES alias of each streaming replica."))
    for alias in replicas:
        if alias == "default" or alias not in databases:
            found.append(Problem("E121", where, f"{where} names {alias!r}, which is "
                                                f"{'the primary' if alias == 'default' else 'not in DATABASES'}: "
                                                "list the aliases of the replicas of DATABASES['default']."))
    if replicas and not routed:
        found.append(Problem("E122", where, f"{where} names replicas but DATABASE_ROUTERS lacks {REPLICA_ROUTER}."))
    if replicas and routed and REPLICA_MIDDLEWARE not in middleware:
        found.append(Problem("E122", where, f"{where} names replicas but MIDDLEWARE lacks {REPLICA_MIDDLEWARE} "
                                            "(first): without it every read goes to the primary."))
    elif REPLICA_MIDDLEWARE in middleware and PAGE_MIDDLEWARE in middleware and \
            middleware.index(REPLICA_MIDDLEWARE) > middleware.index(PAGE_MIDDLEWARE):
        found.append(Problem("E122", where, f"{REPLICA_MIDDLEWARE} comes after {PAGE_MIDDLEWARE} in MIDDLEWARE: put it "
                                            "before, so that a database write gives the writer its read-your-own-writes "
                                            "cookie."))
    return found
