"""Alpaca trading API bodies in their documented shapes, for the local test server.

Numbers are strings, as Alpaca sends them; `plpc` and `change_today` are
fractions. Builders take overrides so a test states only what it is about.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from tests.support.http_server import LocalServer, Reply, Request


def account(**over: Any) -> dict[str, Any]:
    """A paper account with $10,000 equity, up $100 on the day."""
    body = {
        "id": str(uuid.UUID(int=1)),
        "account_number": "PA0000TEST",
        "status": "ACTIVE",
        "currency": "USD",
        "cash": "6000.00",
        "buying_power": "12000.00",
        "equity": "10000.00",
        "last_equity": "9900.00",
        "portfolio_value": "10000.00",
        "pattern_day_trader": False,
        "trading_blocked": False,
        "account_blocked": False,
        "multiplier": "2",
        "daytrade_count": 0,
    }
    return {**body, **over}


def position(symbol: str, qty: str = "10", **over: Any) -> dict[str, Any]:
    """A long US-equity position bought at $4.00, now $4.40 (+10 %)."""
    body = {
        "asset_id": str(uuid.uuid5(uuid.NAMESPACE_DNS, symbol)),
        "symbol": symbol,
        "exchange": "NYSE",
        "asset_class": "us_equity",
        "asset_marginable": True,
        "qty": qty,
        "qty_available": qty,
        "avg_entry_price": "4.00",
        "side": "long",
        "market_value": "44.00",
        "cost_basis": "40.00",
        "unrealized_pl": "4.00",
        "unrealized_plpc": "0.1",
        "unrealized_intraday_pl": "1.00",
        "unrealized_intraday_plpc": "0.0233",
        "current_price": "4.40",
        "lastday_price": "4.30",
        "change_today": "0.0233",
    }
    return {**body, **over}


def order(symbol: str = "AMC", **over: Any) -> dict[str, Any]:
    """A new market buy of 5 shares."""
    body = {
        "id": str(uuid.uuid4()),
        "client_order_id": f"cid-{uuid.uuid4().hex[:8]}",
        "created_at": "2026-12-03T15:00:00.000000Z",
        "updated_at": "2026-12-03T15:00:00.000000Z",
        "submitted_at": "2026-12-03T15:00:00.000000Z",
        "filled_at": None,
        "expired_at": None,
        "canceled_at": None,
        "failed_at": None,
        "replaced_at": None,
        "replaced_by": None,
        "replaces": None,
        "asset_id": str(uuid.uuid5(uuid.NAMESPACE_DNS, symbol)),
        "symbol": symbol,
        "asset_class": "us_equity",
        "notional": None,
        "qty": "5",
        "filled_qty": "0",
        "filled_avg_price": None,
        "order_class": "simple",
        "order_type": "market",
        "type": "market",
        "side": "buy",
        "time_in_force": "day",
        "limit_price": None,
        "stop_price": None,
        "status": "new",
        "extended_hours": False,
        "legs": None,
        "trail_percent": None,
        "trail_price": None,
        "hwm": None,
    }
    return {**body, **over}


class OrderDesk:
    """A minimal order book behind `/v2/orders`, keyed by client order id.

    Records every POST, answers by-client-id lookups, and can delay the reply
    to a POST after storing the order (a broker that accepted, then timed out).
    """

    def __init__(self, post_delay_s: float = 0.0) -> None:
        self.post_delay_s = post_delay_s
        self.by_client_id: dict[str, dict[str, Any]] = {}

    def install(self, server: LocalServer) -> None:
        """Register the order routes on `server`."""
        server.route("POST", "/v2/orders", self._post)
        server.route("GET", "/v2/orders:by_client_order_id", self._lookup)
        server.json("GET", "/v2/orders", [])

    def _post(self, request: Request) -> Reply:
        sent = request.json()
        cid = sent["client_order_id"]
        if cid in self.by_client_id:
            return Reply(
                422, {"code": 40010001, "message": "client_order_id must be unique"}
            )
        stored = order(
            sent["symbol"],
            client_order_id=cid,
            qty=sent.get("qty"),
            side=sent["side"],
            status="accepted",
        )
        self.by_client_id[cid] = stored
        return Reply(200, json.dumps(stored), delay_s=self.post_delay_s)

    def _lookup(self, request: Request) -> Reply:
        cid = request.query.get("client_order_id", [""])[0]
        if cid not in self.by_client_id:
            return Reply(404, {"code": 40410000, "message": "order not found"})
        return Reply(200, self.by_client_id[cid])
