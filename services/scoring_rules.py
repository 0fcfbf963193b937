"""The AMC scoring formulas (contract §4.4, §4.5, §5) as vectorised numpy functions.

The functions take and return arrays (Series for the squeeze score), one value per
symbol, and keep NaN inputs NaN unless the contract says how a missing value is
treated. No I/O.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from services.scoring_panel import to_float

FloatArray = np.ndarray

BMS_WEIGHTS = {
    "volume_surge": 0.40,
    "price_momentum": 0.30,
    "volatility_expansion": 0.20,
    "risk_filter": 0.10,
}
BMS_TRADE_READY = 65.0
BMS_MONITOR = 45.0
BMS_PRICE_MIN, BMS_PRICE_MAX = 0.50, 100.0
BMS_MIN_DOLLAR_VOLUME_M = 5.0
BMS_FLOAT_PLACEHOLDER = 50_000_000.0
BMS_BONUS = 4.0

SQUEEZE_DEFAULT_FLOAT = 50_000_000.0
SQUEEZE_FLOAT_MAX = 75_000_000.0


def _keep_nan(value: FloatArray, *inputs: FloatArray) -> FloatArray:
    """Return `value` with NaN wherever any input is NaN."""
    missing = np.zeros(np.shape(value), dtype=bool)
    for item in inputs:
        missing |= np.isnan(item)
    return np.where(missing, np.nan, value)


def clamp01(x: FloatArray) -> FloatArray:
    """Clamp to [0, 1]; like the original clamp(), a missing value counts as 0."""
    clean = np.nan_to_num(x, nan=0.0, posinf=1.0, neginf=0.0)
    return np.asarray(np.clip(clean, 0.0, 1.0), dtype=np.float64)


def bms_volume_surge(rv: FloatArray) -> FloatArray:
    """Component V (0–100) of the volume-size proxy rv = max(1, shares / 10 M)."""
    points = np.select(
        [rv >= 5, rv >= 3, rv >= 2],
        [100.0, 80 + 10 * (rv - 3), 50 + 15 * (rv - 2)],
        25 * rv,
    )
    return _keep_nan(np.minimum(points, 100.0), rv)


def bms_momentum(m: FloatArray) -> FloatArray:
    """Component M (0–100) of the open-to-close move m in %."""
    points = np.select(
        [m >= 10, m >= 5, m >= 0],
        [100.0, 80 + 4 * (m - 5), 50 + 6 * m],
        np.maximum(0.0, 50 + 3 * m),
    )
    return _keep_nan(np.minimum(points, 100.0), m)


def bms_volatility(a: FloatArray) -> FloatArray:
    """Component X (0–100) of the one-day range a = (h − l) / c in %."""
    points = np.select([a >= 10, a >= 5], [100.0, 70 + 6 * (a - 5)], 14 * a)
    return _keep_nan(np.minimum(points, 100.0), a)


def bms_risk(dollar_volume_m: FloatArray) -> FloatArray:
    """Component R (50/70/90) of the dollar volume in $ millions."""
    d = dollar_volume_m
    return _keep_nan(np.select([d >= 50, d >= 20], [90.0, 70.0], 50.0), d)


def bms_bonus(
    rv: FloatArray, float_shares: float = BMS_FLOAT_PLACEHOLDER
) -> FloatArray:
    """The +4 bonus when float ≤ 50 M and rv ≥ 4.

    Production always passed its 50 M placeholder float, so in effect the bonus
    applies whenever rv ≥ 4 (40 M shares traded).
    """
    return _keep_nan(
        np.where((float_shares <= 50_000_000) & (rv >= 4), BMS_BONUS, 0.0), rv
    )


def _labels(levels: list[np.ndarray], names: tuple[str, ...]) -> np.ndarray:
    """names[k] where k = how many of the nested `levels` hold (object array)."""
    count = np.zeros(len(levels[0]), dtype=np.intp)
    for level in levels:
        count += level
    return np.array(names, dtype=object)[count]


def bms_action(score: FloatArray) -> tuple[np.ndarray, np.ndarray]:
    """Return (action, confidence) arrays for BMS scores; NaN reads REJECT/LOW."""
    levels = [score >= BMS_MONITOR, score >= BMS_TRADE_READY]
    return (
        _labels(levels, ("REJECT", "MONITOR", "TRADE_READY")),
        _labels(levels, ("LOW", "MEDIUM", "HIGH")),
    )


def explosive_price(price: FloatArray) -> FloatArray:
    """P of explosive(): 1.0 for $3–12, 0.85 for $2.5–20, 0.7 in $0.01–100, else 0.1."""
    p = price
    points = np.select(
        [(p >= 3) & (p <= 12), (p >= 2.5) & (p <= 20), (p >= 0.01) & (p <= 100)],
        [1.0, 0.85, 0.7],
        0.1,
    )
    return _keep_nan(points, p)


def explosive_volume(spike: FloatArray) -> FloatArray:
    """Vs of explosive(), stepped on the volume spike ratio."""
    s = spike
    points = np.select(
        [s >= 20.9, s >= 10, s >= 5, s >= 3, s >= 2, s >= 1.5],
        [0.95, 0.90, 0.85, 0.75, 0.65, 0.50],
        0.20,
    )
    return _keep_nan(points, s)


def explosive_momentum(mom: FloatArray) -> FloatArray:
    """Mo of explosive() on a fractional return (its 0.8 tier is unreachable)."""
    points = np.select(
        [mom >= 0.15, mom >= 0.05, mom >= 0, mom >= -0.05], [1.0, 0.6, 0.4, 0.3], 0.1
    )
    return _keep_nan(points, mom)


def explosive_atr(atr: FloatArray) -> FloatArray:
    """A of explosive() on the 14-bar ATR as a fraction of price."""
    points = np.select([atr >= 0.10, atr >= 0.06, atr >= 0.04], [1.0, 0.8, 0.6], 0.3)
    return _keep_nan(points, atr)


def explosive(
    price: FloatArray, spike: FloatArray, mom: FloatArray, atr: FloatArray
) -> FloatArray:
    """The "vigl" score 0.25·P + 0.35·Vs + 0.25·Mo + 0.15·A (0–1)."""
    return (
        0.25 * explosive_price(price)
        + 0.35 * explosive_volume(spike)
        + 0.25 * explosive_momentum(mom)
        + 0.15 * explosive_atr(atr)
    )


def wolf_risk(
    price: FloatArray,
    spike: FloatArray,
    mom: FloatArray,
    atr: FloatArray,
    r5: FloatArray,
) -> FloatArray:
    """The largest applicable risk penalty, 0.2 when none applies."""
    flat = np.abs(mom)
    risks = [
        np.where(price < 0.50, 0.8, 0.0),
        np.where(price < 1, 0.4, 0.0),
        np.where((spike > 50) & (flat < 0.02), 0.7, 0.0),
        np.where((mom < -0.10) & (atr > 0.20), 0.6, 0.0),
        np.where(r5 < -0.15, 0.5, 0.0),
        np.where((atr > 0.25) & (flat < 0.05), 0.4, 0.0),
    ]
    return _keep_nan(np.maximum.reduce([np.full(np.shape(price), 0.2), *risks]), price)


def squeeze_assumptions(
    si_frac: pd.Series, float_shares: pd.Series, borrow: pd.Series
) -> pd.Series:
    """Name the squeeze inputs that were missing or invalid and took a default."""
    checks = [
        (_bad(si_frac, positive=False), "short interest 0"),
        (_bad(float_shares, positive=True), "float 50M"),
        (_bad(borrow, positive=False), "borrow 0"),
    ]
    mask = np.column_stack([bad for bad, _ in checks])
    names = np.array([name for _, name in checks], dtype=object)
    text = [", ".join(names[row]) for row in mask]
    return pd.Series(text, index=si_frac.index, name="assumed", dtype=object)


def _bad(values: pd.Series, positive: bool) -> np.ndarray:
    """True where a value is NaN, ±inf, negative (or zero when `positive`)."""
    x = to_float(values)
    with np.errstate(invalid="ignore"):
        return np.asarray(~np.isfinite(x) | (x <= 0 if positive else x < 0))


def squeeze_score(
    vr: pd.Series, si_frac: pd.Series, float_shares: pd.Series, borrow: pd.Series
) -> tuple[pd.Series, pd.Series, pd.Series]:
    """The squeeze detector's score, pattern and confidence (contract §5), vectorised.

    score = 0.50·min(vr/15, 1) + 0.20·min(SI/0.50, 1) + 0.20·max(0, 1 − float/75 M)
    + 0.10·min(borrow/2, 1), capped at 1. As the detector did, a missing short
    interest or borrow counts as 0 and a missing float as 50 M; `squeeze_assumptions`
    names those defaults. A missing or invalid `vr` gives NaN and NO_PATTERN/NONE.

    Args:
        vr: Volume ratio (today's volume over the 30-day average).
        si_frac: Short interest as a fraction of the float (0.25 = 25 %).
        float_shares: Float in shares.
        borrow: Borrow fee as a fraction per year.

    Returns:
        (score 0–1, pattern, confidence), each indexed like `vr`.
    """
    index = vr.index
    v = to_float(vr)
    v = np.where(np.isfinite(v) & (v >= 0), v, np.nan)
    si = _default(to_float(si_frac), 0.0, positive=False)
    fl = _default(to_float(float_shares), SQUEEZE_DEFAULT_FLOAT, positive=True)
    br = _default(to_float(borrow), 0.0, positive=False)
    score = (
        0.50 * np.minimum(v / 15, 1)
        + 0.20 * np.minimum(si / 0.50, 1)
        + 0.20 * np.maximum(0.0, 1 - fl / SQUEEZE_FLOAT_MAX)
        + 0.10 * np.minimum(br / 2.0, 1)
    )
    score = np.minimum(score, 1.0)
    pattern, confidence = _squeeze_class(score, v)
    return (
        pd.Series(score, index=index, name="squeeze_score"),
        pd.Series(pattern, index=index, name="squeeze_pattern"),
        pd.Series(confidence, index=index, name="squeeze_confidence"),
    )


def _default(values: np.ndarray, default: float, positive: bool) -> np.ndarray:
    """Replace NaN, ±inf and out-of-domain values with the detector's default."""
    bad = ~np.isfinite(values) | (values <= 0 if positive else values < 0)
    return np.where(bad, default, values)


def _squeeze_class(score: np.ndarray, vr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Classify squeeze scores into (pattern, confidence) arrays."""
    levels = [score >= 0.45, score >= 0.30, score >= 0.20, score >= 0.10]
    pattern = np.select(
        levels,
        [
            np.where(vr >= 20, "VIGL_EXTREME", "SQUEEZE_EXTREME"),
            np.where(vr >= 15, "VIGL_HIGH", "SQUEEZE_HIGH"),
            "SQUEEZE_MEDIUM",
            "SQUEEZE_POTENTIAL",
        ],
        "NO_PATTERN",
    )
    confidence = np.select(levels, ["EXTREME", "HIGH", "MEDIUM", "LOW"], "NONE")
    return pattern.astype(object), confidence.astype(object)
