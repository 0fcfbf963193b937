"""Pilot tests of the candidates pane: table, cursor, sort, filters, detail, actions."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from rich.text import Text
from textual.app import App, ComposeResult
from textual.widgets import DataTable, Static

from services.candidate_filter import SavedFilters
from services.clock import FrozenClock
from services.demo_market import DemoMarket
from services.discovery import DiscoveryService
from services.discovery_view import Candidate, CandidatesView, RunInfo
from services.environment import Outcome
from services.state import Freshness, Loaded
from widgets.candidates_pane import CandidatesPane, sort_candidates
from widgets.dialogs import DetailScreen
from widgets.pane import Pane

NOW = 1_757_700_000.0


@pytest.fixture(scope="module")
def service() -> DiscoveryService:
    svc = DiscoveryService(None, DemoMarket(n_symbols=400), clock=FrozenClock(NOW),
                           limit=40)  # fmt: skip
    assert svc.run_in_process().ok
    return svc


class PaneApp(App[None]):
    """Mounts one candidates pane and runs the actions it requests."""

    def __init__(self, service: Any, saved: SavedFilters) -> None:
        super().__init__()
        self.service = service
        self.saved = saved
        self.outcomes: list[Outcome] = []
        self.labels: list[str] = []

    def compose(self) -> ComposeResult:
        pane = CandidatesPane()
        pane.bind_service(self.service)
        pane.use_saved_filters(self.saved)
        yield pane

    def on_pane_action_requested(self, message: Pane.ActionRequested) -> None:
        self.labels.append(message.label)
        self.outcomes.append(message.run())


def loaded(view: CandidatesView) -> Loaded[CandidatesView]:
    return Loaded(view, Freshness("demo", NOW))


def table_symbols(app: App[None]) -> list[str]:
    table = app.query_one(DataTable)
    return [str(table.coordinate_to_cell_key((i, 0)).row_key.value)
            for i in range(table.row_count)]  # fmt: skip


async def start(service: DiscoveryService, tmp_path: Path) -> tuple[PaneApp, Any]:
    app = PaneApp(service, SavedFilters(tmp_path / "filters.json"))
    return app, app.run_test(size=(180, 50))


async def test_table_provenance_and_warnings(
    service: DiscoveryService, tmp_path: Path
) -> None:
    app, ctx = await start(service, tmp_path)
    async with ctx as pilot:
        pane = app.query_one(CandidatesPane)
        view = service.load()
        pane.apply(loaded(view), NOW)
        await pilot.pause()

        assert table_symbols(app) == [c.symbol for c in view.items]
        provenance = str(app.query_one(".cand-provenance", Static).render())
        assert "AMC-TUI Console" in provenance and "in-process" in provenance
        warnings = str(app.query_one(".cand-warnings", Static).render())
        assert "not live discovery data" in warnings
        assert len(warnings.splitlines()) <= 2
        app.query_one(DataTable).focus()
        await pilot.press("n")
        await pilot.pause()
        assert isinstance(app.screen, DetailScreen)
        assert app.screen.body == "\n".join(view.warnings)
        app.screen.dismiss()
        await pilot.pause()
        assert pane.selected_symbol() == view.items[0].symbol
        assert pane.selected_price() == view.items[0].price
        pane.tick(NOW + 125)
        assert "(2m ago)" in str(app.query_one(".cand-provenance", Static).render())


async def test_cursor_stays_on_its_symbol_across_refreshes(
    service: DiscoveryService, tmp_path: Path
) -> None:
    app, ctx = await start(service, tmp_path)
    async with ctx as pilot:
        pane = app.query_one(CandidatesPane)
        view = service.load()
        pane.apply(loaded(view), NOW)
        await pilot.pause()
        app.query_one(DataTable).move_cursor(row=5)
        chosen = pane.selected_symbol()

        boosted = replace(view.items[-1], score=100.5)
        reordered = replace(view, items=(*view.items[2:-1], boosted))
        pane.apply(loaded(reordered), NOW + 5)
        await pilot.pause()

        assert pane.selected_symbol() == chosen
        assert app.query_one(DataTable).cursor_row == 4
        assert table_symbols(app)[0] == boosted.symbol
        assert view.items[0].symbol not in table_symbols(app)


def test_sort_puts_missing_values_last_both_ways() -> None:
    items = (
        Candidate("AAA", 50.0, "MONITOR", price=None),
        Candidate("BBB", None, "MONITOR", price=3.0),
        Candidate("CCC", 90.0, "TRADE_READY", price=1.0),
        Candidate("DDD", 70.0, "TRADE_READY", price=2.0),
    )

    by_score = [c.symbol for c in sort_candidates(items, 1, True)]
    by_score_up = [c.symbol for c in sort_candidates(items, 1, False)]
    by_price_up = [c.symbol for c in sort_candidates(items, 3, False)]

    assert by_score == ["CCC", "DDD", "AAA", "BBB"]
    assert by_score_up == ["AAA", "DDD", "CCC", "BBB"]
    assert by_price_up == ["CCC", "DDD", "BBB", "AAA"]


async def test_sort_keys_cycle_and_reverse(
    service: DiscoveryService, tmp_path: Path
) -> None:
    app, ctx = await start(service, tmp_path)
    async with ctx as pilot:
        pane = app.query_one(CandidatesPane)
        pane.apply(loaded(service.load()), NOW)
        app.query_one(DataTable).focus()
        await pilot.press("s", "s")  # score -> action -> price
        await pilot.pause()
        prices = [c.price for c in service.load().items]
        shown = table_symbols(app)
        first = next(c for c in service.load().items if c.symbol == shown[0])
        assert first.price == max(p for p in prices if p is not None)

        await pilot.press("v")
        await pilot.pause()
        first = next(
            c for c in service.load().items if c.symbol == table_symbols(app)[0]
        )
        assert first.price == min(p for p in prices if p is not None)
        assert "sort Price ↑" in str(app.query_one(".cand-filter", Static).render())


async def test_filter_expression_and_saved_filters(
    service: DiscoveryService, tmp_path: Path
) -> None:
    app, ctx = await start(service, tmp_path)
    async with ctx as pilot:
        pane = app.query_one(CandidatesPane)
        view = service.load()
        pane.apply(loaded(view), NOW)
        await pilot.pause()

        pane.apply_filter("score > 70 and price < 20")
        await pilot.pause()
        kept = {c.symbol for c in view.items if c.score > 70 and c.price < 20}
        assert set(table_symbols(app)) == kept and kept

        pane.apply_filter("score >> 3")
        await pilot.pause()
        line = app.query_one(".cand-filter", Static)
        assert line.has_class("-error")
        assert set(table_symbols(app)) == kept  # the last good filter stays

        pane.apply_filter("price < 20")
        pane._save_filter("cheap")
        pane.apply_filter("")
        await pilot.pause()
        assert len(table_symbols(app)) == len(view.items)
        assert SavedFilters(tmp_path / "filters.json").load() == {"cheap": "price < 20"}
        app.query_one(DataTable).focus()
        await pilot.press("l")
        await pilot.pause()
        assert all(c.price < 20 for c in view.items if c.symbol in table_symbols(app))


async def test_enter_explains_the_score(
    service: DiscoveryService, tmp_path: Path
) -> None:
    app, ctx = await start(service, tmp_path)
    async with ctx as pilot:
        pane = app.query_one(CandidatesPane)
        pane.apply(loaded(service.load()), NOW)
        app.query_one(DataTable).focus()
        await pilot.press("enter")
        await pilot.pause()

        screen = app.screen
        assert isinstance(screen, DetailScreen)
        assert "volume_surge" in screen.body and "sum of contributions" in screen.body


async def test_run_progress_and_actions_go_through_the_app(
    service: DiscoveryService, tmp_path: Path
) -> None:
    app, ctx = await start(service, tmp_path)
    async with ctx as pilot:
        pane = app.query_one(CandidatesPane)
        running = RunInfo("console_1", "scoring", 20, 4.0, "in-process",
                          reason="no live worker on amc_discovery")  # fmt: skip
        pane.apply(loaded(replace(service.load(), run=running)), NOW)
        app.query_one(DataTable).focus()
        await pilot.pause()
        run_line = app.query_one(".cand-run", Static)
        assert not run_line.has_class("-idle")
        assert "scoring 20% · 4s" in str(run_line.render())

        await pilot.press("i", "e")
        await pilot.pause()

        assert app.labels == ["Run discovery in-process (bms)"]  # no Redis: no enqueue
        assert app.outcomes[0].ok


async def test_outside_text_is_never_markup(tmp_path: Path) -> None:
    view = CandidatesView(
        "[bold]engine", "live", NOW, 1.0, "bms",
        items=(Candidate("[X]", 50.0, "MONITOR", thesis="[red]boom[/red]"),),
    )  # fmt: skip
    app = PaneApp(None, SavedFilters(tmp_path / "f.json"))
    async with app.run_test(size=(180, 40)) as pilot:
        app.query_one(CandidatesPane).apply(loaded(view), NOW)
        await pilot.pause()
        table = app.query_one(DataTable)
        thesis = table.get_cell("[X]", "thesis")
        assert isinstance(thesis, Text) and thesis.plain == "[red]boom[/red]"
        assert "[bold]engine" in str(app.query_one(".cand-provenance", Static).render())
