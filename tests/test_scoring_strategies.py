"""Golden tests for hybrid_v1, legacy_v0 and the squeeze score (contract §4.5, §4.6,
§5). Expected numbers are worked out by hand in the comments."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from services import scoring
from services import scoring_rules as rules
from services import scoring_strategies as strat
from services.scoring_features import heuristics
from tests.support.scoring_bars import bars_for, universe


def _arr(*values: float) -> np.ndarray:
    return np.array(values, dtype="float64")


# --- explosive() -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("price", "points"),
    [
        (0.009, 0.1),
        (0.01, 0.7),
        (2.49, 0.7),
        (2.5, 0.85),
        (3.0, 1.0),
        (12.0, 1.0),
        (12.01, 0.85),
        (20.0, 0.85),
        (20.01, 0.7),
        (100.0, 0.7),
        (100.01, 0.1),
    ],
)
def test_explosive_price_tiers(price: float, points: float) -> None:
    assert rules.explosive_price(_arr(price))[0] == points


@pytest.mark.parametrize(
    ("spike", "points"),
    [
        (21.0, 0.95),
        (20.9, 0.95),
        (20.89, 0.90),
        (10.0, 0.90),
        (9.99, 0.85),
        (5.0, 0.85),
        (3.0, 0.75),
        (2.0, 0.65),
        (1.5, 0.50),
        (1.49, 0.20),
    ],
)
def test_explosive_volume_tiers(spike: float, points: float) -> None:
    assert rules.explosive_volume(_arr(spike))[0] == points


@pytest.mark.parametrize(
    ("mom", "points"),
    [
        (0.40, 1.0),  # the 0.8 tier at ≥ 0.25 is shadowed by ≥ 0.15
        (0.25, 1.0),
        (0.15, 1.0),
        (0.1499, 0.6),
        (0.05, 0.6),
        (0.0, 0.4),
        (-0.05, 0.3),
        (-0.0501, 0.1),
    ],
)
def test_explosive_momentum_tiers(mom: float, points: float) -> None:
    assert rules.explosive_momentum(_arr(mom))[0] == points


@pytest.mark.parametrize(
    ("atr", "points"),
    [(0.10, 1.0), (0.0999, 0.8), (0.06, 0.8), (0.04, 0.6), (0.0399, 0.3)],
)
def test_explosive_atr_tiers(atr: float, points: float) -> None:
    assert rules.explosive_atr(_arr(atr))[0] == points


def test_explosive_weights() -> None:
    # $5 → 1.0, spike 10 → 0.90, +10 % → 0.6, ATR 5 % → 0.6:
    # 0.25 + 0.315 + 0.15 + 0.09 = 0.805.
    got = rules.explosive(_arr(5.0), _arr(10.0), _arr(0.10), _arr(0.05))[0]
    assert got == pytest.approx(0.805)


# --- wolf_risk -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("price", "spike", "mom", "atr", "r5", "risk"),
    [
        (10.0, 3.0, 0.03, 0.05, 0.0, 0.2),  # nothing applies
        (0.49, 3.0, 0.03, 0.05, 0.0, 0.8),
        (0.99, 3.0, 0.03, 0.05, 0.0, 0.4),
        (10.0, 51.0, 0.01, 0.05, 0.0, 0.7),
        (10.0, 50.0, 0.01, 0.05, 0.0, 0.2),  # spike must exceed 50
        (10.0, 3.0, -0.11, 0.21, 0.0, 0.6),
        (10.0, 3.0, 0.03, 0.05, -0.16, 0.5),
        (10.0, 3.0, 0.04, 0.26, 0.0, 0.4),
        (0.40, 3.0, 0.03, 0.05, -0.20, 0.8),  # the maximum wins
    ],
)
def test_wolf_risk(
    price: float, spike: float, mom: float, atr: float, r5: float, risk: float
) -> None:
    got = rules.wolf_risk(_arr(price), _arr(spike), _arr(mom), _arr(atr), _arr(r5))
    assert got[0] == risk


# --- squeeze score ---------------------------------------------------------------


def _sq(vr: float, si: float, fl: float, borrow: float) -> tuple[float, str, str]:
    score, pattern, confidence = scoring.squeeze_score(
        pd.Series([vr]), pd.Series([si]), pd.Series([fl]), pd.Series([borrow])
    )
    return float(score.iloc[0]), str(pattern.iloc[0]), str(confidence.iloc[0])


@pytest.mark.parametrize(
    ("vr", "pattern", "confidence"),
    [
        # SI 0, float 75 M, borrow 0 → score = 0.5·vr/15.
        (20.0, "VIGL_EXTREME", "EXTREME"),  # 0.5
        (13.5, "SQUEEZE_EXTREME", "EXTREME"),  # 0.45
        (9.0, "SQUEEZE_HIGH", "HIGH"),  # 0.30
        (6.0, "SQUEEZE_MEDIUM", "MEDIUM"),  # 0.20
        (3.0, "SQUEEZE_POTENTIAL", "LOW"),  # 0.10
        (2.97, "NO_PATTERN", "NONE"),  # 0.099
    ],
)
def test_squeeze_classes(vr: float, pattern: str, confidence: str) -> None:
    score, got_pattern, got_confidence = _sq(vr, 0.0, 75e6, 0.0)
    assert score == pytest.approx(0.5 * min(vr / 15, 1))
    assert (got_pattern, got_confidence) == (pattern, confidence)


def test_squeeze_weights() -> None:
    # 0.5·(7.5/15) + 0.2·(0.25/0.5) + 0.2·(1 − 37.5/75) + 0.1·(1/2) = 0.25+0.1+0.1+0.05
    score, pattern, _ = _sq(7.5, 0.25, 37.5e6, 1.0)
    assert score == pytest.approx(0.5)
    assert pattern == "SQUEEZE_EXTREME"


def test_squeeze_score_tops_out_at_1() -> None:
    # 0.5 + 0.2 + 0.2·(1 − 1/75 M) + 0.1, just under 1.
    score = _sq(40.0, 2.0, 1.0, 9.0)[0]
    assert score <= 1.0
    assert score == pytest.approx(1.0)


def test_squeeze_missing_inputs_take_the_detector_defaults_and_are_flagged() -> None:
    # SI → 0, float → 50 M, borrow → 0: 0.5 + 0 + 0.2·(1/3) + 0 = 0.5667.
    for missing in (np.nan, np.inf, -1.0):
        assert _sq(15.0, missing, missing, missing)[0] == pytest.approx(0.5 + 0.2 / 3)
    flags = rules.squeeze_assumptions(
        pd.Series([np.nan, 0.1]), pd.Series([np.inf, 10e6]), pd.Series([-1.0, 0.3])
    )
    assert list(flags) == ["short interest 0, float 50M, borrow 0", ""]


def test_squeeze_without_volume_ratio_is_unscored() -> None:
    score, pattern, confidence = _sq(np.nan, 0.3, 10e6, 0.5)
    assert np.isnan(score)
    assert (pattern, confidence) == ("NO_PATTERN", "NONE")


def _stage_frame(**columns: list[float]) -> pd.DataFrame:
    n = len(next(iter(columns.values())))
    base: dict[str, object] = {
        "price": [10.0] * n,
        "spike": [20.0] * n,
        "si_frac": [np.nan] * n,
        "float_shares": [np.nan] * n,
        "borrow_fee": [np.nan] * n,
        "float_is_proxy": [False] * n,
    }
    base.update(columns)
    return pd.DataFrame(base, index=[f"S{i}" for i in range(n)])


def test_squeeze_stage_pass_bar_depends_on_short_interest_confidence() -> None:
    # spike 4 → vr 4: 0.5·4/15 = 0.1333; float 50 M → +0.0667 → 0.2;
    # with SI 0.05 → +0.02 → 0.22.
    frame = _stage_frame(
        spike=[4.0, 4.0, 4.0],
        si_frac=[0.05, 0.05, np.nan],
        float_shares=[50e6, 50e6, 50e6],
        float_is_proxy=[False, True, False],
    )
    stage = strat.squeeze_stage(frame)
    assert list(stage["squeeze_bar"]) == [0.15, 0.20, 0.40]
    assert list(stage["squeeze_pass"]) == [True, True, False]


def test_squeeze_stage_rejects_price_and_market_cap() -> None:
    # With the 50 M default float every stock above $15 breaks the $750 M cap.
    frame = _stage_frame(price=[0.49, 50.01, 15.0, 15.01])
    assert list(strat.squeeze_stage(frame)["squeeze_pass"]) == [
        False,
        False,
        True,
        False,
    ]


# --- hybrid_v1 -------------------------------------------------------------------


def _hybrid_frame(n: int, **columns: list[object]) -> pd.DataFrame:
    base: dict[str, list[object]] = {
        "rel_vol": [8.0] * n,
        "consec_up_days": [6.0] * n,
        "vwap_reclaim": [True] * n,
        "atr14": [0.10] * n,
        "float_shares": [np.nan] * n,
        "si_frac": [np.nan] * n,
        "borrow_fee": [np.nan] * n,
        "utilization": [np.nan] * n,
        "news_catalyst": [True] * n,
        "social_rank": [1.0] * n,
        "ema9": [11.0] * n,
        "ema20": [10.0] * n,
        "rsi14": [65.0] * n,
        "spike": [3.0] * n,
    }
    base.update(columns)
    return pd.DataFrame(base, index=[f"H{i}" for i in range(n)])


BALANCED = strat.PRESETS["balanced_default"]


@pytest.mark.parametrize(
    ("column", "values", "part", "expected"),
    [
        ("rel_vol", [0.5, 4.25, 8.0, 12.0, np.nan], "relvol_score", [0, 0.5, 1, 1, 0]),
        ("consec_up_days", [2, 4, 6, 9, 0], "uptrend_score", [0, 0.5, 1, 1, 0]),
        (
            "vwap_reclaim",
            [True, False, True, False, True],
            "vwap_score",
            [1, 0, 1, 0, 1],
        ),
        ("atr14", [0.02, 0.06, 0.10, 0.3, 0.01], "atr_score", [0, 0.5, 1, 1, 0]),
        (
            "float_shares",
            [50e6, 50_000_001, 75e6, 75_000_001, np.nan],
            "float_bonus",
            [1.0, 0.6, 0.6, 0.0, 1.0],  # unknown → the 50 M placeholder
        ),
        ("si_frac", [0.40, 0.20, 0.0, 0.9, np.nan], "si_score", [1, 0.5, 0, 1, 0]),
        (
            "borrow_fee",
            [0.5, 0.25, 0.0, 2.0, np.nan],
            "borrow_score",
            [1, 0.5, 0, 1, 0],
        ),
        (
            "utilization",
            [0.70, 0.85, 1.0, 0.5, np.nan],
            "util_score",
            [0, 0.5, 1, 0, 0],
        ),
        ("rsi14", [59.99, 60.0, 65.0, 70.0, 70.01], "rsi_band_score", [0, 1, 1, 1, 0]),
    ],
)
def test_hybrid_subscore_parts(
    column: str, values: list[object], part: str, expected: list[float]
) -> None:
    subs = strat.hybrid_subscores(_hybrid_frame(5, **{column: values}), BALANCED)
    assert list(subs[part]) == pytest.approx(expected)


def test_ema_cross_treats_a_missing_ema_as_zero() -> None:
    frame = _hybrid_frame(3, ema9=[np.nan, 5.0, 9.0], ema20=[np.nan, np.nan, 10.0])
    assert list(strat.hybrid_subscores(frame, BALANCED)["ema_cross"]) == [0, 1, 0]


def test_hybrid_maximum_with_placeholders_is_73_75_trade_ready() -> None:
    # VM 1, SQ 0.35 (float bonus only), CA 1, OP 0, TE 1:
    # 0.35 + 0.25·0.35 + 0.20 + 0 + 0.10 = 0.7375.
    subs = strat.hybrid_subscores(_hybrid_frame(1), BALANCED)
    assert subs.loc["H0", ["c_vm", "c_sq", "c_ca", "c_op", "c_te"]].tolist() == (
        pytest.approx([1.0, 0.35, 1.0, 0.0, 1.0])
    )
    score = strat.hybrid_composite(subs, BALANCED)
    assert score[0] == 73.75
    assert strat.hybrid_action(score)[0][0] == "TRADE_READY"


def test_hybrid_squeeze_subscore_with_real_short_data() -> None:
    # float 60 M → 0.6; SI 20 % → 0.5; borrow 25 % → 0.5; util 85 % → 0.5:
    # 0.35·0.6 + 0.35·0.5 + 0.15·0.5 + 0.15·0.5 = 0.21 + 0.175 + 0.075 + 0.075.
    frame = _hybrid_frame(
        1, float_shares=[60e6], si_frac=[0.2], borrow_fee=[0.25], utilization=[0.85]
    )
    assert strat.hybrid_subscores(frame, BALANCED)["c_sq"].iloc[0] == pytest.approx(
        0.535
    )


@pytest.mark.parametrize(
    ("score", "action", "confidence"),
    [
        (70.0, "TRADE_READY", "HIGH"),
        (69.99, "WATCHLIST", "MEDIUM"),
        (50.0, "WATCHLIST", "MEDIUM"),
        (49.99, "REJECT", "LOW"),
    ],
)
def test_hybrid_entry_rules_50_70(score: float, action: str, confidence: str) -> None:
    got_action, got_confidence = strat.hybrid_action(_arr(score))
    assert (got_action[0], got_confidence[0]) == (action, confidence)


@pytest.mark.parametrize(
    ("preset", "weights"),
    [
        ("balanced_default", [0.35, 0.25, 0.20, 0.10, 0.10]),
        ("squeeze_aggressive", [0.30, 0.35, 0.20, 0.10, 0.05]),
        ("catalyst_heavy", [0.30, 0.20, 0.35, 0.10, 0.05]),
        ("resilient_discovery", [0.40, 0.30, 0.15, 0.10, 0.05]),
    ],
)
def test_preset_weights(preset: str, weights: list[float]) -> None:
    got = strat.PRESETS[preset].weights
    assert [got[k] for k in ("vm", "sq", "ca", "op", "te")] == pytest.approx(weights)


@pytest.mark.parametrize(
    ("relvol", "spike", "atr", "float_shares", "passes"),
    [
        (1.0, 0.0, 0.05, 10e6, True),
        (0.9, 1.0, 0.05, 10e6, True),
        (0.9, 0.9, 0.05, 10e6, False),
        (1.2, 1.9, 0.009, 100_000_001, False),
        (1.2, 2.0, 0.009, 100_000_001, True),
        (1.2, 1.9, 0.01, 100_000_001, True),
        (1.2, 1.9, 0.009, np.nan, True),  # unknown float reads as 50 M
    ],
)
def test_hybrid_gate(
    relvol: float, spike: float, atr: float, float_shares: float, passes: bool
) -> None:
    frame = _hybrid_frame(
        1, rel_vol=[relvol], spike=[spike], atr14=[atr], float_shares=[float_shares]
    )
    assert bool(strat.hybrid_gate(frame)[0]) is passes


# --- legacy_v0 -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("vigl", "tier", "multiplier"),
    [
        (0.95, "TIER_1", 1.2),
        (0.80, "TIER_1", 1.2),
        (0.7999, "TIER_2", 1.0),
        (0.65, "TIER_2", 1.0),
        (0.6499, "TIER_3", 0.8),
    ],
)
def test_legacy_tier_multipliers(vigl: float, tier: str, multiplier: float) -> None:
    got_tier, got_multiplier = strat.legacy_tier(_arr(vigl))
    assert (got_tier[0], got_multiplier[0]) == (tier, multiplier)


@pytest.mark.parametrize(
    ("vigl", "wolf", "price", "spike", "r5", "atr", "eligible"),
    [
        (0.5, 0.2, 10.0, 1.5, 0.0, 0.03, True),  # lenient
        (0.14, 0.2, 10.0, 1.5, 0.0, 0.03, False),  # lenient needs vigl ≥ 0.15
        (0.5, 0.2, 150.0, 1.5, 0.0, 0.03, False),  # lenient caps price at 100
        (0.3, 0.2, 150.0, 2.0, 0.0, 0.03, True),  # explosive allows up to 500
        (0.3, 0.2, 150.0, 2.0, -0.16, 0.03, False),  # r5 below −15 %
        (0.3, 0.2, 150.0, 2.0, 0.0, 0.019, False),  # ATR below 2 %
        (0.5, 0.81, 10.0, 3.0, 0.0, 0.03, False),  # wolf above 0.8
    ],
)
def test_legacy_eligibility(
    vigl: float, wolf: float, price: float, spike: float, r5: float, atr: float,
    eligible: bool,
) -> None:  # fmt: skip
    got = strat.legacy_eligible(
        _arr(vigl), _arr(wolf), _arr(price), _arr(spike), _arr(r5), _arr(atr)
    )
    assert bool(got[0]) is eligible


# --- end to end through the discover.py pipeline ---------------------------------


def _planted() -> tuple[pd.DataFrame, pd.DataFrame]:
    """A symbol that survives every stage, plus one that fails the universe stage.

    PLNT: 70 bars alternating 9/11, 19 bars flat at 10, then a bar o 10, h 12.2,
    l 9.9, c 12 on 20 M shares (1 M before). Float 40 M, short interest 4 M.
    """
    closes = [9.0 if i % 2 == 0 else 11.0 for i in range(70)] + [10.0] * 19 + [12.0]
    volumes = [1e6] * 89 + [20e6]
    plnt = bars_for("PLNT", closes, volumes, {"open": 10.0, "high": 12.2, "low": 9.9})
    thin = bars_for("THIN", closes, [50_000.0] * 90)
    reference = pd.DataFrame(
        {"float_shares": [40e6], "short_interest": [4e6], "float_is_proxy": [False]},
        index=pd.Index(["PLNT"], name="symbol"),
    )
    return universe(plnt, thin), reference


def test_planted_symbol_features() -> None:
    bars, reference = _planted()
    row = scoring.features(bars, reference).loc["PLNT"]
    assert row["spike"] == pytest.approx(20.0)  # max(0.8·20, 0.9·20, 20)
    assert row["rel_vol"] == pytest.approx(20.0)
    assert row["r1"] == pytest.approx(0.2)
    assert row["r5"] == pytest.approx(0.2)
    # 13 flat bars with a 0.2 range, then a 2.3 true range: 4.9 / 14 / 12.
    assert row["atr14"] == pytest.approx(0.35 / 12)
    # Only the windows ending 1 and 2 bars earlier are narrower: 2 of 60.
    assert row["compression_pct"] == pytest.approx(2 / 60)
    # (19·10 + 20·(12.2 + 9.9 + 12)/3) / 39.
    assert row["vwap20"] == pytest.approx((190 + 20 * 34.1 / 3) / 39)
    assert row["consec_up_days"] == 1
    assert row["rsi14"] == 100.0  # no losses in the last 14 changes
    assert row["social_rank"] == pytest.approx(0.7)  # 0.4 (spike ≥ 10) + 0.3
    assert row["news_catalyst"]


def test_legacy_planted_symbol_scores_76() -> None:
    # squeeze: 0.5·1 + 0.2·(0.1/0.5) + 0.2·(1 − 40/75) + 0 = 0.63333;
    # vigl: 0.25·1 + 0.35·0.90 + 0.25·1.0 + 0.15·0.3 = 0.86 → TIER_1 ×1.2 → 0.76.
    bars, reference = _planted()
    result = scoring.score_universe(bars, reference, strategy="legacy_v0")
    assert list(result.index) == ["PLNT"]
    row = result.loc["PLNT"]
    assert row["c_squeeze"] == pytest.approx(0.5 + 0.04 + 0.2 * 35 / 75)
    assert row["c_vigl"] == pytest.approx(0.86)
    assert row["c_wolf"] == 0.2
    assert row["score"] == pytest.approx(76.0)
    assert row["action"] == "TIER_1"
    assert row["confidence"] == "EXTREME"
    assert row["squeeze_pattern"] == "VIGL_EXTREME"
    assert row["assumed"] == "borrow 0"
    assert result.attrs["trace"]["filtered"] == 1
    lines = scoring.explain(row, "legacy_v0")
    assert sum(line.contribution for line in lines) == pytest.approx(76.0)


@pytest.mark.parametrize(
    ("preset", "score", "action"),
    [
        # VM 0.45 + 0 + 0.20 + 0.15·(0.029167 − 0.02)/0.08 = 0.6671875
        # SQ 0.35·1 + 0.35·0.25 = 0.4375; CA 0.5 + 0.5·0.7 = 0.85; OP 0; TE 0.6.
        ("balanced_default", 57.29, "WATCHLIST"),  # .35/.25/.20/.10/.10
        ("squeeze_aggressive", 55.33, "WATCHLIST"),  # .30/.35/.20/.10/.05
        ("catalyst_heavy", 61.52, "WATCHLIST"),  # .30/.20/.35/.10/.05
        # Relaxed thresholds: VM 0.45 + 0.20 + 0.15·(0.029167 − 0.015)/0.085 = 0.675
        # .40·0.675 + .30·0.4375 + .15·0.85 + 0 + .05·0.6 = 0.55875.
        ("resilient_discovery", 55.88, "WATCHLIST"),
    ],
)
def test_hybrid_planted_symbol_per_preset(
    preset: str, score: float, action: str
) -> None:
    bars, reference = _planted()
    result = scoring.score_universe(
        bars, reference, strategy="hybrid_v1", preset=preset
    )
    row = result.loc["PLNT"]
    assert row["score"] == pytest.approx(score, abs=0.006)
    assert row["action"] == action
    lines = scoring.explain(row, "hybrid_v1")
    assert sum(line.contribution for line in lines) == pytest.approx(score, abs=0.006)


def test_strategy_candidate_dicts_are_json() -> None:
    bars, reference = _planted()
    for name in ("hybrid_v1", "legacy_v0"):
        row = scoring.score_universe(bars, reference, strategy=name).iloc[0]
        item = scoring.to_candidate_dict(row, name)
        assert item["symbol"] == "PLNT"
        assert item["strategy"] == name
        assert 0 <= item["score"] <= 100
        assert item["component_scores"]
        json.dumps(item, allow_nan=False)


# --- discover.py stages and enrich heuristics ------------------------------------


@pytest.mark.parametrize(
    ("price", "volume", "passes"),
    [
        (0.01, 5_000_000, True),  # $50 k
        (0.0099, 10_000_000, False),
        (100.0, 100_000, True),
        (100.01, 100_000, False),
        (0.40, 124_999, False),  # $49,999.6
        (0.40, 125_000, True),  # $50,000
        (5.0, 99_999, False),
        (5.0, 100_000, True),
    ],
)
def test_universe_stage(price: float, volume: float, passes: bool) -> None:
    frame = pd.DataFrame({"price": [price], "volume": [volume]})
    assert bool(strat.universe_stage(frame)[0]) is passes


@pytest.mark.parametrize(
    ("price", "volume", "points"),
    [
        (2.0, 1_000_000, 5),
        (25.0, 999_999, 4),
        (25.01, 500_000, 3),
        (1.99, 499_999, 2),
        (1.0, 0, 2),
        (50.0, 0, 2),
        (50.01, 0, 0),
        (0.99, 2_000_000, 2),
    ],
)
def test_prerank_points(price: float, volume: float, points: int) -> None:
    assert strat.prerank_points(_arr(price), _arr(volume))[0] == points


@pytest.mark.parametrize(
    ("spike", "r1", "atr", "social", "news"),
    [
        (10.0, 0.15, 0.05, 0.7, True),  # 0.4 + 0.3; spike ≥ 5 and |r1| ≥ 0.10
        (9.99, -0.15, 0.05, 0.5, True),  # 0.2 + 0.3
        (5.0, 0.0999, 0.05, 0.3, False),  # 0.2 + 0.1
        (4.99, 0.10, 0.05, 0.3, False),  # 0.1 + 0.2
        (3.0, 0.05, 0.05, 0.2, False),  # 0.1 + 0.1
        (2.99, 0.0499, 0.15, 0.0, True),  # ATR ≥ 15 % alone is a "catalyst"
        (2.99, 0.0499, 0.1499, 0.0, False),
    ],
)
def test_social_rank_and_news_heuristics(
    spike: float, r1: float, atr: float, social: float, news: bool
) -> None:
    frame = pd.DataFrame({"spike": [spike], "r1": [r1], "atr14": [atr]}, index=["XYZ"])
    out = heuristics(frame)
    assert out.loc["XYZ", "social_rank"] == pytest.approx(social)
    assert bool(out.loc["XYZ", "news_catalyst"]) is news


def test_meme_tickers_get_0_2_more_social_rank() -> None:
    # GME: 0 + 0 + 0.2; AMC: 0.4 (spike ≥ 10) + 0.3 (|r1| ≥ 0.15) + 0.2. The cap at
    # 1 is never reached: 0.9 is the most the three terms add up to.
    frame = pd.DataFrame(
        {"spike": [0.0, 12.0], "r1": [0.0, 0.2], "atr14": [0.05, 0.05]},
        index=["GME", "AMC"],
    )
    assert heuristics(frame)["social_rank"].tolist() == pytest.approx([0.2, 0.9])


@pytest.mark.parametrize("preset", list(strat.PRESETS))
def test_options_subscore_is_zero_with_the_placeholders(preset: str) -> None:
    # call/put 1.0 → 0; IV percentile 0.5 is below every preset's minimum → 0.
    subs = strat.hybrid_subscores(_hybrid_frame(1), strat.PRESETS[preset])
    assert subs["c_op"].iloc[0] == 0.0


def test_legacy_final_selection_takes_three_tier_1_then_tier_2() -> None:
    frame = pd.DataFrame(
        {
            "score": [90.0, 88.0, 86.0, 85.0, 60.0, 50.0, 70.0],
            "action": ["TIER_1"] * 4 + ["TIER_2"] * 2 + ["TIER_3"],
        },
        index=pd.Index(list("abcdefg"), name="symbol"),
    )
    # d (TIER_1, 85) waits behind both TIER_2 names; g (TIER_3, 70) comes last.
    assert list(strat.legacy_selection(frame, 5)) == ["a", "b", "c", "e", "f"]
    assert list(strat.legacy_selection(frame, 10)) == list("abcefdg")


def test_catalyst_subscore_halves_news_and_social() -> None:
    # 0.5·[news] + 0.5·clamp(social): 1.0, 0.65, 0.15, 0.0.
    frame = _hybrid_frame(
        4, news_catalyst=[True, True, False, False], social_rank=[1.0, 0.3, 0.3, 0.0]
    )
    got = strat.hybrid_subscores(frame, BALANCED)["c_ca"].tolist()
    assert got == pytest.approx([1.0, 0.65, 0.15, 0.0])
