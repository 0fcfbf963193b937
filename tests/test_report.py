"""The Markdown diagnostic report and the text dashboard, from snapshot dicts."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import redis
from rq import Queue

from services.clock import FrozenClock
from services.embedded_redis import free_port
from services.health import HealthService
from services.queue import QueueService
from services.report import recommended_actions, render_markdown, render_text, scrub
from services.settings import Settings
from tests.support.http_server import LocalServer

SIX = [
    "/discovery/test",
    "/discovery/strategy-validation",
    "/discovery/calibration/status",
    "/discovery/direct",
    "/squeeze/alerts",
    "/trades/portfolio",
]


def incident() -> dict[str, Any]:
    """The 2025-09-12 situation as the console's snapshot would hold it."""
    return {
        "schema": "amc-tui.snapshot/1",
        "generated_at": "2025-09-12T19:20:00+00:00",
        "mode": "live",
        "demo": False,
        "status": "degraded",
        "components": {
            "AMC API": {"status": "ok", "detail": "healthy (200 ms)",
                        "latency_ms": 201.0},
            "Redis": {"status": "ok", "detail": "ping 1.1 ms", "latency_ms": 3.0,
                      "for_s": 7200.0},
            "Workers": {
                "status": "fail",
                "detail": "no live worker on amc_discovery; 3 jobs queued",
                "latency_ms": 4.0,
            },
            "Discovery": {
                "status": "warn",
                "detail": "no cached candidates (expired or never written)",
                "latency_ms": 2.0,
            },
            "Polygon": {"status": "unknown", "detail": "not configured",
                        "latency_ms": None},
        },
        "reasons": [
            "Workers: no live worker on amc_discovery; 3 jobs queued",
            "Discovery: no cached candidates | expired",
        ],
        "missing_routes": SIX,
        "queue": {
            "queues": [
                {"name": "amc_discovery", "queued": 3, "started": 0, "failed": 0,
                 "finished": 0},
            ],
            "workers": [],
            "stuck": [
                {"job_id": "discovery_1757703929", "queue": "amc_discovery",
                 "reason": "queued: no live worker on amc_discovery", "age_s": 960.0},
                {"job_id": "manual_1757704048", "queue": "amc_discovery",
                 "reason": "queued: no live worker on amc_discovery", "age_s": 720.0},
                {"job_id": "manual_1757704554", "queue": "amc_discovery",
                 "reason": "queued: no live worker on amc_discovery", "age_s": 240.0},
            ],
            "amc": {"heartbeat_age_s": None, "lock": None},
            "storms": [],
        },
        "candidates": {"engine": "none", "items": [], "warnings": ["cache empty"]},
        "alerts": {"alerts": []},
        "portfolio": {"mode": "paper", "positions": []},
    }  # fmt: skip


def test_incident_report_has_status_evidence_and_actions() -> None:
    report = render_markdown(incident())

    assert report.startswith("# AMC-TRADER diagnostic report: DEGRADED\n")
    assert "DEMO" not in report
    for job_id, age in (("discovery_1757703929", "16m"), ("manual_1757704048", "12m")):
        assert f"Job `{job_id}` on amc_discovery, {age}" in report
    for route in SIX:
        assert f"`{route}` answers 404" in report
    assert "AMC heartbeat age: unknown" in report
    assert "- **Redis** (for 2h): ping 1.1 ms" in report
    assert "not checked: Polygon" in report
    assert (
        "| Queue amc_discovery | 3 queued · 0 started · 0 failed · 0 finished |"
        in report
    )
    assert "Start a worker on amc_discovery: 3 job(s) are queued" in report
    assert "Run discovery in-process" in report
    assert "no cached candidates \\| expired" in report  # pipes cannot break tables


def test_stale_lock_is_recommended_for_clearing_only_when_idle() -> None:
    snapshot = incident()
    snapshot["queue"]["amc"]["lock"] = {"holder": "4242:1757704000", "ttl_s": 200}

    actions = recommended_actions(snapshot)

    assert any(
        "Clear the stale lock" in a and "4242:1757704000" in a and "TTL 200 s" in a
        for a in actions
    )
    snapshot["queue"]["workers"] = [
        {"name": "w1", "state": "busy", "alive": True, "current_job": "manual_1",
         "heartbeat_age_s": 5},
    ]  # fmt: skip
    assert not any("stale lock" in a for a in recommended_actions(snapshot))


def test_duplicate_storm_is_collapsed_to_its_newest() -> None:
    snapshot = incident()
    snapshot["queue"]["storms"] = [
        {"queue": "amc_discovery", "call": "run_discovery_job(300)", "count": 41,
         "newest": "discovery_1757704790"},
    ]  # fmt: skip

    actions = recommended_actions(snapshot)

    assert any(
        "Collapse the duplicate storm on amc_discovery: 41 copies" in a
        and "discovery_1757704790" in a
        for a in actions
    )


def test_dead_workers_and_abandoned_jobs_ask_for_a_restart() -> None:
    snapshot = incident()
    snapshot["queue"]["workers"] = [
        {"name": "w1", "state": "busy", "alive": True, "heartbeat_age_s": 20},
        {"name": "w9", "state": "busy", "alive": False, "heartbeat_age_s": 7200,
         "note": "presumed dead (no heartbeat for 2h)"},
    ]  # fmt: skip
    snapshot["queue"]["stuck"] = [
        {"job_id": "J9", "queue": "amc_discovery", "reason": "abandoned: worker dead",
         "age_s": 7200},
    ]  # fmt: skip

    actions = recommended_actions(snapshot)
    report = render_markdown(snapshot)

    assert any(a.startswith("Restart `w9`") for a in actions)
    assert any("Requeue the 1 abandoned job(s)" in a for a in actions)
    assert "Worker `w9`: busy, heartbeat 2h presumed dead" in report


def test_env_mismatch_and_evicting_redis_get_their_actions() -> None:
    snapshot = incident()
    snapshot["components"]["AMC API"] = {
        "status": "warn",
        "detail": "degraded: alpaca, env not ok",
        "evidence": ["env missing: ALPACA_API_SECRET"],
    }
    snapshot["components"]["Redis"]["detail"] = (
        "maxmemory-policy allkeys-lru evicts keys: queued jobs can be lost"
    )

    actions = recommended_actions(snapshot)

    assert any("Set ALPACA_API_SECRET" in a for a in actions)
    assert any("noeviction" in a for a in actions)


def test_demo_is_labelled() -> None:
    snapshot = incident()
    snapshot["demo"] = True

    report = render_markdown(snapshot)

    assert report.splitlines()[0].endswith("(DEMO)")
    assert "> **DEMO**" in report
    assert "· DEMO ·" in render_text(snapshot).splitlines()[0]


def test_healthy_snapshot_needs_nothing() -> None:
    snapshot = {
        "status": "healthy",
        "components": {"Redis": {"status": "ok", "detail": "ping 1 ms"}},
        "reasons": [],
        "queue": {
            "queues": [{"name": "amc_discovery", "queued": 0}],
            "workers": [{"name": "w1", "state": "idle", "alive": True}],
            "stuck": [],
            "amc": {"heartbeat_age_s": 12.0, "lock": None},
        },
    }

    report = render_markdown(snapshot)

    assert "## Critical issues\n\nNone." in report
    assert "No action needed." in report
    assert "No problems found." in report


@pytest.mark.parametrize(
    "snapshot",
    [
        {},
        {"status": "down", "queue": {"error": "Redis unreachable"}},
        {"components": [1, 2], "queue": "garbage", "reasons": "x", "candidates": None},
        {"queue": {"queues": [None, 3], "workers": [{"alive": "?"}], "stuck": [{}]}},
        {"queue": {"amc": {"lock": {"holder": None, "ttl_s": "soon"}}}},
        {"candidates": {"items": [{"score": "n/a"}, None]}, "alerts": {"alerts": [{}]}},
    ],
)
def test_partial_or_broken_snapshots_render(snapshot: dict[str, Any]) -> None:
    original = copy.deepcopy(snapshot)

    markdown, text = render_markdown(snapshot), render_text(snapshot)

    assert markdown.startswith("# AMC-TRADER diagnostic report")
    assert "== Portfolio ==" in text
    assert snapshot == original  # rendering never mutates the snapshot


def test_failed_sections_are_listed() -> None:
    snapshot = incident()
    snapshot["portfolio"] = {
        "error": "Broker: credentials don't match this environment"
    }

    report = render_markdown(snapshot)
    text = render_text(snapshot)

    assert "## Sections not available" in report
    assert "- portfolio: Broker: credentials" in report
    assert "unavailable: Broker: credentials" in text


def test_text_dashboard_has_all_five_sections() -> None:
    snapshot = incident()
    snapshot["candidates"] = {
        "engine": "BMS",
        "generated_at": "2025-09-12T19:10:00+00:00",
        "items": [{"symbol": "ABCD", "score": 74.2, "action": "TRADE_READY"}],
        "warnings": [],
    }
    snapshot["alerts"] = {
        "alerts": [{"symbol": "WXYZ", "level": "HIGH", "score": 0.81}]
    }
    snapshot["portfolio"] = {
        "mode": "paper",
        "positions": [{"symbol": "WXYZ", "qty": 90, "market_value": 198.9,
                       "unrealized_pl": 52.2}],
    }  # fmt: skip

    text = render_text(snapshot)

    for title in ("Health", "Queue", "Candidates", "Alerts", "Portfolio"):
        assert f"== {title} ==" in text
    assert "ABCD    74.20 TRADE_READY" in text
    assert "WXYZ   HIGH     0.81" in text
    assert "stuck discovery_1757703929 [amc_discovery] 16m" in text
    assert "WXYZ   qty 90 value 198.90 P&L 52.20" in text
    assert "missing routes: /discovery/test" in text


def test_scrub_removes_credentials() -> None:
    text = scrub(
        "redis://default:hunter2@redis.internal:6379/0 "
        "https://x.io/v2?apiKey=pk_123&x=1 Authorization: Bearer abc.def "
        "APCA-API-SECRET-KEY: s3cr3t"
    )

    assert scrub("job\x1b[2Jx\u202e\n") == "job[2Jx\n"
    for secret in ("hunter2", "pk_123", "abc.def", "s3cr3t"):
        assert secret not in text
    assert "redis://********@redis.internal:6379/0" in text


# Secrets seeded in real settings must never reach the report.

REDIS_PASSWORD = "RedisPassw0rd-9f8e"
POLYGON_KEY = "pk_SEEDED_polygon_key_777"
ALPACA_KEY = "AK_SEEDED_ALPACA_ID"
ALPACA_SECRET = "seeded-alpaca-secret-xyz"


@pytest.fixture
def providers() -> Iterator[LocalServer]:
    with LocalServer() as server:
        server.json("GET", "/v1/marketstatus/now", {"error": "bad key"}, status=401)
        server.json("GET", "/v2/clock", {"message": "forbidden."}, status=403)
        yield server


def test_secrets_in_settings_never_reach_the_report(providers: LocalServer) -> None:
    redis_url = f"redis://default:{REDIS_PASSWORD}@127.0.0.1:{free_port()}/0"
    settings = Settings.model_validate(
        {
            "request_timeout_s": 1.0,
            "redis_url": redis_url,
            "polygon_api_key": POLYGON_KEY,
            "polygon_base_url": providers.url,
            "alpaca_api_key": ALPACA_KEY,
            "alpaca_secret_key": ALPACA_SECRET,
            "alpaca_base_url": providers.url,
        },
        by_name=True,
    )
    svc = HealthService(settings, FrozenClock(1_757_704_800), redis_url, None)
    health = svc.load().to_dict()
    svc.close()
    snapshot = {
        **incident(),
        **{k: health[k] for k in ("status", "components", "reasons", "missing_routes")},
        "queue": {"error": f"Redis unreachable: {redis_url}"},
    }

    outputs = render_markdown(snapshot) + render_text(snapshot)

    assert health["components"]["Polygon"]["status"] == "fail"
    assert "credentials rejected" in outputs
    for secret in (REDIS_PASSWORD, POLYGON_KEY, ALPACA_KEY, ALPACA_SECRET):
        assert secret not in outputs


# End to end: the incident seeded in a real Redis, read by the real services.


def test_report_from_real_services_names_the_incident(
    redis_url: str, redis_client: redis.Redis
) -> None:
    now = 1_757_704_800.0
    queue = Queue("amc_discovery", connection=redis_client)
    for job_id, age in (("discovery_1757703929", 960), ("manual_1757704048", 720)):
        queue.enqueue("services.discovery.run_discovery_job", 300, job_id=job_id)
        stamp = datetime.fromtimestamp(now - age, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        redis_client.hset(f"rq:job:{job_id}", "enqueued_at", stamp)
    redis_client.set("amc:discovery:worker:heartbeat", str(int(now - 600)))
    redis_client.set("discovery_job_lock", "4242:1757704000", ex=200)
    clock = FrozenClock(now)
    settings = Settings.model_validate({"request_timeout_s": 2.0}, by_name=True)
    health_service = HealthService(settings, clock, redis_url, None)
    queue_service = QueueService(redis_url, clock=clock)
    health = health_service.load().to_dict()
    health_service.close()
    snapshot = {
        "generated_at": "2025-09-12T19:20:00+00:00",
        "mode": "live",
        "demo": False,
        **{k: health[k] for k in ("status", "components", "reasons", "missing_routes")},
        "queue": queue_service.load().to_dict(),
    }

    report = render_markdown(snapshot)

    assert "# AMC-TRADER diagnostic report: DEGRADED" in report
    assert "Job `discovery_1757703929` on amc_discovery, 16m" in report
    assert "AMC heartbeat age: 10m" in report
    assert "Start a worker on amc_discovery: 2 job(s) are queued" in report
    assert "holder `4242:1757704000`" in report
