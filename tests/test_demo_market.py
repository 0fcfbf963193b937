"""The demo market: deterministic, fast, in the shared frame layout, with plants."""

from __future__ import annotations

import time
from datetime import date

import numpy as np
import pandas as pd
import pytest

from services.demo_market import FUND_SYMBOLS, DemoMarket
from services.market_data import BAR_COLUMNS, REFERENCE_COLUMNS, MarketSource


@pytest.fixture(scope="module")
def market() -> DemoMarket:
    return DemoMarket()


@pytest.fixture(scope="module")
def last_bars(market: DemoMarket) -> pd.DataFrame:
    return market.daily_bars(90).groupby("symbol").tail(1).set_index("symbol")


def test_is_a_market_source(market: DemoMarket) -> None:
    assert isinstance(market, MarketSource)
    assert market.source == "demo"


def test_same_seed_same_frames_other_seed_differs(market: DemoMarket) -> None:
    again = DemoMarket(seed=7)
    other = DemoMarket(seed=8)

    pd.testing.assert_frame_equal(again.daily_bars(90), market.daily_bars(90))
    pd.testing.assert_frame_equal(again.reference(), market.reference())
    assert other.planted_breakouts != market.planted_breakouts


def test_generation_is_fast() -> None:
    DemoMarket(seed=1)
    started = time.perf_counter()
    DemoMarket(seed=2)
    assert time.perf_counter() - started < 1.0


def test_bars_follow_the_frame_convention(market: DemoMarket) -> None:
    bars = market.daily_bars(90)

    assert tuple(bars.columns) == BAR_COLUMNS
    assert bars["date"].dtype == "datetime64[ns]"
    assert all(bars[c].dtype == "float64" for c in BAR_COLUMNS[2:])
    assert len(bars) == 5200 * 90
    assert not bars.duplicated(["symbol", "date"]).any()
    ordered = bars.sort_values(["symbol", "date"], ignore_index=True)
    pd.testing.assert_frame_equal(bars, ordered)
    assert (bars["date"].dt.normalize() == bars["date"]).all()


def test_bars_are_sane_ohlc_in_the_price_range(market: DemoMarket) -> None:
    bars = market.daily_bars(90)

    assert bars["close"].between(0.5, 300).all()
    assert (bars["high"] >= bars[["open", "close"]].max(axis=1)).all()
    assert (bars["low"] <= bars[["open", "close"]].min(axis=1)).all()
    assert (bars["volume"] > 0).all()


def test_trading_days_skip_weekends_and_holidays(market: DemoMarket) -> None:
    days = set(market.daily_bars(90)["date"].dt.date)

    assert market.as_of == date(2025, 9, 12)
    assert date(2025, 9, 1) not in days  # Labor Day
    assert date(2025, 7, 4) not in days
    assert all(day.weekday() < 5 for day in days)


def test_fewer_days_returns_the_most_recent(market: DemoMarket) -> None:
    bars = market.daily_bars(5)

    assert bars["date"].nunique() == 5
    assert bars["date"].max() == pd.Timestamp(market.as_of)
    assert market.daily_bars(500)["date"].nunique() == 90


def test_as_of_moves_the_calendar() -> None:
    moved = DemoMarket(n_symbols=100, days=40, as_of=date(2026, 1, 3))

    assert moved.as_of == date(2026, 1, 2)  # Saturday -> Friday
    assert moved.daily_bars(40)["date"].max() == pd.Timestamp("2026-01-02")


def test_reference_layout_funds_and_unknowns(market: DemoMarket) -> None:
    ref = market.reference()

    assert tuple(ref.columns) == REFERENCE_COLUMNS
    assert ref.index.name == "symbol"
    assert set(FUND_SYMBOLS) <= set(ref.index[ref["type"] == "ETF"])
    assert ref["short_interest"].isna().mean() > 0.2
    assert ref["borrow_fee"].isna().mean() > 0.2
    assert ref["float_is_proxy"].dtype == bool
    proxies = ref[ref["float_is_proxy"]]
    assert (proxies["float_shares"] == proxies["shares_outstanding"]).all()
    funds = ref[ref["type"].isin(["ETF", "ETN", "FUND"])]
    assert funds["float_shares"].isna().all()


def test_tickers_look_real(market: DemoMarket) -> None:
    symbols = market.reference().index

    assert symbols.is_unique
    assert symbols.str.fullmatch(r"[A-Z]{1,5}").all()


def test_planted_breakouts_are_volume_backed_wide_up_days(
    market: DemoMarket, last_bars: pd.DataFrame
) -> None:
    rows = last_bars.loc[list(market.planted_breakouts)]
    momentum = (rows["close"] - rows["open"]) / rows["open"]
    day_range = (rows["high"] - rows["low"]) / rows["close"]

    assert len(rows) == 6
    assert (momentum >= 0.06).all()
    assert (day_range >= 0.08).all()
    assert (rows["volume"] >= 20e6).all()
    assert rows["close"].between(0.5, 100).all()


def test_planted_squeezes_have_setup_and_volume_explosion(
    market: DemoMarket, last_bars: pd.DataFrame
) -> None:
    symbols = list(market.planted_squeezes)
    ref = market.reference().loc[symbols]
    bars = market.daily_bars(31)
    history = bars[bars["symbol"].isin(symbols)].groupby("symbol")["volume"]
    ratio = last_bars.loc[symbols, "volume"] / history.apply(
        lambda v: v.iloc[:-1].mean()
    )

    assert (ref["float_shares"] <= 20e6).all()
    assert (ref["short_interest"] / ref["float_shares"] >= 0.25).all()
    assert (ref["days_to_cover"] >= 3).all()
    assert (ref["borrow_fee"] >= 0.3).all()
    assert ratio.between(8, 30).all()


def test_last_price(market: DemoMarket, last_bars: pd.DataFrame) -> None:
    symbol = market.planted_breakouts[0]

    assert market.last_price(symbol) == pytest.approx(last_bars.loc[symbol, "close"])
    assert market.last_price("NOPE12") is None


def test_frames_returned_are_copies(market: DemoMarket) -> None:
    bars = market.daily_bars(90)
    bars.loc[0, "close"] = np.nan

    assert not market.daily_bars(90)["close"].isna().any()
