"""Golden tests of the squeeze detector: every level floor, pass bar and rejection.

Expected values are computed by hand from contract §5:
score = 0.50·min(vr/15, 1) + 0.20·min(SI/0.50, 1) + 0.20·max(0, 1 − float/75M)
+ 0.10·min(borrow/2, 1), capped at 1.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from services.squeeze_detect import detect, join_features, market_features

NAN = math.nan


def frame(**rows: dict[str, float]) -> pd.DataFrame:
    """Build detector input; unspecified inputs are unknown (NaN)."""
    base = {
        "price": 5.0,
        "volume_ratio": NAN,
        "change_pct": NAN,
        "short_interest": NAN,
        "si_float": NAN,
        "days_to_cover": NAN,
        "float_shares": NAN,
        "float_is_proxy": False,
        "borrow_fee": NAN,
        "utilization": NAN,
    }
    return pd.DataFrame([{**base, **r} for r in rows.values()], index=list(rows))


@pytest.mark.parametrize(
    ("ratio", "score", "level", "pattern"),
    [
        (20.0, 0.50, "EXTREME", "VIGL_EXTREME"),
        (15.0, 0.50, "EXTREME", "SQUEEZE_EXTREME"),
        (13.5, 0.45, "EXTREME", "SQUEEZE_EXTREME"),
        (13.49997, 0.449999, "HIGH", "SQUEEZE_HIGH"),
        (9.0, 0.30, "HIGH", "SQUEEZE_HIGH"),
        (8.99997, 0.299999, "MEDIUM", "SQUEEZE_MEDIUM"),
        (6.0, 0.20, "MEDIUM", "SQUEEZE_MEDIUM"),
        (5.99997, 0.199999, "LOW", "SQUEEZE_POTENTIAL"),
        (3.0, 0.10, "LOW", "SQUEEZE_POTENTIAL"),
        (2.99997, 0.099999, "NONE", "NO_PATTERN"),
    ],
)
def test_level_floors_on_volume_alone(
    ratio: float, score: float, level: str, pattern: str
) -> None:
    out = detect(frame(A={"volume_ratio": ratio})).loc["A"]

    assert out["score"] == pytest.approx(score, abs=1e-9)
    assert out["score_pct"] == pytest.approx(round(score * 100, 2))
    assert (out["level"], out["pattern"]) == (level, pattern)


def test_vigl_high_is_unreachable_because_volume_alone_reaches_extreme() -> None:
    # vr ≥ 15 already contributes 0.50 ≥ 0.45, so VIGL_HIGH never occurs (as in §5).
    out = detect(frame(A={"volume_ratio": 15.0, "float_shares": 80e6}))

    assert out.loc["A", "level"] == "EXTREME"


def test_full_row_hand_computed() -> None:
    # 0.5·1 + 0.2·(0.25/0.5) + 0.2·(1 − 15/75) + 0.1·(1.0/2) = 0.5+0.1+0.16+0.05
    out = detect(
        frame(
            A={
                "price": 5.0,
                "volume_ratio": 30.0,
                "si_float": 0.25,
                "days_to_cover": 4.0,
                "float_shares": 15e6,
                "borrow_fee": 1.0,
                "utilization": 0.9,
            }
        ),
        {
            "volume": "bars",
            "short_interest": "polygon",
            "float": "details",
            "borrow": "csv",
        },
    ).loc["A"]

    assert out["score"] == pytest.approx(0.81)
    assert (out["c_volume"], out["c_short_interest"]) == pytest.approx((0.5, 0.10))
    assert (out["c_float"], out["c_borrow"]) == pytest.approx((0.16, 0.05))
    assert (out["level"], out["pattern"]) == ("EXTREME", "VIGL_EXTREME")
    assert out["confidence"] == pytest.approx(1.0)
    assert out["si_confidence"] == 1.0 and out["pass_bar"] == 0.15 and out["passed"]
    assert [
        out[f"src_{f}"] for f in ("volume", "short_interest", "float", "borrow")
    ] == ["bars", "polygon", "details", "csv"]
    # SI feed score: 0.05 base + 0.4 (SI 25 % ≥ 20) + 0.2 (DTC 4 ≥ 3)
    assert out["si_feed_score"] == pytest.approx(0.65)


def test_score_is_capped_at_one() -> None:
    out = detect(
        frame(
            A={
                "volume_ratio": 40.0,
                "si_float": 0.9,
                "float_shares": 0.0,
                "borrow_fee": 5.0,
                "days_to_cover": 1,
            }
        )
    )

    assert out.loc["A", "score"] == 1.0


# Same MEDIUM score 0.28 = 0.2 (vr 6) + 0.04 (SI 10 %) + 0.04 (float 60 M);
# the pass bar depends on how far SI % of float can be trusted.
@pytest.mark.parametrize(
    ("proxy", "dtc", "si_conf", "bar", "passed"),
    [
        (False, 2.0, 1.0, 0.15, True),
        (False, NAN, 0.7, 0.20, True),
        (True, 2.0, 0.6, 0.20, True),
        (True, NAN, 0.3, 0.30, False),
    ],
)
def test_pass_bar_follows_si_confidence(
    proxy: bool, dtc: float, si_conf: float, bar: float, passed: bool
) -> None:
    row = {
        "volume_ratio": 6.0,
        "si_float": 0.10,
        "float_shares": 60e6,
        "float_is_proxy": proxy,
        "days_to_cover": dtc,
    }
    out = detect(frame(A=row)).loc["A"]

    assert out["score"] == pytest.approx(0.28)
    assert out["level"] == "MEDIUM"
    assert out["si_confidence"] == pytest.approx(si_conf)
    assert out["pass_bar"] == bar
    assert bool(out["passed"]) is passed


def test_unknown_si_needs_040_and_shows_unknown_not_zero_as_data() -> None:
    out = detect(
        frame(
            AT={"volume_ratio": 12.0, "float_shares": 75e6},
            BELOW={"volume_ratio": 11.99997, "float_shares": 75e6},
        )
    )

    assert out.loc["AT", "score"] == pytest.approx(0.40)
    assert out.loc["AT", "pass_bar"] == 0.40 and out.loc["AT", "passed"]
    assert out.loc["BELOW", "level"] == "HIGH" and not out.loc["BELOW", "passed"]
    assert out.loc["AT", "src_short_interest"] == "unknown"
    assert math.isnan(out.loc["AT", "si_float"])
    assert math.isnan(out.loc["AT", "si_feed_score"])


def test_confidence_drops_with_each_missing_input() -> None:
    full = {
        "volume_ratio": 5.0,
        "si_float": 0.2,
        "float_shares": 10e6,
        "borrow_fee": 0.1,
        "days_to_cover": 3.0,
        "utilization": 0.8,
    }
    rows = {"FULL": full, "PROXY": {**full, "float_is_proxy": True}}
    for column in (
        "si_float",
        "float_shares",
        "borrow_fee",
        "days_to_cover",
        "utilization",
    ):
        rows[column] = {**full, column: NAN}
    out = detect(frame(**rows))["confidence"]

    expected = {
        "FULL": 1.0,
        "PROXY": 0.925,
        "si_float": 0.80,
        "float_shares": 0.85,
        "borrow_fee": 0.90,
        "days_to_cover": 0.90,
        "utilization": 0.95,
    }
    assert out.to_dict() == pytest.approx(expected)


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ({"price": 0.49, "volume_ratio": 20.0}, "price outside $0.50-50"),
        ({"price": 50.01, "volume_ratio": 20.0}, "price outside $0.50-50"),
        ({"price": 5.0, "volume_ratio": 1.49}, "volume ratio below 1.5x"),
        (
            {"price": 20.0, "volume_ratio": 20.0, "float_shares": 40e6},
            "market cap above $750M",
        ),
        ({"price": NAN, "volume_ratio": 20.0}, "missing price or volume"),
        ({"price": 5.0, "volume_ratio": NAN}, "missing price or volume"),
    ],
)
def test_rejections(row: dict[str, float], reason: str) -> None:
    out = detect(frame(A=row)).loc["A"]

    assert out["rejected"] == reason
    assert not out["passed"]


def test_edges_pass_and_unknown_float_does_not_reject_on_market_cap() -> None:
    # The real detector assumed a 50 M float, rejecting every stock above $15.
    out = detect(
        frame(
            LOW_EDGE={"price": 0.50, "volume_ratio": 20.0},
            HIGH_EDGE={"price": 50.0, "volume_ratio": 20.0},
            NO_FLOAT={"price": 20.0, "volume_ratio": 20.0},
            CAP_EDGE={"price": 10.0, "volume_ratio": 20.0, "float_shares": 75e6},
        )
    )

    assert out["rejected"].tolist() == ["", "", "", ""]
    assert out["passed"].all()


def test_non_finite_inputs_are_unknown() -> None:
    out = detect(
        frame(A={"volume_ratio": 9.0, "si_float": np.inf, "borrow_fee": -np.inf})
    ).loc["A"]

    assert out["score"] == pytest.approx(0.30)
    assert out["src_short_interest"] == "unknown" and out["src_borrow"] == "unknown"


def bars_for(symbol: str, volumes: list[float], closes: list[float]) -> pd.DataFrame:
    dates = pd.date_range("2026-01-01", periods=len(volumes), freq="D")
    return pd.DataFrame(
        {
            "symbol": symbol,
            "date": dates,
            "open": closes,
            "high": closes,
            "low": closes,
            "close": closes,
            "volume": [float(v) for v in volumes],
        }
    )


def test_market_features_from_bars() -> None:
    bars = pd.concat(
        [
            bars_for("AAA", [9e9] * 5 + [1000.0] * 30 + [5000.0], [10.0] * 35 + [11.0]),
            bars_for("SHORT", [1000.0] * 20, [3.0] * 20),
            bars_for("ZERO", [0.0] * 31 + [100.0], [2.0] * 32),
        ],
        ignore_index=True,
    )

    out = market_features(bars)

    # The 30 bars before the last average 1,000 (the 9e9 bars are older).
    assert out.loc["AAA", "volume_ratio"] == pytest.approx(5.0)
    assert out.loc["AAA", "change_pct"] == pytest.approx(10.0)
    assert out.loc["AAA", "price"] == 11.0
    assert math.isnan(out.loc["SHORT", "volume_ratio"])
    assert math.isnan(out.loc["ZERO", "volume_ratio"])


def test_join_features_computes_si_of_float_only_when_both_known() -> None:
    market = pd.DataFrame(
        {"price": [5.0, 5.0, 5.0], "volume_ratio": [3.0] * 3, "change_pct": [1.0] * 3},
        index=["A", "B", "C"],
    )
    reference = pd.DataFrame(
        {
            "short_interest": [2e6, None],
            "float_shares": [10e6, 8e6],
            "float_is_proxy": [True, None],
            "days_to_cover": [None, 2.0],
        },
        index=["A", "B"],
    )

    out = join_features(market, reference)

    assert out.loc["A", "si_float"] == pytest.approx(0.2)
    assert out["float_is_proxy"].tolist() == [True, False, False]
    assert math.isnan(out.loc["B", "si_float"]) and math.isnan(out.loc["C", "si_float"])
    assert math.isnan(out.loc["C", "float_shares"])


def test_join_features_tolerates_duplicate_reference_rows() -> None:
    market = pd.DataFrame(
        {"price": [5.0], "volume_ratio": [3.0], "change_pct": [0.0]}, index=["A"]
    )
    reference = pd.DataFrame(
        {"short_interest": [1e6, 2e6], "float_shares": [10e6] * 2}, index=["A", "A"]
    )

    out = join_features(market, reference)

    assert out.loc["A", "si_float"] == pytest.approx(0.2)  # the last row wins
