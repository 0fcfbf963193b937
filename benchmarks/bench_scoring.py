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
from dataclasses import dataclass

import pandas as pd

from benchmarks import naive_scoring as naive
from benchmarks.synthetic_market import synthetic_bars, synthetic_reference
from services import scoring


@dataclass(frozen=True)
class Timing:
    """Wall-clock and CPU seconds of one measurement (CPU is steadier on a busy box)."""

    wall: float
    cpu: float

    def line(self, label: str, note: str) -> str:
        """One aligned report line in milliseconds."""
        wall, cpu = self.wall * 1000, self.cpu * 1000
        return f"{label:20s}{wall:9.1f} ms wall {cpu:9.1f} ms cpu  {note}"


def _measure(fn: Callable[[], object]) -> tuple[Timing, object]:
    """Time one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return Timing(time.perf_counter() - wall, time.process_time() - cpu), result


def _median(fn: Callable[[], object], repeat: int) -> Timing:
    """Median wall and CPU time of `repeat` calls after one warm-up call."""
    fn()
    runs = [_measure(fn)[0] for _ in range(repeat)]
    return Timing(
        statistics.median(r.wall for r in runs), statistics.median(r.cpu for r in runs)
    )


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
    split, series = _measure(lambda: list(naive.split(bars)))
    naive_bms, want = _measure(lambda: naive.score_series(series, reference, "bms"))
    naive_three, _ = _measure(lambda: _naive_all(series, reference))

    print(bms.line("bms vectorised", f"median of {args.repeat} (goal <= 100 ms)"))
    print(three.line("3 strategies", "median, score_all (goal <= 1000 ms)"))
    print(alone.line("3 strategies alone", "median, 3 x score_universe"))
    print(split.line("naive split", "groupby into per-symbol lists, one run"))
    print(naive_bms.line("naive bms loop", "one run"))
    print(naive_three.line("naive 3 loops", "one run"))
    _ratios("bms", bms, split, naive_bms)
    _ratios("3 strategies", three, split, naive_three)
    _agreement(scoring.score_universe(bars, reference), want)


def _ratios(label: str, fast: Timing, split: Timing, loop: Timing) -> None:
    """Print naive / vectorised, with and without the per-symbol split."""
    for kind in ("wall", "cpu"):
        mine = getattr(fast, kind)
        whole = getattr(split, kind) + getattr(loop, kind)
        print(
            f"ratio {label:14s}{whole / mine:9.1f}x {kind} split + loop (goal >= 50)"
            f"   {getattr(loop, kind) / mine:7.1f}x loop only"
        )


def _agreement(got: pd.DataFrame, want: object) -> None:
    """Print whether the vectorised and naive BMS results agree."""
    assert isinstance(want, dict)
    agree = set(got.index) == set(want) and all(
        abs(got.at[s, "score"] - want[s][0]) <= 0.0100001 for s in want
    )
    print(f"bms agreement       {'yes' if agree else 'NO'} ({len(want):,} candidates)")


if __name__ == "__main__":
    main()
