"""Polygon and Alpaca health probes against local servers with their real shapes."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from services.clock import FrozenClock
from services.health import HealthService
from services.health_checks import alpaca_probe, polygon_probe
from services.settings import Settings
from tests.support.http_server import LocalServer, Reply

POLYGON_KEY = "pk_live_SECRET_1234567890"
ALPACA_KEY = "AKSECRETKEYID12345"
ALPACA_SECRET = "alpaca-secret-value-zzz"
MARKET = {
    "market": "closed",
    "serverTime": "2025-09-12T20:05:00-04:00",
    "earlyHours": False,
    "afterHours": True,
    "exchanges": {
        "nyse": "extended-hours",
        "nasdaq": "extended-hours",
        "otc": "closed",
    },
    "currencies": {"fx": "open", "crypto": "open"},
}
CLOCK = {
    "timestamp": "2025-09-12T20:05:00-04:00",
    "is_open": False,
    "next_open": "2025-09-15T09:30:00-04:00",
    "next_close": "2025-09-15T16:00:00-04:00",
}


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with LocalServer() as local:
        yield local


def test_polygon_ok_sends_the_key_in_a_header_only(server: LocalServer) -> None:
    server.json("GET", "/v1/marketstatus/now", MARKET)

    check = polygon_probe(POLYGON_KEY, server.url, 1.0)()

    request = server.calls("/v1/marketstatus/now")[0]
    assert check.status == "ok"
    assert check.detail == "authenticated; market closed (after-hours)"
    assert request.headers["authorization"] == f"Bearer {POLYGON_KEY}"
    assert request.query == {}


def test_polygon_bad_key_fails_without_showing_it(server: LocalServer) -> None:
    body = {"status": "ERROR", "request_id": "x", "error": "Unknown API Key"}
    server.json("GET", "/v1/marketstatus/now", body, status=401)

    check = polygon_probe(POLYGON_KEY, server.url, 1.0)()

    assert check.status == "fail"
    assert "credentials rejected (HTTP 401)" in check.detail
    assert POLYGON_KEY not in check.detail + " ".join(check.evidence)


def test_polygon_plan_limit_warns(server: LocalServer) -> None:
    body = {"status": "NOT_AUTHORIZED", "message": "You are not entitled to this data."}
    server.json("GET", "/v1/marketstatus/now", body, status=403)

    check = polygon_probe(POLYGON_KEY, server.url, 1.0)()

    assert check.status == "warn"
    assert "plan does not include this data" in check.detail


def test_polygon_rate_limited_warns_with_retry_after(server: LocalServer) -> None:
    server.route(
        "GET",
        "/v1/marketstatus/now",
        Reply(429, {"status": "ERROR"}, headers={"Retry-After": "60"}),
    )

    check = polygon_probe(POLYGON_KEY, server.url, 1.0)()

    assert check.status == "warn"
    assert "rate-limited (HTTP 429), retry after 60 s" in check.detail


def test_polygon_hang_fails_within_its_timeout(server: LocalServer) -> None:
    server.route("GET", "/v1/marketstatus/now", Reply(200, MARKET, delay_s=5))

    check = polygon_probe(POLYGON_KEY, server.url, 0.3)()

    assert check.status == "fail" and "no answer within 0.3 s" in check.detail


def test_alpaca_ok_and_nearly_exhausted_rate_limit_warns(server: LocalServer) -> None:
    headers = {"X-RateLimit-Limit": "200", "X-RateLimit-Remaining": "5"}
    server.route("GET", "/v2/clock", Reply(200, CLOCK, headers=headers))

    check = alpaca_probe(ALPACA_KEY, ALPACA_SECRET, server.url, 1.0)()

    request = server.calls("/v2/clock")[0]
    assert check.status == "warn"
    assert (
        "market closed" in check.detail and "only 5/200 requests left" in check.detail
    )
    assert "rate limit: 5 of 200 requests left" in check.evidence
    assert request.headers["apca-api-key-id"] == ALPACA_KEY


def test_alpaca_forbidden_fails(server: LocalServer) -> None:
    server.json("GET", "/v2/clock", {"message": "forbidden."}, status=403)

    check = alpaca_probe(ALPACA_KEY, ALPACA_SECRET, server.url, 1.0)()

    assert check.status == "fail"
    assert "credentials rejected (HTTP 403): forbidden." in check.detail
    assert "credentials don't match this environment (PAPER)" in check.detail


def test_alpaca_unreadable_answer_fails(server: LocalServer) -> None:
    server.route("GET", "/v2/clock", Reply(200, b"<html>login</html>"))

    check = alpaca_probe(ALPACA_KEY, ALPACA_SECRET, server.url, 1.0)()

    assert check.status == "fail" and "unreadable answer" in check.detail


def _settings(url: str, **extra: object) -> Settings:
    values = {
        "request_timeout_s": 1.0,
        "polygon_api_key": POLYGON_KEY,
        "polygon_base_url": url,
        "alpaca_api_key": ALPACA_KEY,
        "alpaca_secret_key": ALPACA_SECRET,
        "alpaca_base_url": url,
        **extra,
    }
    return Settings.model_validate(values, by_name=True)


def test_probes_are_built_from_settings_and_secrets_stay_out(
    server: LocalServer,
) -> None:
    server.json("GET", "/v1/marketstatus/now", MARKET)
    server.json("GET", "/v2/clock", CLOCK)
    svc = HealthService(_settings(server.url), FrozenClock(1e9), None, None)

    report = svc.load()
    svc.close()

    assert report.component("Polygon").status == "ok"
    assert report.component("Alpaca").status == "ok"
    dumped = json.dumps(report.to_dict()) + "\n".join(report.text_lines())
    for secret in (POLYGON_KEY, ALPACA_KEY, ALPACA_SECRET):
        assert secret not in dumped


def test_alpaca_key_without_secret_fails_naming_both_env_names(
    server: LocalServer,
) -> None:
    settings = _settings(server.url, alpaca_secret_key=None)
    svc = HealthService(settings, FrozenClock(1e9), None, None)

    report = svc.load()
    svc.close()

    alpaca = report.component("Alpaca")
    assert alpaca.status == "fail"
    assert "ALPACA_SECRET_KEY / ALPACA_API_SECRET" in alpaca.detail
    assert server.calls("/v2/clock") == []
