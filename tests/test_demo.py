"""The embedded demo: the seeded incident, triage on it, and a clean shutdown."""

from __future__ import annotations

import os
import time
from pathlib import Path

import redis

from services.discovery import DiscoveryService
from services.queue import QueueService
from tests.support.dashboard import FROZEN_AT, demo_env


def test_demo_seeds_the_2025_09_12_incident(tmp_path: Path) -> None:
    env = demo_env(tmp_path)
    try:
        view = env.providers["queue"].load()
        data = view.to_dict()
        stuck = {job["job_id"]: job for job in data["stuck"]}
        assert any(j.startswith("discovery_") for j in stuck)
        assert any(j.startswith("manual_") for j in stuck)
        assert all(job["age_s"] > 600 for job in stuck.values())
        assert not any(worker["alive"] for worker in data["workers"])
        assert data["amc"]["heartbeat_age_s"] > 180
        assert data["amc"]["lock"]["holder"]
        assert sum(q["failed"] for q in data["queues"]) == 1
        health = env.providers["health"].load()
        assert health.status == "degraded"
    finally:
        env.close()


def test_demo_market_is_large_and_labelled(tmp_path: Path) -> None:
    env = demo_env(tmp_path)
    try:
        discovery: DiscoveryService = env.services["candidates"]
        bars = discovery.bars()
        assert bars is not None
        per_symbol = bars.groupby("symbol").size()
        assert len(per_symbol) >= 5000 and per_symbol.min() >= 90
        view = discovery.load().to_dict()
        assert "DEMO" in view["engine"]
        assert view["items"]
        assert env.providers["squeeze"].load().to_dict()["alerts"]
        assert len(env.providers["portfolio"].load().to_dict()["positions"]) >= 3
    finally:
        env.close()


def test_worker_started_from_the_console_drains_the_queue_and_stops_on_exit(
    tmp_path: Path,
) -> None:
    env = demo_env(tmp_path)
    queue: QueueService = env.services["queue"]
    url = queue._url
    try:
        queue.requeue_all_failed()
        outcome = queue.start_worker(burst=False)
        pid = outcome.details["pid"]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            counts = {q["name"]: q for q in queue.load().to_dict()["queues"]}
            if counts["amc_discovery"]["queued"] == 0:
                break
            time.sleep(0.5)
        assert counts["amc_discovery"]["queued"] == 0
        workers = queue.load().to_dict()["workers"]
        assert any(w["alive"] for w in workers)
    finally:
        env.close()
    time.sleep(0.2)
    assert not _alive(pid), "the demo must stop the workers it started"
    client = redis.Redis.from_url(url, socket_connect_timeout=0.5)
    try:
        client.ping()
        raise AssertionError("the demo's Redis is still answering")
    except redis.ConnectionError:
        pass


def test_frozen_clock_gives_stable_ids(tmp_path: Path) -> None:
    first = demo_env(tmp_path / "a")
    second = demo_env(tmp_path / "b")
    try:
        ids = [
            sorted(
                j["job_id"] for j in env.providers["queue"].load().to_dict()["stuck"]
            )
            for env in (first, second)
        ]
        assert ids[0] == ids[1]
        assert f"discovery_{int(FROZEN_AT) - 2400}" in ids[0]
    finally:
        first.close()
        second.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_read_only_loads_write_nothing(tmp_path: Path) -> None:
    env = demo_env(tmp_path, read_only=True)
    try:
        client = redis.Redis.from_url(env.services["queue"]._url)
        before = {key: client.dump(key) for key in client.scan_iter()}
        for _ in range(2):
            for provider in env.providers.values():
                provider.load()
        after = {key: client.dump(key) for key in client.scan_iter()}
        assert after == before
        client.close()
    finally:
        env.close()
