"""Pilot tests of the portfolio pane and the order entry screen."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from textual.app import App, ComposeResult
from textual.widgets import Button, DataTable, Input, Static

from services.alpaca_broker import AlpacaBroker
from services.audit import AuditLog
from services.broker import PositionInfo
from services.clock import FrozenClock
from services.errors import AmcTuiError
from services.orders import OrderIntent
from services.paper_broker import PaperBroker, SeedPosition
from services.portfolio import PortfolioService
from services.settings import load_settings
from services.state import Freshness, Loaded
from tests.support.http_server import LocalServer
from tests.support.layers import as_layers
from widgets.dialogs import DetailScreen
from widgets.order_entry import OrderEntryScreen
from widgets.pane import Pane
from widgets.portfolio_pane import PortfolioPane

NOW = 1_800_000_000.0
CLOCK = FrozenClock(NOW)


class PaneApp(App[None]):
    """Mounts one portfolio pane and records the actions it requests."""

    def __init__(self, service: PortfolioService, read_only: bool = False) -> None:
        super().__init__()
        self.service = service
        self.read_only = read_only
        self.requested: list[Pane.ActionRequested] = []

    def compose(self) -> ComposeResult:
        pane = PortfolioPane()
        pane.bind_service(self.service)
        yield pane

    def on_pane_action_requested(self, event: Pane.ActionRequested) -> None:
        self.requested.append(event)


def make_service(
    tmp_path: Path, prices: dict[str, float], **over: Any
) -> PortfolioService:
    seeds = [SeedPosition("AMC", 10, 4.0), SeedPosition("GME", 2, 22.0)]
    broker = PaperBroker(prices.get, CLOCK, seeds, cash=1000.0)
    settings = load_settings(**as_layers(over), config_path=tmp_path / "none.toml")
    audit = AuditLog(tmp_path / "audit.log", CLOCK)
    return PortfolioService(broker, settings.settings, audit, CLOCK, "demo")


def loaded(service: PortfolioService) -> Loaded[Any]:
    return Loaded(None, Freshness("demo")).succeeded(service.load(), NOW)


def text(pane: PortfolioPane, widget_id: str) -> str:
    return str(pane.query_one(widget_id, Static).render())


def cell(table: DataTable[Any], row: str, column: str) -> str:
    return str(table.get_cell(row, column))


async def test_pane_shows_banner_account_and_keyed_rows(tmp_path: Path) -> None:
    prices = {"AMC": 5.0, "GME": 20.0}
    service = make_service(tmp_path, prices)
    async with PaneApp(service).run_test(size=(140, 40)) as pilot:
        pane = pilot.app.query_one(PortfolioPane)
        assert text(pane, "#portfolio-banner").startswith("DEMO")
        pane.apply(loaded(service), NOW)
        await pilot.pause()

        table = pane.query_one("#positions", DataTable)
        assert [k.value for k in table.rows] == ["AMC", "GME"]
        assert cell(table, "AMC", "pl") == "+10.00"
        assert cell(table, "AMC", "pl_pct") == "+25.0%"
        assert "equity $1,090.00" in text(pane, "#portfolio-account")
        assert pane.has_class("-demo")


async def test_refresh_updates_cells_in_place_and_keeps_the_cursor(
    tmp_path: Path,
) -> None:
    prices = {"AMC": 5.0, "GME": 20.0, "AAA": 1.0}
    service = make_service(tmp_path, prices)
    async with PaneApp(service).run_test(size=(140, 40)) as pilot:
        pane = pilot.app.query_one(PortfolioPane)
        pane.apply(loaded(service), NOW)
        table = pane.query_one("#positions", DataTable)
        table.focus()
        await pilot.press("down")
        assert pane.selected_position().symbol == "GME"  # type: ignore[union-attr]

        prices["GME"] = 30.0
        service.broker.submit(service_intent("AAA"))
        service.broker.close_position("AMC")
        pane.apply(loaded(service), NOW)
        await pilot.pause()

        assert [k.value for k in table.rows] == ["GME", "AAA"]
        assert pane.selected_position().symbol == "GME"  # type: ignore[union-attr]
        assert cell(table, "GME", "last") == "30.00"


def service_intent(symbol: str) -> Any:
    return OrderIntent(symbol, "buy", qty=1, client_order_id=f"seed-{symbol}")


async def test_failed_refresh_keeps_rows_marked_stale(tmp_path: Path) -> None:
    service = make_service(tmp_path, {"AMC": 5.0, "GME": 20.0})
    async with PaneApp(service).run_test(size=(140, 40)) as pilot:
        pane = pilot.app.query_one(PortfolioPane)
        good = loaded(service)
        pane.apply(good, NOW)
        error = "Broker credentials: PAPER endpoint ... credentials don't match"
        pane.apply(good.failed(error), NOW + 5)
        await pilot.pause()

        assert pane.has_class("-stale")
        assert pane.query_one("#positions", DataTable).row_count == 2
        assert "STALE" in text(pane, ".pane-status")
        assert text(pane, "#portfolio-banner").startswith("DEMO")


async def test_read_only_disables_every_order_action(tmp_path: Path) -> None:
    service = make_service(tmp_path, {"AMC": 5.0, "GME": 20.0})
    async with PaneApp(service, read_only=True).run_test(size=(140, 40)) as pilot:
        pane = pilot.app.query_one(PortfolioPane)
        pane.apply(loaded(service), NOW)
        pane.query_one("#positions", DataTable).focus()
        await pilot.pause()

        for action in ("new_buy", "new_sell", "close_position", "cancel_order"):
            assert not pane.check_action(action, ())
        await pilot.press("b", "c")
        assert not isinstance(pilot.app.screen, OrderEntryScreen)
        assert pilot.app.requested == []
        assert pane.check_action("show_position", ())


async def test_buy_from_the_pane_previews_then_requests_the_order(
    tmp_path: Path,
) -> None:
    service = make_service(tmp_path, {"AMC": 5.0, "GME": 20.0})
    async with PaneApp(service).run_test(size=(140, 40)) as pilot:
        pane = pilot.app.query_one(PortfolioPane)
        pane.apply(loaded(service), NOW)
        pane.query_one("#positions", DataTable).focus()
        await pilot.press("b")
        screen = pilot.app.screen
        assert isinstance(screen, OrderEntryScreen)
        assert screen.query_one("#symbol", Input).value == "AMC"

        screen.query_one("#amount", Input).value = "30"  # $150 > the $100 cap
        await pilot.pause()
        assert screen.query_one("#send", Button).disabled
        assert "[FAIL] max $ per order" in str(
            screen.query_one("#order-preview").render()
        )
        await pilot.press("ctrl+s")
        assert pilot.app.requested == []

        screen.query_one("#amount", Input).value = "4"
        await pilot.pause()
        await pilot.press("ctrl+s")
        await pilot.pause()

        assert not isinstance(pilot.app.screen, OrderEntryScreen)
        (request,) = pilot.app.requested
        assert request.mutating and "buy 4 AMC" in request.label
        outcome = request.run()
        held = service.load().position("AMC")
        assert outcome.ok and held is not None and held.qty == 14


async def test_open_order_entry_from_a_candidate_prefills_symbol_and_price(
    tmp_path: Path,
) -> None:
    service = make_service(tmp_path, {"AMC": 5.0, "GME": 20.0, "NEWCO": 2.5})
    async with PaneApp(service).run_test(size=(140, 40)) as pilot:
        pane = pilot.app.query_one(PortfolioPane)
        pane.apply(loaded(service), NOW)
        pane.open_order_entry("NEWCO", 2.5, side="buy")
        await pilot.pause()
        screen = pilot.app.screen
        assert isinstance(screen, OrderEntryScreen)
        screen.query_one("#amount", Input).value = "10"
        await pilot.pause()

        assert screen.current is not None and screen.current.est_cost == 25.0
        assert not screen.query_one("#send", Button).disabled


async def test_live_entry_needs_the_typed_symbol(tmp_path: Path) -> None:
    service = make_service(tmp_path, {"AMC": 5.0}, live=True, live_trading_env=True)
    view = service.load()
    entry = OrderEntryScreen(
        mode="live",
        settings=service.settings,
        account=view.account,
        positions=view.positions,
        symbol="AMC",
        price=5.0,
    )
    results: list[Any] = []
    async with PaneApp(service).run_test(size=(140, 40)) as pilot:
        pilot.app.push_screen(entry, results.append)
        await pilot.pause()
        entry.query_one("#amount", Input).value = "2"
        entry.query_one("#confirm-symbol", Input).value = "AMX"
        await pilot.pause()
        await pilot.press("ctrl+s")
        assert results == [] and entry.has_class("-live")

        entry.query_one("#confirm-symbol", Input).value = "amc"
        await pilot.press("ctrl+s")
        await pilot.pause()

    (ticket,) = results
    assert ticket.typed_confirmation == "AMC" and ticket.intent.client_order_id


async def test_cancel_and_close_ask_for_confirmation_with_the_quantity(
    tmp_path: Path,
) -> None:
    service = make_service(tmp_path, {"AMC": 5.0, "GME": 20.0})
    resting = OrderIntent(
        "AMC", "buy", "limit", qty=3, limit_price=4.0, client_order_id="rest"
    )
    order = service.broker.submit(resting).order
    async with PaneApp(service).run_test(size=(140, 40)) as pilot:
        pane = pilot.app.query_one(PortfolioPane)
        pane.apply(loaded(service), NOW)
        pane.query_one("#positions", DataTable).focus()
        await pilot.press("c")
        pane.query_one("#orders", DataTable).focus()
        await pilot.press("x")

        close, cancel = pilot.app.requested
        assert close.confirm == "Close AMC: sell all 10 shares at market?"
        assert cancel.confirm is not None and "buy 3 AMC" in cancel.confirm
        assert cancel.run().ok and service.broker.open_orders() == []
        assert order.id in cancel.label or order.id[:12] in cancel.label


async def test_c12_live_banner_shows_before_and_after_an_auth_error(
    tmp_path: Path, http_server: LocalServer
) -> None:
    http_server.json("GET", "/v2/account", {"message": "forbidden."}, status=403)
    broker = AlpacaBroker(
        "PKLOOKSPAPER",
        "hidden",
        paper=False,
        url_override=http_server.url,
        timeout_s=1.0,
    )
    settings = load_settings(cli={}, env={}, config_path=tmp_path / "none.toml")
    service = PortfolioService(
        broker, settings.settings, AuditLog(tmp_path / "a.log", CLOCK), CLOCK, "live"
    )
    async with PaneApp(service).run_test(size=(140, 40)) as pilot:
        pane = pilot.app.query_one(PortfolioPane)
        assert text(pane, "#portfolio-banner") == f"LIVE · {http_server.url}"
        try:
            service.load()
        except AmcTuiError as exc:
            error = str(exc)
        pane.apply(Loaded(None, Freshness("live")).failed(error), NOW)
        await pilot.pause()

        assert pane.has_class("-live") and pane.has_class("-stale")
        status = text(pane, ".pane-status")
        assert "credentials don't match this environment" in status
        assert "PKLOOKSPAPER" not in status and "hidden" not in status


async def test_repeated_or_missing_symbols_still_render(tmp_path: Path) -> None:
    service = make_service(tmp_path, {"AMC": 5.0, "GME": 20.0})
    view = service.load()
    odd = (PositionInfo("—", None), PositionInfo("—", 3.0), view.positions[0])
    async with PaneApp(service).run_test(size=(140, 40)) as pilot:
        pane = pilot.app.query_one(PortfolioPane)
        pane.apply(
            Loaded(None, Freshness("demo")).succeeded(
                replace(view, positions=odd + view.positions), NOW
            ),
            NOW,
        )
        await pilot.pause()

        table = pane.query_one("#positions", DataTable)
        assert [k.value for k in table.rows] == ["—", "—#2", "AMC", "AMC#2", "GME"]
        assert cell(table, "—", "qty") == "—"


async def test_enter_on_a_position_shows_every_field(tmp_path: Path) -> None:
    service = make_service(tmp_path, {"AMC": 5.0, "GME": 20.0})
    async with PaneApp(service).run_test(size=(140, 40)) as pilot:
        pane = pilot.app.query_one(PortfolioPane)
        pane.apply(loaded(service), NOW)
        pane.query_one("#positions", DataTable).focus()
        await pilot.press("down", "enter")
        await pilot.pause()

        screen = pilot.app.screen
        assert isinstance(screen, DetailScreen)
        assert screen.title_text == "Position GME" and "avg_entry: 22.0" in screen.body
