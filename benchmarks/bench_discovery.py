"""Benchmark discovery end to end, and count Polygon calls per full run.

1. A demo-sized run (DemoMarket, every strategy) and a 10,000-symbol bms run:
   market generation, prefilter, scoring and the envelope, timed separately.
2. The real Polygon adapter against a local server holding N trading days:
   calls of a cold run, a same-day rerun and a next-day run, against the
   goal "calls <= trading days fetched + 3".

Run: .venv/bin/python benchmarks/bench_discovery.py [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from services.clock import FrozenClock  # noqa: E402
from services.demo_market import DemoMarket  # noqa: E402
from services.discovery import run_discovery  # noqa: E402
from services.market_data import PolygonMarket, trading_days  # noqa: E402
from services.scoring import STRATEGIES  # noqa: E402
from tests.support.http_server import LocalServer  # noqa: E402
from tests.support.polygon_server import serve_market  # noqa: E402

NOW = datetime(2025, 9, 11, 15, 0, tzinfo=UTC).timestamp()  # market open


def timed(fn: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - started


def bench_runs(symbols: int, strategies: tuple[str, ...]) -> list[dict[str, Any]]:
    """Generate a market and run discovery once per strategy, in memory."""
    market, generated = timed(lambda: DemoMarket(n_symbols=symbols))
    rows = []
    for strategy in strategies:
        result, elapsed = timed(
            lambda s=strategy: run_discovery(market, s, 300, None, FrozenClock(NOW))
        )
        env = result.envelope or {}
        rows.append({
            "symbols": symbols, "strategy": strategy,
            "generate_s": round(generated, 3), "run_s": round(elapsed, 3),
            "filtered": env.get("filtered_size"), "count": env.get("count"),
            "trade_ready": env.get("trade_ready_count"),
        })  # fmt: skip
    return rows


def _polygon(server: LocalServer, cache: Path, at: float) -> PolygonMarket:
    return PolygonMarket("bench-key", server.url, calls_per_minute=1_000_000,
                         cache_dir=cache, clock=FrozenClock(at))  # fmt: skip


def bench_polygon_calls(symbols: int, days: int) -> list[dict[str, Any]]:
    """Count Polygon requests of cold, same-day and next-day full runs."""
    first_day, next_day = date(2025, 9, 10), date(2025, 9, 11)
    rows = []
    with tempfile.TemporaryDirectory() as cache, LocalServer() as server:
        for label, as_of, clock_at in (
            ("cold", first_day, NOW),
            ("same-day rerun", first_day, NOW),
            ("next-day run", next_day, NOW + 86400),
        ):
            serve_market(server, DemoMarket(n_symbols=symbols, days=days, as_of=as_of))
            market = _polygon(server, Path(cache), clock_at)
            before = len(server.requests)
            _, elapsed = timed(lambda m=market, c=clock_at: run_discovery(
                m, "bms", 300, None, FrozenClock(c), days=days))  # fmt: skip
            fetched = len(server.calls(r"/v2/aggs/grouped/.*")) - sum(
                r["grouped_calls"] for r in rows
            )
            rows.append({
                "run": label, "calls": market.calls,
                "server_requests": len(server.requests) - before,
                "grouped_calls": fetched, "budget_days_plus_3": fetched + 3,
                "within_budget": market.calls <= fetched + 3,
                "seconds": round(elapsed, 2),
            })  # fmt: skip
    return rows


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--symbols", type=int, default=5200)
    parser.add_argument("--large", type=int, default=10_000)
    parser.add_argument("--poly-symbols", type=int, default=2000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    report = {
        "runs": bench_runs(args.symbols, STRATEGIES) + bench_runs(args.large, ("bms",)),
        "polygon": bench_polygon_calls(args.poly_symbols, args.days),
        "trading_days": len(trading_days(date(2025, 9, 10), args.days)),
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print("end-to-end runs (in memory, limit 300)")
    for row in report["runs"]:
        print("  " + "  ".join(f"{k}={v}" for k, v in row.items()))
    print(f"polygon calls per full run ({args.days} trading days, "
          f"{args.poly_symbols} symbols, ticker pages of 1000)")  # fmt: skip
    for row in report["polygon"]:
        print("  " + "  ".join(f"{k}={v}" for k, v in row.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
