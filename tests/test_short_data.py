"""The Polygon short-data adapter, with the real RESTClient against a local server.

Records lacking fields or carrying nulls must become NaN; 403, 429, 5xx,
unreadable pages and silent servers must become readable `ShortDataError`s.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import pytest

from services.clock import FrozenClock
from services.embedded_redis import free_port
from services.errors import PolygonError
from services.short_data import (
    PolygonShortData,
    ShortDataError,
    ShortDataIncomplete,
    ShortDataNotEntitled,
    ShortDataRateLimited,
    load_borrow_csv,
)
from tests.support.http_server import LocalServer, Reply, Request

NOW = 1_780_000_000.0  # 2026-05-28
SI_PATH = "/stocks/v1/short-interest"
SV_PATH = "/stocks/v1/short-volume"
KEY = "test-key-not-secret"

SI_PAGE_1 = [
    {
        "ticker": "AAA",
        "short_interest": 3_000_000,
        "days_to_cover": 4.5,
        "avg_daily_volume": 666_666,
        "settlement_date": "2026-05-15",
    },
    {
        "ticker": "BBB",
        "short_interest": 1_000_000,
        "days_to_cover": None,
        "avg_daily_volume": None,
        "settlement_date": "2026-05-15",
    },
    {"ticker": "CCC", "days_to_cover": 2.0, "settlement_date": "2026-05-15"},
    {"ticker": None, "short_interest": 5, "settlement_date": "2026-05-15"},
]
SI_PAGE_2 = [
    {
        "ticker": "DDD",
        "short_interest": 100,
        "days_to_cover": 1.0,
        "settlement_date": "2026-04-30",
    },
    {
        "ticker": "DDD",
        "short_interest": 200,
        "days_to_cover": "bad",
        "settlement_date": "2026-05-15",
    },
]
DETAILS = {
    "AAA": {
        "ticker": "AAA",
        "name": "Alpha Corp",
        "type": "CS",
        "share_class_shares_outstanding": 10_000_000,
        "weighted_shares_outstanding": 12_000_000,
    },
    "BBB": {
        "ticker": "BBB",
        "name": "Beta Inc",
        "type": "CS",
        "weighted_shares_outstanding": 20_000_000,
    },
    "CCC": {
        "ticker": "CCC",
        "name": "Gamma",
        "type": "CS",
        "share_class_shares_outstanding": None,
        "weighted_shares_outstanding": None,
    },
}


def paged(server: LocalServer, path: str, pages: list[Any]) -> None:
    """Serve `pages` (bodies or Replies) through next_url cursors."""

    def answer(request: Request) -> Reply:
        index = int(request.query.get("cursor", ["0"])[0])
        page = pages[index]
        if isinstance(page, Reply):
            return page
        body: dict[str, Any] = {
            "status": "OK",
            "request_id": f"r{index}",
            "results": page,
        }
        if index + 1 < len(pages):
            body["next_url"] = f"{server.url}{path}?cursor={index + 1}"
        return Reply(200, body)

    server.route("GET", path, answer)


def details(server: LocalServer) -> None:
    def answer(request: Request) -> Reply:
        symbol = request.path.rsplit("/", 1)[-1]
        if symbol not in DETAILS:
            return Reply(
                404,
                {
                    "status": "NOT_FOUND",
                    "request_id": "x",
                    "message": "Ticker not found.",
                },
            )
        return Reply(
            200, {"status": "OK", "request_id": "x", "results": DETAILS[symbol]}
        )

    server.route("GET", r"/v3/reference/tickers/[A-Z]+", answer)


def adapter(server: LocalServer, **kwargs: Any) -> PolygonShortData:
    return PolygonShortData(KEY, FrozenClock(NOW), base_url=server.url, **kwargs)


@pytest.fixture
def polygon(http_server: LocalServer) -> LocalServer:
    paged(http_server, SI_PATH, [SI_PAGE_1, SI_PAGE_2])
    paged(
        http_server,
        SV_PATH,
        [
            [
                {
                    "ticker": "AAA",
                    "date": "2026-05-27",
                    "short_volume": 455,
                    "total_volume": 1000,
                    "short_volume_ratio": 45.5,
                },
                {"ticker": "BBB", "date": "2026-05-27", "short_volume_ratio": None},
            ]
        ],
    )
    details(http_server)
    return http_server


def test_reference_frame_with_missing_fields_and_nulls(
    polygon: LocalServer, tmp_path: Path
) -> None:
    csv = tmp_path / "borrow.csv"
    csv.write_text("symbol,borrow_fee,utilization\nAAA,25%,0.9\nBBB,,abc\nZZZ,1,1\n")
    source = adapter(polygon, borrow_csv=csv)

    frame = source.reference(["AAA", "BBB", "CCC", "DDD", "EEE"])

    aaa, bbb, ccc, ddd = (frame.loc[s] for s in ("AAA", "BBB", "CCC", "DDD"))
    assert (aaa["short_interest"], aaa["days_to_cover"]) == (3e6, 4.5)
    assert (aaa["float_shares"], aaa["float_is_proxy"]) == (10e6, True)
    assert aaa["name"] == "Alpha Corp" and aaa["type"] == "CS"
    assert (aaa["borrow_fee"], aaa["utilization"]) == (0.25, 0.9)
    assert aaa["short_volume_ratio"] == pytest.approx(0.455)
    assert bbb["short_interest"] == 1e6 and math.isnan(bbb["days_to_cover"])
    assert bbb["float_shares"] == 20e6 and bbb["float_is_proxy"]
    assert math.isnan(bbb["borrow_fee"]) and math.isnan(bbb["utilization"])
    assert math.isnan(bbb["short_volume_ratio"])
    assert math.isnan(ccc["short_interest"]) and ccc["days_to_cover"] == 2.0
    assert math.isnan(ccc["float_shares"]) and not ccc["float_is_proxy"]
    assert ddd["short_interest"] == 200 and math.isnan(ddd["days_to_cover"])
    assert math.isnan(ddd["float_shares"])  # unknown ticker: 404
    assert frame.loc["EEE"].drop(["name", "type", "float_is_proxy"]).isna().all()
    assert "ZZZ" not in frame.index

    first = polygon.calls(SI_PATH)[0]
    assert first.query["settlement_date.gte"] == ["2026-04-13"]
    assert first.headers["authorization"] == f"Bearer {KEY}"
    assert len(polygon.calls(SI_PATH)) == 2  # followed next_url


def test_floats_are_cached_and_budgeted(polygon: LocalServer) -> None:
    source = adapter(polygon, max_details=2)

    first = source.reference(["AAA", "BBB", "CCC"])
    second = source.reference(["AAA", "BBB", "CCC"])

    assert math.isnan(first.loc["CCC", "float_shares"])  # over budget: unknown
    assert second.loc["AAA", "float_shares"] == 10e6
    assert len(polygon.calls(r"/v3/reference/tickers/.*")) == 3


def test_rate_limit_is_reported_with_retry_after_and_no_stall(
    http_server: LocalServer,
) -> None:
    http_server.json(
        "GET",
        SI_PATH,
        {"status": "ERROR", "error": "too many"},
        status=429,
        headers={"Retry-After": "60"},
    )
    source = adapter(http_server)

    started = time.monotonic()
    with pytest.raises(ShortDataRateLimited) as caught:
        source.short_interest()

    assert time.monotonic() - started < 2
    assert caught.value.retry_after_s == 60
    assert "retry in 60s" in caught.value.message
    assert len(http_server.calls(SI_PATH)) == 1


def test_plan_without_the_endpoint_is_not_retried(http_server: LocalServer) -> None:
    http_server.json(
        "GET",
        SV_PATH,
        {"status": "NOT_AUTHORIZED", "message": "You are not entitled to this data."},
        status=403,
    )

    with pytest.raises(ShortDataNotEntitled) as caught:
        adapter(http_server).short_volume()

    assert "plan does not include" in caught.value.message
    assert isinstance(caught.value, PolygonError)
    assert len(http_server.calls(SV_PATH)) == 1


def test_server_errors_are_retried_then_reported(http_server: LocalServer) -> None:
    http_server.route("GET", SI_PATH, Reply(503, b""))

    with pytest.raises(ShortDataError) as caught:
        adapter(http_server, retries=2).short_interest()

    assert "HTTP 503" in caught.value.message
    assert len(http_server.calls(SI_PATH)) == 3


@pytest.mark.parametrize(
    ("page_2", "why"),
    [
        (Reply(200, b'{"status":"OK","results":[{"ticker":"X'), "page 2 unreadable"),
        (Reply(200, {"status": "OK", "request_id": "r"}), "page 2 has no results"),
        (Reply(200, b'{"results":[{"ticker":"\xff"}]}'), "UnicodeDecodeError"),
    ],
)
def test_an_unreadable_page_is_incomplete_not_short(
    http_server: LocalServer, page_2: Reply, why: str
) -> None:
    paged(http_server, SI_PATH, [SI_PAGE_1, page_2])

    with pytest.raises(ShortDataIncomplete) as caught:
        adapter(http_server).short_interest()

    assert why in caught.value.message


def test_a_first_page_without_results_is_no_data(http_server: LocalServer) -> None:
    http_server.json("GET", SI_PATH, {"status": "OK", "request_id": "r"})

    assert adapter(http_server).short_interest().empty


def test_a_silent_server_times_out(http_server: LocalServer) -> None:
    http_server.route("GET", SI_PATH, Reply(hang=True))
    source = adapter(http_server, timeout_s=0.3, retries=0)

    started = time.monotonic()
    with pytest.raises(ShortDataError) as caught:
        source.short_interest()

    assert time.monotonic() - started < 3
    assert "unreachable" in caught.value.message


def test_connection_refused_is_unreachable() -> None:
    source = PolygonShortData(
        KEY, FrozenClock(NOW), base_url=f"http://127.0.0.1:{free_port()}", retries=0
    )

    with pytest.raises(ShortDataError) as caught:
        source.short_volume()

    assert "127.0.0.1" in caught.value.message and KEY not in caught.value.message


def test_missing_key_is_a_readable_error() -> None:
    with pytest.raises(ShortDataError) as caught:
        PolygonShortData(None, FrozenClock(NOW))  # type: ignore[arg-type]

    assert "no Polygon API key" in caught.value.message


def test_borrow_csv_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("symbol,fee\nAAA,1\n")

    with pytest.raises(ShortDataError) as missing_file:
        load_borrow_csv(tmp_path / "nope.csv")
    with pytest.raises(ShortDataError) as missing_column:
        load_borrow_csv(bad)

    assert missing_file.value.title == "Borrow CSV"
    assert "utilization" in missing_column.value.message
