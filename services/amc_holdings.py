"""Read-only portfolio source over the AMC API's `/portfolio/holdings`.

Blocking: a synchronous httpx client, called from thread workers. The route
answers HTTP 200 even when it failed (`success: false`) and, when Alpaca is
unreachable behind it, 200 with no positions, so an empty list here is
ambiguous. It places no orders; the order methods raise `BrokerReadOnly`.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

from services.broker import (
    AccountInfo,
    BrokerMode,
    BrokerReadOnly,
    OrderInfo,
    OrderResult,
    PositionInfo,
)
from services.errors import ApiError
from services.orders import OrderIntent
from services.settings import redact_url

log = logging.getLogger(__name__)

HOLDINGS_PATH = "/portfolio/holdings"
READ_ONLY = "the AMC API portfolio source is read-only; trade through Alpaca"


def _number(raw: dict[str, Any], field: str) -> float | None:
    value = raw.get(field)
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        log.warning("holdings field %s is not a number: %.40r", field, value)
        return None


def _optional_text(raw: dict[str, Any], field: str) -> str | None:
    value = raw.get(field)
    return None if value is None else str(value)


def parse_holding(raw: dict[str, Any]) -> PositionInfo:
    """Turn one AMC holding into a position.

    `unrealized_pl_pct` is already percent on this route (Alpaca's own plpc
    is a fraction), so it is not scaled.
    """
    flags = [
        *(raw.get("data_quality_flags") or []),
        *(raw.get("price_quality_flags") or []),
    ]
    return PositionInfo(
        symbol=str(raw.get("symbol") or "—"),
        qty=_number(raw, "qty"),
        avg_entry=_number(raw, "avg_entry_price"),
        current_price=_number(raw, "last_price"),
        market_value=_number(raw, "market_value"),
        cost_basis=_number(raw, "cost_basis"),
        unrealized_pl=_number(raw, "unrealized_pl"),
        unrealized_pl_pct=_number(raw, "unrealized_pl_pct"),
        thesis=_optional_text(raw, "thesis"),
        suggestion=_optional_text(raw, "suggestion"),
        confidence=_number(raw, "confidence"),
        flags=tuple(str(f) for f in flags),
    )


class AmcApiHoldings:
    """Positions with the AMC thesis fields, read from `/portfolio/holdings`.

    Args:
        base_url: The AMC API, e.g. "https://amc-backend.example".
        timeout_s: Connect and read timeout.
    """

    mode: BrokerMode = "amc"
    empty_is_ambiguous = True

    def __init__(self, base_url: str, timeout_s: float = 5.0) -> None:
        self.endpoint = redact_url(base_url.rstrip("/")) + HOLDINGS_PATH
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"), timeout=timeout_s, follow_redirects=True
        )

    def close(self) -> None:
        """Close the HTTP client."""
        self._client.close()

    def _fetch(self) -> dict[str, Any]:
        try:
            response = self._client.get(HOLDINGS_PATH)
        except httpx.TimeoutException:
            raise ApiError(f"{self.endpoint} did not answer in time") from None
        except httpx.HTTPError as exc:
            raise ApiError(
                f"cannot reach {self.endpoint}: {type(exc).__name__}"
            ) from None
        if response.status_code != 200:
            raise ApiError(
                f"{self.endpoint} answered {response.status_code}: "
                f"{_snippet(response.content)}",
                status=response.status_code,
            )
        return _envelope(response, self.endpoint)

    def account(self) -> AccountInfo:
        """The AMC API reports no account totals; every field is unknown."""
        return AccountInfo(status="not reported by the AMC API")

    def positions(self) -> list[PositionInfo]:
        """Return the holdings.

        Raises:
            ApiError: HTTP error, unreadable body, or `success: false`.
        """
        data = self._fetch().get("data")
        positions = data.get("positions") if isinstance(data, dict) else None
        if not isinstance(positions, list):
            raise ApiError(f"{self.endpoint}: the reply has no data.positions list")
        return [parse_holding(p) for p in positions if isinstance(p, dict)]

    def open_orders(self) -> list[OrderInfo]:
        """The AMC API lists no orders."""
        return []

    def submit(self, intent: OrderIntent) -> OrderResult:
        """Refuse: this source is read-only."""
        raise BrokerReadOnly(READ_ONLY)

    def find_by_client_id(self, client_order_id: str) -> OrderInfo | None:
        """Refuse: this source is read-only."""
        raise BrokerReadOnly(READ_ONLY)

    def get_order(self, order_id: str) -> OrderInfo:
        """Refuse: this source is read-only."""
        raise BrokerReadOnly(READ_ONLY)

    def cancel(self, order_id: str) -> None:
        """Refuse: this source is read-only."""
        raise BrokerReadOnly(READ_ONLY)

    def close_position(self, symbol: str) -> OrderInfo:
        """Refuse: this source is read-only."""
        raise BrokerReadOnly(READ_ONLY)


def _snippet(body: bytes) -> str:
    text = body[:120].decode("utf-8", errors="replace")
    return " ".join(text.split()) or "(empty body)"


def _envelope(response: httpx.Response, endpoint: str) -> dict[str, Any]:
    """Decode the JSON envelope and raise on `success: false`."""
    try:
        body = response.json()
    except ValueError:
        raise ApiError(
            f"{endpoint}: malformed data ({_snippet(response.content)})"
        ) from None
    if not isinstance(body, dict):
        raise ApiError(f"{endpoint}: expected a JSON object")
    if body.get("success") is not True:
        error = body.get("error")
        if isinstance(error, dict):
            error = error.get("message") or error
        raise ApiError(f"holdings failed at the AMC API: {error or 'no reason given'}")
    return body
