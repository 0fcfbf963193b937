"""Real `python -m services.worker` subprocesses: kill -9, stop, start and shutdown."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from rq import Queue

from services.embedded_redis import EmbeddedRedis
from services.queue_read import AMC_HEARTBEAT
from tests.queue_helpers import JOBS, fast_thresholds, row_by_id, service

ROOT = Path(__file__).resolve().parent.parent
QUEUE = "amc_discovery"


def _wait(check: Callable[[], bool], timeout: float, what: str) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if check():
            return time.monotonic() - started
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def spawn(redis_url: str) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Start worker subprocesses (own process group each); kill leftovers."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(*extra: str, url: str = redis_url) -> subprocess.Popen[bytes]:
        args = [
            sys.executable,
            "-m",
            "services.worker",
            "--queue",
            QUEUE,
            "--job-monitoring-interval",
            "1",
            "--heartbeat-interval",
            "0.5",
            *extra,
        ]
        env = {**os.environ, "AMC_WORKER_REDIS_URL": url}
        proc = subprocess.Popen(
            args,
            cwd=ROOT,
            env=env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        if proc.stderr:
            proc.stderr.close()


def _children(pid: int) -> list[int]:
    """Pids whose parent is `pid` (rq's work horse leaves its parent's group)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def _kill_9_with_horse(proc: subprocess.Popen[bytes]) -> None:
    for child in _children(proc.pid):
        os.kill(child, signal.SIGKILL)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=5)


def _status(client: redis.Redis, job_id: str) -> bytes | None:
    return client.hget(f"rq:job:{job_id}", "status")


def test_kill_9_mid_job_shows_abandoned_then_requeue_runs_once(
    redis_url: str,
    redis_client: redis.Redis,
    spawn: Callable[..., subprocess.Popen[bytes]],
):
    worker = spawn("--name", "victim")
    job = Queue(QUEUE, connection=redis_client).enqueue(
        f"{JOBS}.slow_count", 1.5, "done-count", job_id="K1", job_timeout=60
    )
    _wait(lambda: _status(redis_client, "K1") == b"started", 15, "job start")
    beat = redis_client.get(AMC_HEARTBEAT)
    assert beat is not None and abs(int(beat) - time.time()) < 5

    limits = fast_thresholds(busy_heartbeat_s=3.0)
    with service(redis_url, queues=(QUEUE,), thresholds=limits) as svc:
        view = svc.load()
        assert row_by_id(view, "K1").reason == ""
        assert [w.current_job for w in view.workers] == ["K1"]
        _kill_9_with_horse(worker)
        took = _wait(
            lambda: row_by_id(svc.load(), "K1").reason.startswith("abandoned"),
            limits.busy_heartbeat_s + 3,
            "abandoned verdict",
        )
        assert took <= limits.busy_heartbeat_s + 2
        victim = next(w for w in svc.load().workers if w.name == "victim")
        assert not victim.alive and victim.note.startswith("presumed dead")

        assert svc.requeue_stuck().message == "1 requeued"
    spawn("--burst").wait(timeout=30)
    assert _status(redis_client, job.id) == b"finished"
    assert redis_client.get("done-count") == b"1"


def test_stop_job_is_verified_and_sigterm_is_graceful(
    redis_url: str,
    redis_client: redis.Redis,
    spawn: Callable[..., subprocess.Popen[bytes]],
):
    worker = spawn("--name", "stopper")
    Queue(QUEUE, connection=redis_client).enqueue(
        f"{JOBS}.slow_count", 20.0, "never", job_id="S1", job_timeout=60
    )
    _wait(lambda: _status(redis_client, "S1") == b"started", 15, "job start")

    with service(redis_url, queues=(QUEUE,), stop_verify_s=5.0) as svc:
        outcome = svc.stop_job("S1")
    assert outcome.ok, outcome.message
    assert _status(redis_client, "S1") in (b"stopped", b"failed")
    assert redis_client.get("never") is None

    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=10) == 0
    assert not redis_client.sismember("rq:workers", "rq:worker:stopper")
    stderr = worker.stderr.read().decode() if worker.stderr else ""
    assert QUEUE in stderr


def test_start_worker_from_service(redis_url: str, redis_client: redis.Redis):
    Queue("side", connection=redis_client).enqueue(f"{JOBS}.succeed", "x", job_id="B1")
    with service(redis_url, queues=("side",)) as svc:
        outcome = svc.start_worker(["side"], burst=True)
    assert outcome.ok and outcome.details["pid"] > 0
    _wait(lambda: _status(redis_client, "B1") == b"finished", 20, "burst worker")
    os.waitpid(outcome.details["pid"], 0)


def test_worker_url_password_not_logged(redis_url: str):
    url = redis_url.replace("redis://", "redis://:s3cret-pw@")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "services.worker",
            "--url",
            url,
            "--queue",
            "q",
            "--burst",
        ],
        cwd=ROOT,
        capture_output=True,
        timeout=30,
    )
    assert b"s3cret-pw" not in proc.stderr + proc.stdout


def test_c09_worker_deaf_after_redis_restart_is_reported(
    private_redis: EmbeddedRedis, spawn: Callable[..., subprocess.Popen[bytes]]
):
    spawn("--name", "deaf", url=private_redis.url)
    client = redis.Redis.from_url(private_redis.url)
    _wait(lambda: client.exists("rq:worker:deaf") == 1, 15, "worker start")
    private_redis.kill()
    private_redis.start()
    Queue(QUEUE, connection=client).enqueue(
        f"{JOBS}.slow_count", 6.0, "late", job_id="C9", job_timeout=60
    )
    _wait(lambda: _status(client, "C9") == b"started", 15, "jobs flowing again")

    with service(private_redis.url, queues=(QUEUE,), stop_verify_s=1.0) as svc:
        outcome = svc.stop_job("C9")
    still = _status(client, "C9")
    client.close()
    # Whatever rq does, the verdict must match what happened to the job.
    if outcome.ok:
        assert still in (b"stopped", b"failed")
    else:
        assert still == b"started"
        assert "did not acknowledge" in outcome.message
        assert "restart the worker" in outcome.message
