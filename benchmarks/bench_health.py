"""Benchmark: one health refresh with every component configured, on local servers.

Measures `HealthService.load()` against a private redis-server and local HTTP
servers for the AMC API, Polygon and Alpaca: the median when all answer (goal
<= 300 ms) and the time when one of them hangs (goal: bounded by the deadline).

Run: .venv/bin/python -m benchmarks.bench_health [--runs 30] [--deadline 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from contextlib import ExitStack
from datetime import UTC, datetime

import redis

from services.amc_api import AmcApiClient
from services.clock import Clock
from services.embedded_redis import EmbeddedRedis
from services.health import HealthService
from services.health_checks import REQUIRED_ROUTES
from services.settings import Settings
from tests.support.http_server import LocalServer, Reply


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def seed(url: str) -> None:
    """Write a busy-looking but healthy AMC system into Redis."""
    client = redis.Redis.from_url(url)
    now = time.time()
    client.sadd("rq:workers:amc_discovery", "rq:worker:w1")
    client.hset("rq:worker:w1", mapping={"state": "idle", "last_heartbeat": _iso(now)})
    client.set("amc:discovery:worker:heartbeat", str(int(now)))
    client.sadd("rq:queues", "rq:queue:amc_discovery")
    for i in range(50):
        client.rpush("rq:queue:amc_discovery", f"discovery_{i}")
        client.hset(f"rq:job:discovery_{i}", "enqueued_at", _iso(now - 30))
    for i in range(10):
        client.zadd("rq:finished:amc_discovery", {f"done_{i}": now + 3600})
        client.hset(
            f"rq:job:done_{i}",
            mapping={"started_at": _iso(now - 100), "ended_at": _iso(now - 60)},
        )
    items = [{"symbol": f"S{i}", "bms_score": 70.0} for i in range(300)]
    envelope = {
        "timestamp": int(now),
        "count": 300,
        "candidates": items,
        "engine": "BMS",
    }
    client.set("amc:discovery:candidates:v2", json.dumps(envelope), ex=600)
    client.close()


def serve(api: LocalServer, polygon: LocalServer, alpaca: LocalServer) -> None:
    """Answer like the real services do when all is well."""
    api.json("GET", "/health", {"status": "healthy", "components": {}})
    api.json("GET", "/_routes", ["/", "/docs", *REQUIRED_ROUTES])
    polygon.json("GET", "/v1/marketstatus/now", {"market": "open"})
    alpaca.json("GET", "/v2/clock", {"is_open": True, "next_open": "x"})


def measure(service: HealthService, runs: int) -> list[float]:
    """Return the wall time of each of `runs` loads, in milliseconds."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        service.load()
        times.append((time.perf_counter() - started) * 1000)
    return times


def build(
    redis_url: str, api: str, polygon: str, alpaca: str, deadline: float
) -> HealthService:
    """A HealthService with every component configured."""
    settings = Settings.model_validate(
        {
            "request_timeout_s": deadline,
            "polygon_api_key": "bench-polygon-key",
            "polygon_base_url": polygon,
            "alpaca_api_key": "bench-key-id",
            "alpaca_secret_key": "bench-secret",
            "alpaca_base_url": alpaca,
        },
        by_name=True,
    )
    client = AmcApiClient(api, timeout_s=deadline)
    return HealthService(settings, Clock(), redis_url, client)


def summary(label: str, times: list[float]) -> str:
    """One line: median, p90 and max."""
    ordered = sorted(times)
    p90 = ordered[int(0.9 * (len(ordered) - 1))]
    return (
        f"{label}: median {statistics.median(ordered):.1f} ms, p90 {p90:.1f} ms, "
        f"max {ordered[-1]:.1f} ms over {len(ordered)} runs"
    )


def main() -> None:
    """Run both scenarios and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--deadline", type=float, default=2.0)
    args = parser.parse_args()
    with ExitStack() as stack:
        server = stack.enter_context(EmbeddedRedis())
        api, polygon, alpaca = (stack.enter_context(LocalServer()) for _ in range(3))
        seed(server.url)
        serve(api, polygon, alpaca)
        service = build(server.url, api.url, polygon.url, alpaca.url, args.deadline)
        stack.callback(service.close)
        service.load()  # connections and the private event loop warm up
        print(summary("all answering", measure(service, args.runs)))
        polygon.route("GET", "/v1/marketstatus/now", Reply(hang=True))
        hung = measure(service, 3)
        print(summary(f"Polygon hanging (deadline {args.deadline:g} s)", hung))


if __name__ == "__main__":
    main()
