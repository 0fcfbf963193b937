"""Pilot tests of the health pane in a tiny app."""

from __future__ import annotations

from typing import Any

from textual.app import App, ComposeResult
from textual.widgets import DataTable, Static

from services.health import ComponentStatus, HealthReport
from services.state import Freshness, Loaded
from widgets.dialogs import DetailScreen
from widgets.health_pane import HealthPane

NOW = 1_757_704_800.0


def report(
    status: str = "degraded",
    workers: str = "fail",
    missing: tuple[str, ...] = ("/discovery/test", "/squeeze/alerts"),
    history_len: int = 1,
) -> HealthReport:
    components = (
        ComponentStatus("AMC API", "ok", "healthy (40 ms)", 41.0),
        ComponentStatus("Redis", "ok", "ping 0.3 ms", 2.0),
        ComponentStatus(
            "Workers",
            workers,
            "no live worker on amc_discovery; 3 jobs queued",
            3.0,
            ("AMC heartbeat: 10m old (STALE)", "job [bold]x[/bold] listed"),
            600.0,
        ),
        ComponentStatus("Polygon", "unknown", "not configured", None),
    )
    history = {c.name: (c.status,) * history_len for c in components}
    reasons = ("Workers: no live worker on amc_discovery; 3 jobs queued",)
    return HealthReport(status, components, reasons, missing, history, NOW)


def loaded(data: HealthReport) -> Loaded[HealthReport]:
    return Loaded(None, Freshness("live")).succeeded(data, NOW)


class PaneApp(App[None]):
    def compose(self) -> ComposeResult:
        yield HealthPane()


async def test_badge_follows_the_overall_status() -> None:
    app = PaneApp()
    async with app.run_test() as pilot:
        pane = app.query_one(HealthPane)
        badge = pane.query_one("#health-badge", Static)

        pane.apply(loaded(report("degraded")), NOW)
        await pilot.pause()
        assert str(badge.render()) == "DEGRADED"
        assert badge.has_class("-degraded") and not badge.has_class("-down")

        pane.apply(loaded(report("down")), NOW)
        await pilot.pause()
        assert badge.has_class("-down") and not badge.has_class("-degraded")


async def test_table_has_one_keyed_row_per_component() -> None:
    app = PaneApp()
    async with app.run_test() as pilot:
        pane = app.query_one(HealthPane)
        pane.apply(loaded(report(history_len=3)), NOW)
        await pilot.pause()
        table = pane.query_one(DataTable)

        assert table.row_count == 4
        workers = [str(cell) for cell in table.get_row("Workers")]
        assert workers[:2] == ["FAIL", "10m"]
        assert workers[3] == "3 ms" and workers[4] == "███"
        assert str(table.get_row("Polygon")[3]) == "-"


async def test_cursor_stays_on_its_row_and_cells_update_in_place() -> None:
    app = PaneApp()
    async with app.run_test() as pilot:
        pane = app.query_one(HealthPane)
        pane.apply(loaded(report(workers="fail")), NOW)
        await pilot.pause()
        table = pane.query_one(DataTable)
        table.focus()
        table.move_cursor(row=table.get_row_index("Workers"))

        pane.apply(loaded(report("healthy", workers="ok")), NOW)
        await pilot.pause()

        assert pane.selected_name() == "Workers"
        assert str(table.get_row("Workers")[0]) == "OK"


async def test_enter_opens_the_evidence_as_plain_text() -> None:
    app = PaneApp()
    async with app.run_test() as pilot:
        pane = app.query_one(HealthPane)
        pane.apply(loaded(report()), NOW)
        await pilot.pause()
        table = pane.query_one(DataTable)
        table.focus()
        table.move_cursor(row=table.get_row_index("Workers"))

        await pilot.press("enter")
        await pilot.pause()

        screen = app.screen
        assert isinstance(screen, DetailScreen)
        assert screen.title_text == "Health · Workers"
        assert "Status:  FAIL for 10m" in screen.body
        assert "AMC heartbeat: 10m old (STALE)" in screen.body
        assert "job [bold]x[/bold] listed" in screen.body


async def test_missing_routes_are_shown_and_hidden_when_none() -> None:
    app = PaneApp()
    async with app.run_test() as pilot:
        pane = app.query_one(HealthPane)
        routes = pane.query_one(".health-routes", Static)

        pane.apply(loaded(report()), NOW)
        await pilot.pause()
        assert "/discovery/test, /squeeze/alerts" in str(routes.render())
        assert not routes.has_class("-empty")

        pane.apply(loaded(report(missing=())), NOW)
        await pilot.pause()
        assert routes.has_class("-empty")


async def test_failed_refresh_keeps_the_data_marked_stale() -> None:
    app = PaneApp()
    async with app.run_test() as pilot:
        pane = app.query_one(HealthPane)
        first = loaded(report())
        pane.apply(first, NOW)
        pane.apply(first.failed("Timeout: no answer within 5s"), NOW + 5)
        await pilot.pause()

        assert pane.has_class("-stale")
        assert pane.query_one(DataTable).row_count == 4
        assert "STALE" in str(pane.query_one(".pane-status", Static).render())


async def test_details_are_disabled_before_any_data() -> None:
    app = PaneApp()
    async with app.run_test() as pilot:
        pane = app.query_one(HealthPane)
        await pilot.pause()

        assert pane.check_action("show_component", ()) is None
        pane.action_show_component()
        assert not isinstance(app.screen, DetailScreen)


class SnapshotApp(App[None]):
    """The pane alone, fed one fixed report before the first frame."""

    def compose(self) -> ComposeResult:
        yield HealthPane()

    def on_mount(self) -> None:
        self.query_one(HealthPane).apply(loaded(report(history_len=5)), NOW)


def test_pane_snapshot(snap_compare: Any) -> None:
    assert snap_compare(SnapshotApp(), terminal_size=(100, 20))
