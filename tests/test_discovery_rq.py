"""Discovery through real RQ workers (subprocesses): the job, and fan-out shards."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from services.demo_market import DemoMarket
from services.discovery import DiscoveryService, run_discovery
from services.discovery_run import ENVELOPE_KEY, LOCK_KEY

ROOT = Path(__file__).resolve().parents[1]


def worker_command(url: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "services.worker", "--url", url,
            "--queue", "amc_discovery", *extra]  # fmt: skip


def worker_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


@pytest.fixture
def live_worker(redis_url: str, redis_client: redis.Redis) -> Iterator[str]:
    """A real worker serving amc_discovery until the test ends."""
    name = f"test-discovery-{os.getpid()}"
    proc = subprocess.Popen(
        worker_command(redis_url, "--name", name), cwd=ROOT, env=worker_env(),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    deadline = time.monotonic() + 20
    while not redis_client.exists(f"rq:worker:{name}"):
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        assert time.monotonic() < deadline, "worker did not register"
        time.sleep(0.1)
    yield name
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


def test_worker_subprocess_runs_the_enqueued_job(
    redis_url: str, redis_client: redis.Redis
) -> None:
    service = DiscoveryService(redis_url, DemoMarket(n_symbols=300), limit=40)
    outcome = service.enqueue("bms")

    done = subprocess.run(
        worker_command(redis_url, "--burst"), cwd=ROOT, env=worker_env(),
        capture_output=True, text=True, timeout=90,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr[-2000:]
    envelope = json.loads(redis_client.get(ENVELOPE_KEY))
    assert envelope["job_id"] == outcome.details["job_id"]  # joinable, unlike AMC
    assert "rq" in envelope["engine"] and "DEMO" in envelope["engine"]
    assert envelope["count"] == 40
    assert redis_client.get(LOCK_KEY) is None
    view = service.load()
    assert view.source == "demo" and len(view.items) == 40


def test_fan_out_merges_shards_scored_by_a_live_worker(
    redis_url: str, redis_client: redis.Redis, live_worker: str
) -> None:
    market = DemoMarket(n_symbols=900)
    service = DiscoveryService(redis_url, market, limit=60)
    assert service.live_workers() == (live_worker,)

    outcome = service.fan_out(shards=2, wait_s=60)

    assert outcome.ok, outcome.message
    assert outcome.details["by_workers"] == 2
    merged = json.loads(redis_client.get(ENVELOPE_KEY))
    single = run_discovery(market, "bms", 60).envelope
    assert single is not None
    pairs = [(c["symbol"], c["bms_score"]) for c in merged["candidates"]]
    assert pairs == [(c["symbol"], c["bms_score"]) for c in single["candidates"]]
    assert "fan-out" in merged["engine"]
    assert not redis_client.keys("amc:tui:fanout:*")
    assert redis_client.get(LOCK_KEY) is None


def test_fan_out_without_workers_scores_every_shard_in_process(
    redis_url: str, redis_client: redis.Redis
) -> None:
    service = DiscoveryService(redis_url, DemoMarket(n_symbols=400), limit=30)

    outcome = service.fan_out(shards=4, wait_s=0.3)

    assert outcome.ok, outcome.message
    assert outcome.details == {**outcome.details, "by_workers": 0, "in_process": 4}
    assert redis_client.llen("rq:queue:amc_discovery") == 0  # waiting shards cancelled
    assert json.loads(redis_client.get(ENVELOPE_KEY))["count"] == 30
    assert service.load().source == "demo"
