"""Scoring benchmark: 10,000 symbols × 90 daily bars, vectorised vs per-symbol.

Run: `.venv/bin/python -m benchmarks.bench_scoring [--symbols N] [--repeat R]`.
Measures, in one run on the same seeded synthetic market: the median time of `bms`
scoring (goal ≤ 0.1 s), of all three strategies together (goal ≤ 1 s), and of the
straightforward per-symbol implementation in `benchmarks/naive_scoring.py` (one run,
it is slow), then prints the ratios (goal ≥ 50×) and checks both agree.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import pandas as pd

from benchmarks import naive_scoring as naive
from benchmarks.synthetic_market import synthetic_bars, synthetic_reference
from services import scoring


def _median(fn: Callable[[], object], repeat: int) -> float:
    """Median wall time of `repeat` calls after one warm-up call."""
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _once(fn: Callable[[], object]) -> tuple[float, object]:
    """Wall time and result of a single call."""
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def _each_alone(bars: pd.DataFrame, reference: pd.DataFrame) -> None:
    """Score the universe with every strategy, sharing nothing."""
    for strategy in scoring.STRATEGIES:
        scoring.score_universe(bars, reference, strategy=strategy)


def _naive_all(series: list[naive.Series], reference: pd.DataFrame) -> dict:
    """The per-symbol loop for every strategy, over already split symbols."""
    return {
        strategy: naive.score_series(series, reference, strategy)
        for strategy in scoring.STRATEGIES
    }


def main() -> None:
    """Generate the market, time both implementations and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()

    bars = synthetic_bars(args.symbols, args.days, seed=11)
    reference = synthetic_reference(bars, seed=11)
    print(f"market              {args.symbols:,} symbols, {len(bars):,} bars")

    bms = _median(lambda: scoring.score_universe(bars, reference), args.repeat)
    three = _median(lambda: scoring.score_all(bars, reference), args.repeat)
    alone = _median(lambda: _each_alone(bars, reference), max(3, args.repeat // 3))
    split_s, series = _once(lambda: list(naive.split(bars)))
    naive_bms, want = _once(lambda: naive.score_series(series, reference, "bms"))
    naive_three, _ = _once(lambda: _naive_all(series, reference))
    got = scoring.score_universe(bars, reference)

    ms = 1000
    print(f"bms vectorised      {bms * ms:9.1f} ms  median of {args.repeat} (goal 100)")
    print(f"3 strategies        {three * ms:9.1f} ms  median, score_all (goal 1000)")
    print(f"3 strategies alone  {alone * ms:9.1f} ms  median, 3 x score_universe")
    print(f"naive split         {split_s * ms:9.1f} ms  groupby into per-symbol lists")
    print(f"naive bms           {naive_bms * ms:9.1f} ms  loop only, one run")
    print(f"naive 3 strategies  {naive_three * ms:9.1f} ms  loop only, one run")
    naive_bms_total = split_s + naive_bms
    naive_three_total = split_s + naive_three
    print(f"ratio bms           {naive_bms_total / bms:9.1f}x  split + loop (goal 50)")
    print(f"ratio bms           {naive_bms / bms:9.1f}x  loop only")
    print(f"ratio 3 strategies  {naive_three_total / three:9.1f}x  split + loop")
    print(f"ratio 3 strategies  {naive_three / three:9.1f}x  loop only")
    agree = set(got.index) == set(want) and all(
        abs(got.at[s, "score"] - want[s][0]) <= 0.0100001 for s in want
    )
    print(f"bms agreement       {'yes' if agree else 'NO'} ({len(want):,} candidates)")


if __name__ == "__main__":
    main()
