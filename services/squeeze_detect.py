"""Vectorised short-squeeze detection over a whole universe (contract §5).

Owns the squeeze formula, the rejections, the levels and patterns, the
confidence-dependent pass bar and the per-factor contributions. Pure pandas and
numpy: no I/O, no Textual. An unknown input stays NaN and contributes nothing;
it is never replaced by a default that would then look like data.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

PRICE_MIN = 0.50
PRICE_MAX = 50.0
SPIKE_MIN = 1.5
SPIKE_TARGET = 15.0
SI_TARGET = 0.50
FLOAT_MAX = 75e6
BORROW_TARGET = 2.0
MARKET_CAP_MAX = 750e6
VOLUME_WINDOW = 30

WEIGHTS = {"volume": 0.50, "short_interest": 0.20, "float": 0.20, "borrow": 0.10}
FACTORS = tuple(WEIGHTS)

LEVELS = ("EXTREME", "HIGH", "MEDIUM", "LOW")
LEVEL_FLOORS = (0.45, 0.30, 0.20, 0.10)
LEVEL_RANK = {"EXTREME": 4, "HIGH": 3, "MEDIUM": 2, "LOW": 1, "NONE": 0}

# Each input's share of the displayed confidence; a proxy float counts half.
CONFIDENCE_WEIGHTS = {
    "volume_ratio": 0.40,
    "si_float": 0.20,
    "float_shares": 0.15,
    "borrow_fee": 0.10,
    "days_to_cover": 0.10,
    "utilization": 0.05,
}

NUMERIC_REFERENCE = (
    "short_interest",
    "days_to_cover",
    "float_shares",
    "borrow_fee",
    "utilization",
)

FEATURE_COLUMNS = (
    "price",
    "volume_ratio",
    "change_pct",
    "short_interest",
    "si_float",
    "days_to_cover",
    "float_shares",
    "float_is_proxy",
    "borrow_fee",
    "utilization",
)


def market_features(bars: pd.DataFrame) -> pd.DataFrame:
    """Derive price, volume ratio and change % per symbol from daily bars.

    The volume ratio compares the last bar's volume with the mean of the
    preceding 30 bars, as the real enrich stage did; fewer than 31 bars leave
    it unknown.

    Args:
        bars: The shared bars frame, sorted by (symbol, date).

    Returns:
        A frame indexed by symbol with `price`, `volume_ratio`, `change_pct`.
    """
    groups = bars.groupby("symbol", sort=False)
    from_end = groups.cumcount(ascending=False).to_numpy()
    last = bars[from_end == 0].set_index("symbol")
    prev_close = bars.loc[from_end == 1, ["symbol", "close"]].set_index("symbol")
    window = bars.loc[(from_end >= 1) & (from_end <= VOLUME_WINDOW)]
    stats = window.groupby("symbol", sort=False)["volume"].agg(["mean", "count"])

    avg = stats["mean"].where(stats["count"] >= VOLUME_WINDOW).reindex(last.index)
    avg = avg.where(avg > 0)
    prev = prev_close["close"].reindex(last.index)
    prev = prev.where(prev > 0)
    return pd.DataFrame(
        {
            "price": last["close"].where(last["close"] > 0),
            "volume_ratio": last["volume"] / avg,
            "change_pct": (last["close"] / prev - 1.0) * 100.0,
        }
    )


def join_features(market: pd.DataFrame, reference: pd.DataFrame) -> pd.DataFrame:
    """Join market features with the reference frame into detector input.

    Short interest as a fraction of float is computed only where both are
    known; everything else missing stays NaN.

    Args:
        market: Output of `market_features`, indexed by symbol.
        reference: The shared reference frame, indexed by symbol.

    Returns:
        A frame indexed by symbol with every column in `FEATURE_COLUMNS`.
    """
    unique = reference[~reference.index.duplicated(keep="last")]
    ref = unique.reindex(market.index)
    out = market.copy()
    for column in NUMERIC_REFERENCE:
        out[column] = _numeric(ref, column)
    proxy = ref.get("float_is_proxy")
    out["float_is_proxy"] = False if proxy is None else proxy.eq(True).to_numpy()
    out["si_float"] = out["short_interest"] / out["float_shares"].where(
        out["float_shares"] > 0
    )
    return out[list(FEATURE_COLUMNS)]


def _numeric(frame: pd.DataFrame, column: str) -> pd.Series:
    """Return a float column with non-finite and negative values as NaN."""
    if column not in frame:
        return pd.Series(np.nan, index=frame.index, dtype="float64")
    values = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    return values.where(np.isfinite(values) & (values >= 0))


def pass_bar(si_confidence: np.ndarray) -> np.ndarray:
    """Return the minimum score to pass for each SI confidence (contract §5)."""
    return np.select(
        [si_confidence >= 0.8, si_confidence >= 0.5, si_confidence >= 0.3],
        [0.15, 0.20, 0.30],
        default=0.40,
    )


def detect(
    features: pd.DataFrame, sources: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """Score every symbol for a short squeeze, vectorised.

    Args:
        features: Indexed by symbol, with the columns of `FEATURE_COLUMNS`
            (missing columns are unknown inputs). `si_float` and `borrow_fee`
            are fractions; `change_pct` is in percent.
        sources: Where each factor's data came from, keyed by factor name
            ("volume", "short_interest", "float", "borrow"); shown in details.

    Returns:
        One row per input symbol: the inputs, `score` (0-1, 6 dp), `score_pct`
        (0-100), `level` (EXTREME/HIGH/MEDIUM/LOW/NONE), `pattern`,
        `si_confidence`, `pass_bar`, `passed`, `confidence`, `rejected` (reason
        or ""), per-factor `c_<factor>` contributions and `src_<factor>`
        sources ("unknown" when the input is missing).
    """
    x = _inputs(features)
    contrib = _contributions(x)
    score = np.round(np.minimum(sum(contrib.values()), 1.0), 6)
    rejected = _rejections(x)
    si_conf = _si_confidence(x)
    bar = pass_bar(si_conf)

    out = features.copy()
    out["score"] = score
    out["score_pct"] = np.round(score * 100.0, 2)
    out["level"], out["pattern"] = _classify(score, x["volume_ratio"])
    out["si_confidence"] = si_conf
    out["pass_bar"] = bar
    out["rejected"] = rejected
    out["passed"] = (rejected == "") & (score >= bar) & (out["level"] != "NONE")
    out["confidence"] = _confidence(x)
    out["si_feed_score"] = _si_feed_score(x)
    _add_factor_columns(out, x, contrib, sources or {})
    return out


def _inputs(features: pd.DataFrame) -> dict[str, np.ndarray]:
    """Pull each input as a float array, NaN where unknown."""
    n = len(features)
    x: dict[str, np.ndarray] = {}
    for column in FEATURE_COLUMNS:
        if column == "float_is_proxy":
            continue
        if column in features:
            x[column] = pd.to_numeric(features[column], errors="coerce").to_numpy(
                dtype="float64", na_value=np.nan
            )
        else:
            x[column] = np.full(n, np.nan)
        x[column] = np.where(np.isfinite(x[column]), x[column], np.nan)
    proxy = features.get("float_is_proxy")
    x["float_is_proxy"] = (
        np.zeros(n, dtype=bool) if proxy is None else proxy.eq(True).to_numpy(bool)
    )
    return x


def _contributions(x: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Return each factor's weighted contribution; unknown inputs give 0."""
    with np.errstate(invalid="ignore"):
        parts = {
            "volume": np.minimum(x["volume_ratio"] / SPIKE_TARGET, 1.0),
            "short_interest": np.minimum(x["si_float"] / SI_TARGET, 1.0),
            "float": np.maximum(0.0, 1.0 - x["float_shares"] / FLOAT_MAX),
            "borrow": np.minimum(x["borrow_fee"] / BORROW_TARGET, 1.0),
        }
    return {
        k: WEIGHTS[k] * np.nan_to_num(np.clip(v, 0.0, None)) for k, v in parts.items()
    }


def _rejections(x: dict[str, np.ndarray]) -> np.ndarray:
    """Return the first rejection reason per symbol, or "" when it may pass.

    Market cap is checked only when the float is known: the real detector
    assumed a 50 M float and so rejected every stock above $15.
    """
    price, ratio = x["price"], x["volume_ratio"]
    with np.errstate(invalid="ignore"):
        conditions = [
            np.isnan(price) | np.isnan(ratio),
            (price < PRICE_MIN) | (price > PRICE_MAX),
            ratio < SPIKE_MIN,
            price * x["float_shares"] > MARKET_CAP_MAX,
        ]
    reasons = [
        "missing price or volume",
        "price outside $0.50-50",
        "volume ratio below 1.5x",
        "market cap above $750M",
    ]
    return np.select(conditions, reasons, default="").astype(object)


def _classify(score: np.ndarray, ratio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (level, pattern) arrays for the scores (contract §5 thresholds)."""
    extreme, high, medium, low = (score >= floor for floor in LEVEL_FLOORS)
    level = np.select([extreme, high, medium, low], list(LEVELS), default="NONE")
    with np.errstate(invalid="ignore"):
        patterns = [
            extreme & (ratio >= 20),
            extreme,
            high & (ratio >= 15),
            high,
            medium,
            low,
        ]
    names = [
        "VIGL_EXTREME",
        "SQUEEZE_EXTREME",
        "VIGL_HIGH",
        "SQUEEZE_HIGH",
        "SQUEEZE_MEDIUM",
        "SQUEEZE_POTENTIAL",
    ]
    pattern = np.select(patterns, names, default="NO_PATTERN")
    return level.astype(object), pattern.astype(object)


def _si_confidence(x: dict[str, np.ndarray]) -> np.ndarray:
    """How far the SI % of float can be trusted, which picks the pass bar.

    1.0 with a real float, 0.6 when the float is shares outstanding (SI % is
    then understated), 0.3 less when the SI record lacks days to cover, and 0
    when SI % is unknown.
    """
    known = ~np.isnan(x["si_float"])
    base = np.where(x["float_is_proxy"], 0.6, 1.0)
    base = base - np.where(np.isnan(x["days_to_cover"]), 0.3, 0.0)
    return np.where(known, np.round(base, 2), 0.0)


def _confidence(x: dict[str, np.ndarray]) -> np.ndarray:
    """Share of the weighted inputs that are known (a proxy float counts half)."""
    total = np.zeros(len(x["price"]))
    for column, weight in CONFIDENCE_WEIGHTS.items():
        known = (~np.isnan(x[column])).astype(float)
        if column == "float_shares":
            known = known * np.where(x["float_is_proxy"], 0.5, 1.0)
        total += weight * known
    return np.round(total, 3)


def _si_feed_score(x: dict[str, np.ndarray]) -> np.ndarray:
    """The second, days-to-cover based score of the real SI feed (contract §5).

    NaN where SI % is unknown; unknown days to cover adds nothing.
    """
    si_pct = x["si_float"] * 100.0
    dtc = x["days_to_cover"]
    with np.errstate(invalid="ignore"):
        si_part = np.select([si_pct >= 40, si_pct >= 20, si_pct >= 10], [0.6, 0.4, 0.2])
        dtc_part = np.select([dtc >= 5, dtc >= 3, dtc >= 2], [0.3, 0.2, 0.1])
    score = np.minimum(0.05 + si_part + dtc_part, 1.0)
    return np.where(np.isnan(si_pct), np.nan, np.round(score, 6))


FACTOR_INPUT = {
    "volume": "volume_ratio",
    "short_interest": "si_float",
    "float": "float_shares",
    "borrow": "borrow_fee",
}


def _add_factor_columns(
    out: pd.DataFrame,
    x: dict[str, np.ndarray],
    contrib: dict[str, np.ndarray],
    sources: Mapping[str, str],
) -> None:
    """Add `c_<factor>` (contribution) and `src_<factor>` (source) columns."""
    for factor in FACTORS:
        known = ~np.isnan(x[FACTOR_INPUT[factor]])
        out[f"c_{factor}"] = np.round(contrib[factor], 6)
        label = sources.get(factor, "input")
        out[f"src_{factor}"] = np.where(known, label, "unknown").astype(object)
