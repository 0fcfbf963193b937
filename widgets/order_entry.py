"""The order entry screen: fields, a live preview with every guardrail, and send.

It previews with the pure `services.orders.preview` over the portfolio the
pane already shows, so it never opens a connection; the portfolio service
checks everything again with fresh data before anything is sent. A live order
needs the symbol typed into its own field.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from rich.markup import escape
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from services.broker import AccountInfo, PositionInfo
from services.orders import (
    TIME_IN_FORCE,
    OrderIntent,
    OrderPreview,
    new_client_order_id,
    preview,
)
from services.settings import Settings


@dataclass(frozen=True)
class OrderTicket:
    """What the screen hands back: the intent and the symbol as typed.

    Attributes:
        intent: The order, with the client order id chosen for this screen.
        typed_confirmation: The symbol typed for a live order, else None.
    """

    intent: OrderIntent
    typed_confirmation: str | None


def _number(text: str) -> float | None:
    """Parse a field; blank or unreadable is None (the preview says why)."""
    try:
        value = float(text.replace(",", "").replace("$", "").strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _options(values: Sequence[str]) -> list[tuple[str, str]]:
    return [(v, v) for v in values]


class OrderEntryScreen(ModalScreen[OrderTicket | None]):
    """Enter, preview and send one order.

    Args:
        mode: Where orders go: "paper", "live" or "demo".
        settings: Caps, kill switch, read-only and live flags.
        account: The account the pane shows, or None.
        positions: The positions the pane shows.
        symbol: Pre-filled ticker (e.g. from a selected candidate).
        price: Reference price for a market order's estimate.
        side: "buy" or "sell".
    """

    DEFAULT_CSS = """
    OrderEntryScreen {
        align: center middle;
    }
    OrderEntryScreen > VerticalScroll {
        width: 84;
        max-width: 100%;
        height: auto;
        max-height: 95%;
        border: thick $primary;
        background: $surface;
        padding: 0 1;
    }
    OrderEntryScreen.-live > VerticalScroll {
        border: thick $error;
    }
    OrderEntryScreen Horizontal {
        height: auto;
    }
    OrderEntryScreen Input, OrderEntryScreen Select {
        width: 1fr;
    }
    OrderEntryScreen #order-title {
        text-style: bold;
    }
    OrderEntryScreen #order-preview {
        border: round $primary-darken-1;
        padding: 0 1;
        height: auto;
    }
    OrderEntryScreen #order-preview.-fail {
        border: round $error;
    }
    OrderEntryScreen #order-preview.-pass {
        border: round $success;
    }
    """

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "send", "Send order"),
    ]

    def __init__(
        self,
        *,
        mode: str,
        settings: Settings,
        account: AccountInfo | None,
        positions: Sequence[PositionInfo],
        symbol: str | None = None,
        price: float | None = None,
        side: str = "buy",
    ) -> None:
        super().__init__()
        self.mode = mode
        self.settings = settings
        self.account = account
        self.positions = tuple(positions)
        self.start_symbol = symbol or ""
        self.ref_price = price
        self.start_side = side if side in ("buy", "sell") else "buy"
        self.client_order_id = new_client_order_id()
        self.current: OrderPreview | None = None
        self.set_class(mode == "live", "-live")

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Label(f"New order · {self.mode.upper()}", id="order-title")
            with Horizontal():
                yield Input(self.start_symbol, placeholder="symbol", id="symbol")
                yield Select(
                    _options(("buy", "sell")),
                    value=self.start_side,
                    allow_blank=False,
                    id="side",
                )
                yield Select(
                    _options(("market", "limit")),
                    value="market",
                    allow_blank=False,
                    id="type",
                )
                yield Select(
                    _options(TIME_IN_FORCE), value="day", allow_blank=False, id="tif"
                )
            with Horizontal():
                yield Select(
                    [("shares", "qty"), ("dollars", "notional")],
                    value="qty",
                    allow_blank=False,
                    id="amount-kind",
                )
                yield Input(placeholder="amount", id="amount")
                yield Input(placeholder="limit price", id="limit")
            with Horizontal():
                yield Input(
                    placeholder="take-profit price (optional)", id="take-profit"
                )
                yield Input(placeholder="stop-loss price (optional)", id="stop-loss")
            yield Static("", id="order-preview", markup=False)
            if self.mode == "live":
                yield Label("LIVE order: type the symbol to confirm")
                yield Input(placeholder="symbol", id="confirm-symbol")
            with Horizontal():
                yield Button("Send (ctrl+s)", id="send", variant="error")
                yield Button("Cancel (esc)", id="cancel", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#amount" if self.start_symbol else "#symbol", Input).focus()
        self.refresh_preview()

    def _text(self, widget_id: str) -> str:
        return self.query_one(f"#{widget_id}", Input).value

    def _choice(self, widget_id: str) -> str:
        return str(self.query_one(f"#{widget_id}", Select).value)

    def build_intent(self) -> OrderIntent:
        """Read the fields into an intent (invalid values become None)."""
        amount = _number(self._text("amount"))
        by_qty = self._choice("amount-kind") == "qty"
        return OrderIntent(
            symbol=self._text("symbol").strip().upper(),
            side="sell" if self._choice("side") == "sell" else "buy",
            type="limit" if self._choice("type") == "limit" else "market",
            qty=amount if by_qty else None,
            notional=None if by_qty else amount,
            limit_price=_number(self._text("limit")),
            time_in_force=self._choice("tif"),
            take_profit=_number(self._text("take-profit")),
            stop_loss=_number(self._text("stop-loss")),
            client_order_id=self.client_order_id,
            est_price=self._reference_price(),
        )

    def _reference_price(self) -> float | None:
        symbol = self._text("symbol").strip().upper()
        if symbol == self.start_symbol.upper():
            return self.ref_price
        return None

    def refresh_preview(self) -> None:
        """Recompute the preview and enable Send only when it passes."""
        self.current = preview(
            self.build_intent(),
            self.account,
            self.positions,
            self.settings,
            mode=self.mode,
        )
        box = self.query_one("#order-preview", Static)
        box.update("\n".join(self.current.text_lines()))
        box.set_class(not self.current.ok, "-fail")
        box.set_class(self.current.ok, "-pass")
        self.query_one("#send", Button).disabled = not self.current.ok

    def on_input_changed(self) -> None:
        self.refresh_preview()

    def on_select_changed(self) -> None:
        self.refresh_preview()

    def on_input_submitted(self) -> None:
        self.action_send()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "send":
            self.action_send()
        else:
            self.action_cancel()

    def _typed(self) -> str | None:
        if self.mode != "live":
            return None
        return self._text("confirm-symbol").strip().upper()

    def action_send(self) -> None:
        """Hand the order back, only when the preview passes (and, live, typed)."""
        self.refresh_preview()
        current = self.current
        if current is None or not current.ok:
            self.notify("the order does not pass its checks", severity="warning")
            return
        typed = self._typed()
        if self.mode == "live" and typed != current.intent.symbol:
            self.notify(
                f"type {escape(current.intent.symbol)} to confirm a live order",
                severity="warning",
            )
            return
        self.dismiss(OrderTicket(current.intent, typed))

    def action_cancel(self) -> None:
        """Close without sending anything."""
        self.dismiss(None)
