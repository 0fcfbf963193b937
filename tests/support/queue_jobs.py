"""Job functions the queue tests run on real rq workers (importable by subprocesses)."""

from __future__ import annotations

import time

import redis
from rq import get_current_job


def succeed(tag: str = "") -> str:
    """Finish at once and return the tag."""
    return f"ok {tag}"


def fail(message: str = "boom") -> None:
    """Raise ValueError with `message`."""
    raise ValueError(message)


def slow_count(seconds: float, counter_key: str) -> str:
    """Sleep, then count one completion in `counter_key` (for exactly-once checks)."""
    time.sleep(seconds)
    job = get_current_job()
    assert job is not None
    client: redis.Redis = job.connection
    client.incr(counter_key)
    return "done"
