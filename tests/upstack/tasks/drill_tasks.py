"""A task for the worker drills, loaded into the test worker with ``--include``, and the drill's
judge (pure, so a broken outcome can be shown to fail it)."""

import os
import time

import redis
from celery import shared_task


@shared_task(name="tests.drill", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def drill(url: str, token: str, seconds: float) -> None:
    """Records each attempt and its process, works for ``seconds``, then records that this execution
    completed - every completed one, with nothing to deduplicate them: exactly-once is for Celery to
    show, not for the task to make true."""
    client = redis.Redis.from_url(url)
    client.rpush(f"drill:{token}:attempts", os.getpid())
    time.sleep(seconds)
    client.rpush(f"drill:{token}:completed", os.getpid())


def judge(attempts: list[int], completed: list[int], killed: int) -> list[str]:
    """What went wrong in a SIGKILL drill; [] when the killed attempt never completed, the task was
    redelivered to another process, and exactly one execution completed."""
    problems = []
    if not attempts or attempts[0] != killed:
        problems.append(f"the killed process {killed} was not the first attempt {attempts}")
    if killed in completed:
        problems.append(f"the killed attempt ({killed}) completed")
    if len(attempts) < 2:
        problems.append("the task was not redelivered")
    if len(completed) != 1:
        problems.append(f"{len(completed)} executions completed, not exactly 1")
    return problems
