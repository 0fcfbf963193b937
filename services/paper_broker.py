"""The demo's local paper broker: the `Broker` interface over in-memory state.

Market orders fill at once at the demo price; limit orders fill when
marketable and otherwise rest until cancelled. No network, no Textual; every
method is thread-safe because the console calls it from thread workers.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from services.broker import (
    AccountInfo,
    BrokerMode,
    BrokerNotFound,
    BrokerRejected,
    OrderInfo,
    OrderResult,
    PositionInfo,
)
from services.clock import Clock
from services.orders import OrderIntent

PriceOf = Callable[[str], float | None]


@dataclass(frozen=True)
class SeedPosition:
    """A position the paper account starts with.

    Attributes:
        symbol: Ticker.
        qty: Shares (positive; the demo does not short).
        avg_entry: Average entry price.
    """

    symbol: str
    qty: float
    avg_entry: float


@dataclass
class _Lot:
    qty: float
    avg_entry: float


class PaperBroker:
    """A local paper account filling at demo prices.

    Args:
        price_of: Current price of a symbol, or None when unknown.
        clock: Stamps orders.
        positions: Seeded holdings.
        cash: Starting cash in dollars.
        prev_close_of: Previous close of a symbol, for day change; optional.
    """

    mode: BrokerMode = "demo"
    endpoint = "local paper broker (demo)"
    empty_is_ambiguous = False

    def __init__(
        self,
        price_of: PriceOf,
        clock: Clock,
        positions: Sequence[SeedPosition] = (),
        cash: float = 10_000.0,
        prev_close_of: PriceOf | None = None,
    ) -> None:
        self._price_of = price_of
        self._prev_close_of = prev_close_of or (lambda _symbol: None)
        self._clock = clock
        self._cash = cash
        self._lots = {p.symbol.upper(): _Lot(p.qty, p.avg_entry) for p in positions}
        self._orders: dict[str, OrderInfo] = {}
        self._ids = itertools.count(1)
        self._lock = threading.RLock()
        # Yesterday's closing equity, as Alpaca's last_equity: day P&L is the
        # seeded holdings' move since the previous close.
        self._last_equity = self._equity(self._prev_close_of)

    def _equity(self, price_of: PriceOf | None = None) -> float:
        price = price_of or self._price_of
        total = self._cash
        for symbol, lot in self._lots.items():
            total += lot.qty * (
                price(symbol) or self._price_of(symbol) or lot.avg_entry
            )
        return total

    def account(self) -> AccountInfo:
        """Return cash, equity and buying power (cash; the demo has no margin)."""
        with self._lock:
            return AccountInfo(
                equity=self._equity(),
                cash=self._cash,
                buying_power=self._cash,
                last_equity=self._last_equity,
                status="ACTIVE",
            )

    def positions(self) -> list[PositionInfo]:
        """Return holdings valued at the current demo price."""
        with self._lock:
            return [self._position(s, lot) for s, lot in sorted(self._lots.items())]

    def _position(self, symbol: str, lot: _Lot) -> PositionInfo:
        price = self._price_of(symbol)
        prev = self._prev_close_of(symbol)
        cost = lot.qty * lot.avg_entry
        value = None if price is None else lot.qty * price
        pl = None if value is None else value - cost
        change = None if price is None or not prev else (price / prev - 1) * 100
        day_pl = None if price is None or not prev else (price - prev) * lot.qty
        return PositionInfo(
            symbol=symbol,
            qty=lot.qty,
            avg_entry=lot.avg_entry,
            current_price=price,
            market_value=value,
            cost_basis=cost,
            unrealized_pl=pl,
            unrealized_pl_pct=None if pl is None or not cost else pl / cost * 100,
            change_today_pct=change,
            day_pl=day_pl,
            asset_class="us_equity",
            exchange="DEMO",
        )

    def open_orders(self) -> list[OrderInfo]:
        """Return resting limit orders."""
        with self._lock:
            return [o for o in self._orders.values() if o.is_open]

    def submit(self, intent: OrderIntent) -> OrderResult:
        """Fill or rest one order.

        Raises:
            BrokerRejected: unknown price, not enough cash or shares, or a
                client order id already used.
        """
        with self._lock:
            cid = intent.client_order_id or ""
            if any(o.client_order_id == cid for o in self._orders.values()):
                raise BrokerRejected(f"client order id {cid} was already used")
            order = self._new_order(intent)
            price = self._price_of(intent.symbol)
            if price is None:
                raise BrokerRejected(f"no demo price for {intent.symbol}")
            if self._marketable(intent, price):
                order = self._fill(order, intent, price)
            self._orders[order.id] = order
            return OrderResult(order)

    def _new_order(self, intent: OrderIntent) -> OrderInfo:
        stamp = datetime.fromtimestamp(self._clock.now(), UTC).isoformat()
        return OrderInfo(
            id=f"paper-{next(self._ids):06d}",
            client_order_id=intent.client_order_id or "—",
            symbol=intent.symbol,
            side=intent.side,
            type=intent.type,
            status="new",
            order_class="bracket" if intent.has_bracket else "simple",
            qty=intent.qty,
            notional=intent.notional,
            filled_qty=0.0,
            limit_price=intent.limit_price,
            time_in_force=intent.time_in_force,
            submitted_at=stamp,
        )

    @staticmethod
    def _marketable(intent: OrderIntent, price: float) -> bool:
        if intent.type == "market" or intent.limit_price is None:
            return True
        if intent.side == "buy":
            return intent.limit_price >= price
        return intent.limit_price <= price

    def _fill(self, order: OrderInfo, intent: OrderIntent, price: float) -> OrderInfo:
        qty = intent.qty if intent.qty is not None else (intent.notional or 0) / price
        if intent.side == "buy":
            self._buy(intent.symbol, qty, price)
        else:
            self._sell(intent.symbol, qty, price)
        # TODO: create resting take-profit / stop-loss legs for demo bracket orders.
        return replace(order, status="filled", filled_qty=qty, filled_avg_price=price)

    def _buy(self, symbol: str, qty: float, price: float) -> None:
        if qty * price > self._cash:
            raise BrokerRejected(
                f"insufficient buying power: ${qty * price:,.2f} > ${self._cash:,.2f}"
            )
        lot = self._lots.get(symbol, _Lot(0.0, 0.0))
        total = lot.qty + qty
        lot.avg_entry = (lot.qty * lot.avg_entry + qty * price) / total
        lot.qty = total
        self._lots[symbol] = lot
        self._cash -= qty * price

    def _sell(self, symbol: str, qty: float, price: float) -> None:
        lot = self._lots.get(symbol)
        if lot is None or qty > lot.qty + 1e-9:
            held = lot.qty if lot else 0
            raise BrokerRejected(f"cannot sell {qty:g} {symbol}: {held:g} held")
        lot.qty -= qty
        if lot.qty <= 1e-9:
            del self._lots[symbol]
        self._cash += qty * price

    def find_by_client_id(self, client_order_id: str) -> OrderInfo | None:
        """Return the order with this client order id, or None."""
        with self._lock:
            matches = (o for o in self._orders.values())
            return next(
                (o for o in matches if o.client_order_id == client_order_id), None
            )

    def get_order(self, order_id: str) -> OrderInfo:
        """Return one order by id."""
        with self._lock:
            if order_id not in self._orders:
                raise BrokerNotFound(f"no order {order_id}")
            return self._orders[order_id]

    def cancel(self, order_id: str) -> None:
        """Cancel a resting order.

        Raises:
            BrokerNotFound: no such order.
            BrokerRejected: the order is no longer open.
        """
        with self._lock:
            order = self.get_order(order_id)
            if not order.is_open:
                raise BrokerRejected(f"order {order_id} is already {order.status}")
            self._orders[order_id] = replace(order, status="canceled")

    def close_position(self, symbol: str) -> OrderInfo:
        """Sell the whole position at the demo price."""
        with self._lock:
            lot = self._lots.get(symbol.upper())
            if lot is None:
                raise BrokerNotFound(f"no position in {symbol}")
            intent = OrderIntent(
                symbol.upper(),
                "sell",
                qty=lot.qty,
                client_order_id=f"close-{next(self._ids):06d}",
            )
            return self.submit(intent).order
