"""Helpers shared by the queue tests: writing rq-shaped keys and snapshotting Redis."""

from __future__ import annotations

import pickle
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager

import redis

from services.queue import QueueService
from services.queue_view import JobRow, QueueView, StuckThresholds
from services.rq_codec import format_time

JOBS = "tests.support.queue_jobs"


def job_hash(
    job_id: str,
    origin: str = "default",
    status: str = "queued",
    enqueued_ago: float = 0.0,
    func: str = f"{JOBS}.succeed",
    args: tuple[object, ...] = (),
    **extra: str,
) -> dict[str, bytes | str]:
    """Return the fields rq writes for a job, with `enqueued_at` in the past."""
    stamp = format_time(time.time() - enqueued_ago)
    data = zlib.compress(pickle.dumps((func, None, args, {}), protocol=4))
    return {
        "status": status,
        "origin": origin,
        "created_at": stamp,
        "enqueued_at": stamp,
        "data": data,
        "description": func,
        "timeout": "180",
        **extra,
    }


def put_job(client: redis.Redis, job_id: str, **kwargs: object) -> None:
    """Write `rq:job:<job_id>` (see `job_hash` for the arguments)."""
    fields = job_hash(job_id, **kwargs)  # type: ignore[arg-type]
    client.hset(f"rq:job:{job_id}", mapping=fields)


def snapshot(client: redis.Redis) -> dict[bytes, tuple[bytes | None, int]]:
    """Return DUMP and TTL of every key in the database."""
    out = {}
    for key in client.scan_iter(count=1000):
        out[key] = (client.dump(key), client.ttl(key))
    return out


def assert_same(
    before: dict[bytes, tuple[bytes | None, int]],
    after: dict[bytes, tuple[bytes | None, int]],
) -> None:
    """Assert two snapshots hold the same keys and bytes, TTLs within 2 s."""
    assert before.keys() == after.keys()
    for key, (dump, ttl) in before.items():
        assert after[key][0] == dump, key
        assert abs(after[key][1] - ttl) <= 2, key


@contextmanager
def service(url: str, **kwargs: object) -> Iterator[QueueService]:
    """Yield a QueueService on `url`, closed afterwards."""
    kwargs.setdefault("queues", ("default",))
    svc = QueueService(url, **kwargs)  # type: ignore[arg-type]
    try:
        yield svc
    finally:
        svc.close()


def fast_thresholds(**kwargs: float) -> StuckThresholds:
    """Thresholds short enough for tests."""
    values = {
        "wait_sla_s": 120.0,
        "handoff_s": 60.0,
        "worker_dead_s": 600.0,
        "busy_heartbeat_s": 3.0,
        "storm_min": 5,
    }
    values.update(kwargs)
    return StuckThresholds(**values)  # type: ignore[arg-type]


def row_by_id(view: QueueView, job_id: str) -> JobRow:
    """Return the row of `job_id`, failing the test when it is not listed."""
    row = view.row(job_id)
    assert row is not None, f"{job_id} not listed"
    return row
