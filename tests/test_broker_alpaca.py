"""The Alpaca adapter: real alpaca-py clients against a local HTTP server."""

from __future__ import annotations

import logging
import time

import pytest
from alpaca.trading.models import Order, Position
from pydantic import TypeAdapter, ValidationError

from services.alpaca_broker import AlpacaBroker
from services.broker import (
    BrokerAuthError,
    BrokerRateLimited,
    BrokerRejected,
    BrokerReplyUnreadable,
    BrokerTimeout,
)
from services.orders import OrderIntent
from tests.support import alpaca_payloads as ap
from tests.support.http_server import LocalServer, Reply

KEY = "PKSECRETKEYID0001"
SECRET = "s3cr3t-value-never-shown"


def broker(server: LocalServer, paper: bool = True, key: str = KEY) -> AlpacaBroker:
    return AlpacaBroker(
        key, SECRET, paper=paper, url_override=server.url, timeout_s=1.0
    )


def test_account_reads_equity_cash_and_day_pl(http_server: LocalServer) -> None:
    http_server.json("GET", "/v2/account", ap.account())

    acct = broker(http_server).account()

    assert (acct.equity, acct.cash, acct.buying_power) == (10000.0, 6000.0, 12000.0)
    assert acct.day_pl == pytest.approx(100.0)
    assert acct.day_pl_pct == pytest.approx(100 / 9900 * 100)
    sent = http_server.calls("/v2/account")[0].headers
    assert sent["apca-api-key-id"] == KEY


def test_positions_with_nulls_render_as_unknown(http_server: LocalServer) -> None:
    nulls = ap.position(
        "GME",
        avg_entry_price=None,
        market_value=None,
        current_price=None,
        unrealized_pl=None,
        unrealized_plpc=None,
        change_today=None,
        cost_basis="n/a",
    )
    http_server.json("GET", "/v2/positions", [ap.position("AMC"), nulls])
    with pytest.raises(ValidationError):
        Position(**nulls)  # the SDK's own model refuses this element

    amc, gme = broker(http_server).positions()

    assert amc.unrealized_pl_pct == pytest.approx(10.0)  # fraction 0.1 shown as percent
    assert amc.change_today_pct == pytest.approx(2.33)
    assert gme.symbol == "GME" and gme.qty == 10.0
    assert (gme.avg_entry, gme.market_value, gme.current_price) == (None, None, None)
    assert gme.cost_basis is None and gme.unrealized_pl_pct is None


def test_c11_unknown_enum_values_show_verbatim_and_log_once(
    http_server: LocalServer, caplog: pytest.LogCaptureFixture
) -> None:
    leg_ok = ap.order("AMC", side="sell", type="limit", limit_price="6.00")
    leg_held = ap.order(
        "AMC", side="sell", type="stop", stop_price="3.00", status="held"
    )
    parent = ap.order("AMC", order_class="", legs=[leg_ok, leg_held])
    odd = ap.order("TLT", status="pending_settlement", asset_class="treasury")
    http_server.json("GET", "/v2/orders", [parent, odd])
    equities = [ap.position(s) for s in ("AMC", "GME", "BBBY")]
    perp = ap.position("BTCUSD", exchange="CRYPTO", asset_class="crypto_perp")
    future = ap.position("XYZ", exchange="NEWX", asset_class="global_equity")
    http_server.json("GET", "/v2/positions", [*equities, perp, future])
    with pytest.raises(ValidationError):
        TypeAdapter(list[Order]).validate_python([parent, odd])  # SDK fails the list
    alpaca = broker(http_server)

    with caplog.at_level(logging.WARNING, logger="services.alpaca_broker"):
        orders = alpaca.open_orders()
        positions = alpaca.positions()
        alpaca.positions()

    assert [o.symbol for o in orders] == ["AMC", "TLT"]
    assert orders[0].order_class == "—"
    assert [leg.status for leg in orders[0].legs] == ["new", "held"]
    assert orders[1].status == "?pending_settlement"
    assert [p.symbol for p in positions] == ["AMC", "GME", "BBBY", "BTCUSD", "XYZ"]
    assert positions[3].asset_class == "crypto_perp"
    assert (positions[4].asset_class, positions[4].exchange) == (
        "?global_equity",
        "?NEWX",
    )
    unknown = [r.getMessage() for r in caplog.records]
    assert sum("global_equity" in m for m in unknown) == 1
    assert sum("pending_settlement" in m for m in unknown) == 1


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (403, {"message": "forbidden."}),
        (401, {"code": 40110000, "message": "request is not authorized"}),
    ],
)
def test_c12_auth_errors_name_environment_and_url_and_hide_keys(
    http_server: LocalServer,
    caplog: pytest.LogCaptureFixture,
    status: int,
    body: dict[str, object],
) -> None:
    http_server.json("GET", "/v2/account", body, status=status)
    alpaca = broker(http_server)

    with caplog.at_level(logging.DEBUG), pytest.raises(BrokerAuthError) as err:
        alpaca.account()

    message = str(err.value)
    assert "PAPER" in message and http_server.url in message
    assert "credentials don't match this environment" in message
    assert str(status) in message
    for secret in (KEY, SECRET):
        assert secret not in message and secret not in caplog.text


def test_c12_paper_keys_on_live_stay_live_and_say_so(http_server: LocalServer) -> None:
    http_server.json("GET", "/v2/account", {"message": "forbidden."}, status=403)
    alpaca = broker(http_server, paper=False, key="PKPAPERLOOKING01")

    for _ in range(2):
        with pytest.raises(BrokerAuthError) as err:
            alpaca.account()

    assert alpaca.mode == "live"
    assert "LIVE endpoint" in str(err.value)
    assert "looks like a paper key" in str(err.value)
    assert "PKPAPERLOOKING01" not in str(err.value)
    assert len(http_server.calls("/v2/account")) == 2  # same URL, no fallback


def test_c12_live_keys_on_paper_say_so(http_server: LocalServer) -> None:
    http_server.json("GET", "/v2/account", {"message": "forbidden."}, status=403)
    alpaca = broker(http_server, paper=True, key="AKLIVELOOKING001")

    with pytest.raises(BrokerAuthError) as err:
        alpaca.account()

    assert alpaca.mode == "paper"
    assert "PAPER endpoint" in str(err.value)
    assert "looks like a live key" in str(err.value)


def test_422_is_explained_and_not_retried(http_server: LocalServer) -> None:
    body = {"code": 42210000, "message": "qty must be > 0"}
    http_server.json("POST", "/v2/orders", body, status=422)
    intent = OrderIntent("AMC", "buy", qty=1, client_order_id="cid-422")

    with pytest.raises(BrokerRejected) as err:
        broker(http_server).submit(intent)

    assert "invalid (422)" in str(err.value) and "qty must be > 0" in str(err.value)
    assert len(http_server.calls("/v2/orders", "POST")) == 1


def test_429_is_explained_without_sdk_sleep_and_retry(http_server: LocalServer) -> None:
    http_server.json(
        "GET", "/v2/positions", {"message": "too many requests"}, status=429
    )
    started = time.monotonic()

    with pytest.raises(BrokerRateLimited) as err:
        broker(http_server).positions()

    assert "too many requests" in str(err.value) and "(429)" in str(err.value)
    assert len(http_server.calls("/v2/positions")) == 1
    assert time.monotonic() - started < 2.0


def test_403_on_an_order_with_a_reason_is_a_rejection(http_server: LocalServer) -> None:
    body = {"code": 40310000, "message": "insufficient buying power"}
    http_server.json("POST", "/v2/orders", body, status=403)
    intent = OrderIntent("AMC", "buy", qty=1, client_order_id="cid-403")

    with pytest.raises(BrokerRejected) as err:
        broker(http_server).submit(intent)

    assert "insufficient buying power" in str(err.value)


def test_silent_server_times_out_within_the_budget(http_server: LocalServer) -> None:
    http_server.route("GET", "/v2/account", Reply(hang=True))
    started = time.monotonic()

    with pytest.raises(BrokerTimeout):
        broker(http_server).account()

    assert time.monotonic() - started < 3.0


def test_unreadable_reply_is_a_typed_error(http_server: LocalServer) -> None:
    http_server.route("GET", "/v2/positions", Reply(200, b"<html>login</html>"))

    with pytest.raises(BrokerReplyUnreadable):
        broker(http_server).positions()


def test_bracket_order_is_sent_as_alpaca_documents_it(http_server: LocalServer) -> None:
    ap.OrderDesk().install(http_server)
    intent = OrderIntent(
        "AMC",
        "buy",
        "limit",
        qty=3,
        limit_price=4.0,
        time_in_force="gtc",
        take_profit=5.0,
        stop_loss=3.5,
        client_order_id="cid-bracket",
    )

    result = broker(http_server).submit(intent)

    sent = http_server.calls("/v2/orders", "POST")[0].json()
    assert sent["order_class"] == "bracket" and sent["type"] == "limit"
    assert sent["take_profit"] == {"limit_price": 5.0}
    assert sent["stop_loss"] == {"stop_price": 3.5}
    assert sent["client_order_id"] == "cid-bracket"
    assert result.order.client_order_id == "cid-bracket"


def test_a_password_in_the_url_is_never_shown(http_server: LocalServer) -> None:
    http_server.json("GET", "/v2/account", {"message": "forbidden."}, status=403)
    with_password = http_server.url.replace("http://", "http://proxyuser:pw123@")
    alpaca = AlpacaBroker(KEY, SECRET, url_override=with_password, timeout_s=1.0)

    with pytest.raises(BrokerAuthError) as err:
        alpaca.account()

    assert "pw123" not in alpaca.endpoint and "pw123" not in str(err.value)


@pytest.mark.parametrize(
    ("paper", "url"),
    [(True, "https://api.alpaca.markets"), (False, "https://paper-api.alpaca.markets")],
)
def test_base_url_of_the_other_environment_is_refused(paper: bool, url: str) -> None:
    from services.errors import ConfigError

    with pytest.raises(ConfigError, match="ALPACA_BASE_URL"):
        AlpacaBroker("PKTEST", "secret", paper=paper, url_override=url)
