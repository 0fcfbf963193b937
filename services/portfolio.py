"""The portfolio provider and the only path by which the console places orders.

`PortfolioService.load()` builds an immutable `PortfolioView`; `submit`,
`cancel` and `close` check read-only mode, the guardrails and the three live
conditions, make a submission idempotent through its client order id, and
append every attempt to the audit log. Blocking; never imports Textual.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

from services.audit import AuditLog
from services.broker import (
    AccountInfo,
    Broker,
    BrokerReplyUnreadable,
    BrokerUnreachable,
    NoBroker,
    OrderInfo,
    PositionInfo,
)
from services.clock import Clock
from services.environment import Outcome
from services.errors import AmcTuiError, BrokerError
from services.orders import OrderIntent, OrderInvalid, OrderPreview, preview, validate
from services.settings import Settings

log = logging.getLogger(__name__)

AMBIGUOUS_EMPTY = "empty account or broker unreachable: cannot tell"
BANNERS = {
    "paper": "PAPER",
    "live": "LIVE",
    "demo": "DEMO",
    "amc": "AMC API",
    "none": "NO BROKER",
}


def _money(value: float | None) -> str:
    return "—" if value is None else f"${value:,.2f}"


def _signed(value: float | None, suffix: str = "") -> str:
    return "—" if value is None else f"{value:+,.2f}{suffix}"


@dataclass(frozen=True)
class PortfolioView:
    """Everything the portfolio pane shows.

    Attributes:
        mode: "paper", "live", "demo" or "amc" (the AMC API, read-only).
        endpoint: Where the data came from, without secrets.
        account: Account totals.
        positions: Holdings, in the broker's order.
        orders: Open orders.
        notice: A caveat to show above the tables (an ambiguous empty list).
        can_trade: False for a read-only source.
    """

    mode: str
    endpoint: str
    account: AccountInfo
    positions: tuple[PositionInfo, ...]
    orders: tuple[OrderInfo, ...]
    notice: str | None = None
    can_trade: bool = True

    @property
    def banner(self) -> str:
        """Return e.g. "PAPER · https://paper-api.alpaca.markets"."""
        label = BANNERS.get(self.mode, self.mode.upper())
        suffix = "" if self.can_trade else " (read-only)"
        return f"{label}{suffix} · {self.endpoint}"

    def account_line(self) -> str:
        """Return the one-line account summary."""
        acct = self.account
        if acct.equity is None and self.positions:
            value = sum(p.market_value or 0.0 for p in self.positions)
            pl = sum(p.unrealized_pl or 0.0 for p in self.positions)
            return f"positions {_money(value)} · unrealized P&L {_signed(pl)}"
        day_pct = _signed(acct.day_pl_pct, "%")
        return (
            f"equity {_money(acct.equity)} · cash {_money(acct.cash)} · "
            f"buying power {_money(acct.buying_power)} · "
            f"day P&L {_signed(acct.day_pl)} ({day_pct})"
        )

    def position(self, symbol: str) -> PositionInfo | None:
        """Return the position in `symbol`, or None."""
        return next((p for p in self.positions if p.symbol == symbol), None)

    def to_dict(self) -> dict[str, Any]:
        """Return the snapshot section: mode, account, positions, orders (+ context)."""
        return {
            "mode": self.mode,
            "endpoint": self.endpoint,
            "account": self.account.to_dict(),
            "positions": [p.to_dict() for p in self.positions],
            "orders": [o.to_dict() for o in self.orders],
            "notice": self.notice,
        }

    def text_lines(self) -> list[str]:
        """Return a plain-text rendering for the headless snapshot."""
        lines = [self.banner, self.account_line()]
        if self.notice:
            lines.append(f"! {self.notice}")
        for p in self.positions:
            lines.append(
                f"{p.symbol:<8} qty {p.qty if p.qty is not None else '—'} · "
                f"avg {_money(p.avg_entry)} · last {_money(p.current_price)} · "
                f"value {_money(p.market_value)} · P&L {_signed(p.unrealized_pl)} "
                f"({_signed(p.unrealized_pl_pct, '%')})"
            )
        for o in self.orders:
            amount = f"{o.qty:g}" if o.qty is not None else _money(o.notional)
            lines.append(
                f"order {o.id} {o.side} {amount} {o.symbol} {o.type} {o.status}"
            )
        return lines


class PortfolioService:
    """Provider of `PortfolioView` and the order actions.

    Args:
        broker: Alpaca, the AMC API holdings or the demo paper broker; None
            when nothing is configured (every load then explains how to set
            one up).
        settings: Caps, kill switch, read-only and live flags.
        audit: Where every order attempt is recorded.
        clock: Time source.
        source: "demo", "live" or "AMC API", shown in the pane header.
    """

    def __init__(
        self,
        broker: Broker | None,
        settings: Settings,
        audit: AuditLog,
        clock: Clock,
        source: str,
    ) -> None:
        self.broker: Broker = broker if broker is not None else NoBroker()
        self.settings = settings
        self.audit = audit
        self.clock = clock
        self.source = source
        self._attempted: set[str] = set()
        self._order_lock = threading.Lock()

    @property
    def mode(self) -> str:
        """Where orders go: "paper", "live", "demo" or "amc"."""
        return self.broker.mode

    @property
    def can_trade(self) -> bool:
        """False for a read-only source (the AMC API holdings)."""
        return self.broker.mode not in ("amc", "none")

    def load(self) -> PortfolioView:
        """Read account, positions and open orders.

        Raises:
            AmcTuiError: the broker failed; the pane keeps its last view, stale.
        """
        account = self.broker.account()
        positions = tuple(self.broker.positions())
        orders = tuple(self.broker.open_orders())
        notice = self._mode_notice()
        if not positions and self.broker.empty_is_ambiguous:
            notice = AMBIGUOUS_EMPTY
        return PortfolioView(
            self.mode,
            self.broker.endpoint,
            account,
            positions,
            orders,
            notice,
            self.can_trade,
        )

    def _mode_notice(self) -> str | None:
        """Say when the flags and the broker's environment disagree."""
        if self.mode == "paper" and self.settings.live:
            return (
                "--live was given, but the broker is configured for PAPER "
                "(ALPACA_PAPER): orders go to the paper account"
            )
        if self.mode == "live" and not self.settings.live_trading_allowed:
            return (
                "LIVE account shown read-only: orders need both --live and "
                "AMC_LIVE_TRADING=1"
            )
        return None

    def close_clients(self) -> None:
        """Close the broker's HTTP client, if it has one."""
        close = getattr(self.broker, "close", None)
        if callable(close):
            close()

    def preview(self, intent: OrderIntent) -> OrderPreview:
        """Preview an order against fresh account and positions.

        Raises:
            AmcTuiError: the account or positions could not be read.
        """
        return preview(
            intent,
            self.broker.account(),
            self.broker.positions(),
            self.settings,
            mode=self.mode,
        )

    def _refusal(self, intent: OrderIntent, typed: str | None) -> str | None:
        """Return why this order may not be sent, or None when it may."""
        if self.settings.read_only:
            return "read-only mode: orders are disabled"
        if not self.can_trade:
            return "this portfolio source is read-only"
        try:
            checked = self.preview(intent)
        except AmcTuiError as exc:
            return f"cannot check the guardrails: {exc.message}"
        if not checked.ok:
            reasons = checked.error or "; ".join(
                f"{g.name}: {g.detail}" for g in checked.failed
            )
            return f"guardrail failed: {reasons}"
        return self._live_refusal(intent.symbol, typed)

    def _live_refusal(self, symbol: str, typed: str | None) -> str | None:
        """Live orders need --live, AMC_LIVE_TRADING=1 and the symbol typed."""
        if self.mode != "live":
            return None
        if not self.settings.live_trading_allowed:
            return "live orders need both --live and AMC_LIVE_TRADING=1"
        if (typed or "").strip().upper() != symbol.upper():
            return f"type {symbol} to confirm a live order"
        return None

    def _record(self, action: str, outcome: Outcome, **details: Any) -> Outcome:
        self.audit.record(
            action,
            outcome.message,
            ok=outcome.ok,
            mode=self.mode,
            endpoint=self.broker.endpoint,
            **details,
            **outcome.details,
        )
        return outcome

    def submit(
        self, intent: OrderIntent, typed_confirmation: str | None = None
    ) -> Outcome:
        """Place one order, at most once per client order id.

        Args:
            intent: The order; a client order id is assigned if it has none.
                Retrying the same intent reuses its id, so it cannot be
                placed twice.
            typed_confirmation: The symbol as typed by the user; required for
                live orders.

        Returns:
            The outcome; every call, accepted or refused, is audited.
        """
        intent = intent.with_client_id()
        try:
            intent = validate(intent)
        except OrderInvalid as exc:
            return self._record(
                "order.submit", Outcome(False, exc.message), **intent.to_dict()
            )
        refusal = self._refusal(intent, typed_confirmation)
        if refusal:
            outcome = Outcome(False, f"refused: {refusal}", {"result": "refused"})
            return self._record("order.submit", outcome, **intent.to_dict())
        with self._order_lock:
            try:
                outcome = self._send_once(intent)
            except Exception as exc:
                # Audit even a failure nobody foresaw, then let the app report it.
                unknown = f"status unknown: unexpected {type(exc).__name__}"
                self._record(
                    "order.submit", Outcome(False, unknown), **intent.to_dict()
                )
                raise
        return self._record("order.submit", outcome, **intent.to_dict())

    def _send_once(self, intent: OrderIntent) -> Outcome:
        cid = intent.client_order_id or ""
        if cid in self._attempted:
            try:
                existing = self.broker.find_by_client_id(cid)
            except BrokerError as exc:
                return Outcome(
                    False,
                    f"not resent: cannot check {cid}: {exc.message}",
                    {"result": "unknown"},
                )
            if existing is not None:
                return _placed(existing, "already placed; not resent", "duplicate")
        self._attempted.add(cid)
        try:
            result = self.broker.submit(intent)
        except (BrokerUnreachable, BrokerReplyUnreadable) as exc:
            return self._reconcile(cid, exc)
        except BrokerError as exc:
            return Outcome(False, f"rejected: {exc.message}", {"result": "rejected"})
        return _placed(result.order, "accepted", "accepted")

    def _reconcile(self, cid: str, exc: BrokerError) -> Outcome:
        """After a timeout or unreadable reply, look the order up; never resend."""
        log.warning("order %s: %s; looking it up by client order id", cid, exc.message)
        try:
            found = self.broker.find_by_client_id(cid)
        except BrokerError as lookup:
            found, reason = None, lookup.message
        else:
            reason = "the broker has no order with this id yet"
        if found is not None:
            return _placed(
                found,
                f"accepted ({exc.title.lower()}, confirmed by lookup)",
                "reconciled",
            )
        return Outcome(
            False,
            f"status unknown: {exc.message}; {reason}. Not resent: submitting "
            f"again reuses client order id {cid}, so it cannot be placed twice",
            {"result": "unknown"},
        )

    def cancel(self, order_id: str) -> Outcome:
        """Ask the broker to cancel an open order; never retried automatically."""
        refusal = self._mutation_refusal()
        if refusal:
            return self._record(
                "order.cancel", Outcome(False, f"refused: {refusal}"), order_id=order_id
            )
        try:
            self.broker.cancel(order_id)
        except (BrokerUnreachable, BrokerReplyUnreadable) as exc:
            outcome = self._after_cancel_failure(order_id, exc)
        except BrokerError as exc:
            outcome = Outcome(False, f"cancel refused: {exc.message}")
        else:
            outcome = Outcome(True, f"cancel requested for {order_id}")
        return self._record("order.cancel", outcome, order_id=order_id)

    def _after_cancel_failure(self, order_id: str, exc: BrokerError) -> Outcome:
        try:
            order = self.broker.get_order(order_id)
        except BrokerError:
            return Outcome(False, f"cancel status unknown: {exc.message}; not resent")
        return Outcome(
            not order.is_open,
            f"cancel reply lost ({exc.title.lower()}); order {order_id} is now "
            f"{order.status}; not resent",
        )

    def _mutation_refusal(self) -> str | None:
        if self.settings.read_only:
            return "read-only mode: orders are disabled"
        if not self.can_trade:
            return "this portfolio source is read-only"
        if self.mode == "live" and not self.settings.live_trading_allowed:
            return "live orders need both --live and AMC_LIVE_TRADING=1"
        return None

    def close(self, symbol: str, typed_confirmation: str | None = None) -> Outcome:
        """Close a whole position with a market order (live: symbol typed)."""
        refusal = self._mutation_refusal() or self._live_refusal(
            symbol, typed_confirmation
        )
        if refusal is None and self.settings.kill_switch:
            refusal = "kill switch is ON: trading is halted"
        if refusal:
            return self._record(
                "order.close", Outcome(False, f"refused: {refusal}"), symbol=symbol
            )
        try:
            order = self.broker.close_position(symbol)
        except (BrokerUnreachable, BrokerReplyUnreadable) as exc:
            # TODO: after a timeout, look for the closing order among open orders.
            outcome = Outcome(
                False,
                f"close of {symbol} unconfirmed: {exc.message}; not resent, "
                "refresh to see whether a closing order exists",
            )
        except BrokerError as exc:
            outcome = Outcome(
                False,
                f"close of {symbol} refused: {exc.message}",
            )
        else:
            outcome = _placed(order, f"close order sent for {symbol}", "accepted")
        return self._record("order.close", outcome, symbol=symbol)


def _placed(order: OrderInfo, what: str, result: str) -> Outcome:
    return Outcome(
        True,
        f"{what}: {order.side} {order.symbol} order {order.id} is {order.status}",
        {"result": result, "order_id": order.id, "status": order.status},
    )
