"""A full discovery run over the real Polygon adapter against a local server."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import pytest

from services.clock import FrozenClock
from services.demo_market import DemoMarket
from services.discovery import DiscoveryService, run_discovery
from services.discovery_view import RunInfo
from services.market_data import PolygonMarket
from tests.support.http_server import LocalServer, Reply
from tests.support.polygon_server import SNAPSHOT, TICKERS, serve_market

# Thursday 2025-09-11 11:00 New York: market open, last full session 09-10.
OPEN = datetime(2025, 9, 11, 15, 0, tzinfo=UTC).timestamp()
# Wednesday 2025-09-10 19:00 New York: closed, and 09-10 is complete.
EVENING = datetime(2025, 9, 10, 23, 0, tzinfo=UTC).timestamp()
DAYS = 35  # enough for bms (31 bars); each local request costs ~40 ms


@pytest.fixture
def http_server() -> Iterator[LocalServer]:
    """This module's LocalServer, stopped in the background.

    `LocalServer.stop` waits out serve_forever's 0.5 s poll; over many tests
    that wait dominated this module's run time.
    """
    server = LocalServer().start()
    yield server
    threading.Thread(target=server.stop, daemon=True).start()


@pytest.fixture(scope="module")
def demo() -> DemoMarket:
    return DemoMarket(n_symbols=400, as_of=date(2025, 9, 10))


def polygon(server: LocalServer, cache: Path, at: float) -> PolygonMarket:
    return PolygonMarket("test-key", server.url, calls_per_minute=100_000,
                         cache_dir=cache, clock=FrozenClock(at))  # fmt: skip


def test_bars_of_the_demo_market_come_back_unchanged(
    http_server: LocalServer, tmp_path: Path, demo: DemoMarket
) -> None:
    serve_market(http_server, demo)

    bars = polygon(http_server, tmp_path, OPEN).daily_bars(5)
    cached = polygon(http_server, tmp_path, OPEN).daily_bars(5)

    expected = demo.daily_bars(5)
    pd.testing.assert_frame_equal(bars, expected)
    pd.testing.assert_frame_equal(cached, expected)


def test_full_run_matches_the_data_and_stays_within_days_plus_three(
    http_server: LocalServer, tmp_path: Path, demo: DemoMarket
) -> None:
    serve_market(http_server, demo)
    market = polygon(http_server, tmp_path, OPEN)

    result = run_discovery(market, "bms", 50, None, FrozenClock(OPEN), days=DAYS)

    assert market.calls == DAYS + 1 + 1  # days, one ticker page, one snapshot
    assert market.calls <= DAYS + 3
    clock = FrozenClock(OPEN)
    direct = run_discovery(demo, "bms", 50, None, clock, days=DAYS).envelope
    assert result.envelope is not None and direct is not None
    got = [(c["symbol"], c["bms_score"]) for c in result.envelope["candidates"]]
    assert got == [(c["symbol"], c["bms_score"]) for c in direct["candidates"]]
    assert "DEMO" not in result.envelope["engine"]

    rerun = polygon(http_server, tmp_path, OPEN)
    run_discovery(rerun, "bms", 50, None, FrozenClock(OPEN), days=DAYS)
    assert rerun.calls == 1  # bars and tickers cached; only the live snapshot


def test_snapshot_not_in_plan_skips_the_filter_and_the_run_goes_on(
    http_server: LocalServer, tmp_path: Path, demo: DemoMarket
) -> None:
    body = {"status": "NOT_AUTHORIZED", "message": "You are not entitled to this data."}
    denied = Reply(403, body=body)
    serve_market(http_server, demo, snapshot=denied)
    market = polygon(http_server, tmp_path, OPEN)

    result = run_discovery(market, "bms", 20, None, FrozenClock(OPEN), days=DAYS)

    assert result.status == "success"
    assert (
        "snapshot not in your Polygon plan: intraday filter skipped" in result.warnings
    )
    assert len(http_server.calls(SNAPSHOT)) == 1


def test_closed_market_needs_no_snapshot_and_partial_listing_is_flagged(
    http_server: LocalServer, tmp_path: Path, demo: DemoMarket
) -> None:
    serve_market(http_server, demo, per_page=150)
    http_server.route("GET", TICKERS, [
        Reply(body={"status": "OK", "count": 1,
                    "results": [{"ticker": "AAA", "name": "A", "type": "CS"}],
                    "next_url": f"{http_server.url}{TICKERS}?cursor=page1"}),
        Reply(body=b'{"status": "OK", "results": [{"tic'),
    ])  # fmt: skip
    market = polygon(http_server, tmp_path, EVENING)

    result = run_discovery(market, "bms", 20, None, FrozenClock(EVENING), days=DAYS)

    assert not http_server.calls(SNAPSHOT)
    assert market.calls == DAYS + 2
    assert result.envelope is not None
    assert any(w.startswith("reference incomplete: tickers page 2")
               for w in result.envelope["warnings"])  # fmt: skip


class Stop(Exception):
    """Ends a run from inside the back-off, once the test has looked."""


def test_rate_limit_countdown_shows_in_the_candidates_view(
    http_server: LocalServer, tmp_path: Path, demo: DemoMarket
) -> None:
    serve_market(http_server, demo)
    limited = Reply(429, body={"status": "ERROR"}, headers={"Retry-After": "30"})
    http_server.route("GET", r"/v2/aggs/grouped/.*", limited)
    seen: list[RunInfo | None] = []

    def sleep(seconds: float) -> None:
        seen.append(service.load().run)
        raise Stop

    market = PolygonMarket("test-key", http_server.url, calls_per_minute=100_000,
                           clock=FrozenClock(OPEN), sleep=sleep)  # fmt: skip
    service = DiscoveryService(None, market, clock=FrozenClock(OPEN))

    outcome = service.run_in_process()

    run = seen[0]
    assert run is not None and run.stage == "starting"
    assert run.rate_limit is not None
    assert run.rate_limit.startswith("rate-limited, retrying in 30 s (retry 1/3")
    assert "rate-limited, retrying in 30 s" in run.label()
    assert not outcome.ok
