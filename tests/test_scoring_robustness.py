"""Case C23 for scoring: NaN, ±inf, zero, negative, non-numeric and missing inputs
never crash, never rank above real values, are flagged, and rank the same whatever
the dtype."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from services import scoring
from tests.support.scoring_bars import bars_for, last_bar, universe

# A good BMS candidate: V 50, M 100, X 100, R 90 → 79.
GOOD = {"o": 10.0, "h": 12.2, "low": 9.9, "c": 12.0, "v": 20_000_000}


def _planted_closes() -> list[float]:
    return [9.0 if i % 2 == 0 else 11.0 for i in range(70)] + [10.0] * 19 + [12.0]


def _good(symbol: str) -> pd.DataFrame:
    volumes = [1e6] * 89 + [20e6]
    last = {"open": 10.0, "high": 12.2, "low": 9.9}
    return bars_for(symbol, _planted_closes(), volumes, last)


def _broken(symbol: str, column: str, value: object, row: int = -1) -> pd.DataFrame:
    frame = _good(symbol)
    frame[column] = frame[column].astype(object)
    frame.loc[frame.index[row], column] = value
    return frame


def _messy_universe() -> pd.DataFrame:
    return universe(
        _good("GOOD"),
        _broken("NANC", "close", np.nan),
        _broken("INFV", "volume", np.inf),
        _broken("NINF", "close", -np.inf),
        _broken("ZERO", "close", 0.0),
        _broken("NEGV", "volume", -5.0),
        _broken("TEXT", "close", "n/a"),
        _broken("ZOPN", "open", 0.0),
    )


BAD = ["NANC", "INFV", "NINF", "ZERO", "NEGV", "TEXT", "ZOPN"]
REFERENCE = pd.DataFrame(
    {"float_shares": [40e6] * 8, "short_interest": [4e6] * 8, "float_is_proxy": False},
    index=pd.Index(["GOOD", *BAD], name="symbol"),
)


@pytest.mark.parametrize("strategy", scoring.STRATEGIES)
def test_broken_last_bars_never_rank_above_real_values(strategy: str) -> None:
    # Only BMS reads the open; the other strategies score ZOPN (flagged) like GOOD.
    bad = BAD if strategy == "bms" else [s for s in BAD if s != "ZOPN"]
    scored = ["GOOD"] if strategy == "bms" else ["GOOD", "ZOPN"]
    result = scoring.score_universe(_messy_universe(), REFERENCE, strategy=strategy)
    assert list(result.index) == scored
    assert result.loc["ZOPN" if "ZOPN" in scored else "GOOD", "invalid"] in (
        "open not positive",
        "",
    )

    kept = scoring.score_universe(
        _messy_universe(), REFERENCE, strategy=strategy, keep_invalid=True
    )
    assert list(kept.index[: len(scored)]) == scored
    assert set(kept.index[len(scored) :]) == set(bad)
    assert kept.loc[bad, "score"].isna().all()
    assert (kept.loc[bad, "action"] == "INVALID").all()


def test_invalid_reasons_name_the_column_and_the_fault() -> None:
    feats = scoring.features(_messy_universe(), REFERENCE)
    assert feats.loc["GOOD", "invalid"] == ""
    assert feats.loc["INFV", "invalid"] == "volume inf"
    assert feats.loc["NINF", "invalid"] == "close inf"
    assert feats.loc["ZERO", "invalid"] == "close not positive"
    assert feats.loc["NEGV", "invalid"] == "volume not positive"
    assert feats.loc["TEXT", "invalid"] == "close not numeric"
    assert feats.loc["ZOPN", "invalid"] == "open not positive"
    assert feats.loc["NANC", "invalid"] == ""  # plain missing: unscored, not invalid
    assert np.isnan(feats.loc["ZOPN", "momentum_1d"])  # never ±inf


def test_inf_in_an_old_bar_is_flagged_but_the_symbol_still_scores() -> None:
    frame = _broken("OLD", "volume", np.inf, row=-20)
    result = scoring.score_universe(frame, strategy="bms")
    assert result.loc["OLD", "score"] == pytest.approx(79.0)
    assert "volume inf" in result.loc["OLD", "invalid"]


def _as_dtype(frame: pd.DataFrame, dtype: str) -> pd.DataFrame:
    out = frame.copy()
    if dtype == "Int64":
        out["volume"] = out["volume"].round().astype("Int64")
    elif dtype == "object":
        for column in ("open", "high", "low", "close", "volume"):
            out[column] = out[column].astype(object)
    return out


def _ranking_universe() -> pd.DataFrame:
    frames = [
        last_bar("AAA", 10, 10.125, 9.875, 10, 35_000_000),  # 65
        last_bar("BBB", 10, 10.125, 9.875, 10, 40_000_000),  # 71
        last_bar("CCC", 1.0, 1.0, 0.5, 0.75, 20_000_000),  # 45
        last_bar("DDD", 10, 10.125, 9.875, 10, 35_000_000),  # 65, tie with AAA
    ]
    missing = last_bar("MISS", 10, 10.5, 9.5, 10.4, 20_000_000)
    missing.loc[missing.index[-1], "volume"] = np.nan
    return universe(*frames, missing)


@pytest.mark.parametrize("dtype", ["Int64", "object"])
def test_ranking_is_the_same_for_every_dtype(dtype: str) -> None:
    expected = scoring.score_universe(_ranking_universe(), keep_invalid=True)
    got = scoring.score_universe(
        _as_dtype(_ranking_universe(), dtype), keep_invalid=True
    )
    assert list(expected.index) == ["BBB", "AAA", "DDD", "CCC", "MISS"]
    assert list(got.index) == list(expected.index)
    assert got["score"].tolist()[:4] == expected["score"].tolist()[:4]
    assert np.isnan(got.loc["MISS", "score"])


def test_int64_missing_volume_counts_as_missing() -> None:
    frame = _as_dtype(_ranking_universe(), "Int64")
    frame.loc[frame.index[-1], "volume"] = pd.NA  # the last row of MISS
    result = scoring.score_universe(frame, keep_invalid=True)
    assert result.index[-1] == "MISS"
    assert result.loc["MISS", "action"] == "INVALID"


@pytest.mark.parametrize("dtype", ["Int64", "float64", "object"])
def test_best_first_puts_missing_and_infinite_scores_last(dtype: str) -> None:
    # Case C23's frame: [<NA>, 2, <NA>, 3, 3, 1], plus ±inf in the float version.
    values: list[object] = [pd.NA, 2, pd.NA, 3, 3, 1]
    frame = pd.DataFrame(
        {"score": pd.array(values, dtype="Int64").astype(dtype)},
        index=pd.Index(["a", "b", "c", "d", "e", "f"], name="symbol"),
    )
    assert list(scoring.best_first(frame).index) == ["d", "e", "b", "f", "a", "c"]
    if dtype == "float64":
        frame.loc["a", "score"] = np.inf
        frame.loc["c", "score"] = -np.inf
        assert list(scoring.best_first(frame).index) == ["d", "e", "b", "f", "a", "c"]


def test_bad_reference_values_are_flagged_and_treated_as_missing() -> None:
    reference = pd.DataFrame(
        {
            "float_shares": [np.inf],
            "short_interest": [-3.0],
            "borrow_fee": ["lots"],
            "utilization": [0.9],
        },
        index=pd.Index(["GOOD"], name="symbol"),
    )
    result = scoring.score_universe(_good("GOOD"), reference, strategy="legacy_v0")
    row = result.loc["GOOD"]
    assert np.isnan(row["float_shares"])
    assert np.isnan(row["short_interest"])
    assert row["invalid"] == (
        "float_shares inf; short_interest not positive; borrow_fee not numeric"
    )
    assert row["assumed"] == "short interest 0, float 50M, borrow 0"
    # No SI: 0.5·1 + 0.2·(1 − 50/75) = 0.5667 ≥ 0.40; × TIER_1's 1.2 = 0.68.
    assert row["score"] == pytest.approx(68.0)


def test_duplicate_reference_rows_do_not_crash() -> None:
    reference = pd.concat([REFERENCE, REFERENCE])
    result = scoring.score_universe(_good("GOOD"), reference, strategy="hybrid_v1")
    assert list(result.index) == ["GOOD"]


@pytest.mark.parametrize("strategy", scoring.STRATEGIES)
def test_missing_column_and_empty_frames_do_not_crash(strategy: str) -> None:
    no_open = _good("GOOD").drop(columns="open")
    result = scoring.score_universe(no_open, strategy=strategy, keep_invalid=True)
    # Only BMS needs the open; the others score the symbol and keep the flag.
    assert (result.loc["GOOD", "action"] == "INVALID") is (strategy == "bms")
    assert result.loc["GOOD", "invalid"] == "open missing"

    empty = _good("GOOD").iloc[0:0]
    assert scoring.score_universe(empty, strategy=strategy).empty


@pytest.mark.parametrize("strategy", scoring.STRATEGIES)
def test_unsorted_input_scores_like_sorted_input(strategy: str) -> None:
    frame = _messy_universe()
    shuffled = frame.sample(frac=1.0, random_state=3)
    expected = scoring.score_universe(frame, REFERENCE, strategy=strategy)
    got = scoring.score_universe(shuffled, REFERENCE, strategy=strategy)
    pd.testing.assert_frame_equal(got, expected)


def test_short_history_is_scored_by_bms_and_skipped_by_the_strategies() -> None:
    frame = last_bar("NEW", 10, 12.2, 9.9, 12, 20_000_000, days=3)
    assert scoring.score_universe(frame).loc["NEW", "score"] == pytest.approx(79.0)
    for strategy in ("hybrid_v1", "legacy_v0"):
        assert scoring.score_universe(frame, strategy=strategy).empty


def test_categorical_symbols_and_a_frame_without_symbols() -> None:
    frame = _good("GOOD")
    frame["symbol"] = frame["symbol"].astype("category")
    assert scoring.score_universe(frame).loc["GOOD", "score"] == pytest.approx(79.0)
    assert scoring.score_universe(frame.drop(columns="symbol")).empty
