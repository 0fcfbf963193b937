"""Score a whole market universe with one of the AMC strategies, vectorised.

`bms` is what production served at e357c8b (RealBMSEngine, quirks included);
`hybrid_v1` and `legacy_v0` are the documented discover.py strategies. Pure functions
over pandas frames: no I/O, no clock, no Textual.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from services import scoring_explain as ex
from services import scoring_rules as rules
from services.scoring_explain import Contribution
from services.scoring_features import MarketFrame, features, with_columns
from services.scoring_panel import by_symbol, to_float
from services.scoring_rules import squeeze_assumptions, squeeze_score
from services.scoring_strategies import (
    PRESETS,
    HybridPreset,
    score_hybrid,
    score_legacy,
    strategy_theses,
)

__all__ = [
    "PRESETS",
    "STRATEGIES",
    "Contribution",
    "HybridPreset",
    "MarketFrame",
    "best_first",
    "explain",
    "features",
    "score_all",
    "score_universe",
    "squeeze_assumptions",
    "squeeze_score",
    "to_candidate_dict",
]

logger = logging.getLogger(__name__)

STRATEGIES = ("bms", "hybrid_v1", "legacy_v0")
KEPT_ACTIONS = ("TRADE_READY", "MONITOR", "WATCHLIST", "TIER_1", "TIER_2", "TIER_3")


def score_universe(
    bars: pd.DataFrame | MarketFrame,
    reference: pd.DataFrame | None = None,
    strategy: str = "bms",
    preset: str = "balanced_default",
    limit: int | None = None,
    *,
    keep_invalid: bool = False,
) -> pd.DataFrame:
    """Score every symbol of `bars` and return the candidates, best first.

    Args:
        bars: Long daily bars (frames brief), or a `MarketFrame` to reuse the work
            of an earlier scoring of the same bars. Any numeric dtype; NaN, ±inf,
            zero and negative values are discarded and reported in `invalid`.
        reference: Reference data indexed by symbol (frames brief), or None.
            Ignored when `bars` is a MarketFrame, which holds its own.
        strategy: One of STRATEGIES.
        preset: A key of PRESETS (hybrid_v1 only).
        limit: Keep at most this many rows (None keeps all).
        keep_invalid: Also return symbols whose inputs were too broken to score,
            with a NaN score and action "INVALID", after every scored row.

    Returns:
        A frame indexed by symbol: score (0–100), action, confidence, the `c_*`
        components, the display features (price, change_pct, rel_vol, atr_pct,
        dollar_volume, short_interest, float_shares), thesis, invalid and
        strategy-specific columns, sorted by score descending with missing scores
        last. `atr_pct` is the BMS one-day range for bms and the 14-bar ATR (in %)
        for the others. `attrs["trace"]` counts the symbols after each stage.

    Raises:
        ValueError: For an unknown strategy or preset.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; expected one of {STRATEGIES}")
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; expected one of {tuple(PRESETS)}")
    market = bars if isinstance(bars, MarketFrame) else MarketFrame(bars, reference)

    if strategy == "bms":
        scored, trace = score_bms(market.last_bar())
        thesis: Callable[[pd.DataFrame], list[str]] = _theses
    elif strategy == "hybrid_v1":
        scored, trace = score_hybrid(market, PRESETS[preset], limit)
        thesis = strategy_theses
    else:
        scored, trace = score_legacy(market, limit)
        thesis = strategy_theses

    result = _finish(scored, keep_invalid, limit, thesis)
    result.attrs.update(strategy=strategy, preset=preset, trace=trace)
    logger.debug("%s scored, stage counts %s", strategy, trace)
    return result


def score_all(
    bars: pd.DataFrame,
    reference: pd.DataFrame | None = None,
    preset: str = "balanced_default",
    limit: int | None = None,
) -> dict[str, pd.DataFrame]:
    """Score the same bars with every strategy, sharing the common work.

    Returns:
        Strategy name → the frame `score_universe` returns for it.
    """
    market = MarketFrame(bars, reference)
    return {
        strategy: score_universe(market, strategy=strategy, preset=preset, limit=limit)
        for strategy in STRATEGIES
    }


def bms_components(feats: pd.DataFrame) -> dict[str, np.ndarray]:
    """V, M, X, R and the bonus, in points, from the last-bar features."""
    rv = feats["bms_rel_vol"].to_numpy()
    return {
        "c_volume_surge": rules.bms_volume_surge(rv),
        "c_price_momentum": rules.bms_momentum(feats["momentum_1d"].to_numpy()),
        "c_volatility_expansion": rules.bms_volatility(feats["atr_pct"].to_numpy()),
        "c_risk_filter": rules.bms_risk(feats["dollar_volume"].to_numpy() / 1e6),
        "c_bonus": rules.bms_bonus(rv),
    }


def score_bms(feats: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
    """Apply RealBMSEngine's gates, components, bonus and action (contract §4.4).

    Returns every symbol (gated-out and rejected ones with action REJECT) and the
    stage counts; `_finish` drops the rejects as the production job did.
    """
    parts = bms_components(feats)
    weighted = sum(parts[f"c_{name}"] * w for name, w in rules.BMS_WEIGHTS.items())
    # The candidate shape promises 0–100; 99 + 4 could otherwise exceed it.
    raw = np.minimum(np.round(weighted + parts["c_bonus"], 2), 100.0)
    price, d_m = feats["price"].to_numpy(), feats["dollar_volume"].to_numpy() / 1e6
    gated = (price >= rules.BMS_PRICE_MIN) & (price <= rules.BMS_PRICE_MAX)
    gated &= d_m >= rules.BMS_MIN_DOLLAR_VOLUME_M
    score = np.where(gated, raw, np.nan)
    action, confidence = rules.bms_action(score)

    columns: dict[str, np.ndarray | str] = {
        "score": score,
        "action": action,
        "confidence": confidence,
        **parts,
        "volume_surge": feats["bms_rel_vol"].to_numpy(),
        "risk_level": "MEDIUM",
        "scorable": ~np.isnan(raw),
    }
    trace = {
        "universe": len(feats),
        "gates": int(gated.sum()),
        "kept": int(np.isin(action, ["TRADE_READY", "MONITOR"]).sum()),
    }
    return with_columns(feats, columns), trace


def _finish(
    scored: pd.DataFrame,
    keep_invalid: bool,
    limit: int | None,
    thesis: Callable[[pd.DataFrame], list[str]],
) -> pd.DataFrame:
    """Drop rejects, mark unscorable rows, sort best first and add the thesis."""
    kept = scored["action"].isin(KEPT_ACTIONS).to_numpy(copy=True)
    unscorable = ~scored["scorable"].to_numpy(dtype=bool)
    if keep_invalid:
        kept |= unscorable
    positions = np.flatnonzero(kept)
    ranking = pd.DataFrame(
        {"score": scored["score"].to_numpy()[positions], "at": positions},
        index=scored.index[positions],
    )
    positions = best_first(ranking)["at"].to_numpy()[:limit]

    columns = [i for i, name in enumerate(scored.columns) if name != "scorable"]
    result = scored.iloc[positions, columns]
    invalid = unscorable[positions]
    if invalid.any():
        result.loc[invalid, ["score", "action", "confidence"]] = [
            np.nan,
            "INVALID",
            "NONE",
        ]
    result.index.name = "symbol"
    result["thesis"] = thesis(result)
    return result


def best_first(frame: pd.DataFrame, column: str = "score") -> pd.DataFrame:
    """Sort by `column` descending, ties by symbol, missing values last.

    Any dtype ranks the same (Int64, float64, object); NA, NaN, ±inf and
    non-numbers count as missing, so they never rank above a real value.
    """
    return by_symbol(frame).sort_values(
        column, ascending=False, na_position="last", kind="stable", key=_finite
    )


def _finite(values: pd.Series) -> pd.Series:
    """The values as float64 with NaN for anything missing or infinite."""
    numbers = to_float(values)
    numbers[~np.isfinite(numbers)] = np.nan
    return pd.Series(numbers, index=values.index)


def _theses(frame: pd.DataFrame) -> list[str]:
    """Build the BMS thesis "<SYM>: $<price>, <rv>x vol, <±m>% momentum, <a>% ATR"."""
    columns = ["price", "bms_rel_vol", "momentum_1d", "atr_pct"]
    values = frame[columns].to_numpy(dtype="float64")
    complete = np.isfinite(values).all(axis=1).tolist()
    template = "%s: $%.2f, %.1fx vol, %+.1f%% momentum, %.1f%% ATR"
    return [
        template % (symbol, *row) if ok else f"{symbol}: incomplete data"
        for symbol, row, ok in zip(
            frame.index.tolist(), values.tolist(), complete, strict=True
        )
    ]


def explain(row: pd.Series, strategy: str) -> list[Contribution]:
    """Break one scored row into the contributions that add up to its score.

    Args:
        row: A row of `score_universe(..., strategy=strategy)`.
        strategy: The strategy that produced it.

    Raises:
        ValueError: For an unknown strategy.
    """
    explainers = {
        "bms": ex.explain_bms,
        "hybrid_v1": ex.explain_hybrid,
        "legacy_v0": ex.explain_legacy,
    }
    if strategy not in explainers:
        raise ValueError(f"unknown strategy {strategy!r}")
    return explainers[strategy](row)


def to_candidate_dict(row: pd.Series, strategy: str) -> dict[str, Any]:
    """Render one scored row as the real system's candidate JSON object.

    For `bms` this is the RealBMSEngine shape (contract §2.4); every strategy adds
    `score` (0–100), `strategy`, the true `change_pct` and `rel_vol`, and
    `short_interest` and `float_shares`. NaN becomes None so it is JSON-able.

    Raises:
        ValueError: For an unknown strategy.
    """
    renderers = {
        "bms": ex.bms_candidate,
        "hybrid_v1": ex.hybrid_candidate,
        "legacy_v0": ex.legacy_candidate,
    }
    if strategy not in renderers:
        raise ValueError(f"unknown strategy {strategy!r}")
    item = renderers[strategy](str(row.name), row)
    item["score"] = ex.num(row["score"])
    item["strategy"] = strategy
    # True close-to-close change and relative volume next to the BMS proxies
    # (momentum_1d, volume_surge), so every pane shows the same figures; short
    # interest and float where the reference data knows them (None otherwise).
    for column in ("change_pct", "rel_vol", "short_interest", "float_shares"):
        if column in row.index:
            item.setdefault(column, ex.num(row[column]))
    return item
