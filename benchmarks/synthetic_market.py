"""Seeded synthetic daily bars and reference data for the scoring benchmark and tests.

Plain numpy: no network, no files. Some symbols get a last-day volume and price
breakout, some a quiet (compressed) final month, some gaps in reference data, so
every branch of the three strategies is reached.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

_LETTERS = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))


def _symbols(rng: np.random.Generator, n: int) -> np.ndarray:
    """n distinct ticker-like names, sorted."""
    names: set[str] = set()
    while len(names) < n:
        length = int(rng.integers(2, 6))
        names.add("".join(rng.choice(_LETTERS, size=length)))
    return np.array(sorted(names), dtype=object)


def _paths(rng: np.random.Generator, n: int, days: int) -> tuple[np.ndarray, ...]:
    """Close, open, high, low and volume matrices (symbols × days)."""
    start = np.exp(rng.uniform(np.log(0.4), np.log(150), n))[:, None]
    sigma = rng.uniform(0.01, 0.06, n)[:, None]
    quiet = rng.random(n) < 0.3
    scale = np.where(quiet[:, None] & (np.arange(days) >= days - 25), 0.25, 1.0)
    steps = rng.normal(0.0, 1.0, (n, days)) * sigma * scale
    close = start * np.exp(np.cumsum(steps, axis=1))
    prev = np.concatenate([close[:, :1], close[:, :-1]], axis=1)
    open_ = prev * (1 + rng.normal(0, 0.01, (n, days)) * sigma / 0.02)
    spread = np.abs(rng.normal(0, 1, (n, days))) * sigma * close
    high = np.maximum(open_, close) + spread
    low = np.maximum(np.minimum(open_, close) - spread, 0.01)
    base = np.exp(rng.uniform(np.log(5e4), np.log(6e7), n))[:, None]
    volume = np.round(base * rng.lognormal(0, 0.35, (n, days)))
    return close, open_, high, low, volume


def _breakouts(rng: np.random.Generator, mats: tuple[np.ndarray, ...]) -> None:
    """Give about 6 % of symbols a last-day volume spike and a strong close."""
    close, open_, high, low, volume = mats
    hit = np.flatnonzero(rng.random(close.shape[0]) < 0.06)
    volume[hit, -1] *= rng.uniform(2, 30, len(hit))
    close[hit, -1] = open_[hit, -1] * rng.uniform(1.0, 1.35, len(hit))
    high[hit, -1] = np.maximum(
        high[hit, -1], close[hit, -1] * rng.uniform(1, 1.1, len(hit))
    )


def synthetic_bars(n_symbols: int, days: int = 90, seed: int = 11) -> pd.DataFrame:
    """Daily bars in the frames-brief layout, sorted by (symbol, date).

    Args:
        n_symbols: How many symbols.
        days: Trading days per symbol (a few symbols get a shorter history).
        seed: Seed of the generator.
    """
    rng = np.random.default_rng(seed)
    symbols = _symbols(rng, n_symbols)
    mats = _paths(rng, n_symbols, days)
    _breakouts(rng, mats)
    dates = pd.bdate_range(end="2025-09-11", periods=days).to_numpy()
    first = np.where(
        rng.random(n_symbols) < 0.02, rng.integers(0, days - 5, n_symbols), 0
    )
    keep = np.arange(days)[None, :] >= first[:, None]
    frame = pd.DataFrame(
        {
            "symbol": np.repeat(symbols, days),
            "date": np.tile(dates, n_symbols),
            "open": mats[1].ravel(),
            "high": mats[2].ravel(),
            "low": mats[3].ravel(),
            "close": mats[0].ravel(),
            "volume": mats[4].ravel(),
        }
    )
    return frame[keep.ravel()].reset_index(drop=True)


def synthetic_reference(bars: pd.DataFrame, seed: int = 11) -> pd.DataFrame:
    """Reference data for the symbols of `bars`, with NaN for unknown values."""
    symbols = pd.unique(bars["symbol"])
    rng = np.random.default_rng(seed + 1)
    n = len(symbols)
    float_shares = np.exp(rng.uniform(np.log(2e6), np.log(5e8), n))
    si = float_shares * rng.uniform(0, 0.45, n)
    frame = pd.DataFrame(
        {
            "name": [f"{s} Corp" for s in symbols],
            "type": "CS",
            "float_shares": float_shares,
            "float_is_proxy": rng.random(n) < 0.1,
            "shares_outstanding": float_shares * rng.uniform(1, 1.5, n),
            "short_interest": si,
            "days_to_cover": rng.uniform(0.5, 9, n),
            "borrow_fee": rng.uniform(0, 1.5, n),
            "utilization": rng.uniform(0.2, 1.0, n),
        },
        index=pd.Index(symbols, name="symbol"),
    )
    for column in ("float_shares", "short_interest", "borrow_fee", "utilization"):
        frame.loc[rng.random(n) < 0.15, column] = np.nan
    return frame
