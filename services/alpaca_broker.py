"""Alpaca trading adapter over the real alpaca-py `TradingClient`.

Blocking: call from thread workers. The client runs in raw-data mode and this
module parses replies leniently, so a value the SDK does not know (an order
status, an empty order class, a new asset class, a null price) shows as
received instead of failing a whole list. Library exceptions become
`services.broker` errors here; key material never appears in a message or log.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable
from enum import Enum
from typing import Any, TypeVar

import requests
from alpaca.common.enums import BaseURL
from alpaca.common.exceptions import APIError
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import (
    AssetClass,
    AssetExchange,
    OrderClass,
    OrderSide,
    OrderStatus,
    OrderType,
    PositionSide,
    QueryOrderStatus,
    TimeInForce,
)
from alpaca.trading.requests import (
    GetOrdersRequest,
    LimitOrderRequest,
    MarketOrderRequest,
    OrderRequest,
    StopLossRequest,
    TakeProfitRequest,
)
from pydantic import SecretStr, ValidationError

from services.broker import (
    MISSING,
    AccountInfo,
    BrokerAuthError,
    BrokerMode,
    BrokerNotFound,
    BrokerRateLimited,
    BrokerRejected,
    BrokerReplyUnreadable,
    BrokerTimeout,
    BrokerUnreachable,
    OrderInfo,
    OrderResult,
    PositionInfo,
)
from services.errors import BrokerError, ConfigError
from services.orders import OrderIntent
from services.settings import redact_url

log = logging.getLogger(__name__)

T = TypeVar("T")

KNOWN_VALUES: dict[str, frozenset[str]] = {
    "status": frozenset(s.value for s in OrderStatus),
    "order_class": frozenset(s.value for s in OrderClass),
    "type": frozenset(s.value for s in OrderType),
    "side": frozenset(s.value for s in OrderSide) | {s.value for s in PositionSide},
    "time_in_force": frozenset(s.value for s in TimeInForce),
    "asset_class": frozenset(s.value for s in AssetClass),
    "exchange": frozenset(s.value for s in AssetExchange),
}


class _TimeoutSession(requests.Session):
    """A requests session with a default timeout.

    alpaca-py sends every request without a timeout, so a silent server would
    block a worker thread forever.
    """

    def __init__(self, timeout_s: float) -> None:
        super().__init__()
        self.timeout_s = timeout_s

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout_s)
        return super().request(*args, **kwargs)


class LenientParser:
    """Turns raw Alpaca JSON into broker records without ever rejecting a value.

    Unknown enum values are kept verbatim with a "?" prefix and logged once per
    field and value; numbers that are null or unreadable become None.
    """

    def __init__(self) -> None:
        self._seen: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def _note_once(self, field: str, value: str) -> None:
        with self._lock:
            if (field, value) in self._seen:
                return
            self._seen.add((field, value))
        log.warning(
            "Alpaca sent an unknown %s value %r; shown as received", field, value
        )

    def enum(self, raw: dict[str, Any], field: str) -> str:
        """Return a known value as is, an unknown one as "?value", empty as "—"."""
        value = raw.get(field)
        if isinstance(value, Enum):
            value = value.value
        if value is None or value == "":
            return MISSING
        text = str(value)
        if text in KNOWN_VALUES.get(field, frozenset({text})):
            return text
        self._note_once(field, text)
        return f"?{text}"

    def number(
        self, raw: dict[str, Any], field: str, scale: float = 1.0
    ) -> float | None:
        """Return a float (times `scale`), or None when null or unreadable."""
        value = raw.get(field)
        if value is None or value == "":
            return None
        try:
            return float(value) * scale
        except (TypeError, ValueError):
            self._note_once(field, str(value))
            return None

    def text(self, raw: dict[str, Any], field: str) -> str:
        """Return a string field, "—" when null or empty."""
        value = raw.get(field)
        return MISSING if value is None or value == "" else str(value)

    def account(self, raw: Any) -> AccountInfo:
        """Parse `/v2/account`."""
        data = _require_dict(raw, "account")
        return AccountInfo(
            equity=self.number(data, "equity"),
            cash=self.number(data, "cash"),
            buying_power=self.number(data, "buying_power"),
            last_equity=self.number(data, "last_equity"),
            status=self.text(data, "status"),
            currency=self.text(data, "currency"),
        )

    def position(self, data: dict[str, Any]) -> PositionInfo:
        """Parse one element of `/v2/positions` (Alpaca's plpc fields are fractions)."""
        return PositionInfo(
            symbol=self.text(data, "symbol"),
            qty=self.number(data, "qty"),
            avg_entry=self.number(data, "avg_entry_price"),
            current_price=self.number(data, "current_price"),
            market_value=self.number(data, "market_value"),
            cost_basis=self.number(data, "cost_basis"),
            unrealized_pl=self.number(data, "unrealized_pl"),
            unrealized_pl_pct=self.number(data, "unrealized_plpc", 100.0),
            change_today_pct=self.number(data, "change_today", 100.0),
            day_pl=self.number(data, "unrealized_intraday_pl"),
            asset_class=self.enum(data, "asset_class"),
            exchange=self.enum(data, "exchange"),
        )

    def order(self, raw: Any) -> OrderInfo:
        """Parse one order, its bracket legs included."""
        data = _require_dict(raw, "order")
        if not data.get("id"):
            raise BrokerReplyUnreadable("the order in the broker's reply has no id")
        legs = data.get("legs") or []
        return OrderInfo(
            id=str(data["id"]),
            client_order_id=self.text(data, "client_order_id"),
            symbol=self.text(data, "symbol"),
            side=self.enum(data, "side"),
            type=self.enum(data, "type" if "type" in data else "order_type"),
            status=self.enum(data, "status"),
            order_class=self.enum(data, "order_class"),
            qty=self.number(data, "qty"),
            notional=self.number(data, "notional"),
            filled_qty=self.number(data, "filled_qty"),
            filled_avg_price=self.number(data, "filled_avg_price"),
            limit_price=self.number(data, "limit_price"),
            stop_price=self.number(data, "stop_price"),
            time_in_force=self.enum(data, "time_in_force"),
            submitted_at=self.text(data, "submitted_at"),
            legs=tuple(self.order(leg) for leg in _dicts(legs, "order leg")),
        )

    def positions(self, raw: Any) -> list[PositionInfo]:
        """Parse `/v2/positions`, skipping elements that are not objects."""
        return [self.position(item) for item in _dicts(_require_list(raw), "position")]

    def orders(self, raw: Any) -> list[OrderInfo]:
        """Parse `/v2/orders`, skipping elements that are not objects."""
        return [self.order(item) for item in _dicts(_require_list(raw), "order")]


def _require_dict(raw: Any, what: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise BrokerReplyUnreadable(
            f"expected an {what} object, got {type(raw).__name__}"
        )
    return raw


def _require_list(raw: Any) -> list[Any]:
    if not isinstance(raw, list):
        raise BrokerReplyUnreadable(f"expected a list, got {type(raw).__name__}")
    return raw


def _dicts(items: Iterable[Any], what: str) -> Iterable[dict[str, Any]]:
    for item in items:
        if isinstance(item, dict):
            yield item
        else:
            log.warning("skipping a %s that is not an object: %.80r", what, item)


def _error_text(body: str) -> str:
    """Return the broker's error message from a body, short and single-line."""
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    message = data.get("message") if isinstance(data, dict) else None
    text = str(message) if message else body.strip() or "(empty body)"
    return " ".join(text.split())[:200]


def _key_hint(key_id: str, paper: bool) -> str:
    """Say when the key ID's well-known prefix suggests the other environment."""
    if paper and key_id.startswith("AK"):
        return " The key ID looks like a live key, but this is the PAPER endpoint."
    if not paper and key_id.startswith("PK"):
        return " The key ID looks like a paper key, but this is the LIVE endpoint."
    return ""


def _check_environment(base_url: str, paper: bool) -> None:
    """Refuse a base URL of the other environment: paper mode must never trade live.

    Raises:
        ConfigError: e.g. ALPACA_BASE_URL is the live host while ALPACA_PAPER
            is true (the AMC backend's own setting, easily reused).
    """
    host = base_url.partition("://")[2].partition("/")[0].rpartition("@")[2].lower()
    live_host = BaseURL.TRADING_LIVE.value.partition("://")[2].rstrip("/")
    paper_host = BaseURL.TRADING_PAPER.value.partition("://")[2].rstrip("/")
    if paper and host == live_host:
        raise ConfigError(
            f"ALPACA_BASE_URL is the LIVE endpoint ({live_host}) but ALPACA_PAPER "
            "is true; the console will not trade live from paper mode"
        )
    if not paper and host == paper_host:
        raise ConfigError(
            f"ALPACA_BASE_URL is the PAPER endpoint ({paper_host}) but ALPACA_PAPER "
            "is false; set ALPACA_PAPER=true"
        )


class AlpacaBroker:
    """Alpaca account, positions and orders through alpaca-py.

    Args:
        api_key: Alpaca key ID.
        secret_key: Alpaca secret key.
        paper: True for the paper endpoint, False for live. Fixed for the
            broker's lifetime: it never switches environment by itself.
        url_override: Another base URL (a proxy, or a local test server).
        timeout_s: Connect and read timeout of every request.
    """

    empty_is_ambiguous = False

    def __init__(
        self,
        api_key: str | SecretStr,
        secret_key: str | SecretStr,
        paper: bool = True,
        url_override: str | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        key = api_key.get_secret_value() if isinstance(api_key, SecretStr) else api_key
        secret = (
            secret_key.get_secret_value()
            if isinstance(secret_key, SecretStr)
            else secret_key
        )
        self.mode: BrokerMode = "paper" if paper else "live"
        default = BaseURL.TRADING_PAPER if paper else BaseURL.TRADING_LIVE
        base_url = (url_override or default.value).rstrip("/")
        _check_environment(base_url, paper)
        self.endpoint = redact_url(base_url)
        self._hint = _key_hint(key, paper)
        self._parse = LenientParser()
        self._client = TradingClient(
            key, secret, paper=paper, raw_data=True, url_override=base_url
        )
        self._client._session = _TimeoutSession(timeout_s)
        # requests sessions are not documented as thread-safe, and the pane's
        # refresh and an order action run in different threads.
        self._lock = threading.Lock()
        # The SDK sleeps and resends on 429; a resent order must never happen
        # behind the user's back, and reads are retried by the next refresh.
        self._client._retry = 0

    @property
    def environment(self) -> str:
        """ "PAPER" or "LIVE", as the banner and error messages say it."""
        return self.mode.upper()

    def _call(self, action: str, fn: Callable[[], T]) -> T:
        """Run one SDK call, translating its exceptions into broker errors."""
        try:
            with self._lock:
                return fn()
        except APIError as exc:
            raise self._api_error(action, exc) from None
        except (requests.ReadTimeout, requests.exceptions.ChunkedEncodingError):
            raise BrokerTimeout(
                f"{action}: no complete answer from {self.endpoint} in time; "
                "the request may have been applied"
            ) from None
        except json.JSONDecodeError:
            raise BrokerReplyUnreadable(
                f"{action}: {self.endpoint} answered with a body that is not JSON"
            ) from None
        except ValueError as exc:
            # The SDK validates arguments (an order id must be a UUID) before
            # sending anything.
            raise BrokerRejected(f"{action}: {exc}") from None
        except requests.RequestException as exc:
            raise BrokerUnreachable(
                f"{action}: cannot reach the {self.environment} endpoint "
                f"{self.endpoint} ({type(exc).__name__})"
            ) from None

    def _api_error(self, action: str, exc: APIError) -> BrokerError:
        status = exc.status_code
        text = _error_text(str(exc))
        order_action = action.startswith(("submit", "cancel", "close"))
        # Alpaca also answers 403 to an order it refuses (buying power, PDT);
        # only a bare "forbidden" there is about the credentials.
        refusal = order_action and "forbidden" not in text.lower()
        if status == 401 or (status == 403 and not refusal):
            return BrokerAuthError(
                f"{self.environment} endpoint {self.endpoint} answered {status} "
                f"({text}): credentials don't match this environment. Use a "
                f"{self.environment} key pair.{self._hint}"
            )
        if status == 403:
            return BrokerRejected(f"{action} refused by the broker (403): {text}")
        if status == 422:
            return BrokerRejected(
                f"{action}: the broker found the request invalid (422): {text}. "
                "Check quantity, prices and time in force"
            )
        if status == 429:
            return BrokerRateLimited(
                f"{action}: too many requests to {self.endpoint} (429). Wait about "
                "a minute; nothing was resent automatically"
            )
        if status == 404:
            return BrokerNotFound(f"{action}: not found at the broker (404): {text}")
        return BrokerUnreachable(f"{action}: {self.endpoint} answered {status}: {text}")

    def close(self) -> None:
        """Close the HTTP session."""
        self._client._session.close()

    def account(self) -> AccountInfo:
        """Return the account totals from `/v2/account`."""
        return self._parse.account(self._call("read account", self._client.get_account))

    def positions(self) -> list[PositionInfo]:
        """Return every position from `/v2/positions`."""
        raw = self._call("read positions", self._client.get_all_positions)
        return self._parse.positions(raw)

    def open_orders(self) -> list[OrderInfo]:
        """Return open orders, bracket legs nested under their parent."""
        query = GetOrdersRequest(status=QueryOrderStatus.OPEN, nested=True, limit=500)
        raw = self._call("read orders", lambda: self._client.get_orders(query))
        return self._parse.orders(raw)

    def submit(self, intent: OrderIntent) -> OrderResult:
        """Send one order; the intent must carry its client order id.

        Raises:
            BrokerTimeout: sent but unanswered; look it up by client order id.
            BrokerReplyUnreadable: answered, but the order could not be read.
        """
        request = _order_request(intent)
        raw = self._call("submit order", lambda: self._client.submit_order(request))
        return OrderResult(self._parse.order(raw))

    def find_by_client_id(self, client_order_id: str) -> OrderInfo | None:
        """Return the order with this client order id, or None when unknown."""
        try:
            raw = self._call(
                "look up order",
                lambda: self._client.get_order_by_client_id(client_order_id),
            )
        except BrokerNotFound:
            return None
        return self._parse.order(raw)

    def get_order(self, order_id: str) -> OrderInfo:
        """Return one order by the broker's id."""
        raw = self._call("read order", lambda: self._client.get_order_by_id(order_id))
        return self._parse.order(raw)

    def cancel(self, order_id: str) -> None:
        """Ask Alpaca to cancel an order (it answers 204 and cancels async)."""
        self._call("cancel order", lambda: self._client.cancel_order_by_id(order_id))

    def close_position(self, symbol: str) -> OrderInfo:
        """Send the market order that closes the whole position in `symbol`."""
        raw = self._call("close position", lambda: self._client.close_position(symbol))
        return self._parse.order(raw)


def _order_request(intent: OrderIntent) -> OrderRequest:
    """Build the SDK's order request; its own validation errors become rejections."""
    fields: dict[str, Any] = {
        "symbol": intent.symbol,
        "qty": intent.qty,
        "notional": intent.notional,
        "side": OrderSide(intent.side),
        "time_in_force": TimeInForce(intent.time_in_force),
        "client_order_id": intent.client_order_id,
    }
    if intent.take_profit is not None:
        fields["take_profit"] = TakeProfitRequest(limit_price=intent.take_profit)
    if intent.stop_loss is not None:
        fields["stop_loss"] = StopLossRequest(stop_price=intent.stop_loss)
    if intent.take_profit is not None and intent.stop_loss is not None:
        fields["order_class"] = OrderClass.BRACKET
    elif intent.has_bracket:
        fields["order_class"] = OrderClass.OTO
    try:
        if intent.type == "limit":
            return LimitOrderRequest(limit_price=intent.limit_price, **fields)
        return MarketOrderRequest(**fields)
    except (ValidationError, ValueError) as exc:
        raise BrokerRejected(f"the order cannot be built: {exc}") from None
