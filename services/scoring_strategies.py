"""The discover.py strategies, `hybrid_v1` and `legacy_v0`, over a `MarketFrame`.

It owns their shared pipeline (universe, pre-rank, compression and squeeze stages of
contract §4.5), the hybrid calibration presets (§4.6) and both scorers. Pure pandas
and numpy: no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from services import scoring_rules as rules
from services.scoring_features import MarketFrame, with_columns
from services.scoring_panel import by_symbol
from services.scoring_rules import clamp01, squeeze_assumptions, squeeze_score

PRERANK_TOP = 400
MAX_CANDIDATES = 50
PLACEHOLDER_FLOAT = 50_000_000.0
PLACEHOLDER_CALL_PUT = 1.0
PLACEHOLDER_IV_PERCENTILE = 0.5
HYBRID_TRADE_READY = 70.0
HYBRID_WATCHLIST = 50.0
HYBRID_PARTS = ("vm", "sq", "ca", "op", "te")
HYBRID_NAMES = {
    "vm": "volume_momentum",
    "sq": "squeeze",
    "ca": "catalyst",
    "op": "options",
    "te": "technical",
}


@dataclass(frozen=True)
class HybridPreset:
    """Weights and thresholds of one hybrid_v1 calibration preset.

    Attributes:
        weights: Normalised weights of vm, sq, ca, op, te (sum 1).
        min_relvol: T_rv, the relative volume where the VM volume term starts.
        min_atr: T_atr, the ATR fraction where the VM ATR term starts.
        rsi_band: RSI range that earns the TE RSI term.
        iv_percentile_min: I, as a fraction.
        float_max: Largest float that still earns the 0.6 float bonus.
        source: Which calibration file the values come from.
    """

    weights: dict[str, float]
    min_relvol: float = 0.5
    min_atr: float = 0.02
    rsi_band: tuple[float, float] = (60.0, 70.0)
    iv_percentile_min: float = 0.80
    float_max: float = 75_000_000.0
    source: str = "calibration/active.json v1.1.0"


def _normalised(weights: dict[str, float]) -> dict[str, float]:
    """Scale weights so they sum to 1, as the original loader did."""
    total = sum(weights.values())
    return {key: value / total for key, value in weights.items()}


_BALANCED = {"vm": 0.35, "sq": 0.25, "ca": 0.20, "op": 0.10, "te": 0.10}
PRESETS: dict[str, HybridPreset] = {
    "balanced_default": HybridPreset(_normalised(_BALANCED)),
    "squeeze_aggressive": HybridPreset(
        _normalised({"vm": 0.30, "sq": 0.35, "ca": 0.20, "op": 0.10, "te": 0.05})
    ),
    "catalyst_heavy": HybridPreset(
        _normalised({"vm": 0.30, "sq": 0.20, "ca": 0.35, "op": 0.10, "te": 0.05})
    ),
    # The v1.2.0-emergency file carried relaxed thresholds along with this preset.
    "resilient_discovery": HybridPreset(
        _normalised({"vm": 0.40, "sq": 0.30, "ca": 0.15, "op": 0.10, "te": 0.05}),
        min_relvol=0.3,
        min_atr=0.015,
        rsi_band=(55.0, 75.0),
        iv_percentile_min=0.70,
        float_max=100_000_000.0,
        source="calibration/active.json v1.2.0-emergency",
    ),
}


def _col(frame: pd.DataFrame, name: str) -> np.ndarray:
    """A column as a float64 array."""
    return np.asarray(frame[name].to_numpy(dtype="float64"), dtype=np.float64)


def universe_stage(feats: pd.DataFrame) -> np.ndarray:
    """Stage 1: 0.01 ≤ price ≤ 100, dollar volume ≥ 50 k, volume ≥ 100 k shares."""
    price, volume = _col(feats, "price"), _col(feats, "volume")
    priced = (price > 0) & (price <= 100) & (price >= 0.01)
    return np.asarray(priced & (price * volume >= 50_000) & (volume >= 100_000))


def prerank_points(price: np.ndarray, volume: np.ndarray) -> np.ndarray:
    """Stage 3 pre-rank points.

    +3 for $2–25 (else +2 for $1–50), plus +2 for ≥ 1 M shares (else +1 for ≥ 500 k).
    """
    points = np.select(
        [(price >= 2) & (price <= 25), (price >= 1) & (price <= 50)], [3, 2], 0
    )
    more = np.select([volume >= 1_000_000, volume >= 500_000], [2, 1], 0)
    return np.asarray(points + more)


def _top(
    frame: pd.DataFrame, keys: list[str], ascending: list[bool], n: int
) -> pd.Index:
    """Index of the first n rows ordered by keys, ties broken by symbol."""
    ordered = by_symbol(frame).sort_values(
        keys, ascending=ascending, kind="stable", na_position="last"
    )
    return ordered.index[:n]


def squeeze_stage(feats: pd.DataFrame) -> pd.DataFrame:
    """Stage 6: the squeeze detector as discover.py called it.

    The score uses vr = max(spike, 1.5); the detector rejects prices outside
    $0.50–50 and market caps (price × float, 50 M when unknown) over $750 M; the
    pass bar is 0.15 with short interest on a real float, 0.20 on a proxy float
    and 0.40 without short interest.
    """
    vr = np.maximum(feats["spike"].fillna(0.0), 1.5)
    score, pattern, confidence = squeeze_score(
        vr, feats["si_frac"], feats["float_shares"], feats["borrow_fee"]
    )
    price = _col(feats, "price")
    float_used = feats["float_shares"].where(
        feats["float_shares"] > 0, PLACEHOLDER_FLOAT
    )
    rejected = (price < 0.50) | (price > 50) | (price * float_used.to_numpy() > 750e6)
    known_si = np.isfinite(_col(feats, "si_frac"))
    proxy = feats["float_is_proxy"].to_numpy(dtype=bool)
    bar = np.select([known_si & ~proxy, known_si], [0.15, 0.20], 0.40)
    out = pd.DataFrame(index=feats.index)
    out["squeeze_score"] = score
    out["squeeze_pattern"] = pattern
    out["squeeze_confidence"] = confidence
    out["squeeze_bar"] = bar
    out["squeeze_pass"] = ~rejected & (score.to_numpy() >= bar)
    out["assumed"] = squeeze_assumptions(
        feats["si_frac"], feats["float_shares"], feats["borrow_fee"]
    )
    return out


def pipeline(
    market: MarketFrame, limit: int | None
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Run stages 1–6 of select_candidates (once per market and limit).

    Like the original, the costly features are computed only for the symbols that
    survive the pre-rank.

    Returns:
        The surviving symbols' features joined with the squeeze columns, and the
        count of symbols after each stage.
    """
    if limit not in market.pipelines:
        market.pipelines[limit] = _run_pipeline(market, limit)
    stage, trace = market.pipelines[limit]
    return stage, dict(trace)


def _run_pipeline(
    market: MarketFrame, limit: int | None
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Stages 1 (universe), 3 (pre-rank), 4 (compression) and 6 (squeeze)."""
    quick = market.last_bar()
    passed = universe_stage(quick)
    trace = {"universe": len(quick), "filtered": int(passed.sum())}

    price, volume = _col(quick, "price")[passed], _col(quick, "volume")[passed]
    ranking = pd.DataFrame(
        {"points": prerank_points(price, volume), "volume": volume},
        index=quick.index[passed],
    )
    top = _top(ranking, ["points", "volume"], [False, False], PRERANK_TOP)
    trace["prerank"] = len(top)

    full = market.enriched(top)
    tight = full[full["compression_pct"] <= 0.50]
    stage = full.loc[
        _top(tight, ["compression_pct"], [True], (limit or MAX_CANDIDATES) * 3)
    ]
    trace["compression"] = len(stage)

    stage = stage.join(squeeze_stage(stage))
    stage = stage[stage["squeeze_pass"]]
    trace["squeeze"] = len(stage)
    return stage, trace


def _unscorable(quick: pd.DataFrame, kept: pd.DataFrame) -> pd.DataFrame:
    """Symbols without a last price or volume: unscored, shown by keep_invalid."""
    missing = np.isnan(_col(quick, "price")) | np.isnan(_col(quick, "volume"))
    if not missing.any():
        return quick.iloc[0:0]
    rest = quick[missing & ~quick.index.isin(kept.index)]
    return rest.assign(score=np.nan, action="REJECT", confidence="NONE", scorable=False)


def _flag(values: pd.Series) -> np.ndarray:
    """A boolean column as 0.0 / 1.0."""
    return np.asarray(values.to_numpy(dtype=bool), dtype=np.float64)


def _momentum_parts(stage: pd.DataFrame, p: HybridPreset) -> dict[str, np.ndarray]:
    """VM parts: relative volume, up days, VWAP reclaim and ATR, each 0–1."""
    relvol = (_col(stage, "rel_vol") - p.min_relvol) / (8 - p.min_relvol)
    return {
        "relvol_score": clamp01(relvol),
        "uptrend_score": clamp01((_col(stage, "consec_up_days") - 2) / 4),
        "vwap_score": _flag(stage["vwap_reclaim"]),
        "atr_score": clamp01((_col(stage, "atr14") - p.min_atr) / (0.10 - p.min_atr)),
    }


def _squeeze_parts(stage: pd.DataFrame, p: HybridPreset) -> dict[str, np.ndarray]:
    """SQ parts: float bonus (unknown float → 50 M), SI, borrow and utilisation."""
    floats = stage["float_shares"].where(stage["float_shares"] > 0, PLACEHOLDER_FLOAT)
    fl = floats.to_numpy(dtype="float64")
    return {
        "float_bonus": np.select([fl <= 50e6, fl <= p.float_max], [1.0, 0.6], 0.0),
        "si_score": clamp01(_col(stage, "si_frac") / 0.40),
        "borrow_score": clamp01(_col(stage, "borrow_fee") / 0.50),
        "util_score": clamp01((_col(stage, "utilization") - 0.70) / 0.30),
    }


def _options_and_trend_parts(
    stage: pd.DataFrame, p: HybridPreset
) -> dict[str, np.ndarray]:
    """OP parts (placeholders, as discover.py had no options data) and TE parts."""
    n = len(stage)
    ivp = (PLACEHOLDER_IV_PERCENTILE - p.iv_percentile_min) / (1 - p.iv_percentile_min)
    ema9 = np.nan_to_num(_col(stage, "ema9"), nan=0.0)
    ema20 = np.nan_to_num(_col(stage, "ema20"), nan=0.0)
    rsi = _col(stage, "rsi14")
    in_band = (rsi >= p.rsi_band[0]) & (rsi <= p.rsi_band[1])
    return {
        "cpr_score": clamp01(np.full(n, (PLACEHOLDER_CALL_PUT - 1) / 2)),
        "ivp_score": clamp01(np.full(n, ivp)),
        "ema_cross": (ema9 > ema20).astype(np.float64),
        "rsi_band_score": in_band.astype(np.float64),
    }


def hybrid_subscores(stage: pd.DataFrame, preset: HybridPreset) -> pd.DataFrame:
    """The five 0–1 subscores of hybrid_v1 (c_vm … c_te) and their parts (§4.5)."""
    p = {
        **_momentum_parts(stage, preset),
        **_squeeze_parts(stage, preset),
        **_options_and_trend_parts(stage, preset),
    }
    news = _flag(stage["news_catalyst"])
    p["c_vm"] = (
        0.45 * p["relvol_score"]
        + 0.20 * p["uptrend_score"]
        + 0.20 * p["vwap_score"]
        + 0.15 * p["atr_score"]
    )
    p["c_sq"] = (
        0.35 * p["float_bonus"]
        + 0.35 * p["si_score"]
        + 0.15 * p["borrow_score"]
        + 0.15 * p["util_score"]
    )
    p["c_ca"] = 0.5 * news + 0.5 * clamp01(_col(stage, "social_rank"))
    p["c_op"] = 0.6 * p["cpr_score"] + 0.4 * p["ivp_score"]
    p["c_te"] = 0.6 * p["ema_cross"] + 0.4 * p["rsi_band_score"]
    return pd.DataFrame(p, index=stage.index)


def hybrid_gate(stage: pd.DataFrame) -> np.ndarray:
    """The live, hard-coded gate that practically every candidate passes.

    (relvol ≥ 1 or spike ≥ 1.5 or spike ≥ 1) and (ATR ≥ 1 % or spike ≥ 2 or
    float ≤ 100 M); a missing float reads as the 50 M placeholder.
    """
    relvol, spike = _col(stage, "rel_vol"), _col(stage, "spike")
    floats = stage["float_shares"].where(stage["float_shares"] > 0, PLACEHOLDER_FLOAT)
    volume_ok = (relvol >= 1.0) | (spike >= 1.5) | (spike >= 1.0)
    shape_ok = (
        (_col(stage, "atr14") >= 0.01) | (spike >= 2) | (floats.to_numpy() <= 100e6)
    )
    return np.asarray(volume_ok & shape_ok)


def hybrid_composite(subs: pd.DataFrame, preset: HybridPreset) -> np.ndarray:
    """The 0–100 composite: clamp(Σ weight · subscore) × 100, to 2 dp."""
    composite = sum(preset.weights[k] * subs[f"c_{k}"].to_numpy() for k in HYBRID_PARTS)
    return np.round(100 * clamp01(np.asarray(composite, dtype="float64")), 2)


def hybrid_action(score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Entry rules on the 0–100 composite, as (action, confidence) arrays.

    ≥ 70 TRADE_READY/HIGH, ≥ 50 WATCHLIST/MEDIUM, else REJECT/LOW.
    """
    levels = [score >= HYBRID_TRADE_READY, score >= HYBRID_WATCHLIST]
    action = np.select(levels, ["TRADE_READY", "WATCHLIST"], "REJECT").astype(object)
    return action, np.select(levels, ["HIGH", "MEDIUM"], "LOW").astype(object)


def score_hybrid(
    market: MarketFrame, preset: HybridPreset, limit: int | None
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Score with hybrid_v1 under `preset`; rows below 50 are marked REJECT."""
    stage, trace = pipeline(market, limit)
    stage = stage[hybrid_gate(stage)]
    trace["gate"] = len(stage)
    subs = hybrid_subscores(stage, preset)
    score = hybrid_composite(subs, preset)
    action, confidence = hybrid_action(score)

    columns = {name: subs[name].to_numpy() for name in subs.columns}
    columns |= {"score": score, "action": action, "confidence": confidence}
    columns["preset"] = next((k for k, v in PRESETS.items() if v is preset), "custom")
    columns["scorable"] = True
    trace["kept"] = int((action != "REJECT").sum())
    return _combine(market.last_bar(), with_columns(stage, columns)), trace


def legacy_tier(vigl: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The (tier label, multiplier) arrays of legacy_v0.

    TIER_1 ×1.2 for vigl ≥ 0.80, TIER_2 ×1.0 for ≥ 0.65, TIER_3 ×0.8 otherwise.
    """
    levels = [vigl >= 0.80, vigl >= 0.65]
    tier = np.select(levels, ["TIER_1", "TIER_2"], "TIER_3").astype(object)
    return tier, np.select(levels, [1.2, 1.0], 0.8)


def legacy_eligible(
    vigl: np.ndarray,
    wolf: np.ndarray,
    price: np.ndarray,
    spike: np.ndarray,
    r5: np.ndarray,
    atr: np.ndarray,
) -> np.ndarray:
    """Explosive criteria or lenient criteria (contract §4.5 legacy_v0)."""
    explosive = (vigl >= 0.10) & (wolf <= 0.8) & (price >= 0.01) & (price <= 500)
    explosive &= (spike >= 2.0) & (r5 >= -0.15) & (atr >= 0.02)
    lenient = (vigl >= 0.15) & (wolf <= 0.8) & (price >= 0.10) & (price <= 100)
    return explosive | (lenient & (spike >= 1.0))


def score_legacy(
    market: MarketFrame, limit: int | None
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Score with legacy_v0 (squeeze mode): squeeze score × the vigl tier multiplier."""
    stage, trace = pipeline(market, limit)
    price, spike = _col(stage, "price"), _col(stage, "spike")
    r1, r5, atr = _col(stage, "r1"), _col(stage, "r5"), _col(stage, "atr14")
    vigl = rules.explosive(price, spike, r1, atr)
    wolf = rules.wolf_risk(price, spike, r1, atr, r5)
    squeeze = _col(stage, "squeeze_score")
    tier, multiplier = legacy_tier(vigl)
    score = np.round(100 * np.clip(squeeze * multiplier, 0.0, 1.0), 2)
    eligible = legacy_eligible(vigl, wolf, price, spike, r5, atr)
    action = np.where(eligible, tier, "REJECT").astype(object)

    ranked = pd.DataFrame({"score": score, "action": action}, index=stage.index)
    chosen = legacy_selection(ranked[eligible], limit or MAX_CANDIDATES)
    action[~stage.index.isin(chosen)] = "REJECT"
    trace |= {"eligible": int(eligible.sum()), "kept": len(chosen)}
    columns = {
        "c_squeeze": squeeze,
        "c_vigl": vigl,
        "c_multiplier": multiplier,
        "c_wolf": wolf,
        "score": score,
        "action": action,
        "confidence": stage["squeeze_confidence"].to_numpy(dtype=object),
        "scorable": True,
    }
    return _combine(market.last_bar(), with_columns(stage, columns)), trace


def legacy_selection(eligible: pd.DataFrame, limit: int) -> pd.Index:
    """discover.py's final pick: up to 3 TIER_1, then TIER_2, then the rest.

    Each group is taken best score first; the rest includes TIER_1 beyond the
    first three, so a TIER_2 can displace a higher-scoring TIER_1.
    """
    ranked = by_symbol(eligible).sort_values(
        "score", ascending=False, kind="stable", na_position="last"
    )
    first = ranked.index[ranked["action"] == "TIER_1"][:3]
    second = ranked.index[ranked["action"] == "TIER_2"]
    rest = ranked.index.difference(first.append(second), sort=False)
    return first.append(second).append(rest)[:limit]


def _combine(quick: pd.DataFrame, kept: pd.DataFrame) -> pd.DataFrame:
    """The scored survivors plus the unscorable symbols, with display columns.

    Symbols dropped by a stage are not returned: `score_universe` would drop them.
    """
    rest = _unscorable(quick, kept)
    frame = pd.concat([kept, rest]) if len(rest) else kept
    display = {"atr_pct": _col(frame, "atr14") * 100}
    return with_columns(frame, display | {"day_range_pct": _col(frame, "atr_pct")})


def strategy_theses(frame: pd.DataFrame) -> list[str]:
    """One line per row: price, relative volume, 1-day move, ATR and squeeze pattern."""
    columns = ["price", "rel_vol", "r1", "atr14", "squeeze_score"]
    rows = frame[columns].to_numpy(dtype="float64").tolist()
    patterns = frame["squeeze_pattern"].fillna("").tolist()
    return [
        _strategy_thesis(str(sym), vals, str(pat))
        for sym, vals, pat in zip(frame.index.tolist(), rows, patterns, strict=True)
    ]


def _strategy_thesis(symbol: str, values: list[float], pattern: str) -> str:
    """Format "<SYM>: $<p>, <rv>x rel vol, <±r1>% 1d, <atr>% ATR, squeeze <sq>"."""
    price, rv, r1, atr, sq = values
    if any(math.isnan(x) for x in (price, r1, atr)):
        return f"{symbol}: incomplete data"
    rel = "n/a" if math.isnan(rv) else f"{rv:.1f}x"
    squeeze = "" if math.isnan(sq) else f", squeeze {sq:.2f} {pattern}"
    move, range_ = f"{100 * r1:+.1f}% 1d", f"{100 * atr:.1f}% ATR"
    return f"{symbol}: ${price:.2f}, {rel} rel vol, {move}, {range_}{squeeze}"
