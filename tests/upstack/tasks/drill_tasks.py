"""A task for the worker drills, loaded into the test worker with ``--include``."""

import os
import time

import redis
from celery import shared_task


@shared_task(name="tests.drill", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def drill(url: str, token: str, seconds: float) -> None:
    """Records each attempt and its process, works for ``seconds``, then applies its effect once."""
    client = redis.Redis.from_url(url)
    client.rpush(f"drill:{token}:attempts", os.getpid())
    time.sleep(seconds)
    if client.set(f"drill:{token}:effect", "done", nx=True):  # the effect, applied at most once
        client.incr(f"drill:{token}:applied")
