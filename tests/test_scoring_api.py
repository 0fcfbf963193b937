"""The public surface of services.scoring: headless imports, shared work across
strategies, and the columns the candidates pane and the envelope rely on."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

from benchmarks.synthetic_market import synthetic_bars, synthetic_reference
from services import scoring

MODULES = [
    "services.scoring",
    "services.scoring_explain",
    "services.scoring_features",
    "services.scoring_panel",
    "services.scoring_rules",
    "services.scoring_strategies",
]


def test_scoring_modules_never_import_textual() -> None:
    code = "import sys\n" + "".join(f"import {m}\n" for m in MODULES)
    code += "assert 'textual' not in sys.modules, 'textual imported'\n"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def market() -> tuple[pd.DataFrame, pd.DataFrame]:
    bars = synthetic_bars(300, seed=9)
    return bars, synthetic_reference(bars, seed=9)


def test_score_all_matches_score_universe(
    market: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    together = scoring.score_all(*market, preset="catalyst_heavy", limit=20)
    assert list(together) == list(scoring.STRATEGIES)
    for strategy, frame in together.items():
        alone = scoring.score_universe(
            *market, strategy=strategy, preset="catalyst_heavy", limit=20
        )
        pd.testing.assert_frame_equal(frame, alone)
        assert frame.attrs["trace"] == alone.attrs["trace"]


@pytest.mark.parametrize("strategy", scoring.STRATEGIES)
def test_result_columns_for_the_pane_and_envelope(
    market: tuple[pd.DataFrame, pd.DataFrame], strategy: str
) -> None:
    frame = scoring.score_universe(*market, strategy=strategy)
    needed = {
        "score",
        "action",
        "confidence",
        "price",
        "change_pct",
        "rel_vol",
        "atr_pct",
        "dollar_volume",
        "short_interest",
        "float_shares",
        "thesis",
        "invalid",
    }
    assert needed <= set(frame.columns)
    assert any(column.startswith("c_") for column in frame.columns)
    assert frame.index.name == "symbol"
    assert frame["score"].between(0, 100).all()
    assert frame["score"].is_monotonic_decreasing
    assert frame.attrs["strategy"] == strategy
    for _, row in frame.head(3).iterrows():
        assert scoring.explain(row, strategy)
        assert scoring.to_candidate_dict(row, strategy)["symbol"] == row.name
