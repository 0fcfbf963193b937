"""A generated, deterministic stock market for the demo, tests and benchmarks.

`DemoMarket` implements `MarketSource` from a seed alone (vectorised numpy,
well under a second for 5,200 symbols x 90 days) and plants a few momentum
breakouts and short-squeeze setups so every strategy has something to show.
It never touches the network, the clock or any file.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from services.market_data import BAR_COLUMNS, REFERENCE_COLUMNS, trading_days

DEFAULT_AS_OF = date(2025, 9, 12)
FUND_SYMBOLS = (
    "SPY", "QQQ", "IWM", "VTI", "VOO", "TLT", "GLD", "SLV",
    "TQQQ", "SQQQ", "UVXY", "SPXL", "SPXS", "LABD", "DRIP",
)  # fmt: skip
_FUND_FRAGMENTS = (*FUND_SYMBOLS, "ETF", "FUND", "TRUST", "INDEX")
_TYPES = np.array(["CS", "ADRC", "ETF", "ETN", "FUND"])
_TYPE_WEIGHTS = np.array([0.86, 0.04, 0.07, 0.015, 0.015])
_LENGTH_WEIGHTS = np.array([0.01, 0.07, 0.35, 0.46, 0.11])
_WORDS = (
    "Apex", "Beacon", "Cedar", "Delta", "Ember", "Falcon", "Granite", "Harbor",
    "Iris", "Juniper", "Keystone", "Lumen", "Meridian", "Nova", "Orion", "Pioneer",
    "Quarry", "Ridge", "Summit", "Tidal", "Union", "Vertex", "Willow", "Zenith",
)  # fmt: skip
_THEMES = (
    "Therapeutics", "Technologies", "Energy", "Bancorp", "Pharmaceuticals",
    "Systems", "Semiconductor", "Mining", "Biosciences", "Networks", "Motors",
    "Retail", "Robotics", "Solar", "Logistics", "Media",
)  # fmt: skip
_SUFFIX = {"CS": "Inc", "ADRC": "ADR", "ETF": "ETF", "ETN": "ETN", "FUND": "Fund"}
N_BREAKOUTS = 6
N_SQUEEZES = 5


@dataclass(frozen=True)
class _Prices:
    """The generated OHLCV matrices, one row per symbol, one column per day."""

    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray


class DemoMarket:
    """A deterministic market: the same seed always gives the same frames.

    Args:
        seed: Seed of the generator.
        n_symbols: Number of tickers, funds included.
        days: Number of trading days of history.
        as_of: The last trading day; defaults to 2025-09-12 so output is
            stable (pass the clock's date for a "today" look).

    Attributes:
        source: Always "demo".
        planted_breakouts: Symbols whose last bar is a volume-backed breakout.
        planted_squeezes: Symbols set up as short squeezes (small float, high
            short interest and borrow fee, volume 10-25x on the last day).
    """

    source = "demo"

    def __init__(
        self,
        seed: int = 7,
        n_symbols: int = 5200,
        days: int = 90,
        as_of: date | None = None,
    ) -> None:
        smallest = N_BREAKOUTS + N_SQUEEZES + len(FUND_SYMBOLS)
        if n_symbols < smallest:
            raise ValueError(f"n_symbols must be at least {smallest}")
        if days < 31:
            raise ValueError("days must be at least 31 (30-day averages need them)")
        self.seed = seed
        self.dates = trading_days(as_of or DEFAULT_AS_OF, days)
        self.as_of = self.dates[-1]
        rng = np.random.default_rng(seed)
        self.symbols, self.types = _make_universe(rng, n_symbols)
        prices = _random_walks(rng, self.types, days)
        picks = _pick_planted(rng, self.types)
        self.planted_breakouts = tuple(self.symbols[picks[:N_BREAKOUTS]].tolist())
        self.planted_squeezes = tuple(self.symbols[picks[N_BREAKOUTS:]].tolist())
        _plant_breakouts(rng, prices, picks[:N_BREAKOUTS])
        squeeze_ref = _plant_squeezes(rng, prices, picks[N_BREAKOUTS:])
        _tidy(prices)
        self._reference = _make_reference(rng, self.symbols, self.types, prices)
        _plant_reference(self._reference, prices, picks[N_BREAKOUTS:], squeeze_ref)
        self._bars = _bars_frame(self.symbols, self.dates, prices)
        self._last_close = dict(
            zip(self.symbols.tolist(), prices.close[:, -1].tolist(), strict=True)
        )

    def daily_bars(self, days: int) -> pd.DataFrame:
        """Return the last `days` trading days (at most the generated history)."""
        days = max(1, min(days, len(self.dates)))
        if days == len(self.dates):
            return self._bars.copy()
        first = pd.Timestamp(self.dates[-days])
        return self._bars[self._bars["date"] >= first].reset_index(drop=True)

    def reference(self) -> pd.DataFrame:
        """Return reference data indexed by symbol; NaN means unknown."""
        return self._reference.copy()

    def last_price(self, symbol: str) -> float | None:
        """Return the last close of `symbol`, or None for an unknown ticker."""
        return self._last_close.get(symbol.upper())


def _make_universe(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Return sorted unique tickers and their security types."""
    lengths = rng.choice(np.arange(1, 6), size=n * 3, p=_LENGTH_WEIGHTS)
    letters = rng.integers(0, 26, size=(n * 3, 5)) + ord("A")
    raw = [
        bytes(row[:k].tolist()).decode()
        for row, k in zip(letters, lengths, strict=True)
    ]
    clean = [s for s in dict.fromkeys(raw) if not _looks_like_fund(s)]
    names = np.array(sorted(clean[: n - len(FUND_SYMBOLS)] + list(FUND_SYMBOLS)))
    types = rng.choice(_TYPES, size=n, p=_TYPE_WEIGHTS)
    types[np.isin(names, FUND_SYMBOLS)] = "ETF"
    return names, types


def _looks_like_fund(symbol: str) -> bool:
    return any(fragment in symbol for fragment in _FUND_FRAGMENTS)


def _random_walks(rng: np.random.Generator, types: np.ndarray, days: int) -> _Prices:
    """Generate OHLCV paths that end at a log-uniform price in $0.60-$250."""
    n = len(types)
    is_fund = types != "CS"
    sigma = np.where(is_fund, 0.012, 0.015 + 0.05 * rng.beta(2, 5, size=n))
    target = np.exp(rng.uniform(np.log(0.6), np.log(250.0), size=n))
    steps = rng.normal(0.0, 1.0, size=(n, days)) * sigma[:, None]
    walk = np.cumsum(steps, axis=1)
    close = np.clip(target[:, None] * np.exp(walk - walk[:, -1:]), 0.5, 300.0)
    gap = np.exp(rng.normal(0.0, 0.3, size=(n, days)) * sigma[:, None])
    open_ = np.concatenate([close[:, :1], close[:, :-1]], axis=1) * gap
    wick = np.abs(rng.normal(0.0, 0.5, size=(n, days, 2))) * sigma[:, None, None]
    high = np.maximum(open_, close) * (1.0 + wick[..., 0])
    low = np.maximum(np.minimum(open_, close) * (1.0 - wick[..., 1]), 0.01)
    base = np.exp(rng.uniform(np.log(2e4), np.log(4e7), size=n))
    daily = np.exp(rng.normal(0.0, 0.35, size=(n, days)))
    volume = np.round(base[:, None] * daily)
    return _Prices(open_, high, low, close, volume)


def _pick_planted(rng: np.random.Generator, types: np.ndarray) -> np.ndarray:
    """Choose distinct common stocks to plant breakouts and squeezes in."""
    common = np.flatnonzero(types == "CS")
    return rng.choice(common, size=N_BREAKOUTS + N_SQUEEZES, replace=False)


def _rescale(prices: _Prices, rows: np.ndarray, prev_close: np.ndarray) -> None:
    """Scale whole price rows so the second-to-last close equals `prev_close`."""
    factor = prev_close / prices.close[rows, -2]
    for matrix in (prices.open, prices.high, prices.low, prices.close):
        matrix[rows] *= factor[:, None]


def _set_last_bar(
    prices: _Prices, rows: np.ndarray, gain: np.ndarray, volume: np.ndarray
) -> None:
    """Write a wide, up-closing last bar for `rows`."""
    k = len(rows)
    open_ = prices.close[rows, -2] * (1.0 + np.linspace(0.005, 0.03, k))
    close = open_ * (1.0 + gain)
    prices.open[rows, -1] = open_
    prices.close[rows, -1] = close
    prices.high[rows, -1] = close * 1.03
    prices.low[rows, -1] = open_ * 0.985
    prices.volume[rows, -1] = np.round(volume)


def _plant_breakouts(
    rng: np.random.Generator, prices: _Prices, rows: np.ndarray
) -> None:
    """Momentum breakouts: $4-30, +6-25 % on 25-90 M shares (BMS TRADE_READY)."""
    k = len(rows)
    _rescale(prices, rows, rng.uniform(4.0, 30.0, size=k))
    prices.volume[rows, :-1] = np.round(
        rng.uniform(4e6, 9e6, size=(k, 1)) * np.exp(rng.normal(0, 0.2, (k, 1)))
    )
    gain = np.linspace(0.06, 0.25, k)
    volume = np.linspace(25e6, 90e6, k) * rng.uniform(0.97, 1.03, size=k)
    _set_last_bar(prices, rows, gain, volume)


def _plant_squeezes(
    rng: np.random.Generator, prices: _Prices, rows: np.ndarray
) -> dict[str, np.ndarray]:
    """Squeeze setups: $2-15, small float, 25-45 % short, then a 10-25x volume day.

    Returns:
        The reference values to plant for `rows`, consistent with the volumes.
    """
    k = len(rows)
    _rescale(prices, rows, rng.uniform(2.0, 15.0, size=k))
    float_shares = np.round(np.linspace(4e6, 18e6, k))
    short = np.round(float_shares * np.linspace(0.25, 0.45, k))
    quiet = short / rng.uniform(3.5, 9.0, size=k)
    noise = np.exp(rng.normal(0, 0.2, (k, prices.volume.shape[1] - 1)))
    prices.volume[rows, :-1] = np.round(quiet[:, None] * noise)
    spike = np.linspace(10.0, 25.0, k)
    _set_last_bar(prices, rows, np.linspace(0.15, 0.40, k), quiet * spike)
    return {
        "float_shares": float_shares,
        "float_is_proxy": np.zeros(k, dtype=bool),
        "shares_outstanding": np.round(float_shares * 1.2),
        "short_interest": short,
        "borrow_fee": np.round(rng.uniform(0.35, 1.2, size=k), 4),
        "utilization": np.round(rng.uniform(0.88, 0.99, size=k), 4),
    }


def _tidy(prices: _Prices) -> None:
    """Keep prices in $0.50-$300 and every bar's high/low around open/close."""
    np.clip(prices.close, 0.5, 300.0, out=prices.close)
    np.clip(prices.open, 0.5, 300.0, out=prices.open)
    np.maximum.reduce([prices.high, prices.open, prices.close], out=prices.high)
    np.minimum.reduce([prices.low, prices.open, prices.close], out=prices.low)
    for matrix in (prices.open, prices.high, prices.low, prices.close):
        np.round(matrix, 4, out=matrix)


def _names(rng: np.random.Generator, types: np.ndarray) -> list[str]:
    first = rng.integers(0, len(_WORDS), size=len(types))
    theme = rng.integers(0, len(_THEMES), size=len(types))
    return [
        f"{_WORDS[a]} {_THEMES[b]} {_SUFFIX[str(t)]}"
        for a, b, t in zip(first, theme, types, strict=True)
    ]


def _nan_where(
    rng: np.random.Generator, values: np.ndarray, share: float
) -> np.ndarray:
    """Blank out about `share` of `values`: unknown data stays NaN."""
    return np.where(rng.random(len(values)) < share, np.nan, values)


def _make_reference(
    rng: np.random.Generator, symbols: np.ndarray, types: np.ndarray, prices: _Prices
) -> pd.DataFrame:
    """Build reference data with realistic gaps; funds have no float or SI."""
    n = len(symbols)
    is_fund = np.isin(types, ("ETF", "ETN", "FUND"))
    shares = np.round(np.exp(rng.uniform(np.log(5e6), np.log(2e9), size=n)))
    shares = _nan_where(rng, shares, 0.06)
    proxy = (rng.random(n) < 0.12) & ~is_fund & ~np.isnan(shares)
    float_shares = np.where(
        proxy, shares, np.round(shares * rng.uniform(0.55, 0.95, n))
    )
    float_shares = np.where(is_fund, np.nan, float_shares)
    short = _nan_where(rng, np.round(float_shares * rng.beta(1.2, 12.0, n)), 0.3)
    avg_volume = prices.volume[:, -31:-1].mean(axis=1)
    borrow = np.clip(np.exp(rng.normal(np.log(0.01), 1.2, n)), 0.0025, 2.0)
    frame = pd.DataFrame(
        {
            "name": _names(rng, types),
            "type": types,
            "float_shares": float_shares,
            "float_is_proxy": proxy,
            "shares_outstanding": shares,
            "short_interest": short,
            "days_to_cover": np.round(short / np.maximum(avg_volume, 1.0), 2),
            "borrow_fee": np.where(is_fund, np.nan, _nan_where(rng, borrow, 0.55)),
            "utilization": np.where(
                is_fund, np.nan, _nan_where(rng, rng.beta(2, 3, n), 0.45)
            ),
        },
        index=pd.Index(symbols, name="symbol"),
    )
    frame["short_interest"] = frame["short_interest"].where(~is_fund)
    frame["days_to_cover"] = frame["days_to_cover"].where(~is_fund)
    return frame[list(REFERENCE_COLUMNS)]


def _plant_reference(
    ref: pd.DataFrame, prices: _Prices, rows: np.ndarray, values: dict[str, np.ndarray]
) -> None:
    """Overwrite reference rows, deriving days to cover from the planted volume."""
    avg_volume = prices.volume[rows, -31:-1].mean(axis=1)
    values = {
        **values,
        "days_to_cover": np.round(values["short_interest"] / avg_volume, 2),
    }
    for column, column_values in values.items():
        ref.iloc[rows, ref.columns.get_loc(column)] = column_values


def _bars_frame(
    symbols: np.ndarray, dates: list[date], prices: _Prices
) -> pd.DataFrame:
    """Flatten the matrices into the long bars frame, sorted by (symbol, date)."""
    n, days = prices.close.shape
    frame = pd.DataFrame(
        {
            "symbol": np.repeat(symbols, days),
            "date": np.tile(pd.to_datetime(dates).values.astype("datetime64[ns]"), n),
            "open": prices.open.ravel(),
            "high": prices.high.ravel(),
            "low": prices.low.ravel(),
            "close": prices.close.ravel(),
            "volume": prices.volume.ravel().astype("float64"),
        }
    )
    return frame[list(BAR_COLUMNS)]
