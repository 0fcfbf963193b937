"""Explain scored rows component by component and render them as candidate JSON.

It reads rows produced by `services.scoring.score_universe`; it never recomputes a
score and does no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from services import scoring_rules as rules
from services.scoring_strategies import HYBRID_NAMES, HYBRID_PARTS, PRESETS

BMS_COMPONENTS = tuple(rules.BMS_WEIGHTS)
DISPLAY_COLUMNS = (
    "price",
    "change_pct",
    "rel_vol",
    "atr_pct",
    "dollar_volume",
    "short_interest",
    "float_shares",
)
HYBRID_DETAIL = (
    "relvol_score",
    "uptrend_score",
    "vwap_score",
    "atr_score",
    "float_bonus",
    "si_score",
    "borrow_score",
    "util_score",
    "cpr_score",
    "ivp_score",
    "ema_cross",
    "rsi_band_score",
)


@dataclass(frozen=True)
class Contribution:
    """One line of a score explanation.

    Attributes:
        component: Component name ("volume_surge", "volume_momentum", ...).
        raw: The main input of the component, in its own unit.
        points: The component's own score (0–100 points for BMS, 0–1 otherwise).
        weight: Its weight in the total.
        contribution: Points it adds to the 0–100 total.
        note: The inputs and the tier they fell in, in words.
    """

    component: str
    raw: float
    points: float
    weight: float
    contribution: float
    note: str


def num(value: Any) -> float | None:
    """A JSON-safe float: None for NaN, ±inf, NA or non-numbers."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _f(row: pd.Series, name: str) -> float:
    """A row value as float, NaN when absent or not a number."""
    value = num(row.get(name))
    return math.nan if value is None else value


def explain_bms(row: pd.Series) -> list[Contribution]:
    """Contributions of V, M, X, R and the +4 bonus to a BMS score."""
    rv, m, a = _f(row, "bms_rel_vol"), _f(row, "momentum_1d"), _f(row, "atr_pct")
    d = _f(row, "dollar_volume") / 1e6
    inputs = {
        "volume_surge": (rv, f"volume proxy {rv:.2f}x (shares / 10 M, at least 1)"),
        "price_momentum": (m, f"open-to-close {m:+.2f} %"),
        "volatility_expansion": (a, f"one-day range (h - l) / c {a:.2f} %"),
        "risk_filter": (d, f"dollar volume ${d:,.1f} M"),
    }
    lines = []
    for name, (raw, note) in inputs.items():
        points, weight = _f(row, f"c_{name}"), rules.BMS_WEIGHTS[name]
        lines.append(Contribution(name, raw, points, weight, points * weight, note))
    bonus = _f(row, "c_bonus")
    note = "placeholder float 50 M and proxy ≥ 4" if bonus else "volume proxy below 4"
    lines.append(Contribution("float_bonus", rv, bonus, 1.0, bonus, note))
    total = sum(line.contribution for line in lines)
    if total > 100:
        cut = 100 - total
        lines.append(Contribution("cap", total, cut, 1.0, cut, "score capped at 100"))
    return lines


def _hybrid_notes(row: pd.Series) -> dict[str, tuple[float, str]]:
    """Main raw input and a note per hybrid subscore."""
    vwap = "above" if row.get("vwap_reclaim") else "not above"
    news = "yes" if row.get("news_catalyst") else "no"
    return {
        "vm": (
            _f(row, "rel_vol"),
            f"rel vol {_f(row, 'rel_vol'):.2f}x, "
            f"{_f(row, 'consec_up_days'):.0f} up days, close {vwap} 20-bar VWAP, "
            f"ATR {100 * _f(row, 'atr14'):.1f} %",
        ),
        "sq": (
            _f(row, "si_frac"),
            f"float bonus {_f(row, 'float_bonus'):.1f}, "
            f"SI {100 * _f(row, 'si_frac'):.1f} % of float, "
            f"borrow {_f(row, 'borrow_score'):.2f}, "
            f"util {_f(row, 'util_score'):.2f}{_assumed(row)}",
        ),
        "ca": (
            _f(row, "social_rank"),
            f"news heuristic {news}, social rank {_f(row, 'social_rank'):.2f}",
        ),
        "op": (1.0, "no options data: call/put 1.0 and IV percentile 0.5 placeholders"),
        "te": (
            _f(row, "rsi14"),
            f"EMA9 > EMA20: {bool(_f(row, 'ema_cross'))}, RSI {_f(row, 'rsi14'):.1f}",
        ),
    }


def _assumed(row: pd.Series) -> str:
    """Say which squeeze inputs took the detector's defaults, or nothing."""
    assumed = row.get("assumed")
    return f"; assumed {assumed}" if isinstance(assumed, str) and assumed else ""


def explain_hybrid(row: pd.Series) -> list[Contribution]:
    """Contributions of the five hybrid_v1 subscores under the row's preset."""
    weights = PRESETS[str(row.get("preset", "balanced_default"))].weights
    notes = _hybrid_notes(row)
    lines = []
    for key in HYBRID_PARTS:
        points, weight = _f(row, f"c_{key}"), weights[key]
        raw, note = notes[key]
        lines.append(
            Contribution(
                HYBRID_NAMES[key], raw, points, weight, 100 * weight * points, note
            )
        )
    return lines


def explain_legacy(row: pd.Series) -> list[Contribution]:
    """The squeeze score and the vigl tier adjustment behind a legacy_v0 score."""
    squeeze, mult, vigl = (
        _f(row, "c_squeeze"),
        _f(row, "c_multiplier"),
        _f(row, "c_vigl"),
    )
    vr = max(_f(row, "spike"), 1.5)
    base = 100 * squeeze
    adjusted = min(100.0, base * mult)
    return [
        Contribution(
            "squeeze",
            vr,
            squeeze,
            1.0,
            base,
            f"volume ratio {vr:.1f}x, {row.get('squeeze_pattern', '')}{_assumed(row)}",
        ),
        Contribution(
            "vigl_tier",
            vigl,
            mult,
            1.0,
            adjusted - base,
            f"explosive() {vigl:.3f} → {row.get('action', '')} ×{mult:.1f}; "
            f"wolf risk {_f(row, 'c_wolf'):.2f}",
        ),
    ]


def bms_candidate(symbol: str, row: pd.Series) -> dict[str, Any]:
    """The RealBMSEngine candidate fields (contract §2.4) of a BMS row."""
    return {
        "symbol": symbol,
        "bms_score": num(row["score"]),
        "action": str(row["action"]),
        "confidence": str(row["confidence"]),
        "component_scores": {name: num(row[f"c_{name}"]) for name in BMS_COMPONENTS},
        "thesis": str(row["thesis"]),
        "risk_level": "MEDIUM",
        "price": num(row["price"]),
        "volume_surge": num(row["bms_rel_vol"]),
        "momentum_1d": num(row["momentum_1d"]),
        "atr_pct": num(row["atr_pct"]),
        "dollar_volume": num(row["dollar_volume"]),
    }


def _common(symbol: str, row: pd.Series) -> dict[str, Any]:
    """Fields every non-BMS candidate carries."""
    item: dict[str, Any] = {
        "symbol": symbol,
        "action": str(row["action"]),
        "confidence": str(row["confidence"]),
        "thesis": str(row["thesis"]),
    }
    item.update({name: num(row.get(name)) for name in DISPLAY_COLUMNS})
    return item


def hybrid_candidate(symbol: str, row: pd.Series) -> dict[str, Any]:
    """A hybrid_v1 candidate in the shape discover.py produced, 0–100 score added."""
    item = _common(symbol, row)
    tag = "trade_ready" if row["action"] == "TRADE_READY" else "watchlist"
    item["component_scores"] = {
        HYBRID_NAMES[k]: num(row.get(f"c_{k}")) for k in HYBRID_PARTS
    }
    item["subscores"] = dict(item["component_scores"])
    item["subscores"]["components"] = {k: num(row.get(k)) for k in HYBRID_DETAIL}
    item["action_tag"] = tag
    item["pattern_match"] = f"HYBRID_{tag.upper()}"
    item["reason"] = f"hybrid_v1_{tag}"
    item["preset"] = str(row.get("preset", ""))
    return item


def legacy_candidate(symbol: str, row: pd.Series) -> dict[str, Any]:
    """A legacy_v0 candidate with discover.py's decision_data block."""
    item = _common(symbol, row)
    item["component_scores"] = {
        "squeeze": num(row.get("c_squeeze")),
        "vigl": num(row.get("c_vigl")),
        "wolf_risk": num(row.get("c_wolf")),
        "tier_multiplier": num(row.get("c_multiplier")),
    }
    r5 = num(row.get("r5"))
    item["decision_data"] = {
        "volume_spike_ratio": num(row.get("spike")),
        "momentum_1d_pct": None if r5 is None else 100 * r5,
        "vigl_confidence": num(row.get("c_vigl")),
        "risk_level": _wolf_level(_f(row, "c_wolf")),
        "atr_pct": num(row.get("atr14")),
        "compression_rank": num(row.get("compression_pct")),
    }
    item["squeeze_pattern"] = str(row.get("squeeze_pattern", ""))
    return item


def _wolf_level(wolf: float) -> str:
    """HIGH at the calibration's wolf_risk_threshold 0.65, MEDIUM from 0.4."""
    if math.isnan(wolf):
        return "UNKNOWN"
    return "HIGH" if wolf >= 0.65 else "MEDIUM" if wolf >= 0.4 else "LOW"
