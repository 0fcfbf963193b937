"""The squeeze alerts pane: a table of shared alerts with acknowledge and snooze.

Renders a `SqueezeView`; it never opens a connection. Mutations go through
`Pane.request`, read-only lookups (detail, history) run the service in a thread
worker. New EXTREME/HIGH alerts raise one notification per refresh, however
many arrive, and ring the bell when the app enables it.
"""

from __future__ import annotations

import datetime as dt
from functools import partial
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Input, Label, Static
from textual.worker import get_current_worker

from services.environment import Outcome
from services.errors import AmcTuiError
from services.squeeze import (
    AlertRow,
    SqueezeService,
    SqueezeView,
    fmt,
    fmt_float,
    parse_duration,
)
from widgets.dialogs import DetailScreen
from widgets.pane import Pane
from widgets.safe import SafeStatic, SafeTable

COLUMNS = (
    ("Symbol", "symbol"),
    ("Level", "level"),
    ("Score", "score"),
    ("SI %", "si"),
    ("DTC", "dtc"),
    ("Float", "float"),
    ("Vol x", "volume"),
    ("Price", "price"),
    ("Chg %", "change"),
    ("First seen", "first_seen"),
    ("State", "state"),
)
COLUMN_KEYS = tuple(key for _, key in COLUMNS)
LEVEL_STYLE = {"EXTREME": "bold reverse", "HIGH": "bold", "MEDIUM": "", "LOW": "dim"}
NOTIFY_ONE_BY_ONE = 3
# Rows kept in the table at once: adding and measuring a row costs ~0.5 ms of
# event-loop time, so a storm is paged rather than loaded whole.
PAGE_SIZE = 100


def alert_cells(row: AlertRow) -> tuple[Any, ...]:
    """Return the table cells of one alert ("?" where a value is unknown)."""
    first = dt.datetime.fromtimestamp(row.first_seen, tz=dt.UTC).strftime("%m-%d %H:%M")
    return (
        row.symbol,
        Text(row.level, style=LEVEL_STYLE.get(row.level, "")),
        f"{row.score:.1f}",
        fmt(row.si_pct, "{:.1f}"),
        fmt(row.days_to_cover, "{:.1f}"),
        fmt_float(row.float_shares, row.float_is_proxy),
        fmt(row.volume_ratio, "{:.1f}"),
        fmt(row.price, "{:.2f}"),
        fmt(row.change_pct, "{:+.1f}"),
        first,
        row.state,
    )


class SnoozeScreen(ModalScreen[float | None]):
    """Ask how long to snooze an alert ("15m", "1h", "1d").

    Dismisses with the duration in seconds, or None when cancelled.
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, symbol: str) -> None:
        super().__init__()
        self.symbol = symbol

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(f"Snooze {self.symbol} for (15m, 1h, 1d):", markup=False)
            yield Input(value="1h", id="snooze-for")
            yield Label("", id="snooze-error", markup=False)

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        try:
            seconds = parse_duration(event.value)
        except ValueError as exc:
            self.query_one("#snooze-error", Label).update(str(exc))
            return
        self.dismiss(seconds)

    def action_cancel(self) -> None:
        """Close without snoozing."""
        self.dismiss(None)


class SqueezePane(Pane):
    """Shared squeeze alerts, sorted by level then score."""

    pane_id = "squeeze"
    pane_title = "Squeeze alerts"

    BINDINGS = [
        Binding("a", "acknowledge_alert", "Acknowledge"),
        Binding("s", "snooze_alert", "Snooze"),
        Binding("d", "show_detail", "Detail"),
        Binding("h", "show_history", "History"),
        Binding("right_square_bracket", "next_page", "Next page"),
        Binding("left_square_bracket", "previous_page", "Previous page"),
    ]

    DEFAULT_CSS = """
    SqueezePane #squeeze-table { height: 1fr; }
    SqueezePane .squeeze-summary { color: $text-muted; }
    SqueezePane .squeeze-api { color: $accent; height: auto; max-height: 6; }
    SqueezePane .squeeze-api.-empty { display: none; }
    SqueezePane.-stale #squeeze-table { opacity: 70%; }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._service: SqueezeService | None = None
        self._cells: dict[str, tuple[Any, ...]] = {}
        self._order: list[str] = []
        self._rows: tuple[AlertRow, ...] = ()
        self._page = 0
        self._summary = ""

    def bind_service(self, service: SqueezeService) -> None:
        """Keep the service whose actions this pane requests."""
        self._service = service

    def compose_body(self) -> ComposeResult:
        yield SafeStatic("", classes="squeeze-summary", markup=False)
        yield SafeTable(id="squeeze-table", cursor_type="row")
        yield SafeStatic("", classes="squeeze-api -empty", markup=False)

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns(*COLUMNS)

    def show_data(self, data: SqueezeView) -> None:
        """Render the alerts, the summary, the API candidates; notify new ones."""
        self._rows = data.alerts
        self._summary = data.summary() + (f"  {data.note}" if data.note else "")
        self._render_table()
        self._show_summary()
        self._render_api(data)
        self._announce(data)

    def _render_table(self) -> None:
        """Show the current page, diffed by row key so the cursor keeps its row."""
        table = self.query_one(DataTable)
        self._page = min(self._page, max(0, len(self._rows) - 1) // PAGE_SIZE)
        start = self._page * PAGE_SIZE
        cells = {
            r.symbol: alert_cells(r) for r in self._rows[start : start + PAGE_SIZE]
        }
        selected = self.selected_symbol()
        with self.app.batch_update():
            for symbol in self._cells.keys() - cells.keys():
                table.remove_row(symbol)
            for symbol, row in cells.items():
                self._put_row(table, symbol, row)
            if list(cells) != self._order or len(cells) != len(self._cells):
                rank = {symbol: index for index, symbol in enumerate(cells)}
                table.sort("symbol", key=rank.__getitem__)
            if selected in cells:
                table.move_cursor(row=table.get_row_index(selected), animate=False)
        self._cells, self._order = cells, list(cells)

    def _put_row(
        self, table: DataTable[Any], symbol: str, row: tuple[Any, ...]
    ) -> None:
        """Add a new row, or update only the cells of an existing one that changed."""
        old = self._cells.get(symbol)
        if old is None:
            table.add_row(*row, key=symbol)
            return
        for key, before, after in zip(COLUMN_KEYS, old, row, strict=True):
            if before != after:
                table.update_cell(symbol, key, after, update_width=True)

    def _show_summary(self) -> None:
        text = self._summary
        if len(self._rows) > PAGE_SIZE:
            start = self._page * PAGE_SIZE
            end = min(start + PAGE_SIZE, len(self._rows))
            text += f"  rows {start + 1}-{end} of {len(self._rows)} ([ ] page)"
        self.query_one(".squeeze-summary", Static).update(text)

    def _render_api(self, data: SqueezeView) -> None:
        api = self.query_one(".squeeze-api", Static)
        lines = [
            f"{c.source}: {c.symbol} {fmt(c.score, '{:.1f}')} {c.tier}"
            for c in data.api_candidates[:5]
        ]
        if data.api_error:
            lines.append(f"AMC API candidates unavailable: {data.api_error}")
        api.update("\n".join(lines))
        api.set_class(not lines, "-empty")

    def _announce(self, data: SqueezeView) -> None:
        """One notification per refresh (a storm must not flood the screen)."""
        if not data.new_high:
            return
        levels = {row.symbol: row.level for row in data.alerts}
        if len(data.new_high) <= NOTIFY_ONE_BY_ONE:
            text = ", ".join(f"{s} {levels.get(s, '')}" for s in data.new_high)
        else:
            shown = ", ".join(data.new_high[:NOTIFY_ONE_BY_ONE])
            text = f"{len(data.new_high)} new EXTREME/HIGH alerts: {shown}, …"
        self.app.notify(text, title="Squeeze alert", severity="warning", markup=False)
        if getattr(self.app, "bell_enabled", False):
            self.app.bell()

    def selected_symbol(self) -> str | None:
        """Return the symbol under the cursor, or None for an empty table."""
        table = self.query_one(DataTable)
        if table.row_count == 0:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        return None if key.value is None else str(key.value)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Disable the alert actions without a service or a selected alert."""
        if action in {
            "acknowledge_alert",
            "snooze_alert",
            "show_detail",
            "show_history",
        }:
            return None if self._service is None or not self._order else True
        if action == "next_page":
            return (self._page + 1) * PAGE_SIZE < len(self._rows)
        if action == "previous_page":
            return self._page > 0
        return True

    def action_next_page(self) -> None:
        """Show the next page of alerts."""
        self._turn_page(1)

    def action_previous_page(self) -> None:
        """Show the previous page of alerts."""
        self._turn_page(-1)

    def _turn_page(self, step: int) -> None:
        self._page = max(0, self._page + step)
        self._render_table()
        self._show_summary()
        self.refresh_bindings()

    def action_acknowledge_alert(self) -> None:
        """Acknowledge the selected alert for every console."""
        symbol = self.selected_symbol()
        if self._service is None or symbol is None:
            return
        self.request(
            f"Acknowledge squeeze alert {symbol}",
            partial(self._service.acknowledge, symbol),
        )

    def action_snooze_alert(self) -> None:
        """Ask for a duration, then snooze the selected alert."""
        symbol = self.selected_symbol()
        if self._service is None or symbol is None:
            return
        service = self._service

        def snooze(seconds: float | None) -> None:
            if seconds is not None:
                self.request(
                    f"Snooze squeeze alert {symbol}",
                    partial(service.snooze, symbol, seconds),
                )

        self.app.push_screen(SnoozeScreen(symbol), snooze)

    def action_show_detail(self) -> None:
        """Show each factor's contribution and source for the selected alert."""
        symbol = self.selected_symbol()
        if self._service is not None and symbol is not None:
            self._look_up(
                f"{symbol} squeeze score", partial(self._service.detail, symbol)
            )

    def action_show_history(self) -> None:
        """Show the selected symbol's alert history."""
        symbol = self.selected_symbol()
        if self._service is not None and symbol is not None:
            self._look_up(
                f"{symbol} alert history", partial(self._service.history, symbol)
            )

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_show_detail()

    @work(thread=True, exclusive=True, group="squeeze-lookup")
    def _look_up(self, title: str, fetch: Any) -> None:
        """Run a read-only service lookup off the event loop, then show it."""
        try:
            outcome: Outcome = fetch()
        except AmcTuiError as exc:
            outcome = Outcome(False, exc.message, {"text": str(exc)})
        if get_current_worker().is_cancelled:
            return
        text = str(outcome.details.get("text", outcome.message))
        self.app.call_from_thread(self.app.push_screen, DetailScreen(title, text))
