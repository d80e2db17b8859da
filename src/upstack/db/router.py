"""``upstack.db.router.ReplicaRouter``: reads to a replica in rotation, writes to the primary.

Add it to ``DATABASE_ROUTERS``, name the replicas' aliases in ``UPSTACK["DATABASE_REPLICAS"]`` and put
``upstack.db.middleware.ReplicaMiddleware`` first in ``MIDDLEWARE``. A read goes to the primary when:
it happens outside a request (``scope``), the request has written, the client wrote within the
read-your-own-writes window (its signed ``upstack_fresh`` cookie), the primary is inside a transaction
(``atomic()`` reads must see its writes), or no replica is in rotation (``lag``). Migrations never run
on a replica. Thin: the decisions are ``scope.choose`` and ``lag.in_rotation``.
"""

from __future__ import annotations

from .. import conf
from . import PRIMARY, lag, scope


class ReplicaRouter:
    def db_for_read(self, model, **hints):
        current = scope.current()
        if current is None or current.pinned:
            return PRIMARY
        from django.db import connections

        if connections[PRIMARY].in_atomic_block:
            return PRIMARY
        return scope.choose(current, lag.rotation(conf.get("DATABASE_REPLICAS"))) or PRIMARY

    def db_for_write(self, model, **hints):
        scope.mark_written()
        return PRIMARY

    def allow_relation(self, obj1, obj2, **hints):
        pool = {PRIMARY, *conf.get("DATABASE_REPLICAS")}
        if obj1._state.db in pool and obj2._state.db in pool:
            return True
        return None

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return False if db in conf.get("DATABASE_REPLICAS") else None
