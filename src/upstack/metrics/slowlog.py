"""Slow queries: statements slower than ``UPSTACK["SLOW_QUERY_MS"]`` are logged, a
sampled share (``SLOW_QUERY_SAMPLE``) with their EXPLAIN plan (PostgreSQL, SELECT only)."""

from __future__ import annotations

import logging
import random

from .. import conf

logger = logging.getLogger("upstack.slow_query")
_rng = random.Random()


def maybe_log(sql, params, many, context, seconds: float) -> None:
    threshold = conf.get("SLOW_QUERY_MS")
    if not threshold or seconds * 1000 < threshold or many:
        return
    plan = None
    connection = context.get("connection")
    if (connection is not None and connection.vendor == "postgresql" and sql.lstrip().upper().startswith("SELECT")
            and _rng.random() < conf.get("SLOW_QUERY_SAMPLE")):
        try:
            with connection.cursor() as cursor:  # a plain cursor: not wrapped again, no recursion
                cursor.cursor.execute("EXPLAIN " + sql, params)
                plan = "\n".join(row[0] for row in cursor.cursor.fetchall())
        except Exception as exc:  # noqa: BLE001 - a plan is a bonus, never a failure
            plan = f"(no plan: {exc})"
    logger.warning("slow query", extra={"duration_ms": round(seconds * 1000, 1), "sql": sql[:2000], "plan": plan})
