"""State written by rq 1.15.1 itself (the AMC system's version) reads correctly."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import redis

from tests.queue_helpers import JOBS, row_by_id, service

ROOT = Path(__file__).resolve().parent.parent
VENV = Path(tempfile.gettempdir()) / "amc-tui-rq115"

SCRIPT = f"""
import sys
from redis import Redis
from rq import Queue, SimpleWorker, Worker
conn = Redis.from_url(sys.argv[1])
q = Queue("amc_discovery", connection=conn)
q.enqueue("{JOBS}.succeed", "a", job_id="old_ok")
q.enqueue("{JOBS}.fail", "coverage", job_id="old_fail")
SimpleWorker([q], connection=conn).work(burst=True)
q.enqueue("{JOBS}.succeed", 300, job_id="discovery_1757667000")
q.enqueue("{JOBS}.succeed", 300, job_id="manual_1757667001")
Worker([q], connection=conn, name="legacy-worker").register_birth()
"""


@pytest.fixture(scope="session")
def rq115_python() -> Path:
    """A Python with rq 1.15.1 and redis 5.0.8, built once and cached."""
    python = VENV / "bin" / "python"
    marker = VENV / ".amc-ready"
    if not marker.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "rq==1.15.1", "redis==5.0.8"],
            check=True,
            timeout=300,
        )
        marker.write_text("ok")
    return python


def test_rq_1_15_state_reads(
    rq115_python: Path, redis_url: str, redis_client: redis.Redis
):
    done = subprocess.run(
        [str(rq115_python), "-c", SCRIPT, redis_url],
        cwd=ROOT,
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert redis_client.hget("rq:worker:legacy-worker", "version") == b"1.15.1"

    with service(redis_url, queues=("amc_discovery",)) as svc:
        view = svc.load()
        counts = view.queues[0]
        assert (counts.queued, counts.failed, counts.finished) == (2, 1, 1)
        failed = row_by_id(view, "old_fail")
        assert failed.exc_type == "ValueError"
        assert "coverage" in failed.traceback
        assert failed.function == f"{JOBS}.fail"
        queued = row_by_id(view, "manual_1757667001")
        assert queued.call == f"{JOBS}.succeed(300)"
        assert queued.reason == ""
        worker = next(w for w in view.workers if w.name == "legacy-worker")
        assert worker.alive and worker.queues == ("amc_discovery",)
        assert [g.exc_type for g in view.failed_groups] == ["ValueError"]

        assert svc.requeue_group("ValueError").message == "1 requeued"
    assert redis_client.lrange("rq:queue:amc_discovery", -1, -1) == [b"old_fail"]
