"""The vectorised scoring agrees with the straightforward per-symbol implementation
(benchmarks/naive_scoring.py, written separately from the same contract) on a few
hundred synthetic symbols, feature by feature and score by score."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from benchmarks import naive_scoring as naive
from benchmarks.synthetic_market import synthetic_bars, synthetic_reference
from services import scoring
from services import scoring_strategies as strat


@pytest.fixture(scope="module")
def market() -> tuple[pd.DataFrame, pd.DataFrame]:
    bars = synthetic_bars(400, seed=5)
    return bars, synthetic_reference(bars, seed=5)


@pytest.fixture(scope="module")
def enriched(market: tuple[pd.DataFrame, pd.DataFrame]) -> dict[str, dict]:
    return {s.symbol: naive.enrich(s) for s in naive.split(market[0])}


FEATURES = {
    "spike": "spike",
    "rel_vol": "rel_vol",
    "r1": "r1",
    "r5": "r5",
    "atr14": "atr14",
    "compression": "compression_pct",
    "ema9": "ema9",
    "ema20": "ema20",
    "rsi": "rsi14",
    "vwap_reclaim": "vwap_reclaim",
    "up_days": "consec_up_days",
    "social": "social_rank",
    "news": "news_catalyst",
    "early": "early_detection",
}


def _same(a: float, b: float) -> bool:
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return a == pytest.approx(b, rel=1e-9, abs=1e-9)


def test_features_agree(
    market: tuple[pd.DataFrame, pd.DataFrame], enriched: dict[str, dict]
) -> None:
    fast = scoring.features(*market)
    assert set(fast.index) == set(enriched)
    mismatches = [
        (symbol, name, values[name], fast.at[symbol, column])
        for symbol, values in enriched.items()
        for name, column in FEATURES.items()
        if not _same(float(values[name]), float(fast.at[symbol, column]))
    ]
    assert mismatches == []


def _as_map(frame: pd.DataFrame) -> dict[str, tuple[float, str]]:
    return {
        str(symbol): (float(score), str(action))
        for symbol, score, action in zip(
            frame.index, frame["score"], frame["action"], strict=True
        )
    }


def _assert_agree(got: dict, want: dict) -> None:
    assert set(got) == set(want)
    for symbol, (score, action) in want.items():
        assert got[symbol][0] == pytest.approx(score, abs=0.0100001), symbol
        assert got[symbol][1] == action, symbol


def test_bms_agrees(market: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    want = naive.naive_score_universe(*market, strategy="bms")
    assert len(want) > 50
    _assert_agree(_as_map(scoring.score_universe(*market, strategy="bms")), want)


@pytest.mark.parametrize("limit", [None, 4])
def test_legacy_agrees(
    market: tuple[pd.DataFrame, pd.DataFrame], limit: int | None
) -> None:
    # A limit also cuts the compression stage to 3 × limit symbols.
    want = naive.naive_score_universe(*market, strategy="legacy_v0", limit=limit)
    assert len(want) >= (1 if limit else 10)
    got = scoring.score_universe(*market, strategy="legacy_v0", limit=limit)
    _assert_agree(_as_map(got), want)


@pytest.mark.parametrize("preset", list(strat.PRESETS))
def test_hybrid_composites_agree(
    market: tuple[pd.DataFrame, pd.DataFrame], enriched: dict[str, dict], preset: str
) -> None:
    # Compare every symbol that reaches the composite, not only those above 50.
    bars, reference = market
    top = naive.prefilter(list(naive.split(bars)))
    survivors = naive.survivors({s: enriched[s] for s in top}, reference, None)
    want = {
        s: naive.hybrid(enriched[s], preset)
        for s in survivors
        if naive.hybrid_gate(enriched[s])
    }
    market = scoring.MarketFrame(bars, reference)
    scored, _ = strat.score_hybrid(market, strat.PRESETS[preset], None)
    got = scored[scored["score"].notna()]["score"]
    assert len(want) > 10
    assert set(got.index) == set(want)
    for symbol, score in want.items():
        assert got[symbol] == pytest.approx(score, abs=0.0100001), symbol
