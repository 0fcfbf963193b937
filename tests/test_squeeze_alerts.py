"""Squeeze alerts: lifecycle, de-duplication and sharing on one real Redis.

Two `SqueezeService` instances on the same database stand in for two consoles;
the in-memory store must follow the same lifecycle rules.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pandas as pd
import pytest

from services.clock import FrozenClock
from services.embedded_redis import EmbeddedRedis
from services.errors import AmcTuiError, ApiError, RedisUnavailable
from services.short_data import FrameShortData, ShortDataRateLimited
from services.squeeze import SqueezeService, parse_duration
from services.squeeze_alerts import AlertInput, AlertStore, MemoryAlertStore

T0 = 1_780_000_000.0
# With SI 0 % known, float 75 M and days to cover known, the score is vr/30 and
# the pass bar 0.15: these ratios land in each level.
RATIO = {"EXTREME": 15.0, "HIGH": 10.0, "MEDIUM": 7.5, "LOW": 4.5, "NONE": 1.0}


def make_bars(levels: dict[str, str]) -> pd.DataFrame:
    """31 quiet bars then one bar whose volume ratio lands the symbol in a level."""
    frames = []
    for symbol, level in levels.items():
        volumes = [1e6] * 31 + [RATIO[level] * 1e6]
        closes = [4.0] * 31 + [5.0]
        frames.append(
            pd.DataFrame(
                {
                    "symbol": symbol,
                    "date": pd.date_range("2026-01-01", periods=32),
                    "open": closes,
                    "high": closes,
                    "low": closes,
                    "close": closes,
                    "volume": volumes,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def reference(symbols: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "short_interest": 0.0,
            "float_shares": 75e6,
            "float_is_proxy": False,
            "days_to_cover": 1.0,
            "borrow_fee": float("nan"),
            "utilization": float("nan"),
        },
        index=pd.Index(symbols, name="symbol"),
    )


class Market:
    """A mutable market the tests move between loads."""

    def __init__(self, **levels: str) -> None:
        self.levels = dict(levels)

    def bars(self) -> pd.DataFrame | None:
        return make_bars(self.levels) if self.levels else None

    def short_data(self) -> FrameShortData:
        return FrameShortData(lambda: reference(sorted(self.levels)), "demo")


def service(
    url: str | None,
    market: Market,
    at: float = T0,
    api: Callable[[], list[dict[str, Any]]] | None = None,
) -> SqueezeService:
    return SqueezeService(
        url,
        market.short_data(),
        market.bars,
        FrozenClock(at),
        "demo",
        amc_api_candidates=api,
    )


@pytest.fixture(params=["redis", "memory"])
def store_factory(request: pytest.FixtureRequest, redis_url: str) -> Iterator[Any]:
    """Build stores of one kind; Redis ones share the test's database."""
    made: list[Any] = []

    def build(at: float = T0, cap: int = 50) -> Any:
        clock = FrozenClock(at)
        store = (
            AlertStore(redis_url, clock, history_cap=cap)
            if request.param == "redis"
            else MemoryAlertStore(clock, cap)
        )
        made.append(store)
        return store

    yield build
    for store in made:
        if isinstance(store, AlertStore):
            store.close()


def rows(**levels: str) -> list[AlertInput]:
    return [
        AlertInput(s, lvl, f"SQUEEZE_{lvl}", RATIO[lvl] / 30, {"price": 5.0})
        for s, lvl in levels.items()
    ]


def test_fires_on_entry_and_move_up_only(store_factory: Any) -> None:
    store = store_factory()

    assert store.sync(rows(AAA="MEDIUM", BBB="HIGH")) == ["AAA", "BBB"]
    assert store.sync(rows(AAA="MEDIUM", BBB="HIGH")) == []
    assert store.sync(rows(AAA="EXTREME", BBB="MEDIUM")) == ["AAA"]
    assert store.sync(rows(AAA="EXTREME", BBB="HIGH")) == []  # back to its peak

    alerts = {a.symbol: a for a in store.alerts()}
    assert (alerts["AAA"].level, alerts["AAA"].peak_level) == ("EXTREME", "EXTREME")
    assert alerts["AAA"].row == {"price": 5.0}
    assert store.last_seq() == 3
    assert [e.event for e in store.history("AAA")] == ["upgraded", "fired"]


def test_clears_when_symbol_falls_out_and_fires_again_on_return(
    store_factory: Any,
) -> None:
    store = store_factory()
    store.sync(rows(AAA="HIGH", BBB="LOW"))

    assert store.sync(rows(BBB="LOW")) == []
    assert [a.symbol for a in store.alerts()] == ["BBB"]
    assert store.history("AAA")[0].event == "cleared"
    assert store.sync(rows(AAA="LOW", BBB="LOW")) == ["AAA"]


def test_history_is_capped(store_factory: Any) -> None:
    store = store_factory(cap=3)
    for _ in range(4):
        store.sync(rows(AAA="LOW"))
        store.sync([])

    events = store.history("AAA")
    assert [e.event for e in events] == ["cleared", "fired", "cleared"]


def test_state_changes_need_an_active_alert(store_factory: Any) -> None:
    store = store_factory()
    store.sync(rows(AAA="HIGH"))

    assert store.set_state("AAA", "acknowledged", None)
    assert not store.set_state("ZZZ", "acknowledged", None)
    assert store.alerts()[0].state == "acknowledged"
    assert store.history("AAA")[0].event == "acknowledged"


def test_move_up_resets_an_acknowledged_alert_to_new(store_factory: Any) -> None:
    store = store_factory()
    store.sync(rows(AAA="MEDIUM"))
    store.set_state("AAA", "acknowledged", None)

    store.sync(rows(AAA="HIGH"))

    assert store.alerts()[0].state == "new"


def test_history_keys_expire(redis_url: str, redis_client: Any) -> None:
    store = AlertStore(redis_url, FrozenClock(T0), history_ttl_s=3600)
    store.sync(rows(AAA="HIGH"))
    store.set_state("AAA", "acknowledged", None)

    assert 3500 < redis_client.ttl("amctui:squeeze:history:AAA") <= 3600
    assert redis_client.ttl("amctui:squeeze:alert:AAA") == -1  # alerts persist
    store.close()


def test_racing_consoles_fire_each_alert_once(redis_url: str) -> None:
    stores = [AlertStore(redis_url, FrozenClock(T0)) for _ in range(4)]
    batch = rows(**{f"S{i:03d}": "HIGH" for i in range(200)})
    barrier = threading.Barrier(len(stores))
    fired: list[list[str]] = []

    def run(store: AlertStore) -> None:
        barrier.wait()
        for _ in range(3):
            fired.append(store.sync(batch))

    threads = [threading.Thread(target=run, args=(s,)) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    all_fired = [s for result in fired for s in result]
    assert len(all_fired) == 200 and len(set(all_fired)) == 200
    assert stores[0].last_seq() == 200
    for store in stores:
        store.close()


def test_two_consoles_share_alerts_and_survive_restart(redis_url: str) -> None:
    market = Market(EXT="EXTREME", HIG="HIGH", MED="MEDIUM", LOW="LOW", QUIET="NONE")
    first = service(redis_url, market)

    view = first.load()

    assert [r.symbol for r in view.alerts] == ["EXT", "HIG", "MED", "LOW"]
    assert [r.level for r in view.alerts] == ["EXTREME", "HIGH", "MEDIUM", "LOW"]
    assert view.new_high == ("EXT", "HIG")
    assert view.shared and view.scanned == 5

    second = service(redis_url, market, at=T0 + 60)
    again = second.load()
    assert again.new_high == ()  # already fired by the first console
    assert [r.first_seen for r in again.alerts] == [T0] * 4

    assert second.acknowledge("EXT").ok
    restarted = service(redis_url, market, at=T0 + 120)
    states = {r.symbol: r.state for r in restarted.load().alerts}
    assert states == {"EXT": "acknowledged", "HIG": "new", "MED": "new", "LOW": "new"}
    assert first.load().new_high == ()


def test_new_high_reports_moves_up_to_high_once(redis_url: str) -> None:
    market = Market(AAA="MEDIUM", BBB="LOW")
    console = service(redis_url, market)
    assert console.load().new_high == ()

    market.levels.update(AAA="HIGH", BBB="MEDIUM")
    assert console.load().new_high == ("AAA",)
    assert console.load().new_high == ()


def test_snooze_expires_by_the_clock(redis_url: str) -> None:
    market = Market(AAA="HIGH")
    console = service(redis_url, market)
    console.load()

    outcome = console.snooze("AAA", parse_duration("15m"))

    assert outcome.ok and outcome.message == "AAA snoozed for 15m"
    assert outcome.details["until"] == T0 + 900
    before = service(redis_url, market, at=T0 + 899).load().alerts[0]
    after = service(redis_url, market, at=T0 + 901).load().alerts[0]
    assert (before.state, before.snooze_until) == ("snoozed", T0 + 900)
    assert after.state == "new"
    assert not console.snooze("NOPE", 60).ok
    assert not console.snooze("AAA", 0).ok


def test_history_and_detail_actions(redis_url: str) -> None:
    market = Market(AAA="HIGH")
    console = service(redis_url, market)
    console.load()
    console.acknowledge("AAA")

    history = console.history("AAA")
    detail = console.detail("AAA")

    assert [e["event"] for e in history.details["events"]] == ["acknowledged", "fired"]
    assert "fired" in history.details["text"]
    text = detail.details["text"]
    assert "AAA: HIGH SQUEEZE_HIGH" in text
    assert "volume" in text and "daily bars (demo)" in text
    assert "borrow" in text and "[unknown]" in text
    assert not console.detail("ZZZ").ok


def test_memory_store_when_no_redis_url() -> None:
    market = Market(AAA="EXTREME")
    console = service(None, market)

    view = console.load()

    assert not view.shared and view.new_high == ("AAA",)
    assert "not shared" in view.text_lines()[0]
    assert service(None, market).load().new_high == ("AAA",)  # nothing persisted


def test_view_dict_and_text() -> None:
    market = Market(AAA="EXTREME", BBB="LOW")
    view = service(None, market).load()

    data = view.to_dict()

    assert set(data) >= {"alerts", "counts", "new_high"}
    assert data["counts"]["EXTREME"] == 1 and data["counts"]["total"] == 2
    first = data["alerts"][0]
    assert first["symbol"] == "AAA" and first["score"] == 50.0
    assert first["si_pct"] == 0.0 and first["volume_ratio"] == pytest.approx(15.0)
    assert first["change_pct"] == pytest.approx(25.0)
    assert view.text_lines()[1].startswith("AAA")


def test_no_bars_keeps_alerts_and_says_why(redis_url: str) -> None:
    market = Market(AAA="HIGH")
    service(redis_url, market).load()

    view = service(redis_url, Market()).load()

    assert [r.symbol for r in view.alerts] == ["AAA"]
    assert "no bars" in view.note


def test_api_candidates_are_labelled_and_their_failure_is_contained() -> None:
    market = Market(AAA="HIGH")
    payload = [
        {
            "symbol": "ABCD",
            "score": 74.2,
            "squeeze_score": 0.742,
            "squeeze_tier": "High",
        },
        {"symbol": "EFGH", "bms_score": 0.55},
    ]

    view = service(None, market, api=lambda: payload).load()

    assert [(c.symbol, c.score, c.tier) for c in view.api_candidates] == [
        ("ABCD", 74.2, "High"),
        ("EFGH", 55.0, "?"),
    ]
    assert all(c.source == "AMC API (BMS score)" for c in view.api_candidates)

    def broken() -> list[dict[str, Any]]:
        raise ApiError("backend unavailable (HTTP 502)")

    failed = service(None, market, api=broken).load()
    assert failed.api_error == "backend unavailable (HTTP 502)"
    assert [r.symbol for r in failed.alerts] == ["AAA"]


def test_redis_outage_is_a_readable_error(private_redis: EmbeddedRedis) -> None:
    market = Market(AAA="HIGH")
    console = service(private_redis.url, market)
    console.load()
    private_redis.kill()

    with pytest.raises(RedisUnavailable) as caught:
        console.load()

    assert isinstance(caught.value, AmcTuiError)
    assert "unreachable" in caught.value.message


def test_short_data_failure_keeps_alerts_untouched(redis_url: str) -> None:
    market = Market(AAA="HIGH")
    service(redis_url, market).load()

    def limited(symbols: Any = None) -> pd.DataFrame:
        raise ShortDataRateLimited("short interest: Polygon rate limit", 60.0)

    broken = SqueezeService(
        redis_url, FrameShortData(limited), market.bars, FrozenClock(T0 + 60), "live"
    )
    with pytest.raises(ShortDataRateLimited):
        broken.load()

    assert [r.symbol for r in service(redis_url, market).load().alerts] == ["AAA"]
    broken.close()


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("15m", 900), ("1h", 3600), ("1d", 86400), ("90s", 90), ("1h30m", 5400)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "15", "soon", "0m", "5x", "1h later"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)
