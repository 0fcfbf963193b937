"""Serve a demo market through a LocalServer in Polygon's documented shapes.

Grouped daily aggregates per date, reference tickers in pages linked by
`next_url`, and the all-tickers snapshot: enough for a full discovery run of
the real Polygon adapter against 127.0.0.1 (tests and the benchmark).
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

import pandas as pd

from services.demo_market import DemoMarket
from tests.support.http_server import LocalServer, Reply, Request

GROUPED = r"/v2/aggs/grouped/locale/us/market/stocks/(\d{4}-\d\d-\d\d)"
TICKERS = r"/v3/reference/tickers"
SNAPSHOT = r"/v2/snapshot/locale/us/markets/stocks/tickers"


@lru_cache(maxsize=4)
def grouped_pages(market: DemoMarket) -> dict[str, bytes]:
    """Return the grouped-aggregates body of every trading day, by ISO date.

    Cached per market object: building the bodies costs more than serving them.
    """
    bars = market.daily_bars(len(market.dates))
    pages = {}
    for day, frame in bars.groupby(bars["date"].dt.date):
        rows = [
            {"T": s, "o": o, "h": h, "l": lo, "c": c, "v": v, "vw": c, "n": 1}
            for s, o, h, lo, c, v in zip(
                frame["symbol"], frame["open"], frame["high"], frame["low"],
                frame["close"], frame["volume"], strict=True,
            )
        ]  # fmt: skip
        body = {"status": "OK", "adjusted": True, "queryCount": len(rows),
                "resultsCount": len(rows), "results": rows}  # fmt: skip
        pages[day.isoformat()] = json.dumps(body).encode()
    return pages


def ticker_pages(market: DemoMarket, server_url: str, per_page: int) -> list[bytes]:
    """Return the reference listing split into pages linked by `next_url`."""
    ref = market.reference()
    listing = zip(ref.index, ref["name"], ref["type"], strict=True)
    rows = [{"ticker": s, "name": n, "type": t, "market": "stocks", "active": True}
            for s, n, t in listing]  # fmt: skip
    chunks = [rows[i : i + per_page] for i in range(0, len(rows), per_page)]
    pages = []
    for index, chunk in enumerate(chunks):
        body: dict[str, Any] = {"status": "OK", "count": len(chunk), "results": chunk}
        if index + 1 < len(chunks):
            body["next_url"] = f"{server_url}{TICKERS}?cursor=page{index + 1}"
        pages.append(json.dumps(body).encode())
    return pages


def snapshot_page(market: DemoMarket) -> bytes:
    """Return the all-tickers snapshot from the last bars."""
    bars = market.daily_bars(2)
    last = bars.groupby("symbol").tail(1)
    tickers = [
        {"ticker": s, "day": {"c": c, "v": v}, "lastTrade": {"p": c}, "prevDay": {}}
        for s, c, v in zip(last["symbol"], last["close"], last["volume"], strict=True)
    ]
    return json.dumps(
        {"status": "OK", "count": len(tickers), "tickers": tickers}
    ).encode()


def serve_market(
    server: LocalServer,
    market: DemoMarket,
    per_page: int = 1000,
    snapshot: Reply | None = None,
) -> None:
    """Register the three Polygon routes for `market` on `server`."""
    days = grouped_pages(market)
    tickers = ticker_pages(market, server.url, per_page)

    def grouped(request: Request) -> Reply:
        day = request.path.rsplit("/", 1)[-1]
        if day not in days:
            return Reply(body={"status": "OK", "queryCount": 0, "resultsCount": 0})
        return Reply(body=days[day])

    def listing(request: Request) -> Reply:
        cursor = request.query.get("cursor", ["page0"])[0]
        return Reply(body=tickers[int(cursor.removeprefix("page"))])

    server.route("GET", GROUPED, grouped)
    server.route("GET", TICKERS, listing)
    server.route("GET", SNAPSHOT, snapshot or Reply(body=snapshot_page(market)))


def trading_dates(market: DemoMarket) -> list[str]:
    """Return the market's trading days as ISO strings."""
    return [pd.Timestamp(d).date().isoformat() for d in market.dates]
