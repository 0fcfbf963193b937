"""Golden tests for the BMS strategy (contract §4.4): every expected number is worked
out by hand from the contract, never computed by the code under test."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from services import scoring
from services import scoring_rules as rules
from tests.support.scoring_bars import last_bar, universe


def _one(frame: pd.DataFrame, **kwargs: object) -> pd.DataFrame:
    return scoring.score_universe(frame, strategy="bms", **kwargs)


def test_worked_example_scores_76_6_trade_ready() -> None:
    # rv 2.0 (20 M shares), m +8 %, a 13 %, d $142 M.
    frame = last_bar("ABCD", o=7.10 / 1.08, h=7.5, low=6.577, c=7.10, v=20_000_000)
    result = _one(frame)

    row = result.loc["ABCD"]
    assert row["c_volume_surge"] == pytest.approx(50.0)
    assert row["c_price_momentum"] == pytest.approx(92.0)
    assert row["c_volatility_expansion"] == pytest.approx(100.0)
    assert row["c_risk_filter"] == pytest.approx(90.0)
    assert row["score"] == pytest.approx(76.6, abs=1e-9)
    assert row["action"] == "TRADE_READY"
    assert row["confidence"] == "HIGH"
    assert row["thesis"] == "ABCD: $7.10, 2.0x vol, +8.0% momentum, 13.0% ATR"
    assert row["dollar_volume"] == pytest.approx(142_000_000.0)


@pytest.mark.parametrize(
    ("rv", "points"),
    [
        (1.0, 25.0),
        (1.99, 49.75),
        (2.0, 50.0),
        (2.5, 57.5),
        (2.99, 64.85),
        (3.0, 80.0),
        (4.0, 90.0),
        (4.99, 99.9),
        (5.0, 100.0),
        (9.0, 100.0),
    ],
)
def test_volume_surge_tiers(rv: float, points: float) -> None:
    assert rules.bms_volume_surge(np.array([rv]))[0] == pytest.approx(points)


@pytest.mark.parametrize(
    ("m", "points"),
    [
        (-30.0, 0.0),
        (-16.0, 2.0),
        (-10.0, 20.0),
        (-0.5, 48.5),
        (0.0, 50.0),
        (2.5, 65.0),
        (4.99, 79.94),
        (5.0, 80.0),
        (7.5, 90.0),
        (9.99, 99.96),
        (10.0, 100.0),
        (40.0, 100.0),
    ],
)
def test_momentum_tiers(m: float, points: float) -> None:
    assert rules.bms_momentum(np.array([m]))[0] == pytest.approx(points)


@pytest.mark.parametrize(
    ("a", "points"),
    [
        (0.0, 0.0),
        (2.5, 35.0),
        (4.99, 69.86),
        (5.0, 70.0),
        (7.5, 85.0),
        (9.99, 99.94),
        (10.0, 100.0),
        (35.0, 100.0),
    ],
)
def test_volatility_tiers(a: float, points: float) -> None:
    assert rules.bms_volatility(np.array([a]))[0] == pytest.approx(points)


@pytest.mark.parametrize(
    ("d", "points"),
    [
        (5.0, 50.0),
        (19.99, 50.0),
        (20.0, 70.0),
        (49.99, 70.0),
        (50.0, 90.0),
        (900.0, 90.0),
    ],
)
def test_risk_tiers(d: float, points: float) -> None:
    assert rules.bms_risk(np.array([d]))[0] == points


@pytest.mark.parametrize(
    ("rv", "bonus"), [(1.0, 0.0), (3.99, 0.0), (4.0, 4.0), (7.0, 4.0)]
)
def test_bonus_needs_rv_4_with_the_placeholder_float(rv: float, bonus: float) -> None:
    assert rules.bms_bonus(np.array([rv]))[0] == bonus


def test_bonus_does_not_apply_to_a_float_over_50m() -> None:
    assert rules.bms_bonus(np.array([6.0]), float_shares=50_000_001)[0] == 0.0


@pytest.mark.parametrize(
    ("score", "action", "confidence"),
    [
        (100.0, "TRADE_READY", "HIGH"),
        (65.0, "TRADE_READY", "HIGH"),
        (64.99, "MONITOR", "MEDIUM"),
        (45.0, "MONITOR", "MEDIUM"),
        (44.99, "REJECT", "LOW"),
        (np.nan, "REJECT", "LOW"),
    ],
)
def test_action_cut_offs(score: float, action: str, confidence: str) -> None:
    got_action, got_confidence = rules.bms_action(np.array([score]))
    assert (got_action[0], got_confidence[0]) == (action, confidence)


def test_exactly_65_is_trade_ready_end_to_end() -> None:
    # V 85 (35 M shares) + M 50 (flat) + X 35 (2.5 % range) + R 90 ($350 M):
    # 34 + 15 + 7 + 9 = 65.
    frame = last_bar("EDGE", o=10, h=10.125, low=9.875, c=10, v=35_000_000)
    row = _one(frame).loc["EDGE"]
    assert row["score"] == 65.0
    assert row["action"] == "TRADE_READY"


def test_exactly_45_is_monitor_and_below_is_dropped() -> None:
    # V 50 (20 M) + M 0 (−25 %) + X 100 (66 % range) + R 50 ($15 M): 20 + 0 + 20 + 5.
    at_45 = last_bar("MON", o=1.0, h=1.0, low=0.5, c=0.75, v=20_000_000)
    # Same, but a 7 % range: X = 70 + 6·2 = 82 → 20 + 0 + 16.4 + 5 = 41.4.
    below = last_bar("LOW", o=1.0, h=0.78, low=0.7275, c=0.75, v=20_000_000)
    result = _one(universe(at_45, below))
    assert result.loc["MON", "score"] == 45.0
    assert result.loc["MON", "action"] == "MONITOR"
    assert result.loc["MON", "confidence"] == "MEDIUM"
    assert "LOW" not in result.index


def test_bonus_end_to_end() -> None:
    # 40 M shares → rv 4 → V 90 and +4; m 0 → 50; a 2.5 % → 35; $400 M → 90.
    # 36 + 15 + 7 + 9 + 4 = 71.
    frame = last_bar("BIG", o=10, h=10.125, low=9.875, c=10, v=40_000_000)
    row = _one(frame).loc["BIG"]
    assert row["c_bonus"] == 4.0
    assert row["score"] == 71.0


def test_score_never_exceeds_100() -> None:
    # Every component at its cap plus the bonus: 40 + 30 + 20 + 9 + 4 = 103 → 100.
    frame = last_bar("CAP", o=10, h=14, low=10, c=13, v=60_000_000)
    row = _one(frame).loc["CAP"]
    assert row["score"] == 100.0
    lines = scoring.explain(row, "bms")
    assert lines[-1].component == "cap"
    assert lines[-1].contribution == pytest.approx(-3.0)
    assert sum(line.contribution for line in lines) == pytest.approx(100.0)


@pytest.mark.parametrize(
    ("price", "volume", "kept"),
    [
        (0.49, 200_000_000, False),
        (0.50, 200_000_000, True),
        (100.0, 1_000_000, True),
        (100.01, 1_000_000, False),
        (5.0, 999_800, False),  # $4.999 M
        (5.0, 1_000_000, True),  # $5 M
    ],
)
def test_price_and_dollar_volume_gates(price: float, volume: float, kept: bool) -> None:
    # A 20 % up day on a 30 % range always scores ≥ 45, so only the gates decide.
    frame = last_bar(
        "GATE", o=price / 1.2, h=price * 1.1, low=price * 0.8, c=price, v=volume
    )
    assert ("GATE" in _one(frame).index) is kept


def test_momentum_is_open_to_close_not_close_to_close() -> None:
    # Previous close 10, open 12, close 12: the day is +20 % but momentum_1d is 0.
    frame = last_bar("GAP", o=10, h=12.3, low=11.7, c=12, v=20_000_000)
    frame.loc[frame.index[-1], "open"] = 12.0
    row = _one(frame).loc["GAP"]
    assert row["momentum_1d"] == 0.0
    assert row["change_pct"] == pytest.approx(20.0)
    assert row["c_price_momentum"] == 50.0


def test_rel_vol_shown_is_true_relative_volume_volume_surge_is_the_proxy() -> None:
    frame = last_bar("RV", o=10, h=10.5, low=9.5, c=10.4, v=5_000_000)
    row = _one(frame).loc["RV"]
    assert row["rel_vol"] == pytest.approx(5.0)  # 5 M over a flat 1 M
    assert row["volume_surge"] == 1.0  # max(1, 5 M / 10 M)


def test_candidate_dict_has_the_production_shape() -> None:
    frame = last_bar("ABCD", o=7.10 / 1.08, h=7.5, low=6.577, c=7.10, v=20_000_000)
    row = _one(frame).loc["ABCD"]
    item = scoring.to_candidate_dict(row, "bms")
    assert set(item) == {
        "symbol",
        "bms_score",
        "action",
        "confidence",
        "component_scores",
        "thesis",
        "risk_level",
        "price",
        "volume_surge",
        "momentum_1d",
        "atr_pct",
        "dollar_volume",
        "score",
        "strategy",
        "change_pct",
        "rel_vol",
        "short_interest",
        "float_shares",
    }
    assert set(item["component_scores"]) == {
        "volume_surge",
        "price_momentum",
        "volatility_expansion",
        "risk_filter",
    }
    assert item["bms_score"] == item["score"] == pytest.approx(76.6)
    assert item["risk_level"] == "MEDIUM"
    assert item["volume_surge"] == pytest.approx(2.0)
    json.dumps(item, allow_nan=False)


def test_explain_adds_up_to_the_score() -> None:
    frame = last_bar("BIG", o=10, h=10.125, low=9.875, c=10, v=40_000_000)
    row = _one(frame).loc["BIG"]
    lines = scoring.explain(row, "bms")
    assert [line.component for line in lines] == [
        "volume_surge",
        "price_momentum",
        "volatility_expansion",
        "risk_filter",
        "float_bonus",
    ]
    assert [line.contribution for line in lines] == pytest.approx([36, 15, 7, 9, 4])
    assert sum(line.contribution for line in lines) == pytest.approx(row["score"])


def test_sorted_best_first_and_limit() -> None:
    frames = [
        last_bar("AAA", o=10, h=10.125, low=9.875, c=10, v=35_000_000),  # 65
        last_bar("BBB", o=10, h=10.125, low=9.875, c=10, v=40_000_000),  # 71
        last_bar("CCC", o=1.0, h=1.0, low=0.5, c=0.75, v=20_000_000),  # 45
    ]
    result = _one(universe(*frames))
    assert list(result.index) == ["BBB", "AAA", "CCC"]
    assert list(_one(universe(*frames), limit=2).index) == ["BBB", "AAA"]


def test_unknown_strategy_or_preset_is_a_value_error() -> None:
    frame = last_bar("X", o=10, h=11, low=9, c=10.5, v=20_000_000)
    with pytest.raises(ValueError, match="strategy"):
        scoring.score_universe(frame, strategy="nope")
    with pytest.raises(ValueError, match="preset"):
        scoring.score_universe(frame, strategy="hybrid_v1", preset="nope")
