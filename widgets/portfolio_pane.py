"""The portfolio pane: mode banner, account line, positions and open orders.

It renders a `PortfolioView` and turns keys into requests to the portfolio
service (new order, cancel, close); the app runs them. It never opens a
connection; tables update in place by symbol and order id.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Label, Static
from textual.widgets.data_table import CellDoesNotExist, RowDoesNotExist

from services.broker import OrderInfo, PositionInfo
from services.portfolio import BANNERS, PortfolioService, PortfolioView
from widgets.dialogs import ConfirmScreen, DetailScreen
from widgets.order_entry import OrderEntryScreen, OrderTicket
from widgets.pane import Pane
from widgets.safe import SafeStatic, SafeTable

POSITION_COLUMNS = (
    ("symbol", "Symbol"),
    ("qty", "Qty"),
    ("avg", "Avg entry"),
    ("last", "Last"),
    ("value", "Value"),
    ("cost", "Cost"),
    ("pl", "P&L $"),
    ("pl_pct", "P&L %"),
    ("day", "Day %"),
    ("note", "Note"),
)
ORDER_COLUMNS = (
    ("symbol", "Symbol"),
    ("side", "Side"),
    ("qty", "Qty"),
    ("type", "Type"),
    ("price", "Limit/stop"),
    ("status", "Status"),
    ("class", "Class"),
    ("tif", "TIF"),
    ("id", "Order id"),
)
ORDER_ACTIONS = frozenset({"new_buy", "new_sell", "cancel_order", "close_position"})


def _num(value: float | None, fmt: str = ",.2f", suffix: str = "") -> Text:
    return Text("—" if value is None else f"{value:{fmt}}{suffix}", justify="right")


def _position_cells(p: PositionInfo) -> tuple[Text, ...]:
    note = p.suggestion or ""
    if p.flags:
        note = f"{note} ⚑{','.join(p.flags)}".strip()
    if p.asset_class not in ("us_equity", "—"):
        note = f"{note} {p.asset_class}".strip()
    return (
        Text(p.symbol),
        _num(p.qty, "g"),
        _num(p.avg_entry),
        _num(p.current_price),
        _num(p.market_value),
        _num(p.cost_basis),
        _num(p.unrealized_pl, "+,.2f"),
        _num(p.unrealized_pl_pct, "+.1f", "%"),
        _num(p.change_today_pct, "+.1f", "%"),
        Text(note),
    )


def _order_cells(o: OrderInfo) -> tuple[Text, ...]:
    amount = _num(o.qty, "g") if o.qty is not None else _num(o.notional, ",.2f")
    price = o.limit_price if o.limit_price is not None else o.stop_price
    legs = f" +{len(o.legs)} legs" if o.legs else ""
    return (
        Text(o.symbol),
        Text(o.side),
        amount,
        Text(o.type),
        _num(price),
        Text(o.status + legs),
        Text(o.order_class),
        Text(o.time_in_force),
        Text(o.id[:12]),
    )


def sync_table(
    table: DataTable[Any], rows: dict[str, tuple[Text, ...]], columns: tuple[str, ...]
) -> None:
    """Make `table` hold exactly `rows`, updating cells in place by row key.

    The cursor stays on its row (by key) when rows above it come or go.
    """
    selected = _cursor_key(table)
    wanted = set(rows)
    for row_key in [k for k in table.rows if k.value not in wanted]:
        table.remove_row(row_key)
    for key, cells in rows.items():
        try:
            current = table.get_row(key)
        except RowDoesNotExist:
            table.add_row(*cells, key=key)
            continue
        for column, old, new in zip(columns, current, cells, strict=True):
            if old != new:
                table.update_cell(key, column, new, update_width=True)
    if selected in rows:
        table.move_cursor(row=table.get_row_index(selected), animate=False)


def _keyed(
    pairs: Iterable[tuple[str, tuple[Text, ...]]],
) -> dict[str, tuple[Text, ...]]:
    """Key rows by symbol or id; a repeated key (bad broker data) gets "#2"."""
    rows: dict[str, tuple[Text, ...]] = {}
    for key, cells in pairs:
        unique, n = key, 1
        while unique in rows:
            n += 1
            unique = f"{key}#{n}"
        rows[unique] = cells
    return rows


def _cursor_key(table: DataTable[Any]) -> str | None:
    """Return the key of the row under the cursor, or None."""
    if table.row_count == 0:
        return None
    try:
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
    except CellDoesNotExist:
        return None


class PortfolioPane(Pane):
    """Account, positions and open orders, with safe order actions.

    The banner always says PAPER, LIVE or DEMO (from the bound service, even
    before the first load or after a failed one).
    """

    pane_id = "portfolio"
    pane_title = "Portfolio"

    DEFAULT_CSS = """
    PortfolioPane #portfolio-banner {
        height: 1;
        text-style: bold;
        background: $primary-darken-2;
        padding: 0 1;
    }
    PortfolioPane.-live #portfolio-banner {
        background: $error;
    }
    PortfolioPane.-demo #portfolio-banner {
        background: $accent-darken-2;
    }
    PortfolioPane #portfolio-account {
        height: auto;
    }
    PortfolioPane #portfolio-notice {
        height: auto;
        color: $warning;
        display: none;
    }
    PortfolioPane.-notice #portfolio-notice {
        display: block;
    }
    PortfolioPane DataTable {
        height: auto;
        max-height: 12;
    }
    PortfolioPane .portfolio-subtitle {
        color: $text-muted;
    }
    """

    BINDINGS = [
        Binding("b", "new_buy", "Buy"),
        Binding("s", "new_sell", "Sell"),
        Binding("x", "cancel_order", "Cancel order"),
        Binding("c", "close_position", "Close position"),
        Binding("o", "resend_order", "Resend last order"),
        Binding("i", "show_position", "Position details"),
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.service: PortfolioService | None = None
        self.view: PortfolioView | None = None
        self.last_ticket: OrderTicket | None = None

    def bind_service(self, service: PortfolioService) -> None:
        """Keep the service whose actions this pane requests."""
        self.service = service

    def compose_body(self) -> ComposeResult:
        yield SafeStatic("", id="portfolio-banner", markup=False)
        yield SafeStatic("", id="portfolio-account", markup=False)
        yield SafeStatic("", id="portfolio-notice", markup=False)
        yield SafeTable(id="positions", cursor_type="row", zebra_stripes=True)
        yield Label("Open orders", classes="portfolio-subtitle")
        yield SafeTable(id="orders", cursor_type="row")

    def on_mount(self) -> None:
        positions = self.query_one("#positions", DataTable)
        for key, label in POSITION_COLUMNS:
            positions.add_column(label, key=key)
        orders = self.query_one("#orders", DataTable)
        for key, label in ORDER_COLUMNS:
            orders.add_column(label, key=key)
        self._show_banner()

    # Rendering ------------------------------------------------------------

    @property
    def mode(self) -> str:
        """Where orders go, from the latest view or else the bound service."""
        if self.view is not None:
            return self.view.mode
        return self.service.mode if self.service else "none"

    def _show_banner(self) -> None:
        if self.view is not None:
            text = self.view.banner
        elif self.service is not None:
            label = BANNERS.get(self.service.mode, self.service.mode.upper())
            text = f"{label} · {self.service.broker.endpoint}"
        else:
            text = "NO BROKER"
        self.query_one("#portfolio-banner", Static).update(text)
        for mode in ("paper", "live", "demo"):
            self.set_class(self.mode == mode, f"-{mode}")

    def show_data(self, data: PortfolioView) -> None:
        """Render a fresh view: banner, account line, notice and both tables."""
        self.view = data
        self._show_banner()
        self.query_one("#portfolio-account", Static).update(data.account_line())
        self.query_one("#portfolio-notice", Static).update(data.notice or "")
        self.set_class(bool(data.notice), "-notice")
        columns = tuple(k for k, _ in POSITION_COLUMNS)
        rows = _keyed((p.symbol, _position_cells(p)) for p in data.positions)
        sync_table(self.query_one("#positions", DataTable), rows, columns)
        order_rows = _keyed((o.id, _order_cells(o)) for o in data.orders)
        order_columns = tuple(k for k, _ in ORDER_COLUMNS)
        sync_table(self.query_one("#orders", DataTable), order_rows, order_columns)
        self.refresh_bindings()

    # Selection ------------------------------------------------------------

    def _selected_key(self, table_id: str) -> str | None:
        return _cursor_key(self.query_one(table_id, DataTable))

    def selected_position(self) -> PositionInfo | None:
        """The position under the cursor of the positions table."""
        symbol = self._selected_key("#positions")
        if symbol is None or self.view is None:
            return None
        return self.view.position(symbol)

    def selected_order(self) -> OrderInfo | None:
        """The order under the cursor of the open orders table."""
        order_id = self._selected_key("#orders")
        if order_id is None or self.view is None:
            return None
        return next((o for o in self.view.orders if o.id == order_id), None)

    # Keys -------------------------------------------------------------------

    def _trading_enabled(self) -> bool:
        if getattr(self.app, "read_only", False):
            return False
        return self.service is not None and self.service.can_trade

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Disable order actions in read-only mode and when they do not apply."""
        if action not in ORDER_ACTIONS | {"resend_order"}:
            return True
        if not self._trading_enabled():
            return None
        if action == "cancel_order":
            return True if self.selected_order() else None
        if action == "close_position":
            return True if self.selected_position() else None
        if action == "resend_order":
            return True if self.last_ticket else None
        return True

    def action_new_buy(self) -> None:
        """Open the order entry for a buy of the selected symbol."""
        self._open_from_selection("buy")

    def action_new_sell(self) -> None:
        """Open the order entry for a sell of the selected symbol."""
        self._open_from_selection("sell")

    def _open_from_selection(self, side: str) -> None:
        held = self.selected_position()
        price = held.current_price if held else None
        self.open_order_entry(held.symbol if held else None, price, side)

    def open_order_entry(
        self, symbol: str | None = None, price: float | None = None, side: str = "buy"
    ) -> None:
        """Open the order entry screen, e.g. from a selected candidate.

        Args:
            symbol: Ticker to pre-fill.
            price: Reference price for the estimate (the candidate's last).
            side: "buy" or "sell".
        """
        if not self._trading_enabled() or self.service is None:
            self.notify("orders are disabled here (read-only)", severity="warning")
            return
        view = self.view
        screen = OrderEntryScreen(
            mode=self.service.mode,
            settings=self.service.settings,
            account=view.account if view else None,
            positions=view.positions if view else (),
            symbol=symbol,
            price=price,
            side=side,
        )
        self.app.push_screen(screen, self._submit_ticket)

    def _submit_ticket(self, ticket: OrderTicket | None) -> None:
        if ticket is None or self.service is None:
            return
        self.last_ticket = ticket
        self.refresh_bindings()
        run = partial(self.service.submit, ticket.intent, ticket.typed_confirmation)
        self.request(
            f"Order: {ticket.intent.summary()}", run, mutating=True, self_audited=True
        )

    def action_resend_order(self) -> None:
        """Send the last order again with the same client order id.

        The service first looks the id up at the broker, so an order that
        did arrive is shown, not placed twice.
        """
        if self.last_ticket is not None:
            self._submit_ticket(self.last_ticket)

    def action_cancel_order(self) -> None:
        """Ask to cancel the selected open order."""
        order = self.selected_order()
        if order is None or self.service is None:
            return
        amount = f"{order.qty:g}" if order.qty is not None else f"${order.notional}"
        question = f"Cancel {order.side} {amount} {order.symbol} order {order.id[:12]}?"
        run = partial(self.service.cancel, order.id)
        self.request(
            f"Cancel order {order.id[:12]}", run, confirm=question, self_audited=True
        )

    def action_close_position(self) -> None:
        """Ask to close the selected position (live: the symbol must be typed)."""
        held = self.selected_position()
        if held is None or self.service is None:
            return
        qty = "—" if held.qty is None else f"{held.qty:g}"
        question = f"Close {held.symbol}: sell all {qty} shares at market?"
        label = f"Close position {held.symbol}"
        if self.mode != "live":
            run = partial(self.service.close, held.symbol)
            self.request(label, run, confirm=question, self_audited=True)
            return

        def answered(yes: bool | None) -> None:
            if yes and self.service is not None:
                run = partial(self.service.close, held.symbol, held.symbol)
                self.request(label, run, self_audited=True)

        self.app.push_screen(ConfirmScreen(f"LIVE: {question}", held.symbol), answered)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table.id == "positions":
            self.action_show_position()

    def action_show_position(self) -> None:
        """Show every field of the selected position, thesis included."""
        held = self.selected_position()
        if held is None:
            return
        body = "\n".join(f"{k}: {v}" for k, v in held.to_dict().items())
        self.app.push_screen(DetailScreen(f"Position {held.symbol}", body))
