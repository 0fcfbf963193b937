"""The broker interface every portfolio source implements, and its plain data.

Alpaca, the AMC API's holdings route and the demo paper broker all answer with
these immutable records, so the portfolio service and pane never see a library
type. This module does no I/O and never imports Textual.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol

from services.errors import BrokerError, ConfigError

BrokerMode = Literal["paper", "live", "demo", "amc", "none"]
MISSING = "—"


class BrokerAuthError(BrokerError):
    """The broker refused the credentials (HTTP 401 or 403)."""

    title = "Broker credentials"


class BrokerRejected(BrokerError):
    """The broker refused a request as invalid (HTTP 422, 404 or similar)."""

    title = "Broker rejected"


class BrokerNotFound(BrokerRejected):
    """The broker has no such order or position (HTTP 404)."""

    title = "Not found at broker"


class BrokerRateLimited(BrokerError):
    """The broker answered HTTP 429: too many requests."""

    title = "Broker rate limit"


class BrokerUnreachable(BrokerError):
    """The broker could not be reached or did not answer in time."""

    title = "Broker unreachable"


class BrokerTimeout(BrokerUnreachable):
    """The request was sent but no answer came in time: it may have been applied."""

    title = "Broker timeout"


class BrokerReplyUnreadable(BrokerError):
    """The broker answered with a body that could not be read."""

    title = "Broker reply unreadable"


class BrokerReadOnly(BrokerError):
    """The portfolio source cannot place or cancel orders."""

    title = "Read-only source"


@dataclass(frozen=True)
class AccountInfo:
    """Account totals; None means the broker did not say.

    Attributes:
        equity: Cash plus positions, in dollars.
        cash: Settled cash.
        buying_power: What the broker lets the account spend now.
        last_equity: Equity at the previous close (for day P&L).
        status: The broker's account status, verbatim.
        currency: Usually "USD".
    """

    equity: float | None = None
    cash: float | None = None
    buying_power: float | None = None
    last_equity: float | None = None
    status: str = MISSING
    currency: str = "USD"

    @property
    def day_pl(self) -> float | None:
        """Equity change since the previous close, in dollars."""
        if self.equity is None or self.last_equity is None:
            return None
        return self.equity - self.last_equity

    @property
    def day_pl_pct(self) -> float | None:
        """Equity change since the previous close, in percent."""
        if self.day_pl is None or not self.last_equity:
            return None
        return self.day_pl / self.last_equity * 100

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form, including the derived day P&L."""
        return {**asdict(self), "day_pl": self.day_pl, "day_pl_pct": self.day_pl_pct}


@dataclass(frozen=True)
class PositionInfo:
    """One holding. Percentages are percent (12.5 means 12.5 %), never fractions.

    Attributes:
        symbol: Ticker as the broker spells it.
        qty: Shares held (negative for a short).
        avg_entry: Average entry price.
        current_price: Latest price the broker knows.
        market_value: qty × current price, as the broker reports it.
        cost_basis: What was paid in total.
        unrealized_pl: Open profit or loss in dollars.
        unrealized_pl_pct: Open profit or loss in percent of cost.
        change_today_pct: Price change since the previous close, in percent.
        day_pl: Today's profit or loss in dollars.
        asset_class: As received (unknown values kept verbatim).
        exchange: As received.
        thesis: The AMC API's thesis text, when the source is the AMC API.
        suggestion: The AMC API's suggestion ("HOLD", "TRIM", "review", ...).
        confidence: The AMC API's confidence, 0 to 1.
        flags: Data-quality flags from the AMC API.
    """

    symbol: str
    qty: float | None
    avg_entry: float | None = None
    current_price: float | None = None
    market_value: float | None = None
    cost_basis: float | None = None
    unrealized_pl: float | None = None
    unrealized_pl_pct: float | None = None
    change_today_pct: float | None = None
    day_pl: float | None = None
    asset_class: str = MISSING
    exchange: str = MISSING
    thesis: str | None = None
    suggestion: str | None = None
    confidence: float | None = None
    flags: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form."""
        return {**asdict(self), "flags": list(self.flags)}


@dataclass(frozen=True)
class OrderInfo:
    """One order as the broker reports it; enum-like fields are kept verbatim.

    Attributes:
        id: The broker's order id.
        client_order_id: The id the console chose, for idempotent retries.
        symbol: Ticker.
        side: "buy" or "sell" (verbatim when unknown).
        type: "market", "limit", ... (verbatim when unknown).
        status: "new", "filled", "held", ... (verbatim when unknown).
        order_class: "simple", "bracket", ... or "—" when empty.
        qty: Ordered shares, or None for a notional order.
        notional: Ordered dollars, or None for a share order.
        filled_qty: Shares filled so far.
        filled_avg_price: Average fill price.
        limit_price: Limit price for limit legs.
        stop_price: Stop price for stop legs.
        time_in_force: "day", "gtc", ...
        submitted_at: ISO time as received, or "—".
        legs: Child orders of a bracket.
    """

    id: str
    client_order_id: str = MISSING
    symbol: str = MISSING
    side: str = MISSING
    type: str = MISSING
    status: str = MISSING
    order_class: str = MISSING
    qty: float | None = None
    notional: float | None = None
    filled_qty: float | None = None
    filled_avg_price: float | None = None
    limit_price: float | None = None
    stop_price: float | None = None
    time_in_force: str = MISSING
    submitted_at: str = MISSING
    legs: tuple[OrderInfo, ...] = field(default=())

    @property
    def is_open(self) -> bool:
        """True while the order can still fill or be cancelled."""
        return self.status not in CLOSED_STATUSES

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form, legs included."""
        data = asdict(self)
        data["legs"] = [leg.to_dict() for leg in self.legs]
        return data


CLOSED_STATUSES = frozenset(
    {"filled", "canceled", "expired", "replaced", "rejected", "done_for_day"}
)


@dataclass(frozen=True)
class OrderResult:
    """What happened to one submission.

    Attributes:
        order: The order as the broker holds it.
        reconciled: True when the order was found by its client order id after
            a timeout or an unreadable reply, rather than read from the reply.
        note: One line for the user, e.g. "confirmed after a timeout".
    """

    order: OrderInfo
    reconciled: bool = False
    note: str = ""


class Broker(Protocol):
    """What the portfolio service needs from a broker.

    All methods block and raise only `BrokerError` subclasses (or `ApiError`
    for the AMC API source). `mode` is fixed at construction: a broker never
    switches between paper and live.
    """

    mode: BrokerMode
    endpoint: str
    empty_is_ambiguous: bool

    def account(self) -> AccountInfo:
        """Return the account totals."""

    def positions(self) -> list[PositionInfo]:
        """Return every open position."""

    def open_orders(self) -> list[OrderInfo]:
        """Return the orders that can still fill."""

    def submit(self, intent: Any) -> OrderResult:
        """Send one order (an `services.orders.OrderIntent`) with its client id."""

    def find_by_client_id(self, client_order_id: str) -> OrderInfo | None:
        """Return the order with this client order id, or None if there is none."""

    def get_order(self, order_id: str) -> OrderInfo:
        """Return one order by the broker's id."""

    def cancel(self, order_id: str) -> None:
        """Ask the broker to cancel an open order."""

    def close_position(self, symbol: str) -> OrderInfo:
        """Send the order that closes a whole position."""


class NoBroker:
    """Stands in when no broker is configured; every call says how to set one up."""

    mode: BrokerMode = "none"
    endpoint = "no broker configured"
    empty_is_ambiguous = False

    def _fail(self) -> ConfigError:
        return ConfigError(
            "no portfolio source: set ALPACA_API_KEY and ALPACA_SECRET_KEY, "
            "or AMC_API_URL"
        )

    def account(self) -> AccountInfo:
        """Raise: nothing is configured."""
        raise self._fail()

    def positions(self) -> list[PositionInfo]:
        """Raise: nothing is configured."""
        raise self._fail()

    def open_orders(self) -> list[OrderInfo]:
        """Raise: nothing is configured."""
        raise self._fail()

    def submit(self, intent: Any) -> OrderResult:
        """Raise: nothing is configured."""
        raise self._fail()

    def find_by_client_id(self, client_order_id: str) -> OrderInfo | None:
        """Raise: nothing is configured."""
        raise self._fail()

    def get_order(self, order_id: str) -> OrderInfo:
        """Raise: nothing is configured."""
        raise self._fail()

    def cancel(self, order_id: str) -> None:
        """Raise: nothing is configured."""
        raise self._fail()

    def close_position(self, symbol: str) -> OrderInfo:
        """Raise: nothing is configured."""
        raise self._fail()
