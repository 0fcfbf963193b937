"""The discovery candidates pane: a sortable, filterable table with provenance.

Renders a `CandidatesView` and never opens a connection: runs, enqueues,
fan-outs, strategy switches and comparisons go to the app through
`Pane.request`. Filters are parsed by `services.candidate_filter` (no eval).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import DataTable, Input, Label, Static
from textual.widgets.data_table import CellDoesNotExist

from services.candidate_filter import FilterError, SavedFilters, compile_filter
from services.discovery_view import Candidate, CandidatesView, sparkline
from services.scoring import STRATEGIES
from widgets.dialogs import DetailScreen
from widgets.pane import Pane
from widgets.safe import SafeStatic, SafeTable

# (label, key, sort value of a candidate)
COLUMNS: tuple[tuple[str, str, Callable[[Candidate], Any]], ...] = (
    ("Symbol", "symbol", lambda c: c.symbol),
    ("Score", "score", lambda c: c.score),
    ("Action", "action", lambda c: c.action),
    ("Price", "price", lambda c: c.price),
    ("Chg %", "change_pct", lambda c: c.change_pct),
    ("Rel vol", "rel_vol", lambda c: c.rel_vol),
    ("ATR %", "atr_pct", lambda c: c.atr_pct),
    ("$ vol", "dollar_volume", lambda c: c.dollar_volume),
    ("Short int", "short_interest", lambda c: c.short_interest),
    ("Float", "float_shares", lambda c: c.float_shares),
    ("Trend", "trend", lambda c: _trend(c.closes)),
    ("Thesis", "thesis", lambda c: c.thesis),
)  # fmt: skip
COLUMN_KEYS = tuple(key for _, key, _ in COLUMNS)
MAX_WARNING_LINES = 2
ACTION_STYLE = {
    "TRADE_READY": "bold",
    "TIER_1": "bold",
    "MONITOR": "",
    "INVALID": "dim",
}


def _trend(closes: tuple[float, ...]) -> float | None:
    """Last close over first close of the sparkline window."""
    return closes[-1] / closes[0] if len(closes) > 1 and closes[0] else None


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _short(value: float | None) -> str:
    """Format 1234567 as "1.2M"."""
    if value is None:
        return "-"
    for scale, unit in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.1f}{unit}"
    return f"{value:.0f}"


def candidate_cells(c: Candidate) -> tuple[Any, ...]:
    """Return one row's cells; outside text is wrapped in `Text` (no markup)."""
    return (
        Text(c.symbol),
        _fmt(c.score, ".2f"),
        Text(c.action, style=ACTION_STYLE.get(c.action, "")),
        _fmt(c.price, ".2f"),
        _fmt(c.change_pct, "+.1f"),
        _fmt(c.rel_vol, ".1f"),
        _fmt(c.atr_pct, ".1f"),
        _short(c.dollar_volume),
        _short(c.short_interest),
        _short(c.float_shares),
        sparkline(c.closes),
        Text(c.thesis),
    )


def sort_candidates(
    items: tuple[Candidate, ...], column: int, descending: bool
) -> list[Candidate]:
    """Sort by a column; missing values go last in either direction (C23)."""
    value_of = COLUMNS[column][2]
    present = [c for c in items if value_of(c) is not None]
    missing = [c for c in items if value_of(c) is None]
    # Two stable passes: ties keep symbol order whichever way the column runs.
    present.sort(key=lambda c: c.symbol)
    present.sort(key=value_of, reverse=descending)
    return present + missing


def explain_from_view(c: Candidate, view: CandidatesView) -> str:
    """Explain a candidate from the envelope alone (no local scoring inputs)."""
    lines = [
        f"{c.symbol} · {view.strategy} · score {_fmt(c.score, '.2f')} · {c.action}"
    ]
    lines += ["", f"component scores as written by {view.engine or 'the producer'}:"]
    lines += [f"  {name:<24} {_fmt(value, '.2f')}" for name, value in c.components]
    lines += ["", c.thesis, "", "Run discovery in-process (i) to see every input."]
    return "\n".join(lines)


def warning_lines(warnings: tuple[str, ...]) -> str:
    """The first warnings, then how many more the warnings key (n) shows."""
    shown = [f"⚠ {w}" for w in warnings[:MAX_WARNING_LINES]]
    hidden = len(warnings) - MAX_WARNING_LINES
    if hidden > 0:
        shown[-1] += f"  (+{hidden} more: n)"
    return "\n".join(shown)


# The table keeps the best rows only: filters and sorts run on the full set, and
# a DataTable's cost grows with every row it holds.
MAX_ROWS = 100


class PromptScreen(ModalScreen[str | None]):
    """Ask for one line of text; dismisses with it, or None on escape."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, question: str, value: str = "") -> None:
        super().__init__()
        self.question = question
        self.value = value

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.question, markup=False)
            yield Input(value=self.value, id="prompt-input")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        """Close without an answer."""
        self.dismiss(None)


class CandidatesPane(Pane):
    """Discovery candidates with provenance, run progress, sort and filters."""

    pane_id = "candidates"
    pane_title = "Discovery candidates"

    BINDINGS = [
        Binding("i", "run_in_process", "Run here"),
        Binding("e", "enqueue_discovery", "Enqueue"),
        Binding("o", "fan_out_discovery", "Fan out"),
        Binding("s", "cycle_sort", "Sort"),
        Binding("v", "reverse_sort", "Reverse"),
        Binding("slash", "edit_filter", "Filter"),
        Binding("w", "save_filter", "Save filter"),
        Binding("l", "next_saved_filter", "Saved filters"),
        Binding("t", "switch_strategy", "Strategy"),
        Binding("c", "compare_strategies", "Compare"),
        Binding("x", "explain_candidate", "Explain"),
        Binding("n", "show_warnings", "Warnings"),
        Binding("b", "buy_candidate", "Buy"),
    ]

    class OrderRequested(Message):
        """The user wants to trade the selected candidate at its last price."""

        def __init__(self, symbol: str, price: float | None) -> None:
            super().__init__()
            self.symbol = symbol
            self.price = price

    DEFAULT_CSS = """
    CandidatesPane #candidates-table { height: 1fr; }
    CandidatesPane .cand-provenance { color: $text-muted; }
    CandidatesPane .cand-warnings { color: $warning; }
    CandidatesPane .cand-warnings.-empty { display: none; }
    CandidatesPane .cand-run { color: $accent; }
    CandidatesPane .cand-run.-idle { display: none; }
    CandidatesPane .cand-filter { color: $primary; }
    CandidatesPane .cand-filter.-error { color: $error; }
    CandidatesPane.-stale #candidates-table { opacity: 70%; }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._service: Any = None
        self._view: CandidatesView | None = None
        self._cells: dict[str, tuple[Any, ...]] = {}
        self._order: list[str] = []
        self._sort_column = 1
        self._descending = True
        self._filter_text = ""
        self._filter: Callable[[Candidate], bool] = compile_filter("")
        self._filter_error = ""
        self._saved = SavedFilters()
        self._saved_index = -1
        self._want_comparison = False

    def bind_service(self, service: Any) -> None:
        """Keep the `DiscoveryService` whose actions this pane requests."""
        self._service = service

    def use_saved_filters(self, saved: SavedFilters) -> None:
        """Store saved filters elsewhere (tests, a custom state directory)."""
        self._saved = saved

    def compose_body(self) -> ComposeResult:
        yield SafeStatic("no results yet", classes="cand-provenance", markup=False)
        yield SafeStatic("", classes="cand-warnings -empty", markup=False)
        yield SafeStatic("", classes="cand-run -idle", markup=False)
        yield SafeStatic("", classes="cand-filter", markup=False)
        yield SafeTable(id="candidates-table", cursor_type="row")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for label, key, _ in COLUMNS:
            table.add_column(label, key=key)
        self._show_filter_line()

    # -- rendering --------------------------------------------------------

    def show_data(self, data: CandidatesView) -> None:
        """Render provenance, warnings, the run and the table."""
        self._view = data
        self.query_one(".cand-provenance", Static).update(data.provenance())
        warnings = self.query_one(".cand-warnings", Static)
        warnings.update(warning_lines(data.warnings))
        warnings.set_class(not data.warnings, "-empty")
        run = self.query_one(".cand-run", Static)
        run.update(data.run.label() if data.run else "")
        run.set_class(data.run is None or not data.run.active, "-idle")
        self._render_table()
        self._show_filter_line()
        self._run_if_workers_down(data)
        if self._want_comparison and data.comparison is not None:
            self._want_comparison = False
            self._open_comparison()

    def _run_if_workers_down(self, data: CandidatesView) -> None:
        """Run discovery here when no worker has served the queue for the grace.

        Read-only consoles never start a run: it writes the shared envelope.
        """
        service = self._service
        if service is None or getattr(self.app, "read_only", False):
            return
        if service.auto_run_due(data):
            self.request(
                f"Run discovery in-process: no live worker on {service.queue}",
                service.run_in_process,
            )

    def tick(self, now: float) -> None:
        """Also age the provenance line ("generated … (42s ago)") between loads."""
        super().tick(now)
        view = self._view
        if view is not None and view.generated_at is not None:
            aged = replace(view, age_s=now - view.generated_at)
            self.query_one(".cand-provenance", Static).update(aged.provenance())

    def _visible(self) -> list[Candidate]:
        if self._view is None:
            return []
        kept = tuple(c for c in self._view.items if self._filter(c))
        return sort_candidates(kept, self._sort_column, self._descending)

    def _render_table(self) -> None:
        """Diff rows by symbol, update changed cells, keep the cursor's symbol."""
        table = self.query_one(DataTable)
        shown = self._visible()[:MAX_ROWS]
        rows = {c.symbol: candidate_cells(c) for c in shown}
        selected = self.selected_symbol()
        with self.app.batch_update():
            for symbol in self._cells.keys() - rows.keys():
                table.remove_row(symbol)
            for symbol, cells in rows.items():
                self._put_row(table, symbol, cells)
            if list(rows) != self._order:
                rank = {symbol: index for index, symbol in enumerate(rows)}
                table.sort("symbol", key=lambda cell: rank[str(cell)])
            if selected in rows:
                table.move_cursor(row=table.get_row_index(selected), animate=False)
        self._cells, self._order = rows, list(rows)

    def _put_row(
        self, table: DataTable[Any], symbol: str, cells: tuple[Any, ...]
    ) -> None:
        old = self._cells.get(symbol)
        if old is None:
            table.add_row(*cells, key=symbol)
            return
        for key, before, after in zip(COLUMN_KEYS, old, cells, strict=True):
            if before != after:
                table.update_cell(symbol, key, after, update_width=True)

    def _show_filter_line(self) -> None:
        label = COLUMNS[self._sort_column][0]
        arrow = "↓" if self._descending else "↑"
        strategy = self._service.strategy if self._service is not None else "-"
        shown = len(self._cells)
        total = len(self._view.items) if self._view else 0
        text = f"strategy {strategy} · sort {label} {arrow} · {shown}/{total} shown"
        text += f" · filter: {self._filter_text}" if self._filter_text else ""
        if self._filter_error:
            text += f" · {self._filter_error}"
        line = self.query_one(".cand-filter", Static)
        line.update(text)
        line.set_class(bool(self._filter_error), "-error")

    # -- selection --------------------------------------------------------

    def _selected(self) -> Candidate | None:
        symbol = self.selected_symbol()
        if symbol is None or self._view is None:
            return None
        return next((c for c in self._view.items if c.symbol == symbol), None)

    def selected_symbol(self) -> str | None:
        """Return the symbol under the cursor, or None when the table is empty."""
        table = self.query_one(DataTable)
        if table.row_count == 0:
            return None
        try:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        except CellDoesNotExist:
            return None
        return None if key.value is None else str(key.value)

    def selected_price(self) -> float | None:
        """Return the price of the selected candidate, or None."""
        candidate = self._selected()
        return None if candidate is None else candidate.price

    # -- actions ----------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Disable service actions without a service, and enqueue without Redis."""
        needs_service = {
            "run_in_process", "enqueue_discovery", "fan_out_discovery",
            "switch_strategy", "compare_strategies",
        }  # fmt: skip
        if action in needs_service and self._service is None:
            return False
        needs_redis = {"enqueue_discovery", "fan_out_discovery"}
        no_redis = getattr(self._service, "redis_url", None) is None
        return not (action in needs_redis and no_redis)

    def action_run_in_process(self) -> None:
        """Run discovery in this console (a thread worker of the app)."""
        service = self._service
        strategy = service.strategy
        self.request(f"Run discovery in-process ({strategy})",
                     lambda: service.run_in_process(strategy))  # fmt: skip

    def action_enqueue_discovery(self) -> None:
        """Queue one discovery job for the RQ workers."""
        service = self._service
        strategy = service.strategy
        self.request(
            f"Enqueue discovery ({strategy})", lambda: service.enqueue(strategy)
        )

    def action_fan_out_discovery(self) -> None:
        """Split discovery over the RQ workers; leftovers run here."""
        service = self._service
        strategy = service.strategy
        self.request(
            f"Fan out discovery ({strategy}, 4 shards)",
            lambda: service.fan_out(shards=4, wait_s=60.0, strategy=strategy),
        )

    def action_switch_strategy(self) -> None:
        """Cycle the strategy of the next run: bms, hybrid_v1, legacy_v0."""
        service = self._service
        following = STRATEGIES[
            (STRATEGIES.index(service.strategy) + 1) % len(STRATEGIES)
        ]
        self.request(f"Strategy {following}", lambda: service.set_strategy(following),
                     mutating=False)  # fmt: skip

    def action_compare_strategies(self) -> None:
        """Show all three strategies side by side (computing it if needed)."""
        if self._view is not None and self._view.comparison is not None:
            self._open_comparison()
            return
        self._want_comparison = True
        self.request("Compare strategies", self._service.compare_strategies,
                     mutating=False)  # fmt: skip

    def _open_comparison(self) -> None:
        assert self._view is not None and self._view.comparison is not None
        body = "\n".join(self._view.comparison.text_lines())
        self.app.push_screen(DetailScreen("Strategies on the same data", body))

    def action_cycle_sort(self) -> None:
        """Sort by the next column."""
        self._sort_column = (self._sort_column + 1) % len(COLUMNS)
        self._resorted()

    def action_reverse_sort(self) -> None:
        """Reverse the sort direction (missing values stay last)."""
        self._descending = not self._descending
        self._resorted()

    def _resorted(self) -> None:
        """A new order shows its top: the cursor goes to the first row."""
        self._render_table()
        self._show_filter_line()
        table = self.query_one(DataTable)
        if table.row_count:
            table.move_cursor(row=0, animate=False)

    def action_edit_filter(self) -> None:
        """Ask for a filter expression, e.g. `score > 70 and price < 20`."""
        prompt = PromptScreen("Filter (e.g. score > 70 and price < 20; empty = all):",
                              self._filter_text)  # fmt: skip
        self.app.push_screen(prompt, self.apply_filter)

    def apply_filter(self, text: str | None) -> None:
        """Use `text` as the filter; an invalid one is shown and not applied."""
        if text is None:
            return
        try:
            self._filter = compile_filter(text)
        except FilterError as exc:
            self._filter_error = str(exc)
        else:
            self._filter_text, self._filter_error = text.strip(), ""
        self._render_table()
        self._show_filter_line()

    def action_save_filter(self) -> None:
        """Save the current filter under a name."""
        if not self._filter_text:
            self.notify("No filter to save: set one with /", severity="warning")
            return
        self.app.push_screen(PromptScreen("Save this filter as:"), self._save_filter)

    def _save_filter(self, name: str | None) -> None:
        if not name:
            return
        try:
            self._saved.save(name, self._filter_text)
        except (FilterError, OSError) as exc:
            self.notify(str(exc), title="Filter not saved", severity="error")
            return
        self.notify(f"Saved filter {name}")

    def action_next_saved_filter(self) -> None:
        """Cycle through saved filters, then back to no filter."""
        saved = sorted(self._saved.load().items())
        if not saved:
            self.notify("No saved filters yet: set one with /, save it with w")
            return
        self._saved_index = (self._saved_index + 1) % (len(saved) + 1)
        text = "" if self._saved_index == len(saved) else saved[self._saved_index][1]
        self.apply_filter(text)

    def action_buy_candidate(self) -> None:
        """Open order entry for the selected candidate (in the portfolio pane)."""
        symbol = self.selected_symbol()
        if symbol is not None:
            self.post_message(self.OrderRequested(symbol, self.selected_price()))

    def action_explain_candidate(self) -> None:
        """Open the score explanation of the selected candidate."""
        candidate = self._selected()
        if candidate is None or self._view is None:
            return
        text = None
        if self._service is not None:
            text = self._service.explain(candidate.symbol, self._view.strategy)
        body = text or explain_from_view(candidate, self._view)
        self.app.push_screen(DetailScreen(f"Why {candidate.symbol} scores", body))

    def action_show_warnings(self) -> None:
        """Show every provenance and partial-data warning."""
        warnings = self._view.warnings if self._view else ()
        body = "\n".join(warnings) or "No warnings."
        self.app.push_screen(DetailScreen("Discovery warnings", body))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """Enter on a row explains its score."""
        event.stop()
        self.action_explain_candidate()
