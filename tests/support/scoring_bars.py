"""Tiny hand-made bars frames for the scoring tests.

Each symbol gets a flat history (close 10, volume 1 M by default) and a last bar
the test spells out, so expected scores can be worked out by hand.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

END = pd.Timestamp("2025-09-11")


def bars_for(
    symbol: str,
    closes: Sequence[float],
    volumes: Sequence[float],
    last: dict[str, float] | None = None,
    spread: float = 0.01,
) -> pd.DataFrame:
    """Bars for one symbol: open = close, high/low = close ± spread·close.

    Args:
        symbol: Ticker.
        closes: Closes, oldest first.
        volumes: Volumes, same length.
        last: Overrides for the last bar (open, high, low, close, volume).
        spread: Half the high-low range of the ordinary bars, as a fraction.
    """
    close = np.asarray(closes, dtype="float64")
    frame = pd.DataFrame(
        {
            "symbol": symbol,
            "date": pd.bdate_range(end=END, periods=len(close)),
            "open": close,
            "high": close * (1 + spread),
            "low": close * (1 - spread),
            "close": close,
            "volume": np.asarray(volumes, dtype="float64"),
        }
    )
    for column, value in (last or {}).items():
        frame.loc[frame.index[-1], column] = value
    return frame


def last_bar(
    symbol: str,
    o: float,
    h: float,
    low: float,
    c: float,
    v: float,
    days: int = 40,
) -> pd.DataFrame:
    """A flat history at `o` with 1 M shares a day, then the bar (o, h, l, c, v)."""
    closes = [o] * days
    volumes = [1_000_000.0] * days
    return bars_for(
        symbol,
        closes,
        volumes,
        {"open": o, "high": h, "low": low, "close": c, "volume": v},
    )


def universe(*frames: pd.DataFrame) -> pd.DataFrame:
    """Concatenate per-symbol frames into one frame sorted by (symbol, date)."""
    return (
        pd.concat(frames, ignore_index=True)
        .sort_values(["symbol", "date"], kind="stable")
        .reset_index(drop=True)
    )
