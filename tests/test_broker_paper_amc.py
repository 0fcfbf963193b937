"""The demo paper broker and the AMC API holdings source behind PortfolioService."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from services.amc_holdings import AmcApiHoldings
from services.audit import AuditLog
from services.broker import Broker, BrokerNotFound, BrokerReadOnly, BrokerRejected
from services.clock import FrozenClock
from services.errors import ApiError
from services.orders import OrderIntent
from services.paper_broker import PaperBroker, SeedPosition
from services.portfolio import AMBIGUOUS_EMPTY, PortfolioService
from services.settings import load_settings
from tests.support.http_server import LocalServer, Reply
from tests.support.layers import as_layers

CLOCK = FrozenClock(1_800_000_000.0)
PRICES = {"AMC": 5.0, "GME": 20.0}
PREV = {"AMC": 4.0, "GME": 25.0}


def paper(cash: float = 1000.0) -> PaperBroker:
    seeds = [SeedPosition("AMC", 10, 4.0), SeedPosition("GME", 2, 22.0)]
    return PaperBroker(PRICES.get, CLOCK, seeds, cash=cash, prev_close_of=PREV.get)


def make_service(broker: Broker, tmp_path: Path, **over: Any) -> PortfolioService:
    settings = load_settings(**as_layers(over), config_path=tmp_path / "none.toml")
    audit = AuditLog(tmp_path / "audit.log", CLOCK)
    return PortfolioService(broker, settings.settings, audit, CLOCK, "demo")


def test_paper_account_values_positions_at_demo_prices() -> None:
    broker = paper()

    amc, gme = broker.positions()
    acct = broker.account()

    assert (amc.market_value, amc.cost_basis, amc.unrealized_pl) == (50.0, 40.0, 10.0)
    assert amc.unrealized_pl_pct == pytest.approx(25.0)
    assert amc.change_today_pct == pytest.approx(25.0) and amc.day_pl == 10.0
    assert gme.unrealized_pl == pytest.approx(-4.0)
    assert acct.equity == 1090.0 and acct.day_pl == 0.0


def test_market_buy_fills_at_the_demo_price_and_moves_cash() -> None:
    broker = paper()

    result = broker.submit(OrderIntent("AMC", "buy", qty=4, client_order_id="c1"))

    assert result.order.status == "filled" and result.order.filled_avg_price == 5.0
    amc = broker.positions()[0]
    assert amc.qty == 14 and amc.avg_entry == pytest.approx((40 + 20) / 14)
    assert broker.account().cash == 980.0
    assert broker.find_by_client_id("c1") == result.order


def test_notional_buy_fills_fractional_shares() -> None:
    broker = paper()

    broker.submit(OrderIntent("GME", "buy", notional=50.0, client_order_id="c1"))

    assert broker.positions()[1].qty == pytest.approx(4.5)


def test_limit_below_the_price_rests_until_cancelled() -> None:
    broker = paper()
    intent = OrderIntent(
        "AMC", "buy", "limit", qty=1, limit_price=4.5, client_order_id="c1"
    )

    order = broker.submit(intent).order
    assert [o.id for o in broker.open_orders()] == [order.id]
    broker.cancel(order.id)

    assert broker.open_orders() == []
    with pytest.raises(BrokerRejected):
        broker.cancel(order.id)
    with pytest.raises(BrokerNotFound):
        broker.cancel("paper-999999")


def test_paper_refuses_shorts_overdrafts_and_reused_ids() -> None:
    broker = paper(cash=10.0)
    broker.submit(OrderIntent("AMC", "sell", qty=1, client_order_id="c1"))

    with pytest.raises(BrokerRejected, match="11 AMC"):
        broker.submit(OrderIntent("AMC", "sell", qty=11, client_order_id="c2"))
    with pytest.raises(BrokerRejected, match="buying power"):
        broker.submit(OrderIntent("GME", "buy", qty=1, client_order_id="c3"))
    with pytest.raises(BrokerRejected, match="already used"):
        broker.submit(OrderIntent("AMC", "sell", qty=1, client_order_id="c1"))


def test_close_position_sells_everything(tmp_path: Path) -> None:
    svc = make_service(paper(), tmp_path)

    outcome = svc.close("GME")

    assert outcome.ok and outcome.details["status"] == "filled"
    assert [p.symbol for p in svc.load().positions] == ["AMC"]
    assert not svc.close("GME").ok
    assert [r["action"] for r in svc.audit.read()] == ["order.close", "order.close"]


def test_demo_submission_through_the_service_is_idempotent(tmp_path: Path) -> None:
    svc = make_service(paper(), tmp_path)
    intent = OrderIntent("AMC", "buy", qty=2, client_order_id="same")

    first, again = svc.submit(intent), svc.submit(intent)

    assert first.ok and again.ok and "not resent" in again.message
    assert svc.load().positions[0].qty == 12
    view = svc.load()
    assert view.banner.startswith("DEMO") and view.to_dict()["mode"] == "demo"


HOLDING = {
    "symbol": "WXYZ",
    "qty": 90,
    "avg_entry_price": 1.63,
    "cost_basis": 146.7,
    "last_price": 2.21,
    "market_value": 198.9,
    "unrealized_pl": 52.2,
    "unrealized_pl_pct": 35.58,
    "price_source": "broker",
    "data_quality_flags": [],
    "needs_review": False,
    "thesis": "Volume building",
    "confidence": 0.62,
    "suggestion": "HOLD",
    "reasoning": "steady",
    "thesis_source": "Enhanced Analysis",
}


def envelope(positions: list[dict[str, Any]]) -> dict[str, Any]:
    return {"success": True, "data": {"positions": positions, "summary": {}}}


def test_amc_holdings_keep_percent_and_thesis(http_server: LocalServer) -> None:
    flagged = {
        **HOLDING,
        "symbol": "BAD",
        "data_quality_flags": ["extreme_loss"],
        "last_price": None,
    }
    http_server.json("GET", "/portfolio/holdings", envelope([HOLDING, flagged]))

    wxyz, bad = AmcApiHoldings(http_server.url, timeout_s=1.0).positions()

    assert wxyz.unrealized_pl_pct == 35.58  # already percent on this route
    assert (wxyz.thesis, wxyz.suggestion, wxyz.confidence) == (
        "Volume building",
        "HOLD",
        0.62,
    )
    assert bad.flags == ("extreme_loss",) and bad.current_price is None


def test_amc_success_false_inside_200_is_an_error(http_server: LocalServer) -> None:
    body = {
        "success": False,
        "error": "alpaca timeout",
        "data": {"positions": [], "summary": {}},
    }
    http_server.json("GET", "/portfolio/holdings", body)

    with pytest.raises(ApiError, match="alpaca timeout"):
        AmcApiHoldings(http_server.url, timeout_s=1.0).positions()


@pytest.mark.parametrize(
    "reply",
    [
        Reply(502, b"<html>bad gateway</html>", {"Content-Type": "text/html"}),
        Reply(200, b'{"success": true, "data": {"positions": [{"symbol": "AB\xaaC"'),
        Reply(200, b"<html>login</html>", {"Content-Type": "text/html"}),
    ],
    ids=["502", "truncated", "html"],
)
def test_amc_bad_replies_are_errors_not_empty(
    http_server: LocalServer, reply: Reply
) -> None:
    http_server.route("GET", "/portfolio/holdings", reply)

    with pytest.raises(ApiError):
        AmcApiHoldings(http_server.url, timeout_s=1.0).positions()


def test_amc_empty_success_is_shown_as_ambiguous(
    http_server: LocalServer, tmp_path: Path
) -> None:
    http_server.json("GET", "/portfolio/holdings", envelope([]))
    svc = make_service(AmcApiHoldings(http_server.url, timeout_s=1.0), tmp_path)

    view = svc.load()

    assert view.positions == () and view.notice == AMBIGUOUS_EMPTY
    assert AMBIGUOUS_EMPTY in view.text_lines()[2]
    assert "(read-only)" in view.banner and not view.can_trade


def test_amc_source_refuses_orders_and_audits_it(
    http_server: LocalServer, tmp_path: Path
) -> None:
    http_server.json("GET", "/portfolio/holdings", envelope([HOLDING]))
    holdings = AmcApiHoldings(http_server.url, timeout_s=1.0)
    svc = make_service(holdings, tmp_path)

    outcome = svc.submit(OrderIntent("WXYZ", "sell", qty=1))

    assert not outcome.ok and "read-only" in outcome.message
    with pytest.raises(BrokerReadOnly):
        holdings.submit(OrderIntent("WXYZ", "sell", qty=1))
    assert svc.audit.read()[0]["ok"] is False
    assert all(r.method == "GET" for r in http_server.requests)


def test_flags_that_disagree_with_the_broker_are_shown(tmp_path: Path) -> None:
    class PaperLooking(PaperBroker):
        mode = "paper"

    class LiveLooking(PaperBroker):
        mode = "live"

    live_flag_on_paper = make_service(
        PaperLooking(PRICES.get, CLOCK), tmp_path, live=True
    )
    live_without_flags = make_service(LiveLooking(PRICES.get, CLOCK), tmp_path)
    live_with_flags = make_service(
        LiveLooking(PRICES.get, CLOCK), tmp_path, live=True, live_trading_env=True
    )

    assert "orders go to the paper account" in (live_flag_on_paper.load().notice or "")
    assert "orders need both --live" in (live_without_flags.load().notice or "")
    assert live_with_flags.load().notice is None


def test_an_unforeseen_broker_crash_is_still_audited(tmp_path: Path) -> None:
    def broken_price(symbol: str) -> float | None:
        if symbol == "BOOM":
            raise KeyError(symbol)
        return PRICES.get(symbol)

    svc = make_service(PaperBroker(broken_price, CLOCK, cash=100.0), tmp_path)
    intent = OrderIntent("BOOM", "buy", qty=1, est_price=1.0, client_order_id="c9")

    with pytest.raises(KeyError):
        svc.submit(intent)

    (record,) = svc.audit.read()
    assert record["ok"] is False and "KeyError" in record["outcome"]
    assert record["client_order_id"] == "c9"
