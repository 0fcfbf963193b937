"""The health pane: the overall verdict, one row per component, missing routes.

Renders a `HealthReport`; it never opens a connection and runs no action. Text
from outside (details, evidence, routes) never meets markup: cells are `Text`,
statics are `markup=False`, the detail screen is plain text.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static

from services.clock import format_age
from services.health import ComponentStatus, HealthReport, HealthService, history_strip
from widgets.dialogs import DetailScreen
from widgets.pane import Pane
from widgets.safe import SafeStatic, SafeTable

COLUMNS = (
    ("Status", "status"),
    ("For", "for"),
    ("Component", "name"),
    ("Latency", "latency"),
    ("History", "history"),
    ("Reason", "detail"),
)
COLUMN_KEYS = tuple(key for _, key in COLUMNS)
STATUS_STYLES = {"fail": "bold reverse", "warn": "bold", "ok": "", "unknown": "dim"}
BADGE_CLASSES = ("-healthy", "-degraded", "-down")


def component_cells(
    component: ComponentStatus, history: tuple[str, ...]
) -> tuple[Text, ...]:
    """Return the table cells of one component, as plain `Text` (never markup)."""
    latency = "-" if component.latency_ms is None else f"{component.latency_ms:.0f} ms"
    return (
        Text(component.status.upper(), style=STATUS_STYLES.get(component.status, "")),
        Text(format_age(component.for_s) if component.for_s is not None else "-"),
        Text(component.name),
        Text(latency, justify="right"),
        Text(history_strip(history)),
        Text(component.detail),
    )


def detail_text(component: ComponentStatus, history: tuple[str, ...]) -> str:
    """Return the plain-text evidence of one component for the detail screen."""
    latency = "-" if component.latency_ms is None else f"{component.latency_ms:.1f} ms"
    lines = [
        f"Status:  {component.status.upper()}{_held(component)}",
        f"Reason:  {component.detail}",
        f"Latency: {latency}",
        f"History: {' '.join(history) or '-'} (oldest first)",
        "",
        "Evidence:",
    ]
    lines += [f"  {item}" for item in component.evidence] or ["  (none)"]
    return "\n".join(lines)


def _held(component: ComponentStatus) -> str:
    if component.for_s is None:
        return ""
    return f" for {format_age(component.for_s)} (since this console started watching)"


class HealthPane(Pane):
    """What is broken, and since when: the overall badge and every component."""

    pane_id = "health"
    pane_title = "Health"

    BINDINGS = [
        Binding("enter", "show_component", "Details", show=False),
        Binding("d", "show_component", "Component details"),
    ]

    DEFAULT_CSS = """
    HealthPane #health-badge { height: auto; padding: 0 1; text-style: bold; }
    HealthPane #health-badge.-healthy { background: $success; color: $text; }
    HealthPane #health-badge.-degraded { background: $warning; color: $text; }
    HealthPane #health-badge.-down { background: $error; color: $text; }
    HealthPane #health-table { height: auto; max-height: 9; }
    HealthPane .health-routes { height: auto; max-height: 3; color: $warning; }
    HealthPane .health-reasons { height: 1fr; color: $text-muted; }
    HealthPane .health-routes.-empty { display: none; }
    HealthPane.-stale #health-table { opacity: 70%; }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._service: HealthService | None = None
        self._report: HealthReport | None = None
        self._cells: dict[str, tuple[Text, ...]] = {}

    def bind_service(self, service: HealthService) -> None:
        """Keep the service (the pane has no actions; kept for symmetry)."""
        self._service = service

    def compose_body(self) -> ComposeResult:
        yield SafeStatic("…", id="health-badge", markup=False)
        yield SafeTable(id="health-table", cursor_type="row")
        yield SafeStatic("", classes="health-routes -empty", markup=False)
        yield SafeStatic("", classes="health-reasons", markup=False)

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns(*COLUMNS)

    # -- rendering ---------------------------------------------------------

    def show_data(self, data: HealthReport) -> None:
        """Render the badge, the reasons, the component table and missing routes."""
        self._report = data
        self._render_badge(data)
        reasons = [f"{i}. {r}" for i, r in enumerate(data.reasons, 1)]
        self.query_one(".health-reasons", Static).update("\n".join(reasons))
        self._render_table(data)
        self._render_routes(data)

    def _render_badge(self, data: HealthReport) -> None:
        badge = self.query_one("#health-badge", Static)
        badge.update(data.status.upper())
        for name in BADGE_CLASSES:
            badge.set_class(name == f"-{data.status}", name)

    def _render_routes(self, data: HealthReport) -> None:
        widget = self.query_one(".health-routes", Static)
        missing = ", ".join(data.missing_routes)
        widget.update(f"Routes not mounted (404): {missing}" if missing else "")
        widget.set_class(not missing, "-empty")

    def _render_table(self, data: HealthReport) -> None:
        """Update cells in place; rebuild only when components come or go."""
        cells = {
            c.name: component_cells(c, data.history.get(c.name, ()))
            for c in data.components
        }
        table = self.query_one(DataTable)
        with self.app.batch_update():
            if list(cells) != list(self._cells):
                self._rebuild(table, cells)
            else:
                self._update_changed(table, cells)
        self._cells = cells

    def _rebuild(
        self, table: DataTable[Any], cells: dict[str, tuple[Text, ...]]
    ) -> None:
        selected = self.selected_name()
        table.clear()
        for name, row in cells.items():
            table.add_row(*row, key=name)
        if selected in cells:
            table.move_cursor(row=table.get_row_index(selected), animate=False)

    def _update_changed(
        self, table: DataTable[Any], cells: dict[str, tuple[Text, ...]]
    ) -> None:
        for name, row in cells.items():
            old = self._cells.get(name, ())
            for key, value, before in zip(COLUMN_KEYS, row, old, strict=False):
                if value != before:
                    table.update_cell(name, key, value, update_width=True)

    # -- selection and actions -----------------------------------------------

    def selected_name(self) -> str | None:
        """Return the component under the cursor, or None for an empty table."""
        table = self.query_one(DataTable)
        if table.row_count == 0:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        return None if key.value is None else str(key.value)

    def selected_component(self) -> ComponentStatus | None:
        """Return the component under the cursor."""
        name = self.selected_name()
        if name is None or self._report is None:
            return None
        return self._report.component(name)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Details need a component under the cursor."""
        if action == "show_component":
            return True if self.selected_component() is not None else None
        return True

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """Enter on a row opens its details."""
        event.stop()
        self.action_show_component()

    def action_show_component(self) -> None:
        """Open the evidence of the selected component."""
        component = self.selected_component()
        if component is None or self._report is None:
            return
        history = self._report.history.get(component.name, ())
        self.app.push_screen(
            DetailScreen(f"Health · {component.name}", detail_text(component, history))
        )
