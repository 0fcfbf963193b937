"""Turn a long bars frame into right-aligned per-symbol arrays for vectorised scoring.

It owns input cleaning (case C23: NaN, ±inf, zero, negative, non-numeric and missing
columns) and the symbols × bars layout; it does no scoring and no I/O.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

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
        n_bars: How many bars each symbol has (the window may hold fewer).
        invalid: Per symbol, "" or the reasons some inputs were discarded.
    """

    symbols: pd.Index
    bars: dict[str, np.ndarray]
    n_bars: np.ndarray
    invalid: np.ndarray

    def last(self, column: str, back: int = 0) -> np.ndarray:
        """Return the value `back` bars before the last one, per symbol."""
        return self.bars[column][:, -1 - back]


def to_float(values: pd.Series | np.ndarray, copy: bool = True) -> np.ndarray:
    """Coerce Int64, float64, object or string values to float64, NaN for NA.

    Args:
        values: The values, any dtype.
        copy: False lets a float64 input come back without a copy (read-only use).
    """
    series = pd.Series(values, copy=False)
    if series.dtype == np.float64:
        return np.asarray(series.to_numpy(copy=copy), dtype=np.float64)
    numeric = pd.to_numeric(series, errors="coerce")
    return np.array(numeric.to_numpy(dtype="float64", na_value=np.nan), copy=True)


def _value_problems(
    values: np.ndarray, name: str, positive: bool
) -> list[tuple[np.ndarray, str]]:
    """Masks of the numbers to discard (±inf, negative or zero), with reasons."""
    with np.errstate(invalid="ignore"):
        return [
            (np.isinf(values), f"{name} inf"),
            (
                np.isfinite(values) & (values <= 0 if positive else values < 0),
                f"{name} not positive",
            ),
        ]


def clean_column(
    raw: pd.Series, name: str, positive: bool
) -> tuple[np.ndarray, list[tuple[np.ndarray, str]]]:
    """Return the column as float64 with bad values set to NaN, and per-row reasons.

    Args:
        raw: The column as given (any dtype).
        name: Its name, used in the reasons.
        positive: True when zero is also invalid (prices), False when only negatives
            are (volumes, shares, fractions).
    """
    values = to_float(raw)
    problems = [(_not_numeric(raw, values), f"{name} not numeric")]
    problems += _value_problems(values, name, positive)
    reasons = []
    for mask, reason in problems:
        if mask.any():
            values[mask] = np.nan
            reasons.append((mask, reason))
    return values, reasons


def _not_numeric(raw: pd.Series, values: np.ndarray) -> np.ndarray:
    """True where a value was given but is not a number (strings, objects)."""
    if raw.dtype == np.float64:
        return np.zeros(len(values), dtype=bool)
    given = np.asarray(raw.notna().to_numpy(), dtype=bool)
    return np.asarray(given & np.isnan(values))


@dataclass(frozen=True)
class Layout:
    """Where each symbol's rows are: `order[starts[i]:ends[i]]`, oldest first.

    `order` is None when the frame was already sorted by (symbol, date).
    """

    order: np.ndarray | None
    starts: np.ndarray
    ends: np.ndarray
    symbols: pd.Index

    def subset(self, symbols: pd.Index) -> Layout:
        """The layout of only `symbols` (which must all be present)."""
        where = self.symbols.get_indexer(symbols)
        return Layout(
            self.order, self.starts[where], self.ends[where], self.symbols[where]
        )


def layout_of(bars: pd.DataFrame) -> Layout:
    """Find each symbol's run of rows, sorting only if the frame is not sorted.

    A frame without a `symbol` column has no symbols (and is logged).
    """
    if "symbol" not in bars:
        logger.warning("bars frame has no symbol column; scoring nothing")
    names = np.asarray(bars.get("symbol", []), dtype=object)
    if not len(names):
        empty = np.zeros(0, dtype=np.int64)
        return Layout(None, empty, empty, pd.Index([], dtype=object))
    dates = _dates(bars)
    new = np.ones(len(names), dtype=bool)
    new[1:] = names[1:] != names[:-1]
    starts = np.flatnonzero(new)
    later = np.diff(dates) > np.timedelta64(0)
    symbols = pd.Index(names[starts])
    if not (np.all(new[1:] | later) and symbols.is_unique):
        return _sorted_layout(names, dates)
    ends = np.append(starts[1:], len(names))
    return _drop_missing(Layout(None, starts, ends, symbols))


def _dates(bars: pd.DataFrame) -> np.ndarray:
    """The date column as naive datetime64, or row numbers when it is missing."""
    if "date" not in bars:
        return np.arange(len(bars)).astype("datetime64[ns]")
    dates = bars["date"]
    if isinstance(dates.dtype, pd.DatetimeTZDtype):
        dates = dates.dt.tz_convert("UTC").dt.tz_localize(None)
    elif dates.dtype.kind != "M":
        dates = pd.to_datetime(dates, errors="coerce")
    return np.asarray(dates.to_numpy())


def _sorted_layout(names: np.ndarray, dates: np.ndarray) -> Layout:
    """The layout of an unsorted frame: group by symbol, then order by date."""
    codes, uniques = pd.factorize(names, sort=False)
    order = np.lexsort((dates, codes))
    counts = np.bincount(codes[codes >= 0], minlength=len(uniques))
    ends = np.cumsum(counts) + int(np.sum(codes < 0))
    layout = Layout(order, ends - counts, ends, pd.Index(uniques))
    return _drop_missing(layout)


def _drop_missing(layout: Layout) -> Layout:
    """Forget the rows whose symbol is missing."""
    keep = layout.symbols.notna()
    if keep.all():
        return layout
    return Layout(
        layout.order, layout.starts[keep], layout.ends[keep], layout.symbols[keep]
    )


def build_panel(
    bars: pd.DataFrame,
    width: int,
    narrow: Mapping[str, int] | None = None,
    layout: Layout | None = None,
) -> Panel:
    """Lay out the last `width` bars of every symbol, right-aligned.

    Args:
        bars: The long bars frame (see the frames brief); rows with a missing symbol
            are ignored, missing columns read as NaN and are reported as invalid.
        width: How many trailing bars per symbol to keep.
        narrow: Columns that need fewer bars, with how many (saves time for BMS,
            which reads one bar of open, high and low).
        layout: The frame's layout if already known (possibly a subset), which
            saves finding it again.
    """
    layout = layout or layout_of(bars)
    rows, present = _rows(layout, width)
    arrays: dict[str, np.ndarray] = {}
    reasons: list[tuple[np.ndarray, str]] = []
    for name in BAR_COLUMNS:
        keep = (narrow or {}).get(name, width)
        arrays[name] = _gather(bars, name, rows[:, -keep:], present[:, -keep:], reasons)

    counts = layout.ends - layout.starts
    invalid = _reasons_per_symbol(reasons, len(layout.symbols))
    return Panel(pd.Index(layout.symbols, name="symbol"), arrays, counts, invalid)


def _rows(layout: Layout, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Row numbers of each symbol's last `width` bars, and which of them exist."""
    rows = layout.ends[:, None] - width + np.arange(width)[None, :]
    present = rows >= layout.starts[:, None]
    rows = np.where(present, rows, 0)
    if layout.order is not None:
        rows = layout.order[rows]
    return rows, present


def _gather(
    bars: pd.DataFrame,
    name: str,
    rows: np.ndarray,
    present: np.ndarray,
    reasons: list[tuple[np.ndarray, str]],
) -> np.ndarray:
    """One bar column as symbols × bars, bad values discarded and reported."""
    if name not in bars or not len(bars):
        if name not in bars:
            reasons.append((np.asarray(present.any(axis=1)), f"{name} missing"))
        return np.full(rows.shape, np.nan)
    raw = bars[name]
    full = to_float(raw, copy=False)
    values = full[rows]
    values[~present] = np.nan
    if raw.dtype != np.float64:
        bad = _not_numeric(raw, full)[rows] & present
        _collect(values, bad, f"{name} not numeric", reasons)
    for mask, reason in _value_problems(values, name, name != "volume"):
        _collect(values, mask, reason, reasons)
    return np.asarray(values, dtype=np.float64)


def _collect(
    values: np.ndarray,
    mask: np.ndarray,
    reason: str,
    reasons: list[tuple[np.ndarray, str]],
) -> None:
    """Discard masked values and remember which symbols lost some, and why."""
    if mask.any():
        values[mask] = np.nan
        reasons.append(
            (np.asarray(mask.any(axis=1) if mask.ndim == 2 else mask), reason)
        )


def _reasons_per_symbol(reasons: list[tuple[np.ndarray, str]], n: int) -> np.ndarray:
    """Fold per-symbol reason masks into one "; "-joined string per symbol."""
    out = np.full(n, "", dtype=object)
    for mask, reason in reasons:
        hit = np.flatnonzero(mask)
        out[hit] = [f"{old}; {reason}" if old else reason for old in out[hit]]
    return out


def clean_reference(
    reference: pd.DataFrame | None, symbols: pd.Index
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Align reference data on `symbols`, bad values set to NaN, with reasons.

    Unknown values stay NaN (never a made-up default); ±inf, negative and
    non-numeric values become NaN and are reported. Duplicate symbols keep the
    last row.

    Returns:
        Column name → float64 array (bool for float_is_proxy), and per symbol ""
        or the reasons some values were discarded.
    """
    if reference is None:
        reference = pd.DataFrame(index=pd.Index([], name="symbol"))
    if not reference.index.is_unique:
        reference = reference[~reference.index.duplicated(keep="last")]
    where = reference.index.get_indexer(symbols)
    found = where >= 0
    columns: dict[str, np.ndarray] = {}
    reasons: list[tuple[np.ndarray, str]] = []
    for name in REFERENCE_COLUMNS:
        values = np.full(len(symbols), np.nan)
        if name in reference:
            raw = reference[name].iloc[where[found]]
            values[found], bad = clean_column(raw, name, positive=False)
            reasons += [(_spread(mask, found), reason) for mask, reason in bad]
        columns[name] = values
    proxy = np.zeros(len(symbols), dtype=bool)
    if "float_is_proxy" in reference:
        flags = reference["float_is_proxy"].iloc[where[found]]
        proxy[found] = flags.fillna(False).to_numpy(dtype=bool)
    columns["float_is_proxy"] = proxy
    return columns, _reasons_per_symbol(reasons, len(symbols))


def _spread(mask: np.ndarray, found: np.ndarray) -> np.ndarray:
    """Widen a mask over the found symbols to all symbols."""
    full = np.zeros(len(found), dtype=bool)
    full[found] = mask
    return full


def by_symbol(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with its symbol index in ascending order (a no-op when it is)."""
    if frame.index.is_monotonic_increasing:
        return frame
    return frame.iloc[np.argsort(frame.index.to_numpy(dtype=str), kind="stable")]
