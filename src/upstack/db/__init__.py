"""Read replicas: a database router that sends reads to PostgreSQL streaming replicas and writes to the
primary (``router``), the request scope that pins a writer to the primary (``scope``, ``middleware``),
and the per-process replica lag check that takes a lagging replica out of rotation (``lag``).
docs/scaling.md ("Read replicas") describes the setup; settings: ``DATABASE_REPLICAS``,
``REPLICA_MAX_LAG``, ``REPLICA_CHECK_EVERY`` (docs/settings.md).
"""

PRIMARY = "default"  # the alias every write goes to; replicas follow it
ROUTER = "upstack.db.router.ReplicaRouter"
MIDDLEWARE = "upstack.db.middleware.ReplicaMiddleware"
