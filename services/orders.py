"""Order intents, their preview and the guardrails checked before any order is sent.

Pure functions over plain data: no I/O, so the order entry screen can preview
on every keystroke and the portfolio service can re-check with fresh data just
before sending. Never imports Textual.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from services.broker import AccountInfo, PositionInfo
from services.errors import AmcTuiError
from services.settings import Settings

Side = Literal["buy", "sell"]
OrderType = Literal["market", "limit"]
TIME_IN_FORCE = ("day", "gtc", "opg", "cls", "ioc", "fok")


class OrderInvalid(AmcTuiError):
    """The order as entered cannot be sent (missing quantity, bad prices...)."""

    title = "Order"


@dataclass(frozen=True)
class OrderIntent:
    """One order the user means to place.

    Attributes:
        symbol: Ticker, upper case.
        side: "buy" or "sell".
        type: "market" or "limit".
        qty: Shares; exactly one of qty and notional is set.
        notional: Dollars (market orders only, no bracket).
        limit_price: Required for limit orders.
        time_in_force: One of `TIME_IN_FORCE`.
        take_profit: Take-profit limit price of a bracket, or None.
        stop_loss: Stop-loss stop price of a bracket, or None.
        client_order_id: Chosen once per intent; a retry reuses it.
        est_price: Reference price for the preview (e.g. the candidate's last
            price); the position's current price is used when None.
    """

    symbol: str
    side: Side
    type: OrderType = "market"
    qty: float | None = None
    notional: float | None = None
    limit_price: float | None = None
    time_in_force: str = "day"
    take_profit: float | None = None
    stop_loss: float | None = None
    client_order_id: str | None = None
    est_price: float | None = None

    def with_client_id(self) -> OrderIntent:
        """Return this intent with a client order id (a new one only if unset)."""
        if self.client_order_id:
            return self
        return replace(self, client_order_id=new_client_order_id())

    @property
    def has_bracket(self) -> bool:
        """True when a take-profit or stop-loss is attached."""
        return self.take_profit is not None or self.stop_loss is not None

    def summary(self) -> str:
        """Return e.g. "buy 10 AMC market day" or "sell $50 AMC limit 4.10 gtc"."""
        if self.qty is not None:
            amount = f"{self.qty:g}"
        else:
            amount = "?" if self.notional is None else f"${self.notional:g}"
        price = f" {self.limit_price:g}" if self.limit_price is not None else ""
        kind = f"{self.type}{price} {self.time_in_force}"
        return f"{self.side} {amount} {self.symbol} {kind}"

    def to_dict(self) -> dict[str, Any]:
        """Return the fields for the audit log (no secrets in an intent)."""
        return {
            "symbol": self.symbol,
            "side": self.side,
            "type": self.type,
            "qty": self.qty,
            "notional": self.notional,
            "limit_price": self.limit_price,
            "time_in_force": self.time_in_force,
            "take_profit": self.take_profit,
            "stop_loss": self.stop_loss,
            "client_order_id": self.client_order_id,
        }


def new_client_order_id() -> str:
    """Return a fresh client order id ("amc-tui-" + 24 hex digits, < 48 chars)."""
    return f"amc-tui-{uuid.uuid4().hex[:24]}"


def _positive(value: float | None) -> bool:
    return value is not None and math.isfinite(value) and value > 0


def validate(intent: OrderIntent) -> OrderIntent:
    """Return the intent normalised (symbol upper-cased), or raise.

    Raises:
        OrderInvalid: the intent cannot be sent as entered.
    """
    symbol = intent.symbol.strip().upper()
    if not symbol or not symbol.replace(".", "").replace("/", "").isalnum():
        raise OrderInvalid("enter a ticker symbol")
    if intent.side not in ("buy", "sell") or intent.type not in ("market", "limit"):
        raise OrderInvalid("side must be buy or sell, type market or limit")
    if _positive(intent.qty) == _positive(intent.notional):
        raise OrderInvalid("enter either a positive quantity or a positive $ amount")
    if intent.type == "limit" and not _positive(intent.limit_price):
        raise OrderInvalid("a limit order needs a positive limit price")
    if intent.time_in_force not in TIME_IN_FORCE:
        raise OrderInvalid(f"time in force must be one of {', '.join(TIME_IN_FORCE)}")
    _validate_bracket(intent)
    return replace(intent, symbol=symbol)


def _validate_bracket(intent: OrderIntent) -> None:
    if not intent.has_bracket:
        return
    if intent.notional is not None:
        raise OrderInvalid("a take-profit / stop-loss bracket needs a share quantity")
    for name, price in (
        ("take-profit", intent.take_profit),
        ("stop-loss", intent.stop_loss),
    ):
        if price is not None and not _positive(price):
            raise OrderInvalid(f"the {name} price must be positive")
    tp, sl = intent.take_profit, intent.stop_loss
    if tp is not None and sl is not None:
        low, high = (sl, tp) if intent.side == "buy" else (tp, sl)
        if low >= high:
            raise OrderInvalid(
                "for a buy the take-profit must be above the stop-loss "
                "(the reverse for a sell)"
            )


@dataclass(frozen=True)
class Guardrail:
    """One check an order must pass.

    Attributes:
        name: e.g. "max $ per order".
        passed: True when the order may go ahead on this check.
        detail: Why, in words: "$96.20 ≤ $100.00".
    """

    name: str
    passed: bool
    detail: str


@dataclass(frozen=True)
class OrderPreview:
    """What an order would do, before it is sent.

    Attributes:
        intent: The (validated) intent.
        mode: "paper", "live" or "demo": where the order would go.
        price: The price used for the estimate, or None when unknown.
        est_cost: Estimated dollars moved, or None when unknown.
        share_of_equity: est_cost / equity in percent, or None.
        position_after_usd: Estimated $ held in the symbol afterwards.
        guardrails: Every check with its result.
        error: Why the intent itself is invalid, or None.
    """

    intent: OrderIntent
    mode: str
    price: float | None
    est_cost: float | None
    share_of_equity: float | None
    position_after_usd: float | None
    guardrails: tuple[Guardrail, ...]
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True when the intent is valid and every guardrail passes."""
        return self.error is None and all(g.passed for g in self.guardrails)

    @property
    def failed(self) -> list[Guardrail]:
        """The guardrails that do not pass."""
        return [g for g in self.guardrails if not g.passed]

    def text_lines(self) -> list[str]:
        """Return the preview as plain text, one line per fact or guardrail."""
        lines = [f"{self.mode.upper()}: {self.intent.summary()}"]
        if self.error:
            return [*lines, f"INVALID: {self.error}"]
        lines.append(
            f"price {_money(self.price)} · est. cost {_money(self.est_cost)} · "
            f"{_pct(self.share_of_equity)} of equity"
        )
        for guard in self.guardrails:
            mark = "PASS" if guard.passed else "FAIL"
            lines.append(f"[{mark}] {guard.name}: {guard.detail}")
        return lines


def _money(value: float | None) -> str:
    return "—" if value is None else f"${value:,.2f}"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}%"


def _held(positions: Sequence[PositionInfo], symbol: str) -> PositionInfo | None:
    return next((p for p in positions if p.symbol.upper() == symbol), None)


def _estimate_price(intent: OrderIntent, held: PositionInfo | None) -> float | None:
    if intent.type == "limit":
        return intent.limit_price
    if intent.est_price is not None and intent.est_price > 0:
        return intent.est_price
    return held.current_price if held else None


def _estimate_cost(intent: OrderIntent, price: float | None) -> float | None:
    if intent.notional is not None:
        return intent.notional
    if price is None or intent.qty is None:
        return None
    return intent.qty * price


def preview(
    intent: OrderIntent,
    account: AccountInfo | None,
    positions: Sequence[PositionInfo],
    settings: Settings,
    *,
    mode: str = "paper",
) -> OrderPreview:
    """Estimate an order's cost and check every guardrail.

    Args:
        intent: The order as entered.
        account: Current account totals, or None when unknown.
        positions: Current positions.
        settings: Caps, kill switch, read-only and live flags.
        mode: Where the order would go: "paper", "live", "demo" or "amc".

    Returns:
        The preview; `ok` is False when any guardrail fails or the intent is
        invalid. It never raises for a bad intent.
    """
    try:
        intent = validate(intent)
    except OrderInvalid as exc:
        return OrderPreview(intent, mode, None, None, None, None, (), exc.message)
    held = _held(positions, intent.symbol)
    price = _estimate_price(intent, held)
    cost = _estimate_cost(intent, price)
    held_usd = (held.market_value or 0.0) if held else 0.0
    sign = 1 if intent.side == "buy" else -1
    after = None if cost is None else held_usd + sign * cost
    equity = account.equity if account else None
    share = cost / equity * 100 if cost is not None and equity else None

    checks = guardrails(intent, cost, after, held, account, settings, mode)
    return OrderPreview(intent, mode, price, cost, share, after, checks)


def guardrails(
    intent: OrderIntent,
    cost: float | None,
    position_after: float | None,
    held: PositionInfo | None,
    account: AccountInfo | None,
    settings: Settings,
    mode: str,
) -> tuple[Guardrail, ...]:
    """Return every guardrail's result for an estimated order."""
    return (
        _max_order(cost, settings.max_order_usd),
        _max_position(intent, position_after, settings.max_position_usd),
        _holding(intent, held),
        _buying_power(intent, cost, account),
        Guardrail(
            "kill switch",
            not settings.kill_switch,
            "ON: trading is halted" if settings.kill_switch else "off",
        ),
        Guardrail(
            "read-only",
            not settings.read_only,
            "console started with --read-only" if settings.read_only else "off",
        ),
        _mode_check(mode, settings),
    )


def _max_order(cost: float | None, cap: float) -> Guardrail:
    name = "max $ per order"
    if cost is None:
        return Guardrail(name, False, "cannot estimate the cost: enter a limit price")
    return Guardrail(name, cost <= cap, f"{_money(cost)} vs cap {_money(cap)}")


def _max_position(intent: OrderIntent, after: float | None, cap: float) -> Guardrail:
    name = "max position $"
    if intent.side == "sell":
        return Guardrail(name, True, "a sell reduces the position")
    if after is None:
        return Guardrail(name, False, "cannot estimate the position size")
    return Guardrail(name, after <= cap, f"{_money(after)} after vs cap {_money(cap)}")


def _holding(intent: OrderIntent, held: PositionInfo | None) -> Guardrail:
    name = "shares held"
    if intent.side == "buy":
        return Guardrail(name, True, "not a sell")
    have = held.qty if held and held.qty is not None else 0.0
    if intent.qty is None:
        return Guardrail(name, have > 0, f"holding {have:g} shares")
    ok = intent.qty <= have
    return Guardrail(name, ok, f"selling {intent.qty:g} of {have:g} held (no shorting)")


def _buying_power(
    intent: OrderIntent, cost: float | None, account: AccountInfo | None
) -> Guardrail:
    name = "buying power"
    if intent.side == "sell":
        return Guardrail(name, True, "a sell frees cash")
    power = account.buying_power if account else None
    if power is None or cost is None:
        return Guardrail(name, True, "unknown here; the broker checks it")
    return Guardrail(name, cost <= power, f"{_money(cost)} vs {_money(power)}")


def _mode_check(mode: str, settings: Settings) -> Guardrail:
    name = "live trading"
    if mode in ("paper", "demo"):
        return Guardrail(name, True, f"{mode} account: no real money")
    if mode != "live":
        return Guardrail(name, False, "this portfolio source cannot place orders")
    missing = []
    if not settings.live:
        missing.append("--live flag")
    if not settings.live_trading_env:
        missing.append("AMC_LIVE_TRADING=1")
    if missing:
        return Guardrail(name, False, "LIVE endpoint; missing " + " and ".join(missing))
    return Guardrail(name, True, "LIVE enabled; type the symbol to confirm")
