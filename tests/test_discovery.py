"""Discovery runners on a real Redis: envelope, status, lock and the service view."""

from __future__ import annotations

import json
import threading
from typing import Any

import pandas as pd
import pytest
import redis

from services.clock import Clock, FrozenClock
from services.demo_market import DemoMarket
from services.discovery import DiscoveryService, run_discovery, run_discovery_job
from services.discovery_run import (
    ENVELOPE_KEY,
    LOCK_KEY,
    STATUS_KEY,
    DiscoveryLock,
    prefilter,
)
from services.discovery_view import Candidate, candidate_score
from services.errors import DiscoveryError, PolygonError
from services.scoring import STRATEGIES

NOW = 1_757_700_000.0


@pytest.fixture(scope="module")
def market() -> DemoMarket:
    return DemoMarket(n_symbols=600)


class TickingClock(Clock):
    """A clock the test moves by hand."""

    def __init__(self, at: float) -> None:
        self.at = at

    def now(self) -> float:
        return self.at


class GatedMarket:
    """A demo market whose bar fetch waits until the test opens the gate."""

    def __init__(self, inner: DemoMarket) -> None:
        self.inner = inner
        self.source = inner.source
        self.entered = threading.Event()
        self.gate = threading.Event()

    def daily_bars(self, days: int) -> pd.DataFrame:
        self.entered.set()
        assert self.gate.wait(10)
        return self.inner.daily_bars(days)

    def reference(self) -> pd.DataFrame:
        return self.inner.reference()

    def last_price(self, symbol: str) -> float | None:
        return self.inner.last_price(symbol)


class BrokenMarket(GatedMarket):
    def daily_bars(self, days: int) -> pd.DataFrame:
        raise PolygonError("grouped bars 2025-09-12: HTTP 500: boom")


def test_envelope_has_the_real_shape_and_demo_engine(market: DemoMarket) -> None:
    stages: list[tuple[str, int]] = []

    result = run_discovery(
        market, "bms", 50, None, FrozenClock(NOW),
        lambda p: stages.append((p.stage, p.progress)),
    )  # fmt: skip

    env = result.envelope
    assert result.status == "success" and env is not None
    assert stages == [("starting", 0), ("filtering", 10), ("scoring", 20),
                      ("processing", 80), ("completed", 100)]  # fmt: skip
    assert env["timestamp"] == int(NOW)
    assert env["iso_timestamp"].startswith("2025-09-12T")
    assert env["job_id"] == f"console_{int(NOW)}"
    for key in (
        "universe_size",
        "filtered_size",
        "processed",
        "count",
        "trade_ready_count",
        "monitor_count",
        "stats",
        "elapsed_seconds",
    ):
        assert key in env  # fmt: skip
    assert env["universe_size"] == 600
    assert env["count"] == len(env["candidates"]) <= 50
    assert "AMC-TUI" in env["engine"] and "bms" in env["engine"]
    assert "DEMO" in env["engine"]
    first = env["candidates"][0]
    assert 0 <= first["bms_score"] <= 100
    assert set(first["component_scores"]) == {
        "volume_surge", "price_momentum", "volatility_expansion", "risk_filter",
    }  # fmt: skip
    json.dumps(env)


def test_planted_breakouts_are_trade_ready_and_funds_are_gone(
    market: DemoMarket,
) -> None:
    env = run_discovery(market, "bms", 300, None, FrozenClock(NOW)).envelope
    assert env is not None
    by_symbol = {c["symbol"]: c for c in env["candidates"]}

    assert all(
        by_symbol[s]["action"] == "TRADE_READY" for s in market.planted_breakouts
    )
    assert not {"SPY", "QQQ", "TQQQ"} & set(by_symbol)


def test_prefilter_drops_funds_by_type_and_substring(market: DemoMarket) -> None:
    bars, ref = market.daily_bars(90), market.reference()

    filtered, stats = prefilter(bars, ref, "hybrid_v1")

    kept = set(filtered["symbol"])
    funds = set(ref.index[ref["type"].isin(["ETF", "ETN", "FUND"])])
    assert kept and not kept & funds
    assert stats["universe_size"] == 600
    assert stats["filtered_size"] == len(kept)


def test_run_publishes_envelope_status_and_releases_the_lock(
    market: DemoMarket, redis_url: str, redis_client: redis.Redis
) -> None:
    result = run_discovery(market, "bms", 20, redis_url, FrozenClock(NOW))

    stored = json.loads(redis_client.get(ENVELOPE_KEY))
    status = json.loads(redis_client.get(STATUS_KEY))
    assert stored["job_id"] == result.job_id
    assert 590 <= redis_client.ttl(ENVELOPE_KEY) <= 600
    assert status["status"] == "completed" and status["progress"] == 100
    assert redis_client.get(LOCK_KEY) is None  # released: the real job never did


def test_held_lock_skips_without_touching_it(
    market: DemoMarket, redis_url: str, redis_client: redis.Redis
) -> None:
    redis_client.set(LOCK_KEY, "4242:1757690000", ex=200)

    result = run_discovery(market, "bms", 20, redis_url, FrozenClock(NOW))

    assert result.status == "skipped"
    assert result.lock_holder == "4242:1757690000"
    assert result.summary()["reason"] == "Another discovery job is already running"
    assert redis_client.get(LOCK_KEY) == b"4242:1757690000"
    assert 190 <= redis_client.ttl(LOCK_KEY) <= 200
    assert redis_client.get(ENVELOPE_KEY) is None


def test_release_compares_the_token_atomically(redis_client: redis.Redis) -> None:
    mine = DiscoveryLock(redis_client, "100:1", ttl_s=60)
    assert mine.acquire()
    redis_client.set(LOCK_KEY, "200:2", ex=60)  # ours expired, another run took it

    assert mine.refresh() is False
    assert mine.release() is False
    assert redis_client.get(LOCK_KEY) == b"200:2"

    again = DiscoveryLock(redis_client, "300:3", ttl_s=60)
    redis_client.delete(LOCK_KEY)
    assert again.acquire() and again.release()
    assert redis_client.get(LOCK_KEY) is None


def test_failed_run_reports_failed_status_and_frees_the_lock(
    market: DemoMarket, redis_url: str, redis_client: redis.Redis
) -> None:
    with pytest.raises(DiscoveryError, match="HTTP 500"):
        run_discovery(BrokenMarket(market), "bms", 20, redis_url, FrozenClock(NOW))

    status = json.loads(redis_client.get(STATUS_KEY))
    assert status["status"] == "failed" and "HTTP 500" in status["message"]
    assert redis_client.get(LOCK_KEY) is None


def test_rq_job_function_returns_the_real_summary(market: DemoMarket) -> None:
    summary = run_discovery_job(limit=10, strategy="bms", market="demo")

    assert summary["status"] == "success"
    assert summary["count"] == 10
    assert summary["job_id"].startswith("manual_")


def test_service_without_redis_runs_in_process_and_keeps_the_result(
    market: DemoMarket,
) -> None:
    service = DiscoveryService(None, market, clock=FrozenClock(NOW), limit=25)
    empty = service.load()
    assert "no cached results: run discovery" in empty.warnings

    outcome = service.run_in_process()
    view = service.load()
    data = view.to_dict()

    assert outcome.ok and "25 candidates" in outcome.message
    assert view.source == "in-process"
    for key in ("engine", "source", "generated_at", "items", "warnings", "run"):
        assert key in data
    item = data["items"][0]
    assert {"symbol", "score", "action", "component_scores"} <= set(item)
    assert 0 <= item["score"] <= 100
    assert len(view.items[0].closes) == 20
    assert service.bars() is not None and service.bars()["symbol"].nunique() == 600
    assert any("DEMO" in w for w in view.warnings)


def test_service_view_flags_demo_fallback_and_hollow_envelopes(
    redis_url: str, redis_client: redis.Redis
) -> None:
    hollow = {
        "timestamp": int(NOW) - 30, "count": 12, "candidates": [],
        "engine": "Emergency Demo Data - Worker Starting Up",
        "job_id": "emergency_demo",
    }  # fmt: skip
    redis_client.set(ENVELOPE_KEY, json.dumps(hollow), ex=300)
    service = DiscoveryService(redis_url, None, clock=FrozenClock(NOW))

    view = service.load()

    assert view.source == "fallback"
    assert view.age_s == 30
    assert any("not live discovery data" in w for w in view.warnings)
    assert any("count=12 but holds no candidates" in w for w in view.warnings)
    assert any("no live worker serves amc_discovery" in w for w in view.warnings)


def test_corrupt_envelope_is_a_warning_not_a_crash(
    redis_url: str, redis_client: redis.Redis
) -> None:
    redis_client.set(ENVELOPE_KEY, b'{"candidates": [\xff')
    service = DiscoveryService(redis_url, None, clock=FrozenClock(NOW))

    view = service.load()

    assert view.items == ()
    assert any("unreadable JSON" in w for w in view.warnings)


def test_real_system_envelope_reads_as_live(
    redis_url: str, redis_client: redis.Redis
) -> None:
    env = {
        "timestamp": int(NOW) - 5, "engine": "BMS Real Engine v1.1 - Background Job",
        "count": 1, "job_id": "discovery_1757699990",
        "candidates": [{"symbol": "ABCD", "bms_score": 74.2, "action": "TRADE_READY",
                        "component_scores": {"volume_surge": 50.0}, "price": 7.12,
                        "momentum_1d": 8.0, "volume_surge": 2.0, "atr_pct": 8.0}],
    }  # fmt: skip
    redis_client.set(ENVELOPE_KEY, json.dumps(env))

    view = DiscoveryService(redis_url, None, clock=FrozenClock(NOW)).load()

    assert view.source == "live"
    assert view.items[0].score == 74.2
    assert view.items[0].change_pct == 8.0 and view.items[0].rel_vol == 2.0
    assert not any("not live" in w for w in view.warnings)


def test_never_two_runs_at_once_and_the_run_is_visible(
    market: DemoMarket, redis_url: str
) -> None:
    gated = GatedMarket(market)
    clock = TickingClock(NOW)
    service = DiscoveryService(redis_url, gated, clock=clock, limit=10)
    first: list[Any] = []
    thread = threading.Thread(target=lambda: first.append(service.run_in_process()))
    thread.start()
    assert gated.entered.wait(10)
    clock.at += 3

    second = service.run_in_process()
    during = service.load()
    gated.gate.set()
    thread.join(10)

    assert not second.ok and "already going" in second.message
    assert during.run is not None and during.run.stage == "starting"
    assert during.run.runner == "in-process" and during.run.elapsed_s == 3
    assert during.run.reason == "no live worker on amc_discovery"
    assert first[0].ok


def test_other_consoles_lock_makes_the_run_skip(
    market: DemoMarket, redis_url: str, redis_client: redis.Redis
) -> None:
    redis_client.set(LOCK_KEY, "999:1", ex=100)
    service = DiscoveryService(redis_url, market, clock=FrozenClock(NOW))

    outcome = service.run_in_process()
    view = service.load()

    assert not outcome.ok and "held by 999:1" in outcome.message
    assert any("discovery_job_lock held by 999:1" in w for w in view.warnings)


def test_live_workers_need_their_hash(
    redis_url: str, redis_client: redis.Redis
) -> None:
    redis_client.sadd("rq:workers:amc_discovery", "rq:worker:w1", "rq:worker:w2")
    redis_client.hset("rq:worker:w1", mapping={"state": "idle"})

    service = DiscoveryService(redis_url, None)

    assert service.live_workers() == ("w1",)


def test_auto_run_is_due_after_the_grace_period_without_workers(
    market: DemoMarket, redis_url: str
) -> None:
    clock = TickingClock(NOW)
    service = DiscoveryService(redis_url, market, clock=clock, grace_s=60, limit=5)

    assert service.auto_run_due() is False  # starts the grace period
    clock.at += 59
    assert service.auto_run_due() is False
    clock.at += 2
    assert service.auto_run_due() is True
    assert service.run_in_process().ok
    assert service.auto_run_due() is False  # a fresh envelope is cached


def test_enqueue_uses_the_real_id_style_and_never_overwrites(
    market: DemoMarket, redis_url: str, redis_client: redis.Redis
) -> None:
    service = DiscoveryService(redis_url, market, clock=FrozenClock(NOW))

    first = service.enqueue("hybrid_v1")
    second = service.enqueue()

    assert first.ok and first.details["job_id"] == f"manual_{int(NOW)}"
    assert second.details["job_id"] == f"manual_{int(NOW)}_2"
    assert "no live worker" in first.message
    queued = redis_client.lrange("rq:queue:amc_discovery", 0, -1)
    assert queued == [f"manual_{int(NOW)}".encode(), f"manual_{int(NOW)}_2".encode()]


def test_compare_strategies_and_explain(market: DemoMarket) -> None:
    service = DiscoveryService(None, market, clock=FrozenClock(NOW), limit=50)

    outcome = service.compare_strategies()
    comparison = service.load().comparison

    assert outcome.ok and comparison is not None
    assert [r.strategy for r in comparison.rows] == list(STRATEGIES)
    overlap = dict(comparison.overlap)
    assert overlap["all"] <= min(r.count for r in comparison.rows)
    bms = comparison.rows[0]
    assert bms.trade_ready + bms.monitor == bms.count
    symbol = market.planted_breakouts[0]
    text = service.explain(symbol, "bms")
    assert text is not None
    assert "volume_surge" in text and "sum of contributions" in text
    assert service.explain("NOPE", "bms") is None


@pytest.mark.parametrize(
    "raw, expected",
    [({"score": float("inf")}, None), ({"score": float("nan")}, None),
     ({"score": "72"}, None), ({"bms_score": 0.5}, 0.5), ({"score": 0.734}, 73.4),
     ({"meta_score": 81.0}, 81.0), ({}, None)],
)  # fmt: skip
def test_candidate_scores_reject_inf_nan_and_text(
    raw: dict[str, Any], expected: float | None
) -> None:
    assert candidate_score(raw) == expected
    assert Candidate.from_dict({"symbol": "X", **raw}).score == expected


def test_rq_job_takes_the_market_from_the_worker_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AMC_TUI_MARKET", "demo")

    summary = run_discovery_job(limit=5)

    assert summary["status"] == "success"
    assert "DEMO" in summary["engine"]
