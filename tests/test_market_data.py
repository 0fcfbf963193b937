"""The Polygon adapter: the real polygon-api-client against a local HTTP server.

Covers grouped daily bars and their cache, ticker pages via `next_url`, the
all-tickers snapshot, and the fault cases C13 (truncated, empty, undecodable or
result-less pages) and C14 (429 storms, 403 NOT_AUTHORIZED).
"""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from polygon import RESTClient

from services.clock import FrozenClock
from services.errors import PolygonError
from services.market_data import (
    CallLimiter,
    PolygonMarket,
    PolygonNoData,
    PolygonNotAuthorized,
    PolygonRateLimited,
    trading_days,
)
from tests.support.http_server import LocalServer, Reply

# Saturday 2025-09-13 08:00 New York: the latest complete session is Fri 09-12.
SATURDAY = datetime(2025, 9, 13, 12, 0, tzinfo=UTC).timestamp()
DAYS = trading_days(date(2025, 9, 12), 3)
GROUPED = r"/v2/aggs/grouped/locale/us/market/stocks/(\d{4}-\d\d-\d\d)"
TICKERS = r"/v3/reference/tickers"
SNAPSHOT = r"/v2/snapshot/locale/us/markets/stocks/tickers"


@pytest.fixture
def http_server() -> Iterator[LocalServer]:
    """This module's LocalServer, stopped in the background.

    `LocalServer.stop` waits out serve_forever's 0.5 s poll; over many tests
    that wait dominated this module's run time.
    """
    server = LocalServer().start()
    yield server
    threading.Thread(target=server.stop, daemon=True).start()


class Sleeps:
    """Records waits instead of sleeping, and what the market showed meanwhile."""

    def __init__(self) -> None:
        self.waits: list[float] = []
        self.shown: list[str | None] = []
        self.market: PolygonMarket | None = None

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        if self.market is not None:
            self.shown.append(self.market.rate_limit_message())


def grouped(day: str, symbols: dict[str, float], count: int | None = None) -> dict:
    rows = [
        {"T": s, "o": c * 0.98, "h": c * 1.02, "l": c * 0.97, "c": c, "v": 1e6,
         "vw": c, "t": 1757620800000, "n": 100}
        for s, c in symbols.items()
    ]  # fmt: skip
    return {
        "status": "OK",
        "queryCount": len(rows),
        "resultsCount": len(rows) if count is None else count,
        "adjusted": True,
        "results": rows,
        "request_id": f"req-{day}",
    }


def serve_days(server: LocalServer, overrides: dict[int, Reply] | None = None) -> None:
    """Serve the three DAYS; `overrides` replaces the reply of day i."""
    overrides = overrides or {}

    def answer(request: Any) -> Reply:
        day = request.path.rsplit("/", 1)[-1]
        index = [d.isoformat() for d in DAYS].index(day)
        if index in overrides:
            return overrides[index]
        return Reply(body=grouped(day, {"AAA": 10.0 + index, "BBB": 50.0 + index}))

    server.route("GET", GROUPED, answer)


def make_market(
    server: LocalServer, tmp_path: Path | None = None, **kw: Any
) -> tuple[PolygonMarket, Sleeps]:
    sleeps = Sleeps()
    market = PolygonMarket(
        "test-key",
        base_url=server.url,
        calls_per_minute=6000,
        cache_dir=tmp_path,
        clock=FrozenClock(SATURDAY),
        sleep=sleeps,
        **kw,
    )
    sleeps.market = market
    return market, sleeps


def test_one_grouped_call_per_day_builds_the_bars_frame(
    http_server: LocalServer,
) -> None:
    serve_days(http_server)
    market, _ = make_market(http_server)

    bars = market.daily_bars(3)

    assert market.calls == 3
    assert len(http_server.calls(GROUPED)) == 3
    assert list(bars["symbol"]) == ["AAA"] * 3 + ["BBB"] * 3
    assert list(bars["date"].dt.date.unique()) == DAYS
    assert bars["date"].dtype == "datetime64[ns]"
    assert bars.loc[2, "close"] == 12.0
    request = http_server.calls(GROUPED)[0]
    assert request.headers["authorization"].startswith("Bearer ")
    assert request.query["adjusted"] == ["true"]
    assert market.issues == ()
    assert market.last_price("bbb") == 52.0


def test_rerun_fetches_only_days_missing_from_the_cache(
    http_server: LocalServer, tmp_path: Path
) -> None:
    serve_days(http_server)
    first, _ = make_market(http_server, tmp_path)
    before = first.daily_bars(2)

    again, _ = make_market(http_server, tmp_path)
    bars = again.daily_bars(3)

    assert first.calls == 2
    assert again.calls == 1  # only the oldest day was missing
    assert http_server.calls(GROUPED)[-1].path.endswith(DAYS[0].isoformat())
    pd.testing.assert_frame_equal(
        bars[bars["date"] > pd.Timestamp(DAYS[0])].reset_index(drop=True), before
    )


BAD_PAGES = {
    "truncated": (Reply(body=b'{"status":"OK","resultsCount":2,"results":[{"T":"A'),
                  "truncated or malformed JSON"),
    "empty": (Reply(body=b""), "empty body"),
    "no results": (Reply(body={"status": "OK", "resultsCount": 2}),
                   "page without results"),
    "http 400": (Reply(400, body={"status": "ERROR", "error": "bad date"}), "HTTP 400"),
    "invalid utf-8": (Reply(body=b'{"status":"OK","resultsCount":1,"results":'
                               b'[{"T":"AB\xffC","c":1.0}]}'), "invalid UTF-8 at byte"),
    "short count": (Reply(body=grouped("x", {"AAA": 1.0}, count=3)), "1 of 3 rows"),
}  # fmt: skip


@pytest.mark.parametrize("case", BAD_PAGES, ids=list(BAD_PAGES))
def test_a_bad_day_is_an_issue_never_no_data_and_never_cached(
    http_server: LocalServer, tmp_path: Path, case: str
) -> None:
    reply, expected = BAD_PAGES[case]
    serve_days(http_server, {1: reply})
    market, _ = make_market(http_server, tmp_path)

    bars = market.daily_bars(3)

    assert set(bars["date"].dt.date) == {DAYS[0], DAYS[2]}
    assert len(market.issues) == 1
    assert DAYS[1].isoformat() in market.issues[0]
    assert expected in market.issues[0]
    serve_days(http_server)  # the server recovers: the gap is fetched again
    healed, _ = make_market(http_server, tmp_path)
    assert set(healed.daily_bars(3)["date"].dt.date) == set(DAYS)
    assert healed.calls == 1


def test_the_sdk_alone_would_swallow_invalid_utf8_as_no_data(
    http_server: LocalServer,
) -> None:
    """Why the adapter decodes pages itself (C13: verified on the pinned client)."""
    reply, _ = BAD_PAGES["invalid utf-8"]
    http_server.route("GET", GROUPED, reply)
    client = RESTClient("test-key", base=http_server.url, retries=0)

    assert client.get_grouped_daily_aggs("2025-09-12") == []


def test_unreadable_latest_session_fails_the_fetch(http_server: LocalServer) -> None:
    serve_days(http_server, {2: Reply(body=b"{")})
    market, _ = make_market(http_server)

    with pytest.raises(PolygonError, match="latest session unreadable"):
        market.daily_bars(3)


def test_holiday_range_reads_no_bars_for_this_range(
    http_server: LocalServer, tmp_path: Path
) -> None:
    empty = {"status": "OK", "queryCount": 0, "resultsCount": 0, "adjusted": True}
    http_server.route("GET", GROUPED, Reply(body=empty))
    market, _ = make_market(http_server, tmp_path)

    with pytest.raises(PolygonNoData, match="no bars for this range"):
        market.daily_bars(3)
    assert market.issues == ()


def test_gzip_body_without_header_is_decoded(http_server: LocalServer) -> None:
    serve_days(
        http_server,
        {2: Reply(body=gzip.compress(json.dumps(grouped("d", {"ZZ": 3.0})).encode()))},
    )
    market, _ = make_market(http_server)

    assert "ZZ" in set(market.daily_bars(3)["symbol"])


def test_429_backs_off_as_retry_after_says_with_a_visible_countdown(
    http_server: LocalServer,
) -> None:
    limited = Reply(429, body={"status": "ERROR"}, headers={"Retry-After": "42"})
    serve_days(http_server)
    http_server.route("GET", GROUPED, [limited, Reply(body=grouped("d", {"AAA": 1.0}))])
    market, sleeps = make_market(http_server)

    frame = market.fetch_day(DAYS[2])

    assert list(frame["symbol"]) == ["AAA"]
    assert sleeps.waits == [42.0]
    assert sleeps.shown[0] is not None
    assert sleeps.shown[0].startswith("rate-limited, retrying in 42 s (retry 1/3")
    assert market.rate_limit is None
    assert market.calls == 2


def test_429_storm_gives_up_after_capped_retries_keeping_cached_days(
    http_server: LocalServer, tmp_path: Path
) -> None:
    limited = Reply(429, body={"status": "ERROR"}, headers={"Retry-After": "600"})
    serve_days(http_server, {2: limited})
    market, sleeps = make_market(http_server, tmp_path)

    with pytest.raises(PolygonRateLimited, match="after 3 retries"):
        market.daily_bars(3)

    assert sleeps.waits == [120.0, 120.0, 120.0]  # Retry-After capped
    assert market.calls == 2 + 4
    assert market.cache is not None
    assert market.cache.days() == DAYS[:2]


def test_ticker_pages_follow_next_url(http_server: LocalServer) -> None:
    def page(request: Any) -> Reply:
        cursor = request.query.get("cursor", ["p1"])[0]
        rows = {"p1": [("AAA", "CS"), ("SPY", "ETF")], "p2": [("CCC", "CS")]}[cursor]
        body: dict[str, Any] = {
            "status": "OK",
            "count": len(rows),
            "results": [{"ticker": t, "name": f"{t} Inc", "type": k} for t, k in rows],
        }
        if cursor == "p1":
            body["next_url"] = f"{http_server.url}{TICKERS}?cursor=p2"
        return Reply(body=body)

    http_server.route("GET", TICKERS, page)
    market, _ = make_market(http_server)

    ref = market.reference()

    assert list(ref.index) == ["AAA", "SPY", "CCC"]
    assert ref.loc["SPY", "type"] == "ETF"
    assert ref["short_interest"].isna().all()
    assert market.calls == 2
    assert market.issues == ()
    assert http_server.calls(TICKERS)[0].query["limit"] == ["1000"]


@pytest.mark.parametrize(
    "bad, expected",
    [
        (Reply(body=b'{"status":"OK","results":[{"tick'), "truncated"),
        (Reply(body=b""), "empty body"),
        (Reply(body={"status": "OK"}), "without results"),
        (Reply(400, body={"status": "ERROR", "error": "bad cursor"}), "HTTP 400"),
    ],
    ids=["truncated", "empty", "no-results", "http-400"],
)
def test_bad_second_ticker_page_leaves_page_one_marked_partial(
    http_server: LocalServer, tmp_path: Path, bad: Reply, expected: str
) -> None:
    first = {
        "status": "OK",
        "count": 1,
        "results": [{"ticker": "AAA", "name": "A", "type": "CS"}],
        "next_url": f"{http_server.url}{TICKERS}?cursor=p2",
    }
    http_server.route("GET", TICKERS, [Reply(body=first), bad])
    market, _ = make_market(http_server, tmp_path)

    ref = market.reference()

    assert list(ref.index) == ["AAA"]
    assert len(market.issues) == 1
    assert market.issues[0].startswith("reference incomplete: tickers page 2")
    assert expected in market.issues[0]
    assert not (tmp_path / "reference.csv").exists()


def test_c14_page_one_then_429_forever_stays_partial(
    http_server: LocalServer,
) -> None:
    first = {
        "status": "OK",
        "count": 1,
        "results": [{"ticker": "AAA", "name": "A", "type": "CS"}],
        "next_url": f"{http_server.url}{TICKERS}?cursor=p2",
    }
    limited = Reply(429, body={"status": "ERROR"}, headers={"Retry-After": "60"})
    http_server.route("GET", TICKERS, [Reply(body=first), limited])
    market, sleeps = make_market(http_server)

    ref = market.reference()

    assert list(ref.index) == ["AAA"]
    assert sleeps.waits == [60.0, 60.0, 60.0]
    assert [s and s.split(" (")[0] for s in sleeps.shown] == [
        "rate-limited, retrying in 60 s"
    ] * 3
    assert "still rate-limited after 3 retries" in market.issues[0]
    assert market.calls == 1 + 4


def test_c14_snapshot_not_authorized_is_not_retried(http_server: LocalServer) -> None:
    body = {
        "status": "NOT_AUTHORIZED",
        "request_id": "r1",
        "message": "You are not entitled to this data. Please upgrade your plan.",
    }
    http_server.json("GET", SNAPSHOT, body, status=403)
    market, sleeps = make_market(http_server)

    with pytest.raises(PolygonNotAuthorized, match="plan does not include") as err:
        market.intraday()

    assert err.value.title == "Not in your plan"
    assert len(http_server.calls(SNAPSHOT)) == 1
    assert sleeps.waits == []


def test_snapshot_prices_fall_back_in_order(http_server: LocalServer) -> None:
    tickers = [
        {"ticker": "AAA", "lastTrade": {"p": 5.5}, "day": {"c": 5.0, "v": 900},
         "prevDay": {"c": 4.0, "v": 100}},
        {"ticker": "BBB", "lastTrade": {}, "day": {"c": 0, "v": 0},
         "prevDay": {"c": 7.0, "v": 300}},
        {"ticker": "CCC"},
    ]  # fmt: skip
    http_server.json("GET", SNAPSHOT, {"status": "OK", "count": 3, "tickers": tickers})
    market, _ = make_market(http_server)

    snap = market.intraday()

    assert snap.loc["AAA"].tolist() == [5.5, 900.0]
    assert snap.loc["BBB"].tolist() == [7.0, 300.0]
    assert snap.loc["CCC"].isna().all()


def test_error_body_with_invalid_utf8_still_reports_the_status(
    http_server: LocalServer,
) -> None:
    http_server.route("GET", SNAPSHOT, Reply(502, body=b"<html>\xff bad gateway"))
    market, _ = make_market(http_server)

    with pytest.raises(PolygonError, match="HTTP 502"):
        market.intraday()


def test_unauthorized_key_names_the_problem_without_the_key(
    http_server: LocalServer,
) -> None:
    http_server.json("GET", GROUPED, {"status": "ERROR", "error": "Unknown API Key"},
                     status=401)  # fmt: skip
    market, _ = make_market(http_server)

    with pytest.raises(PolygonError) as err:
        market.daily_bars(3)

    assert "rejected the API key" in str(err.value)
    assert "test-key" not in str(err.value)
    assert market.calls == 1


def test_unreachable_server_is_a_polygon_error() -> None:
    market = PolygonMarket(
        "k", base_url="http://127.0.0.1:9", clock=FrozenClock(SATURDAY), timeout_s=1
    )

    with pytest.raises(PolygonError, match="unreachable"):
        market.fetch_day(DAYS[0])


def test_last_price_asks_prev_when_nothing_is_loaded(http_server: LocalServer) -> None:
    prev = {"status": "OK", "resultsCount": 1, "results": [{"T": "AAA", "c": 3.25}]}
    http_server.json("GET", r"/v2/aggs/ticker/AAA/prev", prev)
    market, _ = make_market(http_server)

    assert market.last_price("AAA") == 3.25
    assert market.last_price("ZZZ") is None  # 404 from the server


def test_limiter_holds_calls_to_the_plan_allowance() -> None:
    now = [0.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    limiter = CallLimiter(2, sleep=sleep, monotonic=lambda: now[0])
    for _ in range(3):
        limiter.acquire()
        now[0] += 1.0

    assert waits == [58.0]


def test_session_day_waits_for_the_close() -> None:
    friday_afternoon = datetime(2025, 9, 12, 19, 0, tzinfo=UTC).timestamp()
    friday_evening = datetime(2025, 9, 12, 23, 0, tzinfo=UTC).timestamp()

    early = PolygonMarket("k", clock=FrozenClock(friday_afternoon))
    late = PolygonMarket("k", clock=FrozenClock(friday_evening))

    assert early.session_day() == date(2025, 9, 11)
    assert late.session_day() == date(2025, 9, 12)
