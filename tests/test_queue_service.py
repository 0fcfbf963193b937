"""QueueService on the 2025-09-12 incident, read-only proof, bulk speed and actions."""

from __future__ import annotations

import time

import redis
from rq import Queue

from services.clock import FrozenClock
from services.incident import FUNCTION, seed_incident
from services.queue_ops import Tally
from tests.queue_helpers import (
    JOBS,
    assert_same,
    put_job,
    row_by_id,
    service,
    snapshot,
)

NOW = 1757667600.0  # 2025-09-12 09:00 UTC


def test_incident_is_triaged(redis_url: str):
    clock = FrozenClock(NOW)
    seed = seed_incident(redis_url, clock=clock)
    with service(redis_url, queues=("amc_discovery", "discovery"), clock=clock) as svc:
        view = svc.load()
    data = view.to_dict()
    assert data["queues"][0] == {
        "name": "amc_discovery",
        "queued": 8,
        "intermediate": 0,
        "started": 0,
        "failed": 1,
        "finished": 0,
        "deferred": 0,
        "scheduled": 0,
        "canceled": 0,
        "dangling": 0,
    }
    assert data["amc"]["heartbeat_age_s"] == 2400.0
    assert data["amc"]["heartbeat_note"] == "stale"
    assert data["amc"]["lock"] == {"holder": seed.lock_holder, "ttl_s": 240}
    assert data["amc"]["status"]["status"] == "failed"
    assert [w["alive"] for w in data["workers"]] == [False]
    assert {s["job_id"] for s in data["stuck"]} == set(seed.queued_ids)
    oldest = data["stuck"][0]
    assert oldest["age_s"] == 2400.0
    assert "no live worker on amc_discovery" in oldest["reason"]
    assert "past the 2m SLA" in oldest["reason"]
    assert data["failed_groups"][0]["exc_type"] == "RuntimeError"
    assert data["storms"][0]["count"] == 8
    assert row_by_id(view, seed.queued_ids[0]).function == FUNCTION
    assert any("storm amc_discovery: 8x" in line for line in view.text_lines())


def test_incident_actions(redis_url: str, redis_client: redis.Redis):
    clock = FrozenClock(NOW)
    seed = seed_incident(redis_url, clock=clock)
    with service(
        redis_url,
        queues=("amc_discovery",),
        clock=clock,
        discovery_kwargs={"market": "demo"},
    ) as svc:
        view = svc.load()
        info = svc.lock_info()
        assert info is not None and info.holder == seed.lock_holder
        assert svc.clear_lock("someone-else").ok is False
        cleared = svc.clear_lock(info.holder)
        assert cleared.message == f"cleared lock held by {seed.lock_holder} (TTL 240s)"

        storm = view.storms[0]
        assert svc.count_for("collapse_storm", call_key=storm.call_key) == 7
        collapsed = svc.collapse_storm("amc_discovery", storm.call_key)
        assert collapsed.message == f"7 canceled; kept newest {seed.queued_ids[-1]}"

        enqueued = svc.enqueue_discovery()
        assert enqueued.details["job_ids"] == [f"manual_{int(NOW)}"]
        manual = row_by_id(svc.load(), f"manual_{int(NOW)}")
        assert manual.call == f"{FUNCTION}(300, market='demo')"
    assert redis_client.lrange("rq:queue:amc_discovery", 0, -1) == [
        seed.queued_ids[-1].encode(),
        f"manual_{int(NOW)}".encode(),
    ]
    assert redis_client.zcard("rq:canceled:amc_discovery") == 7
    assert not redis_client.exists("discovery_job_lock")


def test_full_refresh_never_writes(redis_url: str, redis_client: redis.Redis):
    seed_incident(redis_url, clock=FrozenClock(time.time()))
    put_job(redis_client, "ORPHAN", enqueued_ago=900)
    put_job(redis_client, "RUN", status="started", worker_name="ghost")
    redis_client.zadd("rq:wip:default", {"RUN:e1": time.time() - 5})
    redis_client.rpush("rq:queue:default:intermediate", "GONE")
    before = snapshot(redis_client)
    with service(
        redis_url, queues=("amc_discovery", "default"), sweep_budget=10
    ) as svc:
        for _ in range(5):
            view = svc.load()
    assert_same(before, snapshot(redis_client))
    assert row_by_id(view, "ORPHAN").status == "orphaned"


def test_requeue_10k_failed_under_a_second(redis_url: str, redis_client: redis.Redis):
    queue = Queue("bulk", connection=redis_client)
    job = queue.enqueue(FUNCTION, 300, job_id="template")
    fields = redis_client.hgetall(job.key)
    redis_client.delete("rq:queue:bulk")
    pipe = redis_client.pipeline(transaction=False)
    for n in range(10_000):
        pipe.hset(f"rq:job:f{n}", mapping={**fields, b"status": b"failed"})
        pipe.zadd("rq:failed:bulk", {f"f{n}": NOW + n})
    pipe.execute()

    with service(redis_url, queues=("bulk",)) as svc:
        assert svc.count_for("requeue_failed") == 10_000
        started = time.perf_counter()
        outcome = svc.requeue_all_failed()
        took = time.perf_counter() - started
    assert outcome.message == "10,000 requeued"
    assert took < 1.0
    assert redis_client.llen("rq:queue:bulk") == 10_000
    assert redis_client.zcard("rq:failed:bulk") == 0


def test_suspend_resume_and_cancel_running(redis_url: str, redis_client: redis.Redis):
    put_job(redis_client, "RUN", status="started", worker_name="w")
    with service(redis_url) as svc:
        assert svc.suspend_workers().ok
        assert svc.load().suspended
        assert svc.resume_workers().ok
        assert not svc.load().suspended
        outcome = svc.cancel(["RUN", "NOPE"])
    assert outcome.message == "0 canceled, 1 missing, 1 running (stop it first)"
    assert redis_client.hget("rq:job:RUN", "status") == b"started"


def test_tally_message_orders_primary_first():
    tally = Tally()
    for verdict, job_id in [("missing", "a"), ("requeued", "b"), ("requeued", "c")]:
        tally.add(verdict, job_id)
    assert tally.message("requeued") == "2 requeued, 1 missing"


def test_paged_window(redis_url: str, redis_client: redis.Redis):
    queue = Queue("default", connection=redis_client)
    for n in range(120):
        queue.enqueue(f"{JOBS}.succeed", job_id=f"q{n:03d}")
    with service(redis_url) as svc:
        first = [r.job_id for r in svc.load().rows]
        assert first == [f"q{n:03d}" for n in range(50)]
        assert svc.turn_page(2).message == "showing rows 101-150"
        view = svc.load()
        assert view.page == (100, 50)
        assert [r.job_id for r in view.rows] == [f"q{n:03d}" for n in range(100, 120)]
        svc.turn_page(-5)
        assert svc.load().page == (0, 50)


def test_delete_refuses_running_and_clears_traces(
    redis_url: str, redis_client: redis.Redis
):
    put_job(redis_client, "RUN", status="started", worker_name="w")
    put_job(redis_client, "OLD", status="failed")
    redis_client.zadd("rq:failed:default", {"OLD": NOW})
    redis_client.xadd("rq:results:OLD", {"type": "2"})
    with service(redis_url) as svc:
        outcome = svc.delete(["RUN", "OLD", "GONE"])
    assert outcome.message == (
        "1 deleted, 1 missing, 1 running (stop or requeue it first)"
    )
    assert redis_client.exists("rq:job:RUN")
    assert not redis_client.exists("rq:job:OLD", "rq:results:OLD", "rq:failed:default")
