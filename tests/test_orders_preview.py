"""Order preview and guardrails: pure functions over plain data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from services.broker import AccountInfo, PositionInfo
from services.orders import OrderIntent, OrderInvalid, preview, validate
from services.settings import Settings, load_settings
from tests.support.layers import as_layers

ACCOUNT = AccountInfo(equity=1000.0, cash=500.0, buying_power=500.0, last_equity=990.0)
HELD = [PositionInfo("AMC", qty=10, current_price=4.0, market_value=40.0)]


def settings(**over: Any) -> Settings:
    return load_settings(
        **as_layers(over), config_path=Path("/nonexistent.toml")
    ).settings


def failed(intent: OrderIntent, mode: str = "paper", **over: Any) -> set[str]:
    result = preview(intent, ACCOUNT, HELD, settings(**over), mode=mode)
    return {g.name for g in result.failed}


def test_a_small_paper_buy_passes_every_guardrail() -> None:
    result = preview(OrderIntent("amc", "buy", qty=5), ACCOUNT, HELD, settings())

    assert result.ok
    assert result.intent.symbol == "AMC"
    assert result.price == 4.0 and result.est_cost == 20.0
    assert result.share_of_equity == pytest.approx(2.0)
    assert result.position_after_usd == 60.0
    assert "[PASS] max $ per order: $20.00 vs cap $100.00" in result.text_lines()


def test_the_default_cap_is_100_dollars_per_order() -> None:
    assert failed(OrderIntent("AMC", "buy", qty=26)) == {"max $ per order"}
    assert failed(OrderIntent("AMC", "buy", notional=100.0)) == set()
    assert failed(OrderIntent("AMC", "buy", notional=100.01)) == {"max $ per order"}


def test_max_position_counts_what_is_already_held() -> None:
    intent = OrderIntent("AMC", "buy", qty=20)

    assert failed(intent, max_position_usd=100.0) == {"max position $"}
    assert failed(intent, max_position_usd=120.0) == set()


def test_unknown_cost_fails_closed() -> None:
    unknown = OrderIntent("NEWCO", "buy", qty=1)

    assert "max $ per order" in failed(unknown)
    assert failed(OrderIntent("NEWCO", "buy", qty=1, est_price=3.0)) == set()


def test_kill_switch_and_read_only_each_block() -> None:
    intent = OrderIntent("AMC", "buy", qty=1)

    assert failed(intent, kill_switch=True) == {"kill switch"}
    assert failed(intent, read_only=True) == {"read-only"}


def test_live_needs_the_flag_and_the_environment() -> None:
    intent = OrderIntent("AMC", "buy", qty=1)

    assert failed(intent, mode="live") == {"live trading"}
    assert failed(intent, mode="live", live=True) == {"live trading"}
    assert failed(intent, mode="live", live_trading_env=True) == {"live trading"}
    assert failed(intent, mode="live", live=True, live_trading_env=True) == set()
    assert failed(intent, mode="amc") == {"live trading"}


def test_selling_more_than_held_is_refused() -> None:
    assert failed(OrderIntent("AMC", "sell", qty=11)) == {"shares held"}
    assert failed(OrderIntent("AMC", "sell", qty=10)) == set()


def test_buying_power_is_checked_when_known() -> None:
    poor = AccountInfo(equity=1000.0, buying_power=10.0)
    result = preview(OrderIntent("AMC", "buy", qty=5), poor, HELD, settings())

    assert [g.name for g in result.failed] == ["buying power"]


@pytest.mark.parametrize(
    "intent",
    [
        OrderIntent("AMC", "buy"),
        OrderIntent("AMC", "buy", qty=1, notional=5.0),
        OrderIntent("AMC", "buy", "limit", qty=1),
        OrderIntent("", "buy", qty=1),
        OrderIntent("AMC", "buy", qty=1, time_in_force="forever"),
        OrderIntent("AMC", "buy", qty=1, take_profit=3.0, stop_loss=5.0),
        OrderIntent("AMC", "buy", notional=50.0, stop_loss=3.0),
        OrderIntent("AMC", "buy", qty=float("nan")),
    ],
)
def test_invalid_intents_are_refused_with_a_reason(intent: OrderIntent) -> None:
    with pytest.raises(OrderInvalid):
        validate(intent)
    result = preview(intent, ACCOUNT, HELD, settings())
    assert not result.ok and result.error
    assert result.text_lines()[-1] == f"INVALID: {result.error}"


def test_a_client_order_id_is_assigned_once() -> None:
    intent = OrderIntent("AMC", "buy", qty=1).with_client_id()

    assert intent.client_order_id and len(intent.client_order_id) <= 48
    assert intent.with_client_id().client_order_id == intent.client_order_id
