"""Benchmark: squeeze detection over a 10,000-symbol universe (goal <= 0.5 s).

Builds a seeded synthetic universe (90 daily bars per symbol and a reference
frame with realistic gaps: unknown SI, proxy floats, no borrow data) and
measures the median of `detect` alone, of `market_features` on the bars, and of
the whole pass (features, join, detect). Prints one JSON object.

Run: .venv/bin/python -m benchmarks.bench_squeeze [--symbols 10000] [--runs 9]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from services.squeeze_detect import detect, join_features, market_features

GOAL_S = 0.5
SOURCES = {
    "volume": "bars",
    "short_interest": "polygon",
    "float": "details",
    "borrow": "csv",
}


def synthetic_bars(rng: np.random.Generator, n: int, days: int) -> pd.DataFrame:
    """Random-walk daily bars, sorted by (symbol, date), with volume bursts."""
    symbols = np.array([f"S{i:05d}" for i in range(n)])
    start = rng.uniform(0.3, 80.0, n)
    steps = rng.normal(0.0, 0.04, (n, days))
    close = start[:, None] * np.exp(np.cumsum(steps, axis=1))
    volume = rng.lognormal(13.0, 1.0, (n, days))
    volume[:, -1] *= rng.lognormal(0.5, 1.0, n)
    dates = pd.date_range("2026-01-02", periods=days, freq="B")
    return pd.DataFrame(
        {
            "symbol": np.repeat(symbols, days),
            "date": np.tile(dates.values, n),
            "open": close.ravel(),
            "high": close.ravel() * 1.02,
            "low": close.ravel() * 0.98,
            "close": close.ravel(),
            "volume": volume.ravel(),
        }
    )


def synthetic_reference(rng: np.random.Generator, symbols: pd.Index) -> pd.DataFrame:
    """Reference columns with NaN for unknown, as the adapters produce them."""
    n = len(symbols)
    floats = rng.lognormal(17.5, 1.2, n)
    frame = pd.DataFrame(
        {
            "float_shares": floats,
            "float_is_proxy": rng.random(n) < 0.6,
            "short_interest": floats * rng.uniform(0.0, 0.5, n),
            "days_to_cover": rng.uniform(0.2, 9.0, n),
            "borrow_fee": rng.uniform(0.0, 1.5, n),
            "utilization": rng.uniform(0.0, 1.0, n),
        },
        index=symbols,
    )
    for column, share in (
        ("short_interest", 0.2),
        ("days_to_cover", 0.3),
        ("float_shares", 0.1),
        ("borrow_fee", 0.7),
        ("utilization", 0.7),
    ):
        frame.loc[rng.random(n) < share, column] = np.nan
    return frame


def median_s(fn: Callable[[], Any], runs: int) -> float:
    """Median wall time of `runs` calls after one warm-up call."""
    fn()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    """Run the benchmark and print the figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    bars = synthetic_bars(rng, args.symbols, args.days)
    market = market_features(bars)
    reference = synthetic_reference(rng, market.index)
    features = join_features(market, reference)

    detect_s = median_s(lambda: detect(features, SOURCES), args.runs)
    features_s = median_s(lambda: market_features(bars), args.runs)
    full_s = median_s(
        lambda: detect(join_features(market_features(bars), reference), SOURCES),
        args.runs,
    )
    result = detect(features, SOURCES)
    print(
        json.dumps(
            {
                "symbols": args.symbols,
                "bars": len(bars),
                "runs": args.runs,
                "detect_median_s": round(detect_s, 4),
                "market_features_median_s": round(features_s, 4),
                "full_pass_median_s": round(full_s, 4),
                "goal_s": GOAL_S,
                "detect_within_goal": detect_s <= GOAL_S,
                "passed": int(result["passed"].sum()),
                "levels": result.loc[result["passed"], "level"]
                .value_counts()
                .to_dict(),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
