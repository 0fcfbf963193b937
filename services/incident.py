"""Writes the 2025-09-12 discovery-queue incident into a Redis database.

Used by the demo and by tests: jobs piled up on `amc_discovery` with no live
worker, a stale AMC heartbeat, a leftover lock, a failed run and a worker record
bound to the legacy `discovery` queue. Jobs are written with rq's own APIs; only
the timestamps are moved back to the incident's clock. Never run against a
production Redis: it adds keys the real system reads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import redis
from redis.typing import EncodableT, FieldT
from rq import Queue
from rq.job import Job, JobStatus
from rq.results import Result

from services.clock import Clock
from services.queue_read import AMC_HEARTBEAT, AMC_LOCK, AMC_STATUS, queue_key
from services.redis_conn import connect
from services.rq_codec import format_time

FUNCTION = "services.discovery.run_discovery_job"
LIMIT = 300
FAILURE_TTL_S = 365 * 86400
TRACEBACK = """Traceback (most recent call last):
  File "/opt/render/project/src/backend/src/jobs/discovery_job.py", line 88, in run
    universe = load_universe(min_expected=4500)
  File "/opt/render/project/src/backend/src/universe_loader.py", line 41, in load
    raise RuntimeError(msg)
RuntimeError: COVERAGE TRIPWIRE: Universe too small (0 < 4500)
"""

# Seconds before "now" at which each queued job was enqueued; every one is older
# than ten minutes, as in the report. The last five form a duplicate storm.
_QUEUED = (
    ("discovery", 2400),
    ("discovery", 1800),
    ("manual", 1500),
    ("discovery", 900),
    ("discovery", 870),
    ("discovery", 840),
    ("discovery", 810),
    ("discovery", 780),
)


@dataclass(frozen=True)
class IncidentSeed:
    """The ids and keys `seed_incident` wrote."""

    queue: str
    queued_ids: tuple[str, ...]
    failed_id: str
    lock_holder: str
    heartbeat_epoch: int
    dead_worker: str


def seed_incident(
    redis_url: str, queue: str = "amc_discovery", clock: Clock | None = None
) -> IncidentSeed:
    """Write the incident and return what was written.

    Args:
        redis_url: Database to write into (it is not flushed).
        queue: The discovery queue.
        clock: The incident's "now"; ages are relative to it.
    """
    now = int((clock or Clock()).now())
    client = connect(redis_url)
    try:
        rq_queue = Queue(queue, connection=client)
        queued = tuple(
            _enqueue(rq_queue, f"{kind}_{now - ago}", now - ago)
            for kind, ago in _QUEUED
        )
        failed = _failed(rq_queue, f"discovery_{now - 3600}", now - 3600)
        holder = f"4242:{now - 30}"
        client.set(AMC_LOCK, holder, ex=240)
        client.set(AMC_HEARTBEAT, str(now - 2400))
        client.set(AMC_STATUS, json.dumps(_status(failed, now)), ex=600)
        dead = _dead_worker(client, now - 2400)
    finally:
        client.close()
    return IncidentSeed(queue, queued, failed, holder, now - 2400, dead)


def _enqueue(queue: Queue, job_id: str, at: int) -> str:
    job = queue.enqueue(
        FUNCTION, LIMIT, job_id=job_id, job_timeout=900, result_ttl=3600
    )
    stamp = format_time(at)
    queue.connection.hset(job.key, mapping={"created_at": stamp, "enqueued_at": stamp})
    return job_id


def _failed(queue: Queue, job_id: str, at: int) -> str:
    _enqueue(queue, job_id, at)
    conn = queue.connection
    job = Job.fetch(job_id, connection=conn)
    with conn.pipeline() as pipe:
        pipe.lrem(queue_key(queue.name), 0, job_id)
        job.set_status(JobStatus.FAILED, pipeline=pipe)
        queue.failed_job_registry.add(
            job, ttl=FAILURE_TTL_S, exc_string=TRACEBACK, pipeline=pipe
        )
        Result.create_failure(job, FAILURE_TTL_S, TRACEBACK, pipeline=pipe)
        pipe.hset(
            job.key,
            mapping={
                "started_at": format_time(at + 1),
                "ended_at": format_time(at + 4),
            },
        )
        pipe.execute()
    return job_id


def _status(job_id: str, now: int) -> dict[str, object]:
    return {
        "job_id": job_id.replace("discovery_", "job_"),
        "status": "failed",
        "progress": 10,
        "message": "COVERAGE TRIPWIRE: Universe too small (0 < 4500)",
        "stats": {},
        "elapsed_seconds": 3.1,
        "timestamp": format_time(now - 3596),
    }


def _dead_worker(client: redis.Redis, beat: int) -> str:
    """Register a worker bound to the legacy queue, silent since `beat`."""
    name = "amc-discovery-worker.legacy"
    key = f"rq:worker:{name}"
    stamp = format_time(beat)
    fields: dict[FieldT, EncodableT] = {
        "birth": stamp,
        "last_heartbeat": stamp,
        "queues": "discovery",
        "state": "idle",
        "pid": "17",
        "hostname": "srv-amc-worker",
    }
    client.hset(key, mapping=fields)
    client.sadd("rq:workers", key)
    client.sadd("rq:workers:discovery", key)
    return name
