"""Pilot tests of the squeeze pane: rendering, keys, notifications and a storm."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import pandas as pd
from textual.app import App, ComposeResult
from textual.widgets import DataTable, Input

from services.clock import FrozenClock
from services.short_data import FrameShortData
from services.squeeze import AlertRow, SqueezeService, SqueezeView
from services.state import Freshness, Loaded
from widgets.dialogs import DetailScreen
from widgets.pane import Pane
from widgets.squeeze_pane import SnoozeScreen, SqueezePane

T0 = 1_780_000_000.0


class PaneApp(App[None]):
    """Hosts one squeeze pane and records what it asks of the app."""

    def __init__(self, pane: SqueezePane, bell_enabled: bool = False) -> None:
        super().__init__()
        self.pane = pane
        self.bell_enabled = bell_enabled
        self.bells = 0
        self.requested: list[Pane.ActionRequested] = []

    def compose(self) -> ComposeResult:
        yield self.pane

    def bell(self) -> None:
        self.bells += 1

    def on_pane_action_requested(self, message: Pane.ActionRequested) -> None:
        self.requested.append(message)


def alert(symbol: str, level: str = "HIGH", score: float = 40.0, **kw: Any) -> AlertRow:
    values: dict[str, Any] = dict(
        symbol=symbol,
        level=level,
        peak_level=level,
        pattern=f"SQUEEZE_{level}",
        score=score,
        si_pct=None,
        days_to_cover=2.5,
        float_shares=12e6,
        float_is_proxy=True,
        volume_ratio=9.0,
        price=4.2,
        change_pct=12.0,
        confidence=0.8,
        first_seen=T0,
        state="new",
        snooze_until=None,
    )
    values.update(kw)
    return AlertRow(**values)


def shown(table: DataTable[Any]) -> list[str]:
    """Symbols in display order (the table's rows dict keeps insertion order)."""
    return [str(table.get_row_at(i)[0]) for i in range(table.row_count)]


def loaded(view: SqueezeView) -> Loaded[SqueezeView]:
    return Loaded(view, Freshness("demo", T0))


def storm(n: int, bump: float = 0.0) -> SqueezeView:
    rows = tuple(
        alert(
            f"S{i:04d}", "EXTREME" if i < 100 else "HIGH", score=90.0 - i * 0.01 + bump
        )
        for i in range(n)
    )
    return SqueezeView(rows, tuple(r.symbol for r in rows), scanned=10_000)


def test_cells_show_unknown_and_proxy_float() -> None:
    from widgets.squeeze_pane import alert_cells

    cells = alert_cells(alert("ABC"))

    assert cells[0] == "ABC" and str(cells[1]) == "HIGH"
    assert cells[3] == "?"  # SI unknown: never a made-up 0
    assert cells[5] == "~12.0M"  # shares outstanding standing in for float
    assert cells[9] == "05-28 20:26" and cells[10] == "new"


async def test_render_notify_and_bell() -> None:
    pane = SqueezePane()
    app = PaneApp(pane, bell_enabled=True)
    async with app.run_test() as pilot:
        view = SqueezeView(
            (alert("AAA", "EXTREME", 60.0), alert("BBB")), ("AAA",), scanned=5
        )
        pane.apply(loaded(view), T0)
        await pilot.pause()

        table = pane.query_one(DataTable)
        assert shown(table) == ["AAA", "BBB"]
        assert len(app._notifications) == 1 and app.bells == 1
        notice = next(iter(app._notifications))
        assert "AAA EXTREME" in notice.message


async def test_storm_of_1000_alerts_stays_responsive() -> None:
    pane = SqueezePane()
    app = PaneApp(pane, bell_enabled=True)
    async with app.run_test(size=(140, 40)) as pilot:
        table = pane.query_one(DataTable)
        table.focus()
        started = time.perf_counter()
        pane.apply(loaded(storm(1000)), T0)
        applied = time.perf_counter() - started
        await pilot.press("down", "down")
        answered = time.perf_counter() - started

        assert table.cursor_row == 2
        assert table.row_count == 100  # one page in the widget, not 1,000 rows
        summary = str(pane.query_one(".squeeze-summary").render())
        assert "1000 alerts: 100 extreme, 900 high" in summary
        assert "rows 1-100 of 1000" in summary
        assert len(app._notifications) == 1 and app.bells == 1
        assert "1000 new EXTREME/HIGH alerts" in next(iter(app._notifications)).message

        started = time.perf_counter()
        pane.apply(loaded(storm(1000, bump=0.05)), T0 + 5)  # every score changes
        await pilot.pause()
        updated = time.perf_counter() - started

        assert table.get_cell("S0000", "score") == "90.0"
        assert pane.selected_symbol() == "S0002"  # cursor kept on its row
        assert applied < 0.5 and answered < 3.0 and updated < 3.0, (
            applied,
            answered,
            updated,
        )

        await pilot.press("right_square_bracket")
        assert shown(table)[:2] == ["S0100", "S0101"]
        assert pane.check_action("next_page", ()) and pane.check_action(
            "previous_page", ()
        )


async def test_reorder_keeps_cursor_on_its_symbol() -> None:
    pane = SqueezePane()
    app = PaneApp(pane)
    async with app.run_test() as pilot:
        pane.apply(loaded(SqueezeView((alert("AAA"), alert("BBB"), alert("CCC")))), T0)
        await pilot.pause()
        pane.query_one(DataTable).focus()
        await pilot.press("down")
        assert pane.selected_symbol() == "BBB"

        reordered = (alert("BBB", "EXTREME"), alert("CCC"), alert("DDD"))
        pane.apply(loaded(SqueezeView(reordered)), T0 + 5)
        await pilot.pause()

        table = pane.query_one(DataTable)
        assert shown(table) == ["BBB", "CCC", "DDD"]
        assert pane.selected_symbol() == "BBB" and table.cursor_row == 0


def make_service() -> SqueezeService:
    """A memory-backed service with one HIGH symbol (vr 10 → score 1/3)."""
    closes = [4.0] * 31 + [5.0]
    bars = pd.DataFrame(
        {
            "symbol": "AAA",
            "date": pd.date_range("2026-01-01", periods=32),
            "open": closes,
            "high": closes,
            "low": closes,
            "close": closes,
            "volume": [1e6] * 31 + [10e6],
        }
    )
    reference = pd.DataFrame(
        {"short_interest": [0.0], "float_shares": [75e6], "days_to_cover": [1.0]},
        index=["AAA"],
    )
    return SqueezeService(
        None, FrameShortData(lambda: reference), lambda: bars, FrozenClock(T0), "demo"
    )


async def test_keys_request_actions_and_open_screens() -> None:
    service = make_service()
    pane = SqueezePane()
    pane.bind_service(service)
    app = PaneApp(pane)
    async with app.run_test() as pilot:
        pane.apply(loaded(service.load()), T0)
        await pilot.pause()
        pane.query_one(DataTable).focus()

        await pilot.press("a")
        assert app.requested[-1].label == "Acknowledge squeeze alert AAA"
        assert app.requested[-1].mutating
        assert app.requested[-1].run().ok

        await pilot.press("s")
        assert isinstance(app.screen, SnoozeScreen)
        app.screen.query_one(Input).value = "15m"
        await pilot.press("enter")
        await pilot.pause()
        outcome = app.requested[-1].run()
        assert outcome.message == "AAA snoozed for 15m"

        await pilot.press("h")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, DetailScreen)
        assert "snoozed" in app.screen.body and "acknowledged" in app.screen.body
        await pilot.press("escape")

        await pilot.press("d")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, DetailScreen)
        assert "volume" in app.screen.body and "[unknown]" in app.screen.body


async def test_actions_disabled_without_alerts() -> None:
    pane = SqueezePane()
    pane.bind_service(make_service())
    app = PaneApp(pane)
    async with app.run_test() as pilot:
        pane.apply(loaded(SqueezeView()), T0)
        await pilot.pause()

        assert pane.check_action("acknowledge_alert", ()) is None
        await pilot.press("a")
        assert app.requested == []


async def test_snooze_prompt_rejects_bad_durations() -> None:
    service = make_service()
    pane = SqueezePane()
    pane.bind_service(service)
    app = PaneApp(pane)
    async with app.run_test() as pilot:
        pane.apply(loaded(service.load()), T0)
        await pilot.pause()
        pane.query_one(DataTable).focus()

        await pilot.press("s")
        app.screen.query_one(Input).value = "soon"
        await pilot.press("enter")
        await pilot.pause()

        assert isinstance(app.screen, SnoozeScreen) and app.requested == []
        await pilot.press("escape")
        assert not isinstance(app.screen, SnoozeScreen)


async def test_api_candidates_and_stale_state() -> None:
    from services.squeeze import ApiCandidate

    pane = SqueezePane()
    app = PaneApp(pane)
    async with app.run_test() as pilot:
        view = SqueezeView(
            (alert("AAA"),),
            api_candidates=(ApiCandidate("ABCD", 74.2, "High", "AMC API (BMS score)"),),
        )
        pane.apply(loaded(view), T0)
        await pilot.pause()
        api = pane.query_one(".squeeze-api")
        assert not api.has_class("-empty")
        assert "AMC API (BMS score): ABCD 74.2 High" in str(api.render())

        pane.apply(
            replace(loaded(view), freshness=Freshness("demo", T0, "Redis down")), T0 + 5
        )
        await pilot.pause()
        assert pane.has_class("-stale")
