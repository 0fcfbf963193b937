"""Per-symbol features the scoring strategies read, computed over the whole universe.

The formulas follow the AMC contract (§4.4 for BMS, §4.5 "enrich" for the strategies
in discover.py), quirks included; each feature is documented where it is computed.
Pure numpy/pandas over a `Panel`: no scoring decisions and no I/O.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from services.scoring_panel import Panel, build_panel, clean_reference, layout_of

# The original enrich step fetched about 85 daily bars per symbol.
ENRICH_BARS = 85
FULL_WIDTH = 90
BMS_WIDTH = 31
COMPRESSION_WINDOW = 20
COMPRESSION_HISTORY = 60
MEME_TICKERS = ("AMC", "GME", "BBBY", "APE", "MULN", "SNDL")


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, NaN where the denominator is zero, negative or missing."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def _mean_before(values: np.ndarray, n: int) -> np.ndarray:
    """Mean of the n bars before the last one (NaN-aware), per symbol."""
    window = values[:, -1 - n : -1]
    with np.errstate(invalid="ignore"):
        counts = np.sum(~np.isnan(window), axis=1)
        return np.where(
            counts > 0, np.nansum(window, axis=1) / np.maximum(counts, 1), np.nan
        )


def last_bar_features(panel: Panel) -> pd.DataFrame:
    """Features of the previous session's bar, the only ones BMS reads.

    See `last_bar_columns` for the columns.
    """
    return pd.DataFrame(last_bar_columns(panel), index=panel.symbols)


def last_bar_columns(panel: Panel) -> dict[str, np.ndarray]:
    """Arrays of the previous session's bar features, one value per symbol.

    Columns: price, change_pct (close-to-close %), momentum_1d (open-to-close %, the
    BMS quirk), atr_pct (one-day range (h − l)/c in %, the BMS "ATR"), volume,
    dollar_volume, bms_rel_vol (max(1, volume / 10 M), the BMS volume-size proxy),
    rel_vol (last volume / mean of the previous 30; NaN with fewer than 31 bars)
    and n_bars.
    """
    close, volume = panel.last("close"), panel.last("volume")
    prev_close, open_ = panel.last("close", 1), panel.last("open")
    mean30 = _mean_before(panel.bars["volume"], 30)
    columns = {
        "price": close,
        "change_pct": _ratio(close - prev_close, prev_close) * 100,
        "momentum_1d": _ratio(close - open_, open_) * 100,
        "atr_pct": _ratio(panel.last("high") - panel.last("low"), close) * 100,
        "volume": volume,
        "dollar_volume": close * volume,
        "bms_rel_vol": np.where(
            np.isnan(volume), np.nan, np.maximum(1.0, volume / 1e7)
        ),
        "rel_vol": np.where(panel.n_bars >= 31, _ratio(volume, mean30), np.nan),
        "n_bars": panel.n_bars,
    }
    return columns


def volume_spike(panel: Panel) -> dict[str, np.ndarray]:
    """The enrich step's spike: max(0.8·v/avg5, 0.9·v/avg10, v/avg30).

    Needs 31 bars, else 0, as the original did; an average of zero or a missing one
    drops its term. Also `early_detection` (v/avg5 ≥ 2.5 or v/avg10 ≥ 5).
    """
    volume, last = panel.bars["volume"], panel.last("volume")
    r5 = _ratio(last, _mean_before(volume, 5))
    r10 = _ratio(last, _mean_before(volume, 10))
    r30 = _ratio(last, _mean_before(volume, 30))
    terms = np.column_stack([0.8 * r5, 0.9 * r10, r30])
    has_term = ~np.all(np.isnan(terms), axis=1)
    best = np.where(
        has_term, np.nanmax(np.where(np.isnan(terms), -np.inf, terms), axis=1), 0.0
    )
    enough = panel.n_bars >= 31
    return {
        "spike": np.where(enough, best, 0.0),
        "early_detection": enough & ((r5 >= 2.5) | (r10 >= 5)),
    }


def average_true_range(panel: Panel, n: int = 14) -> np.ndarray:
    """Mean true range of the last n bars over the last close (a fraction).

    True range = max(h − l, |h − prev c|, |l − prev c|); NaN without n + 1 bars.
    """
    high, low, close = panel.bars["high"], panel.bars["low"], panel.bars["close"]
    prev = close[:, -n - 1 : -1]
    h, lo = high[:, -n:], low[:, -n:]
    tr = np.maximum.reduce([h - lo, np.abs(h - prev), np.abs(lo - prev)])
    atr = np.mean(tr, axis=1)
    return np.where(panel.n_bars >= n + 1, _ratio(atr, close[:, -1]), np.nan)


def ema(closes: np.ndarray, period: int, n_bars: np.ndarray) -> np.ndarray:
    """EMA seeded with the first close of the series, multiplier 2/(period + 1).

    NaN when the series is shorter than `period` (the original returned None).
    """
    k = 2.0 / (period + 1)
    value = np.full(closes.shape[0], np.nan)
    for column in closes.T:
        step = value + k * (column - value)
        value = np.where(
            np.isnan(value), column, np.where(np.isnan(column), value, step)
        )
    return np.where(n_bars >= period, value, np.nan)


def rsi(closes: np.ndarray, n_bars: np.ndarray, period: int = 14) -> np.ndarray:
    """RSI with simple averages of the last `period` changes.

    50 with too little data, 100 when the average loss is zero.
    """
    change = np.diff(closes[:, -period - 1 :], axis=1)
    gain = np.mean(np.clip(change, 0, None), axis=1)
    loss = np.mean(np.clip(-change, 0, None), axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.where(loss == 0, 100.0, 100 - 100 / (1 + gain / loss))
    return np.where((n_bars >= period + 1) & ~np.isnan(gain), value, 50.0)


def compression(panel: Panel) -> np.ndarray:
    """Percentile of the latest Bollinger width among the last 60 (0 = tightest).

    Width = 4·σ(20 closes, population) / the window's last close. The percentile
    is the share of the last 60 widths strictly narrower than the latest one.
    NaN with fewer than 20 closes.
    """
    close = panel.bars["close"][:, -(COMPRESSION_HISTORY + COMPRESSION_WINDOW - 1) :]
    windows = np.lib.stride_tricks.sliding_window_view(
        close, COMPRESSION_WINDOW, axis=1
    )
    widths = 4 * windows.std(axis=2) / close[:, COMPRESSION_WINDOW - 1 :]
    widths = widths[:, -COMPRESSION_HISTORY:]
    latest = widths[:, -1:]
    valid = ~np.isnan(widths)
    narrower = np.sum(valid & (widths < latest), axis=1)
    return np.where(
        np.isnan(latest[:, 0]), np.nan, narrower / np.maximum(valid.sum(axis=1), 1)
    )


def trend_features(panel: Panel) -> dict[str, np.ndarray]:
    """EMA9/EMA20, RSI-14, VWAP reclaim and consecutive up days."""
    closes = panel.bars["close"][:, -ENRICH_BARS:]
    n = np.minimum(panel.n_bars, ENRICH_BARS)
    vwap20 = _vwap(panel, 20)
    up = panel.bars["close"][:, 1:] > panel.bars["close"][:, :-1]
    return {
        "ema9": ema(closes, 9, n),
        "ema20": ema(closes, 20, n),
        "rsi14": rsi(closes, n),
        "vwap20": vwap20,
        "vwap_reclaim": panel.last("close") > vwap20,
        "consec_up_days": np.cumprod(up[:, ::-1], axis=1).sum(axis=1),
    }


def _vwap(panel: Panel, n: int) -> np.ndarray:
    """Typical-price VWAP of the last n bars."""
    high, low = panel.bars["high"][:, -n:], panel.bars["low"][:, -n:]
    close, volume = panel.bars["close"][:, -n:], panel.bars["volume"][:, -n:]
    typical = (high + low + close) / 3
    return _ratio(np.nansum(typical * volume, axis=1), np.nansum(volume, axis=1))


def heuristics(frame: pd.DataFrame) -> pd.DataFrame:
    """The enrich step's social_rank and has_news_catalyst guesses, as a frame."""
    spike, r1 = frame["spike"].to_numpy(), frame["r1"].to_numpy()
    columns = heuristic_columns(spike, r1, frame["atr14"].to_numpy(), frame.index)
    return pd.DataFrame(columns, index=frame.index)


def heuristic_columns(
    spike: np.ndarray, r1: np.ndarray, atr: np.ndarray, symbols: pd.Index
) -> dict[str, np.ndarray]:
    """social_rank and news_catalyst from the spike, the 1-bar return and the ATR."""
    move = np.abs(r1)
    social = np.select([spike >= 10, spike >= 5, spike >= 3], [0.4, 0.2, 0.1], 0.0)
    social += np.select(
        [move >= 0.15, move >= 0.10, move >= 0.05], [0.3, 0.2, 0.1], 0.0
    )
    social += np.where(symbols.isin(MEME_TICKERS), 0.2, 0.0)
    return {
        "social_rank": np.minimum(social, 1.0),
        "news_catalyst": ((spike >= 5) & (move >= 0.10)) | (atr >= 0.15),
    }


def returns(panel: Panel) -> dict[str, np.ndarray]:
    """One- and five-bar returns as fractions."""
    close = panel.last("close")
    return {
        "r1": _ratio(close, panel.last("close", 1)) - 1,
        "r5": _ratio(close, panel.last("close", 5)) - 1,
    }


def reference_features(
    reference: pd.DataFrame | None, symbols: pd.Index
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Reference columns aligned on `symbols` plus si_frac (short interest / float),
    and the per-symbol reasons bad reference values were discarded."""
    columns, invalid = clean_reference(reference, symbols)
    columns["si_frac"] = _ratio(columns["short_interest"], columns["float_shares"])
    return columns, invalid


class MarketFrame:
    """One bars frame and its reference data, prepared once for any number of scorings.

    Finding each symbol's rows is the costly step of a scoring pass, so it is done
    once here and reused; the last-bar features are cached because every strategy
    starts from them. Not thread-safe: use one per thread.

    Args:
        bars: The long bars frame (frames brief): symbol, date, open, high, low,
            close, volume. Any numeric dtype; bad values are discarded and reported.
        reference: Reference data indexed by symbol, or None.
    """

    def __init__(
        self, bars: pd.DataFrame, reference: pd.DataFrame | None = None
    ) -> None:
        self.bars = bars
        self.reference = reference
        self.layout = layout_of(bars)
        self._last_bar: pd.DataFrame | None = None
        self._reference: tuple[dict[str, np.ndarray], np.ndarray] | None = None
        # discover.py's stages 1–6 by limit, shared by hybrid_v1 and legacy_v0.
        self.pipelines: dict[int | None, tuple[pd.DataFrame, dict[str, int]]] = {}

    def last_bar(self) -> pd.DataFrame:
        """Last-bar features (see `last_bar_features`) with reference and `invalid`."""
        if self._last_bar is None:
            narrow = {"open": 1, "high": 1, "low": 1, "close": 2}
            panel = build_panel(self.bars, BMS_WIDTH, narrow, self.layout)
            frame = last_bar_features(panel)
            self._last_bar = _with_reference(frame, panel, *self._reference_for(None))
        return self._last_bar

    def _reference_for(
        self, symbols: pd.Index | None
    ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Cleaned reference columns and reasons for `symbols` (None: all, in order).

        The reference frame is cleaned once, for every symbol of the bars.
        """
        if self._reference is None:
            self._reference = reference_features(self.reference, self.layout.symbols)
        columns, invalid = self._reference
        if symbols is None:
            return columns, invalid
        where = self.layout.symbols.get_indexer(symbols)
        return {name: values[where] for name, values in columns.items()}, invalid[where]

    def enriched(self, symbols: pd.Index | None = None) -> pd.DataFrame:
        """Every feature, for `symbols` (default all), like `features`."""
        layout = self.layout if symbols is None else self.layout.subset(symbols)
        panel = build_panel(self.bars, FULL_WIDTH, layout=layout)
        columns = last_bar_columns(panel) | returns(panel) | volume_spike(panel)
        columns["atr14"] = average_true_range(panel)
        columns["compression_pct"] = compression(panel)
        columns |= trend_features(panel)
        columns |= heuristic_columns(
            columns["spike"], columns["r1"], columns["atr14"], panel.symbols
        )
        frame = pd.DataFrame(columns, index=panel.symbols)
        return _with_reference(frame, panel, *self._reference_for(symbols))


def bms_features(
    bars: pd.DataFrame, reference: pd.DataFrame | None = None
) -> pd.DataFrame:
    """The cheap feature set BMS reads: last-bar features, reference, `invalid`."""
    return MarketFrame(bars, reference).last_bar()


def features(bars: pd.DataFrame, reference: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every feature the three strategies read, one row per symbol.

    Args:
        bars: The long bars frame (frames brief): symbol, date, open, high, low,
            close, volume. Any numeric dtype; bad values are discarded and reported.
        reference: Reference data indexed by symbol, or None.

    Returns:
        A frame indexed by symbol with the last-bar features (see
        `last_bar_features`), r1, r5, spike, early_detection, atr14 (fraction),
        compression_pct, ema9, ema20, rsi14, vwap20, vwap_reclaim, consec_up_days,
        social_rank, news_catalyst, the reference columns, si_frac and `invalid`
        ("" or why inputs were discarded).
    """
    return MarketFrame(bars, reference).enriched()


def _with_reference(
    frame: pd.DataFrame,
    panel: Panel,
    reference: dict[str, np.ndarray],
    extra: np.ndarray,
) -> pd.DataFrame:
    """Add the reference columns and fold both invalid reasons into `invalid`."""
    columns: dict[str, Any] = dict(reference)
    invalid = panel.invalid.copy()
    for i in np.flatnonzero(extra != ""):
        invalid[i] = f"{invalid[i]}; {extra[i]}" if invalid[i] else extra[i]
    columns["invalid"] = invalid
    return with_columns(frame, columns)


def with_columns(frame: pd.DataFrame, columns: dict[str, Any]) -> pd.DataFrame:
    """A new frame: `frame`'s columns, then `columns` (arrays in row order).

    A column of `frame` with the same name is replaced. Both parts share one index
    object, so no alignment work is done.
    """
    extra = pd.DataFrame(columns, index=frame.index)
    replaced = [name for name in extra.columns if name in frame.columns]
    base = frame.drop(columns=replaced) if replaced else frame
    return pd.concat([base, extra], axis=1)
