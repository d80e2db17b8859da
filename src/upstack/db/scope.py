"""Which database a request may read from: a context variable the middleware opens per request.

Outside a request scope (Celery tasks, management commands, the shell) every read goes to the primary:
such code often reads what it has just written, and has no cookie to say so. Inside one, reads may go
to a replica until the request writes (then the rest of it reads from the primary) or when the client
wrote within the read-your-own-writes window (the middleware pins it from the start). One replica is
picked per request, so a page never mixes two replicas' views. Pure state; no I/O.
"""

from __future__ import annotations

import contextvars
import random
from dataclasses import dataclass


@dataclass
class Scope:
    pinned: bool = False  # read from the primary (a recent or current write)
    wrote: bool = False  # the router sent a write to the primary in this scope
    replica: str | None = None  # the replica this scope reads from, once picked


_scope: contextvars.ContextVar[Scope | None] = contextvars.ContextVar("upstack_db_scope", default=None)


def begin(pinned: bool = False) -> contextvars.Token:
    return _scope.set(Scope(pinned=pinned))


def end(token: contextvars.Token) -> Scope:
    scope = _scope.get()
    _scope.reset(token)
    return scope


def current() -> Scope | None:
    return _scope.get()


def mark_written() -> None:
    """A write went to the primary: this scope reads from the primary from now on."""
    scope = _scope.get()
    if scope is not None:
        scope.wrote = scope.pinned = True


def wrote() -> bool:
    scope = _scope.get()
    return bool(scope and scope.wrote)


def choose(scope: Scope, in_rotation: list[str], pick=random.choice) -> str | None:
    """The replica ``scope`` reads from: the one it picked before while still in rotation, else a new
    pick among ``in_rotation``; None (the primary) when pinned or none is in rotation."""
    if scope.pinned or not in_rotation:
        return None
    if scope.replica not in in_rotation:
        scope.replica = pick(in_rotation)
    return scope.replica
