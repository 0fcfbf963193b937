"""Turn a long bars frame into right-aligned per-symbol arrays for vectorised scoring.

It owns input cleaning (case C23: NaN, ±inf, zero, negative, non-numeric and missing
columns) and the symbols × bars layout; it does no scoring and no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

BAR_COLUMNS = ("open", "high", "low", "close", "volume")
REFERENCE_COLUMNS = (
    "float_shares",
    "shares_outstanding",
    "short_interest",
    "days_to_cover",
    "borrow_fee",
    "utilization",
)


@dataclass(frozen=True)
class Panel:
    """Bars laid out as symbols × bars, the last bar of every symbol in column -1.

    Attributes:
        symbols: One entry per row of the arrays.
        bars: Column name → float64 array (n_symbols, width), NaN-padded on the left.
        n_bars: How many bars each symbol has in the window.
        invalid: Per symbol, "" or the reasons some inputs were discarded.
    """

    symbols: pd.Index
    bars: dict[str, np.ndarray]
    n_bars: np.ndarray
    invalid: np.ndarray

    def last(self, column: str, back: int = 0) -> np.ndarray:
        """Return the value `back` bars before the last one, per symbol."""
        return self.bars[column][:, -1 - back]


def to_float(values: pd.Series | np.ndarray) -> np.ndarray:
    """Coerce Int64, float64, object or string values to float64, NaN for NA."""
    numeric = pd.to_numeric(pd.Series(values, copy=False), errors="coerce")
    return numeric.to_numpy(dtype="float64", na_value=np.nan)


def clean_column(raw: pd.Series, name: str, positive: bool) -> tuple[np.ndarray, list]:
    """Return the column as float64 with bad values set to NaN, and per-row reasons.

    Args:
        raw: The column as given (any dtype).
        name: Its name, used in the reasons.
        positive: True when zero is also invalid (prices), False when only negatives
            are (volumes, shares, fractions).
    """
    values = to_float(raw)
    problems = [
        (np.isinf(values), f"{name} inf"),
        (raw.notna().to_numpy() & np.isnan(values), f"{name} not numeric"),
        (values <= 0 if positive else values < 0, f"{name} not positive"),
    ]
    reasons = []
    for mask, reason in problems:
        if mask.any():
            values[mask] = np.nan
            reasons.append((mask, reason))
    return values, reasons


def _group_layout(bars: pd.DataFrame) -> tuple[np.ndarray, pd.Index, np.ndarray]:
    """Return a row order, the symbols and each row's symbol code in that order."""
    codes, symbols = pd.factorize(bars["symbol"], sort=False)
    order = np.arange(len(codes))
    if "date" in bars:
        dates = pd.to_datetime(bars["date"], errors="coerce").to_numpy("datetime64[ns]")
    else:
        dates = order.astype("datetime64[ns]")
    step = np.diff(codes)
    later = np.diff(dates) > np.timedelta64(0, "ns")
    if not np.all((step > 0) | ((step == 0) & later)):
        order = np.lexsort((dates, codes))
    return order, pd.Index(symbols, name="symbol"), codes[order]


def build_panel(bars: pd.DataFrame, width: int) -> Panel:
    """Lay out the last `width` bars of every symbol, right-aligned.

    Args:
        bars: The long bars frame (see the frames brief); rows with a missing symbol
            are ignored, missing columns read as NaN and are reported as invalid.
        width: How many trailing bars per symbol to keep.
    """
    bars = bars[bars["symbol"].notna()] if len(bars) else bars
    order, symbols, codes = _group_layout(bars)
    counts = np.bincount(codes, minlength=len(symbols))
    ends = np.cumsum(counts)
    cols = width - (ends[codes] - np.arange(len(codes)))
    keep = cols >= 0
    rows, cols, kept_codes = order[keep], cols[keep], codes[keep]

    arrays: dict[str, np.ndarray] = {}
    reasons: list[tuple[np.ndarray, str]] = []
    for name in BAR_COLUMNS:
        arrays[name] = np.full((len(symbols), width), np.nan)
        if name not in bars:
            reasons.append((np.ones(len(kept_codes), dtype=bool), f"{name} missing"))
            continue
        raw = bars[name].iloc[rows].reset_index(drop=True)
        values, found = clean_column(raw, name, positive=name != "volume")
        arrays[name][kept_codes, cols] = values
        reasons.extend(found)

    invalid = _reasons_per_symbol(reasons, kept_codes, len(symbols))
    return Panel(symbols, arrays, np.minimum(counts, width), invalid)


def _reasons_per_symbol(
    reasons: list[tuple[np.ndarray, str]], codes: np.ndarray, n: int
) -> np.ndarray:
    """Fold per-row reasons into one "; "-joined string per symbol."""
    out = np.full(n, "", dtype=object)
    for mask, reason in reasons:
        hit = np.unique(codes[mask])
        out[hit] = [f"{old}; {reason}" if old else reason for old in out[hit]]
    return out


def clean_reference(
    reference: pd.DataFrame | None, symbols: pd.Index
) -> tuple[pd.DataFrame, np.ndarray]:
    """Align reference data on `symbols`, bad values set to NaN, with reasons.

    Unknown values stay NaN (never a made-up default); ±inf, negative and
    non-numeric values become NaN and are reported.
    """
    if reference is None:
        reference = pd.DataFrame(index=pd.Index([], name="symbol"))
    aligned = reference.reindex(symbols)
    out = pd.DataFrame(index=symbols)
    reasons: list[tuple[np.ndarray, str]] = []
    for name in REFERENCE_COLUMNS:
        if name not in aligned:
            out[name] = np.nan
            continue
        values, found = clean_column(aligned[name], name, positive=False)
        out[name] = values
        reasons.extend(found)
    proxy = aligned.get("float_is_proxy", pd.Series(False, index=symbols))
    out["float_is_proxy"] = proxy.fillna(False).astype(bool).to_numpy()
    codes = np.arange(len(symbols))
    return out, _reasons_per_symbol(reasons, codes, len(symbols))
