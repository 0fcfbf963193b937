"""Fault cases C01-C10 against QueueService on a real Redis."""

from __future__ import annotations

import socket
import threading
import time
import zlib
from collections.abc import Iterator

import pytest
import redis
from rq import Queue, SimpleWorker, Worker

from services.embedded_redis import EmbeddedRedis
from services.errors import ConfigError, RedisUnavailable
from services.queue import QueueService
from services.rq_codec import UNDECODABLE, format_time
from tests.queue_helpers import (
    JOBS,
    assert_same,
    put_job,
    row_by_id,
    service,
    snapshot,
)


def _run_burst(client: redis.Redis, queue: str = "default") -> None:
    SimpleWorker([Queue(queue, connection=client)], connection=client).work(burst=True)


def test_c01_orphan_listed_and_reenqueued(redis_url: str, redis_client: redis.Redis):
    put_job(redis_client, "J1", enqueued_ago=7200)
    worker = Worker(
        [Queue("default", connection=redis_client)],
        connection=redis_client,
        name="live-1",
    )
    worker.register_birth()

    with service(redis_url) as svc:
        view = svc.load()
        row = row_by_id(view, "J1")
        assert row.status == "orphaned"
        assert row.reason == "orphaned: status queued but on no queue"
        assert row.age_s is not None and 7100 < row.age_s < 7300
        assert any(s.job_id == "J1" for s in view.stuck)
        assert "no live worker" not in row.reason

        outcome = svc.requeue_stuck()
    assert outcome.message == "1 requeued"
    assert redis_client.lrange("rq:queue:default", 0, -1) == [b"J1"]
    _run_burst(redis_client)
    assert redis_client.hget("rq:job:J1", "status") == b"finished"


def test_c02_handoff_counted_then_failed_and_requeued(
    redis_url: str, redis_client: redis.Redis
):
    put_job(redis_client, "J2")
    redis_client.rpush("rq:queue:default:intermediate", "J2")
    first_seen = "rq:queue:default:intermediate:first_seen:J2"
    redis_client.set(first_seen, time.time() - 300)

    with service(redis_url) as svc:
        view = svc.load()
        counts = view.queues[0]
        assert (counts.queued, counts.intermediate) == (0, 1)
        row = row_by_id(view, "J2")
        assert row.status == "hand-off"
        assert row.reason.startswith("in hand-off for 5m")

        reason = "Job was stuck in intermediate queue."
        redis_client.lrem("rq:queue:default:intermediate", 0, "J2")
        redis_client.zadd("rq:failed:default", {"J2": time.time() + 3600})
        redis_client.hset(
            "rq:job:J2",
            mapping={"status": "failed", "exc_info": zlib.compress(reason.encode())},
        )
        failed = row_by_id(svc.load(), "J2")
        assert failed.traceback == reason
        assert svc.requeue(["J2"]).message == "1 requeued"
        view = svc.load()
    counts = view.queues[0]
    shown = [r for r in view.rows if r.queue == "default"]
    assert (counts.queued, counts.failed, counts.intermediate) == (1, 0, 0)
    assert len(shown) == counts.queued + counts.failed + counts.intermediate


def test_c03_dangling_ids_and_requeue_carries_on(
    redis_url: str, redis_client: redis.Redis
):
    for n in range(1, 6):
        if n != 3:
            put_job(redis_client, f"F{n}", status="failed")
        redis_client.zadd("rq:failed:default", {f"F{n}": time.time() + 3600})
    for n in range(10):
        if n not in (2, 5, 7):
            put_job(redis_client, f"Q{n}")
        redis_client.rpush("rq:queue:default", f"Q{n}")
    redis_client.zadd("rq:wip:default", {"W1:exec1": time.time() + 60})

    with service(redis_url) as svc:
        view = svc.load()
        counts = view.queues[0]
        assert (counts.queued, counts.failed, counts.started) == (10, 5, 1)
        assert counts.dangling == 3 + 1 + 1
        missing = {r.job_id for r in view.rows if r.status == "missing"}
        assert missing == {"Q2", "Q5", "Q7", "F3", "W1"}
        assert all(
            r.reason == "dangling: job data expired/missing"
            for r in view.rows
            if r.status == "missing"
        )

        outcome = svc.requeue_all_failed()
    assert outcome.message == "4 requeued, 1 missing"
    assert not outcome.ok
    assert redis_client.zrange("rq:failed:default", 0, -1) == [b"F3"]
    for n in (1, 2, 4, 5):
        assert redis_client.hget(f"rq:job:F{n}", "status") == b"queued"
        assert redis_client.lpos("rq:queue:default", f"F{n}") is not None


def test_c04_started_composite_ids_and_stale_entry(
    redis_url: str, redis_client: redis.Redis
):
    put_job(
        redis_client,
        "J4",
        status="started",
        worker_name="gone-worker",
        started_at=format_time(time.time() - 30),
    )
    redis_client.zadd(
        "rq:wip:default", {"J4:8f2c": time.time() + 60, "J5:77aa": time.time() + 60}
    )

    with service(redis_url) as svc:
        view = svc.load()
        started = {r.job_id: r for r in view.rows if r.queue == "default"}
        assert set(started) == {"J4", "J5"}
        assert started["J4"].reason == "abandoned: worker dead"
        assert started["J5"].status == "missing"
        assert started["J5"].listed_in == "started"

        assert svc.remove_started_entry("J5", "default").ok
        assert svc.requeue(["J4"]).message == "1 requeued"
        assert svc.remove_started_entry("J9", "default").ok is False
    assert redis_client.zcard("rq:wip:default") == 0
    assert redis_client.lrange("rq:queue:default", 0, -1) == [b"J4"]


def _foreign_pickle() -> bytes:
    # Protocol-4 opcodes for "an object of class nosuchmodule.Thing".
    return zlib.compress(b"\x80\x04cnosuchmodule\nThing\n)\x81.")


@pytest.mark.parametrize(
    "data",
    [
        b"\x00\xffrandom\x13bytes",
        _foreign_pickle(),
        zlib.compress(b'["tests.f", null, [1], {}]'),
    ],
    ids=["random", "foreign-module", "json-as-pickle"],
)
def test_c05_undecodable_payload(
    redis_url: str, redis_client: redis.Redis, data: bytes
):
    put_job(redis_client, "J7")
    put_job(redis_client, "OK1")
    redis_client.hset("rq:job:J7", "data", data)
    redis_client.rpush("rq:queue:default", "J7", "OK1")
    redis_client.hset("rq:job:J7", "status", "failed")
    redis_client.lrem("rq:queue:default", 0, "J7")
    redis_client.zadd("rq:failed:default", {"J7": time.time() + 60})

    with service(redis_url) as svc:
        view = svc.load()
        bad = row_by_id(view, "J7")
        assert bad.function == UNDECODABLE
        assert bad.decode_error
        assert "payload undecodable" in bad.detail_text()
        assert row_by_id(view, "OK1").function == f"{JOBS}.succeed"
        assert svc.requeue(["J7"]).message == "1 requeued"
        assert svc.delete(["J7"]).message == "1 deleted"
    assert not redis_client.exists("rq:job:J7")


def test_c05_json_serializer_per_queue(redis_url: str, redis_client: redis.Redis):
    put_job(redis_client, "J8")
    redis_client.hset("rq:job:J8", "data", zlib.compress(b'["tests.f", null, [1], {}]'))
    redis_client.rpush("rq:queue:default", "J8")
    with service(redis_url, serializers={"default": "json"}) as svc:
        assert row_by_id(svc.load(), "J8").call == "tests.f(1)"


def test_c05_unknown_serializer_refused(redis_url: str):
    with pytest.raises(ConfigError, match="serializer"):
        QueueService(redis_url, serializers={"default": "msgpack"})


def test_c06_decoded_responses_refused(redis_url: str):
    with pytest.raises(ConfigError, match="decode_responses"):
        QueueService(redis_url + "?decode_responses=True")


def test_c07_dead_and_incomplete_workers(redis_url: str, redis_client: redis.Redis):
    old = format_time(time.time() - 7200)
    redis_client.hset(
        "rq:worker:w1",
        mapping={
            "birth": old,
            "last_heartbeat": old,
            "queues": "default",
            "state": "busy",
            "current_job": "J9",
        },
    )
    redis_client.hset("rq:worker:w3", "current_job_working_time", "12")
    redis_client.sadd("rq:workers", "rq:worker:w1", "rq:worker:w2", "rq:worker:w3")
    put_job(redis_client, "J9", status="started", worker_name="w1", started_at=old)
    redis_client.zadd("rq:wip:default", {"J9": time.time() - 10})

    with service(redis_url) as svc:
        view = svc.load()
    workers = {w.name: w for w in view.workers}
    assert workers["w1"].note == "presumed dead (no heartbeat for 2h)"
    assert workers["w1"].heartbeat_age_s is not None
    for name in ("w2", "w3"):
        assert workers[name].note == "stale/incomplete worker record"
        assert not workers[name].alive
    assert row_by_id(view, "J9").reason == "abandoned: worker dead"
    assert "hb 2h" in workers["w1"].label()


def test_c08_refresh_reads_only_and_stays_bounded(
    redis_url: str, redis_client: redis.Redis
):
    put_job(
        redis_client,
        "JX",
        status="started",
        worker_name="wlive",
        started_at=format_time(time.time() - 5),
    )
    now = format_time(time.time())
    redis_client.hset(
        "rq:worker:wlive",
        mapping={
            "birth": now,
            "last_heartbeat": now,
            "queues": "default",
            "state": "busy",
        },
    )
    redis_client.sadd("rq:workers", "rq:worker:wlive")
    redis_client.zadd("rq:wip:default", {"JX": time.time() - 30})
    pipe = redis_client.pipeline(transaction=False)
    for start in range(0, 50_000, 5000):
        pipe.zadd(
            "rq:failed:default",
            {f"f{n}": time.time() + 3600 for n in range(start, start + 5000)},
        )
    pipe.execute()
    before = snapshot(redis_client)

    with service(redis_url) as svc:
        started = time.perf_counter()
        for _ in range(10):
            view = svc.load()
        per_refresh = (time.perf_counter() - started) / 10
    assert_same(before, snapshot(redis_client))
    assert row_by_id(view, "JX").reason == "overdue: started-registry expiry has passed"
    assert view.queues[0].failed == 50_000
    assert per_refresh < 0.25


def test_c09_stop_unacknowledged(redis_url: str, redis_client: redis.Redis):
    put_job(redis_client, "J10", status="started", worker_name="deaf-worker")
    with service(redis_url, stop_verify_s=0.5) as svc:
        started = time.monotonic()
        outcome = svc.stop_job("J10")
    assert not outcome.ok
    assert "did not acknowledge" in outcome.message
    assert "restart the worker" in outcome.message
    assert time.monotonic() - started < 2


def test_c10_idle_socket_reaped_recovers():
    server = EmbeddedRedis(extra_args=("--timeout", "1")).start()
    try:
        with service(server.url) as svc:
            svc.load()
            time.sleep(2.5)
            assert svc.load().queues[0].name == "default"
    finally:
        server.stop()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A TCP listener that accepts and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(sock.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield sock.getsockname()[1]
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    sock.close()


def test_c10_silent_peer_times_out(silent_port: int):
    with service(f"redis://127.0.0.1:{silent_port}/0", timeout_s=0.5) as svc:
        started = time.monotonic()
        with pytest.raises(RedisUnavailable):
            svc.load()
    assert time.monotonic() - started < 3


def test_redis_outage_then_recovery(private_redis: EmbeddedRedis):
    client = redis.Redis.from_url(private_redis.url)
    put_job(client, "R1")
    client.rpush("rq:queue:default", "R1")
    with service(private_redis.url, timeout_s=0.5) as svc:
        assert svc.load().queues[0].queued == 1
        private_redis.kill()
        with pytest.raises(RedisUnavailable, match="unreachable|in time"):
            svc.load()
        private_redis.start()
        assert svc.load().queues[0].queued == 0
    client.close()
