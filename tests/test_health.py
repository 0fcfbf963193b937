"""HealthService on a real Redis and local HTTP servers shaped like the real ones."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import redis

from services.amc_api import AmcApiClient
from services.clock import Clock, FrozenClock
from services.embedded_redis import EmbeddedRedis, free_port
from services.health import HealthReport, HealthService, verdict
from services.health_checks import OPTIONAL_ROUTES, REQUIRED_ROUTES, Check
from services.settings import Settings
from tests.support.http_server import LocalServer, Reply

NOW = 1_757_704_800.0  # 2025-09-12 19:20 UTC
REPORT_404S = OPTIONAL_ROUTES[:6]
HEALTHY = {
    "status": "healthy",
    "components": {n: {"ok": True} for n in ("env", "database", "redis", "polygon")},
    "tag": "trace_v3",
}
DEGRADED = {
    "status": "degraded",
    "components": {
        "env": {"ok": False, "missing": ["ALPACA_API_SECRET"]},
        "database": {"ok": True},
        "alpaca": {"ok": False},
    },
    "tag": "trace_v3",
}
MOUNTED = ["/", "/docs", "/redoc", "/openapi.json", *REQUIRED_ROUTES]
OPEN_CLIENTS: list[AmcApiClient] = []  # closed after each load, with its loop


def iso(epoch: float) -> bytes:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ").encode()


def settings(**values: Any) -> Settings:
    return Settings.model_validate({"request_timeout_s": 1.0, **values}, by_name=True)


@pytest.fixture
def amc() -> Iterator[LocalServer]:
    with LocalServer() as server:
        server.json("GET", "/health", HEALTHY)
        server.json("GET", "/_routes", MOUNTED)
        yield server


def service(
    redis_url: str | None,
    api_url: str | None = None,
    source: str = "live",
    **kwargs: Any,
) -> HealthService:
    api = AmcApiClient(api_url, timeout_s=1.0) if api_url else None
    if api is not None:
        OPEN_CLIENTS.append(api)
    return HealthService(
        kwargs.pop("settings", settings()),
        FrozenClock(NOW),
        redis_url,
        api,
        source=source,
        **kwargs,
    )


def load(svc: HealthService) -> HealthReport:
    try:
        return svc.load()
    finally:
        svc.close()
        while OPEN_CLIENTS:
            OPEN_CLIENTS.pop().close()


def status_of(report: HealthReport, name: str) -> str:
    component = report.component(name)
    assert component is not None
    return component.status


def add_worker(
    r: redis.Redis, name: str, queue: str = "amc_discovery", **fields: Any
) -> None:
    r.sadd("rq:workers", f"rq:worker:{name}")
    r.sadd(f"rq:workers:{queue}", f"rq:worker:{name}")
    if fields:
        r.hset(f"rq:worker:{name}", mapping=fields)


def queue_job(
    r: redis.Redis, job_id: str, age_s: float, queue: str = "amc_discovery"
) -> None:
    r.sadd("rq:queues", f"rq:queue:{queue}")
    r.rpush(f"rq:queue:{queue}", job_id)
    r.hset(
        f"rq:job:{job_id}",
        mapping={"status": "queued", "origin": queue, "enqueued_at": iso(NOW - age_s)},
    )


def cache(r: redis.Redis, envelope: dict[str, Any] | bytes, ttl: int = 600) -> None:
    raw = envelope if isinstance(envelope, bytes) else json.dumps(envelope).encode()
    r.set("amc:discovery:candidates:v2", raw, ex=ttl)


def envelope(
    age_s: float = 60, engine: str = "BMS Real Engine v1.1", **kw: Any
) -> dict:
    items = [{"symbol": "ABCD", "bms_score": 74.2, "action": "TRADE_READY"}]
    return {
        "timestamp": int(NOW - age_s),
        "count": len(items),
        "candidates": items,
        "engine": engine,
        "job_id": "discovery_1757704700",
        **kw,
    }


def healthy_redis(r: redis.Redis) -> None:
    add_worker(r, "w1", state="idle", last_heartbeat=iso(NOW - 420))
    r.set("amc:discovery:worker:heartbeat", str(int(NOW - 20)))
    cache(r, envelope())


# ------------------------------------------------------------ the report shape


def test_demo_without_api_reads_not_configured_and_healthy(
    redis_url: str, redis_client: redis.Redis
) -> None:
    healthy_redis(redis_client)

    report = load(service(redis_url, source="demo"))
    data = report.to_dict()

    assert data["status"] == "healthy"
    assert set(data) >= {"status", "components", "reasons", "missing_routes", "history"}
    api = data["components"]["AMC API"]
    assert api["status"] == "unknown" and "not configured" in api["detail"]
    assert api["latency_ms"] is None
    assert set(data["components"]["Redis"]) >= {"status", "detail", "latency_ms"}
    assert data["reasons"] == [] and data["missing_routes"] == []
    json.dumps(data)  # JSON-able


def test_all_answering_is_healthy_with_latencies(
    redis_url: str, redis_client: redis.Redis, amc: LocalServer
) -> None:
    healthy_redis(redis_client)

    report = load(service(redis_url, amc.url))

    assert report.status == "healthy", report.reasons
    assert all(c.latency_ms is not None for c in report.components[:5])
    assert "1 live worker(s) on amc_discovery" in report.component("Workers").detail


def test_503_degraded_health_is_degraded_not_down(
    redis_url: str, redis_client: redis.Redis, amc: LocalServer
) -> None:
    healthy_redis(redis_client)
    amc.json("GET", "/health", DEGRADED, status=503)

    report = load(service(redis_url, amc.url))

    api = report.component("AMC API")
    assert report.status == "degraded"
    assert api.status == "warn"
    assert "alpaca" in api.detail and "env" in api.detail
    assert any("ALPACA_API_SECRET" in line for line in api.evidence)
    assert report.reasons[0].startswith("AMC API:")


def test_missing_routes_lists_the_six_from_the_report(
    redis_url: str, redis_client: redis.Redis, amc: LocalServer
) -> None:
    healthy_redis(redis_client)

    report = load(service(redis_url, amc.url))

    assert set(REPORT_404S) <= set(report.missing_routes)
    assert "/docs" not in report.missing_routes
    assert status_of(report, "AMC API") == "ok"  # optional routes only


def test_a_missing_required_route_warns(
    redis_url: str, redis_client: redis.Redis, amc: LocalServer
) -> None:
    healthy_redis(redis_client)
    amc.json("GET", "/_routes", [r for r in MOUNTED if r != "/discovery/status"])

    report = load(service(redis_url, amc.url))

    assert status_of(report, "AMC API") == "warn"
    assert report.missing_routes[0] == "/discovery/status"
    assert "required routes missing: /discovery/status" in report.reasons[0]


def test_route_list_unavailable_is_evidence_not_a_crash(
    redis_url: str, redis_client: redis.Redis, amc: LocalServer
) -> None:
    healthy_redis(redis_client)
    amc.route("GET", "/_routes", Reply(404, {"detail": "Not Found"}))

    report = load(service(redis_url, amc.url))

    api = report.component("AMC API")
    assert api.status == "ok" and report.missing_routes == ()
    assert any("route list unavailable" in line for line in api.evidence)


def test_unreachable_api_is_down_and_ranked_first(
    redis_url: str, redis_client: redis.Redis
) -> None:
    redis_client.rpush("rq:queue:amc_discovery", "discovery_1")

    report = load(service(redis_url, f"http://127.0.0.1:{free_port()}"))

    assert report.status == "down"
    assert report.reasons[0].startswith("AMC API:")
    assert "unreachable" in report.reasons[0]


def test_html_502_from_the_gateway_fails_the_api(
    redis_url: str, redis_client: redis.Redis, amc: LocalServer
) -> None:
    healthy_redis(redis_client)
    page = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
    amc.route("GET", "/health", Reply(502, page, headers={"Content-Type": "text/html"}))

    report = load(service(redis_url, amc.url))

    api = report.component("AMC API")
    assert api.status == "fail" and "HTTP 502" in api.detail
    assert "<h1>" not in api.detail


def test_health_error_body_with_503_is_degraded(
    redis_url: str, redis_client: redis.Redis, amc: LocalServer
) -> None:
    healthy_redis(redis_client)
    amc.json("GET", "/health", {"status": "error", "components": {}}, status=503)

    report = load(service(redis_url, amc.url))

    assert status_of(report, "AMC API") == "warn"


# ------------------------------------------------------------ Redis


def test_redis_down_is_down_and_dependent_rows_are_unknown() -> None:
    report = load(service(f"redis://127.0.0.1:{free_port()}/0"))

    assert report.status == "down"
    assert status_of(report, "Redis") == "fail"
    assert status_of(report, "Workers") == "unknown"
    assert [r.split(":")[0] for r in report.reasons] == ["Redis"]


def test_evicting_maxmemory_policy_warns() -> None:
    with EmbeddedRedis() as server:
        client = redis.Redis.from_url(server.url)
        client.config_set("maxmemory", "64mb")
        client.config_set("maxmemory-policy", "allkeys-lru")
        client.close()

        report = load(service(server.url))

    redis_row = report.component("Redis")
    assert redis_row.status == "warn"
    assert "allkeys-lru evicts keys" in redis_row.detail


def test_noeviction_with_a_limit_is_fine() -> None:
    with EmbeddedRedis() as server:
        client = redis.Redis.from_url(server.url)
        client.config_set("maxmemory", "64mb")
        client.config_set("maxmemory-policy", "noeviction")
        client.close()

        report = load(service(server.url))

    assert status_of(report, "Redis") == "ok"


# ------------------------------------------------------------ Workers and SLA


def test_report_2025_09_12_stuck_jobs_and_no_worker(
    redis_url: str, redis_client: redis.Redis
) -> None:
    queue_job(redis_client, "discovery_1757703929", 16 * 60)
    queue_job(redis_client, "manual_1757704048", 12 * 60)
    queue_job(redis_client, "manual_1757704554", 4 * 60)
    redis_client.set("amc:discovery:worker:heartbeat", str(int(NOW - 600)))
    add_worker(redis_client, "gone-after-sigkill")  # listed, hash expired

    report = load(service(redis_url))

    workers, sla = report.component("Workers"), report.component("Queue SLA")
    assert workers.status == "fail"
    assert "no live worker on amc_discovery; 3 jobs queued" in workers.detail
    assert "heartbeat 10m old" in workers.detail
    assert any("gone-after-sigkill" in e and "dead" in e for e in workers.evidence)
    assert sla.status == "fail"
    assert "discovery_1757703929" in sla.detail and "16m" in sla.detail
    assert report.status == "degraded"


def test_queued_past_the_wait_sla_warns(
    redis_url: str, redis_client: redis.Redis
) -> None:
    healthy_redis(redis_client)
    queue_job(redis_client, "manual_1", 200)

    report = load(service(redis_url))

    assert status_of(report, "Queue SLA") == "warn"
    assert status_of(report, "Workers") == "ok"


def test_slow_recent_runs_warn_against_the_60s_target(
    redis_url: str, redis_client: redis.Redis
) -> None:
    healthy_redis(redis_client)
    for i, took in enumerate((95, 100, 80)):
        job = f"done_{i}"
        redis_client.zadd("rq:finished:amc_discovery", {job: NOW + 3600 - i})
        start = NOW - 1000 + i
        redis_client.hset(
            f"rq:job:{job}",
            mapping={"started_at": iso(start), "ended_at": iso(start + took)},
        )

    report = load(service(redis_url))

    sla = report.component("Queue SLA")
    assert sla.status == "warn"
    assert "median run 95 s over 3 recent jobs (target 60 s)" in sla.detail


def test_fresh_heartbeat_without_rq_worker_warns(
    redis_url: str, redis_client: redis.Redis
) -> None:
    redis_client.set("amc:discovery:worker:heartbeat", str(int(NOW - 30)))
    cache(redis_client, envelope())

    report = load(service(redis_url))

    workers = report.component("Workers")
    assert workers.status == "warn"
    assert "heartbeat fresh" in workers.detail


def test_incomplete_worker_record_is_not_alive(
    redis_url: str, redis_client: redis.Redis
) -> None:
    add_worker(redis_client, "w3", current_job_working_time="3")
    queue_job(redis_client, "manual_2", 30)

    report = load(service(redis_url))

    workers = report.component("Workers")
    assert workers.status == "fail"
    assert any("w3: stale/incomplete worker record" in e for e in workers.evidence)


def test_jobs_on_a_queue_nobody_serves_warn(
    redis_url: str, redis_client: redis.Redis
) -> None:
    healthy_redis(redis_client)
    queue_job(redis_client, "old_name_job", 30, queue="discovery")

    report = load(service(redis_url))

    workers = report.component("Workers")
    assert workers.status == "warn"
    assert "no worker for discovery (1 queued)" in workers.detail


def test_a_real_rq_worker_counts_as_live(
    redis_url: str, redis_client: redis.Redis
) -> None:
    code = (
        "import sys, redis, rq\n"
        "conn = redis.Redis.from_url(sys.argv[1])\n"
        "rq.Worker(['amc_discovery'], connection=conn, name='real-1').work()\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, redis_url])
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if redis_client.hget("rq:worker:real-1", "state") == b"idle":
                break
            time.sleep(0.05)
        clock_now = time.time()
        svc = HealthService(settings(), FrozenClock(clock_now), redis_url, None)
        report = load(svc)
    finally:
        proc.terminate()
        proc.wait(10)

    workers = report.component("Workers")
    assert "1 live worker(s) on amc_discovery" in workers.detail
    assert any("real-1: idle" in e for e in workers.evidence)


# ------------------------------------------------------------ Discovery freshness


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (envelope(age_s=20 * 60), "stale: 20m old"),
        (
            envelope(engine="Emergency Demo Data - Worker Starting Up"),
            "demo/emergency data",
        ),
        (envelope(engine="Fallback Cache"), "fallback data"),
        (envelope(count=12, candidates=[]), "count 12 but the candidate list is empty"),
    ],
)
def test_discovery_cache_problems_warn(
    redis_url: str, redis_client: redis.Redis, value: dict, expected: str
) -> None:
    cache(redis_client, value)

    report = load(service(redis_url))

    discovery = report.component("Discovery")
    assert discovery.status == "warn"
    assert expected in discovery.detail


def test_missing_cache_warns(redis_url: str) -> None:
    report = load(service(redis_url))

    assert "no cached candidates" in report.component("Discovery").detail


def test_cache_with_invalid_utf8_is_corrupted_not_a_crash(
    redis_url: str, redis_client: redis.Redis
) -> None:
    raw = b'{"engine":"BMS","candidates":[{"symbol":"AB\xaaC"}]}'
    cache(redis_client, raw)

    report = load(service(redis_url))

    discovery = report.component("Discovery")
    assert discovery.status == "fail"
    assert f"invalid UTF-8 at byte {raw.index(0xAA)}" in discovery.detail
    assert "AB\\xaaC" in discovery.evidence[0]


def test_fresh_cache_is_ok_and_demo_engine_is_not_flagged_in_the_demo(
    redis_url: str, redis_client: redis.Redis
) -> None:
    cache(redis_client, envelope(engine="amc-tui demo BMS"))

    report = load(service(redis_url, source="demo"))

    discovery = report.component("Discovery")
    assert discovery.status == "ok"
    assert "60s old · 1 candidates" in discovery.detail


def test_without_redis_the_cache_is_read_through_the_api(amc: LocalServer) -> None:
    peek = {"exists": True, "timestamp": int(NOW - 30), "count": 5, "engine": "BMS"}
    amc.json("GET", "/discovery/cache/peek", peek)

    report = load(service(None, amc.url))

    assert status_of(report, "Discovery") == "ok"
    assert status_of(report, "Redis") == "unknown"


# ------------------------------------------------------------ deadlines and history


def test_a_hanging_component_is_bounded_by_the_deadline(
    redis_url: str, redis_client: redis.Redis, amc: LocalServer
) -> None:
    healthy_redis(redis_client)
    amc.route("GET", "/health", Reply(200, HEALTHY, delay_s=10))

    def hangs() -> Check:
        time.sleep(10)
        return Check("ok", "never")

    svc = service(redis_url, amc.url, polygon_check=hangs)
    started = time.perf_counter()
    report = load(svc)
    took = time.perf_counter() - started

    assert took < 2.0
    assert status_of(report, "Polygon") == "fail"
    assert "no answer within 1 s" in report.component("Polygon").detail
    assert status_of(report, "AMC API") == "fail"
    assert status_of(report, "Redis") == "ok"


def test_trickling_health_is_bounded(
    redis_url: str, redis_client: redis.Redis, amc: LocalServer
) -> None:
    healthy_redis(redis_client)
    amc.route("GET", "/health", Reply(200, HEALTHY, trickle_s=0.05))

    started = time.perf_counter()
    report = load(service(redis_url, amc.url))

    assert time.perf_counter() - started < 2.0
    assert status_of(report, "AMC API") == "fail"


def test_history_keeps_the_last_statuses(
    redis_url: str, redis_client: redis.Redis
) -> None:
    svc = service(redis_url, history_len=3)
    try:
        first = svc.load()
        healthy_redis(redis_client)
        for _ in range(3):
            last = svc.load()
    finally:
        svc.close()

    assert first.history["Workers"] == ("warn",)
    assert last.history["Workers"] == ("ok", "ok", "ok")
    assert last.to_dict()["history"]["Discovery"] == ["ok", "ok", "ok"]


def test_verdict_ranks_critical_failures_first() -> None:
    from services.health import ComponentStatus

    parts = (
        ComponentStatus("Workers", "warn", "w", 1.0),
        ComponentStatus("Polygon", "fail", "p", 1.0),
        ComponentStatus("Redis", "fail", "r", 1.0),
        ComponentStatus("Alpaca", "unknown", "not configured", None),
    )

    status, reasons = verdict(parts)

    assert status == "down"
    assert reasons == ("Redis: r", "Polygon: p", "Workers: w")


def test_odd_health_bodies_never_crash_the_check(
    redis_url: str, redis_client: redis.Redis, amc: LocalServer
) -> None:
    healthy_redis(redis_client)
    amc.json("GET", "/health", {"status": "degraded", "components": {"env": True}}, 503)

    report = load(service(redis_url, amc.url))

    assert status_of(report, "AMC API") == "warn"


def test_decoding_redis_url_is_refused_with_a_clear_reason(redis_url: str) -> None:
    report = load(service(f"{redis_url}?decode_responses=true"))

    redis_row = report.component("Redis")
    assert redis_row.status == "fail"
    assert "decode_responses" in redis_row.detail


class StepClock(Clock):
    """A clock the test moves by hand."""

    def __init__(self, at: float) -> None:
        self.at = at

    def now(self) -> float:
        return self.at


def test_for_s_says_how_long_each_status_has_held(
    redis_url: str, redis_client: redis.Redis
) -> None:
    clock = StepClock(NOW)
    svc = HealthService(settings(), clock, redis_url, None)
    try:
        svc.load()
        clock.at += 300
        held = svc.load()
        clock.at += 60
        add_worker(redis_client, "w1", state="idle", last_heartbeat=iso(clock.at - 9))
        redis_client.set("amc:discovery:worker:heartbeat", str(int(clock.at - 5)))
        changed = svc.load()
    finally:
        svc.close()

    assert held.component("Workers").for_s == 300
    assert changed.component("Workers").for_s == 0
    assert changed.component("Redis").for_s == 360
    assert changed.to_dict()["components"]["Redis"]["for_s"] == 360


def test_a_worker_hash_with_a_two_hour_old_heartbeat_is_presumed_dead(
    redis_url: str, redis_client: redis.Redis
) -> None:
    add_worker(redis_client, "w1", state="busy", last_heartbeat=iso(NOW - 7200))
    queue_job(redis_client, "manual_3", 30)

    report = load(service(redis_url))

    workers = report.component("Workers")
    assert workers.status == "fail"
    assert any(
        "w1: busy, presumed dead (no heartbeat for 2h)" in e for e in workers.evidence
    )


def test_a_hanging_probe_never_starves_the_other_checks(redis_url: str) -> None:
    release = threading.Event()

    def hanging() -> Check:
        release.wait(20)
        return Check("ok", "late")

    service = HealthService(
        Settings(), Clock(), redis_url, None, polygon_check=hanging, deadline_s=0.3
    )
    try:
        for _ in range(10):
            report = service.load()
        assert report.component("Redis").status == "ok"
        polygon = report.component("Polygon")
        assert polygon.status == "fail"
        assert "previous check still waiting" in polygon.detail
    finally:
        release.set()
        service.close()
