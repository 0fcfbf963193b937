"""One discovery run: prefilter, score, and publish the AMC result envelope.

Owns the Redis side of a run exactly as the real RQ job laid it out (the
envelope in `amc:discovery:candidates:v2`, progress in `amc:discovery:status:v2`,
the `discovery_job_lock`), but releases the lock by comparing its own token.
Blocking and headless: RQ workers import it, so it never imports Textual.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import redis

from services.clock import Clock
from services.errors import AmcTuiError, DiscoveryError, PolygonError
from services.market_data import MarketSource, PolygonNotAuthorized
from services.redis_conn import connect, describe_failure
from services.scoring import STRATEGIES, score_universe, to_candidate_dict

log = logging.getLogger(__name__)

ENVELOPE_KEY = "amc:discovery:candidates:v2"
STATUS_KEY = "amc:discovery:status:v2"
LOCK_KEY = "discovery_job_lock"
ENVELOPE_TTL_S = 600
STATUS_TTL_S = 600
LOCK_TTL_S = 240
BARS_DAYS = 90
CONSOLE = "AMC-TUI Console"
TRADE_READY_ACTIONS = frozenset({"TRADE_READY", "TIER_1"})
MONITOR_ACTIONS = frozenset({"MONITOR", "WATCHLIST", "TIER_2", "TIER_3"})
# Production's fund test was a substring match (contract §4.2), quirks included.
FUND_FRAGMENTS = (
    "SQQQ", "TQQQ", "UVXY", "SVIX", "TSLQ", "LABD", "DRIP", "QID", "BKLN", "PGX",
    "EWH", "SPY", "QQQ", "IWM", "VTI", "VOO", "SPXL", "SPXS", "TLT", "GLD", "SLV",
    "ETF", "FUND", "TRUST", "INDEX",
)  # fmt: skip
FUND_TYPES = frozenset({"ETF", "ETN", "ETS", "ETV", "FUND", "SP"})
STAGES = {"starting": 0, "filtering": 10, "scoring": 20, "processing": 80}

RedisLike = redis.Redis | str | None


@dataclass(frozen=True)
class RunProgress:
    """Where a run stands, as written to the status key.

    Attributes:
        job_id: The run's id (`console_<epoch>`, `manual_<epoch>`, ...).
        stage: starting, filtering, scoring, processing, completed or failed.
        progress: 0, 10, 20, 80 or 100.
        message: One line for the pane.
        elapsed_s: Seconds since the run started.
        started_at: Epoch seconds (service clock) when it started.
        runner: "in-process", "rq" or "fan-out".
    """

    job_id: str
    stage: str
    progress: int
    message: str
    elapsed_s: float
    started_at: float
    runner: str = "in-process"

    def to_status(self, stats: dict[str, int]) -> dict[str, Any]:
        """Return the status-key JSON in the real system's shape."""
        return {
            "job_id": self.job_id,
            "status": self.stage,
            "progress": self.progress,
            "message": self.message,
            "stats": stats,
            "elapsed_seconds": int(self.elapsed_s),
            "timestamp": _iso(self.started_at + self.elapsed_s),
            "runner": self.runner,
        }


ProgressCallback = Callable[[RunProgress], None]


@dataclass(frozen=True)
class DiscoveryResult:
    """What one run produced.

    Attributes:
        status: "success", "skipped" (lock held elsewhere) or "failed".
        job_id: The run's id.
        strategy: The strategy scored.
        engine: The envelope's engine name.
        envelope: The envelope written (or that would have been), or None.
        scored: Every kept row of the scoring frame (for explanations).
        reason: Why it was skipped or failed.
        lock_holder: The other token when skipped.
        warnings: Partial-data notes from the market and the run.
    """

    status: str
    job_id: str
    strategy: str
    engine: str = ""
    envelope: dict[str, Any] | None = None
    scored: pd.DataFrame | None = field(default=None, repr=False, compare=False)
    reason: str = ""
    lock_holder: str | None = None
    warnings: tuple[str, ...] = ()

    def summary(self) -> dict[str, Any]:
        """Return the job's return value in the real system's shape."""
        if self.status != "success" or self.envelope is None:
            return {"status": self.status, "reason": self.reason,
                    "lock_holder": self.lock_holder, "job_id": self.job_id}  # fmt: skip
        env = self.envelope
        keys = ("universe_size", "filtered_size", "count", "trade_ready_count",
                "elapsed_seconds", "job_id", "engine")  # fmt: skip
        return {"status": "success", **{k: env[k] for k in keys}}


class DiscoveryLock:
    """`discovery_job_lock`: SET NX EX, released only by the token that set it.

    The real job compared a bytes value with a str token and never released
    (contract §3.3). Here both release and refresh are atomic Lua scripts
    comparing the stored value with this run's token, and a daemon thread
    keeps the lock alive while a long run (a cold Polygon fetch) goes on.

    Args:
        client: A bytes-mode Redis client.
        token: "<pid>:<epoch>", unique to this run.
        ttl_s: Expiry; refreshed every third of it while held.
    """

    _RELEASE = (
        "if redis.call('GET', KEYS[1]) == ARGV[1] then "
        "return redis.call('DEL', KEYS[1]) else return 0 end"
    )
    _REFRESH = (
        "if redis.call('GET', KEYS[1]) == ARGV[1] then "
        "return redis.call('EXPIRE', KEYS[1], ARGV[2]) else return 0 end"
    )

    def __init__(self, client: redis.Redis, token: str, ttl_s: int = LOCK_TTL_S):
        self.client = client
        self.token = token
        self.ttl_s = ttl_s
        self._stop = threading.Event()
        self._keeper: threading.Thread | None = None

    def acquire(self) -> bool:
        """Take the lock if free and start refreshing it; False if held."""
        taken = bool(self.client.set(LOCK_KEY, self.token, nx=True, ex=self.ttl_s))
        if taken:
            self._keeper = threading.Thread(
                target=self._keep, name="discovery-lock", daemon=True
            )
            self._keeper.start()
        return taken

    def holder(self) -> str | None:
        """Return the current holder's token, or None when free."""
        value = self.client.get(LOCK_KEY)
        if isinstance(value, bytes):
            return value.decode("utf-8", errors="replace")
        return None if value is None else str(value)

    def refresh(self) -> bool:
        """Extend the expiry if the lock is still ours."""
        return bool(
            self.client.eval(self._REFRESH, 1, LOCK_KEY, self.token, self.ttl_s)
        )

    def release(self) -> bool:
        """Delete the lock if it is still ours; never touch another run's lock."""
        self._stop.set()
        if self._keeper is not None:
            self._keeper.join(timeout=2)
        return bool(self.client.eval(self._RELEASE, 1, LOCK_KEY, self.token))

    def _keep(self) -> None:
        while not self._stop.wait(self.ttl_s / 3):
            try:
                if not self.refresh():
                    log.warning(
                        "discovery lock %s lost; another run may start", self.token
                    )
                    return
            except redis.RedisError as exc:
                log.warning("discovery lock refresh failed: %s", type(exc).__name__)


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).isoformat(timespec="seconds")


def engine_name(strategy: str, source: str, runner: str = "in-process") -> str:
    """Name the console, the strategy, the runner and DEMO for demo data."""
    name = f"{CONSOLE} · {strategy} · {runner}"
    return f"{name} · DEMO" if source == "demo" else name


def last_bars(bars: pd.DataFrame) -> pd.DataFrame:
    """Return each symbol's latest bar (the previous session), indexed by symbol."""
    return bars.groupby("symbol", sort=False).tail(1).set_index("symbol")


def is_fund(symbols: pd.Index, reference: pd.DataFrame | None) -> np.ndarray:
    """True for funds: a fund type in the reference or a fund-like symbol."""
    upper = pd.Series(symbols.astype(str), dtype=str).str.upper()
    fund = np.zeros(len(symbols), dtype=bool)
    for fragment in FUND_FRAGMENTS:
        fund |= upper.str.contains(fragment, regex=False).to_numpy(dtype=bool)
    if reference is not None and "type" in reference:
        types = reference["type"].reindex(symbols).astype(str).str.upper()
        fund |= types.isin(FUND_TYPES).to_numpy()
    return fund


def prefilter(
    bars: pd.DataFrame, reference: pd.DataFrame | None, strategy: str
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Drop funds (every strategy) and, for bms, apply the universe bounds.

    The bms bounds are production's universe filter (contract §4.2): close in
    $0.50-$100 and dollar volume of at least $5 M when volume is known. The
    other strategies run their own universe stage inside scoring.
    """
    last = last_bars(bars)
    keep = ~is_fund(last.index, reference)
    if strategy == "bms":
        close, volume = last["close"].to_numpy(), last["volume"].to_numpy()
        keep &= (close >= 0.5) & (close <= 100.0)
        keep &= ~(volume > 0) | (close * volume >= 5e6)
    kept = last.index[keep]
    filtered = bars[bars["symbol"].isin(kept)]
    return filtered, {"universe_size": len(last), "filtered_size": int(keep.sum())}


def intraday_filter(
    market: MarketSource, bars: pd.DataFrame, warnings: list[str]
) -> pd.DataFrame:
    """RealBMSEngine's snapshot filter: same bounds on live prices.

    Applied only while the market is open (otherwise the snapshot repeats the
    last bar). If it keeps under half the input, the input is used whole, as
    in production. Without snapshot access it is skipped with a warning.
    """
    snapshot_of = getattr(market, "intraday", None)
    market_open = getattr(market, "market_open", None)
    if snapshot_of is None or not callable(market_open) or not market_open():
        return bars
    try:
        snap = snapshot_of()
    except PolygonNotAuthorized:
        warnings.append("snapshot not in your Polygon plan: intraday filter skipped")
        return bars
    except PolygonError as exc:
        warnings.append(f"intraday filter skipped: {exc.message}")
        return bars
    price, dollars = snap["price"], snap["price"] * snap["volume"]
    passing = snap.index[(price >= 0.5) & (price <= 100.0) & (dollars >= 5e6)]
    symbols = bars["symbol"].unique()
    kept = np.isin(symbols, passing)
    if kept.sum() < 0.5 * len(symbols):
        return bars
    return bars[bars["symbol"].isin(symbols[kept])]


def tier_counts(actions: pd.Series) -> tuple[int, int]:
    """Return (trade-ready, monitor) counts over every strategy's labels."""
    return (
        int(actions.isin(TRADE_READY_ACTIONS).sum()),
        int(actions.isin(MONITOR_ACTIONS).sum()),
    )


def build_envelope(
    scored: pd.DataFrame,
    strategy: str,
    limit: int,
    stats: dict[str, int],
    meta: dict[str, Any],
) -> dict[str, Any]:
    """Build the `amc:discovery:candidates:v2` envelope (contract §3.2)."""
    top = scored.head(limit)
    candidates = [to_candidate_dict(row, strategy) for _, row in top.iterrows()]
    trade_ready, monitor = tier_counts(top["action"])
    all_ready, all_monitor = tier_counts(scored["action"])
    processed = stats["filtered_size"]
    return {
        "timestamp": int(meta["now"]),
        "iso_timestamp": _iso(meta["now"]),
        "universe_size": stats["universe_size"],
        "filtered_size": stats["filtered_size"],
        "processed": processed,
        "count": len(candidates),
        "trade_ready_count": trade_ready,
        "monitor_count": monitor,
        "candidates": candidates,
        "stats": {
            "universe_size": stats["universe_size"],
            "filtered_size": stats["filtered_size"],
            "processed": processed,
            "trade_ready": all_ready,
            "monitor": all_monitor,
            "rejected": max(0, processed - len(scored)),
        },
        "job_id": meta["job_id"],
        "engine": meta["engine"],
        "elapsed_seconds": round(meta["elapsed"], 2),
        "strategy": strategy,
        "warnings": list(meta.get("warnings", ())),
    }


class RunState:
    """The mutable bookkeeping of one run: progress reports and status writes."""

    def __init__(
        self,
        client: redis.Redis | None,
        clock: Clock,
        job_id: str,
        runner: str,
        callback: ProgressCallback | None,
    ) -> None:
        self.client = client
        self.clock = clock
        self.started_at = clock.now()
        self._t0 = time.monotonic()
        self.callback = callback
        self.stats: dict[str, int] = {}
        self.progress = RunProgress(
            job_id, "starting", 0, "", 0.0, self.started_at, runner
        )

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self._t0

    def stage(self, stage: str, message: str, progress: int | None = None) -> None:
        """Report a stage to the callback and the status key."""
        pct = STAGES.get(stage, 100) if progress is None else progress
        self.progress = replace(
            self.progress, stage=stage, progress=pct, message=message,
            elapsed_s=self.elapsed,
        )  # fmt: skip
        if self.callback is not None:
            self.callback(self.progress)
        if self.client is not None:
            status = json.dumps(self.progress.to_status(self.stats))
            self.client.set(STATUS_KEY, status, ex=STATUS_TTL_S)


def _client(redis_target: RedisLike) -> redis.Redis | None:
    if redis_target is None or isinstance(redis_target, redis.Redis):
        return redis_target
    return connect(redis_target)


def new_job_id(prefix: str, clock: Clock) -> str:
    """Return an id in the real system's style, e.g. "console_1757700000"."""
    return f"{prefix}_{int(clock.now())}"


def run_discovery(
    market: MarketSource,
    strategy: str = "bms",
    limit: int = 300,
    redis_target: RedisLike = None,
    clock: Clock | None = None,
    progress: ProgressCallback | None = None,
    *,
    job_id: str | None = None,
    runner: str = "in-process",
    days: int = BARS_DAYS,
) -> DiscoveryResult:
    """Run one discovery end to end and publish it.

    Args:
        market: Where bars and reference data come from.
        strategy: One of `services.scoring.STRATEGIES`.
        limit: Candidates kept in the envelope.
        redis_target: A Redis URL or bytes-mode client; None keeps the
            result in memory only (no lock, no envelope, no status key).
        clock: Time source for ids and timestamps.
        progress: Called at every stage (from this thread).
        job_id: The id to publish; `console_<epoch>` by default.
        runner: "in-process", "rq" or "fan-out", for the engine and status.
        days: Trading days of bars to fetch (hybrid_v1 and legacy_v0 need 90).

    Returns:
        The result; `status` is "skipped" when another run holds the lock.

    Raises:
        DiscoveryError: the run failed (the status key then says "failed").
        RedisUnavailable: Redis could not be reached.
    """
    if strategy not in STRATEGIES:
        raise DiscoveryError(f"unknown strategy {strategy!r}; use one of {STRATEGIES}")
    clock = clock or Clock()
    job_id = job_id or new_job_id("console", clock)
    client = _client(redis_target)
    spec = _Spec(strategy, limit, days, job_id, runner)
    try:
        return _locked_run(market, spec, client, clock, progress)
    except redis.RedisError as exc:
        raise describe_failure(exc, "discovery Redis") from None


@dataclass(frozen=True)
class _Spec:
    """What one run does."""

    strategy: str
    limit: int
    days: int
    job_id: str
    runner: str


def _locked_run(
    market: MarketSource,
    spec: _Spec,
    client: redis.Redis | None,
    clock: Clock,
    progress: ProgressCallback | None,
) -> DiscoveryResult:
    strategy, job_id = spec.strategy, spec.job_id
    lock = None
    if client is not None:
        lock = DiscoveryLock(client, f"{os.getpid()}:{int(clock.now())}")
        if not lock.acquire():
            holder = lock.holder()
            log.info("discovery %s skipped: lock held by %s", job_id, holder)
            return DiscoveryResult(
                "skipped", job_id, strategy, lock_holder=holder,
                reason="Another discovery job is already running",
            )  # fmt: skip
    run = RunState(client, clock, job_id, spec.runner, progress)
    try:
        return _score_and_publish(market, spec, run)
    except Exception as exc:
        reason = exc.message if isinstance(exc, AmcTuiError) else repr(exc)
        log.exception("discovery %s failed", job_id)
        _report_failure(run, reason)
        raise DiscoveryError(f"discovery {job_id} failed: {reason}") from exc
    finally:
        if lock is not None:
            lock.release()


def _report_failure(run: RunState, reason: str) -> None:
    try:
        run.stage("failed", reason, progress=100)
    except redis.RedisError as exc:
        log.warning("could not record the failure: %s", type(exc).__name__)


def _score_and_publish(
    market: MarketSource, spec: _Spec, run: RunState
) -> DiscoveryResult:
    strategy = spec.strategy
    warnings: list[str] = []
    run.stage("starting", f"fetching {spec.days} days of {market.source} bars")
    bars = market.daily_bars(spec.days)
    reference = market.reference()
    warnings.extend(getattr(market, "issues", ()))
    run.stage("filtering", f"{bars['symbol'].nunique()} symbols")
    filtered, run.stats = prefilter(bars, reference, strategy)
    filtered = intraday_filter(market, filtered, warnings)
    run.stage("scoring", f"{run.stats['filtered_size']} symbols, {strategy}")
    scored = score_universe(filtered, reference, strategy=strategy)
    run.stage("processing", f"{len(scored)} kept")
    return publish(
        scored, strategy, spec.limit, run, source=market.source, warnings=warnings
    )


def publish(
    scored: pd.DataFrame,
    strategy: str,
    limit: int,
    run: RunState,
    *,
    source: str,
    warnings: list[str],
) -> DiscoveryResult:
    """Write the envelope (TTL 600 s) and the final status; return the result."""
    engine = engine_name(strategy, source, run.progress.runner)
    meta = {"now": run.clock.now(), "job_id": run.progress.job_id, "engine": engine,
            "elapsed": run.elapsed, "warnings": warnings}  # fmt: skip
    envelope = build_envelope(scored, strategy, limit, run.stats, meta)
    if run.client is not None:
        run.client.set(ENVELOPE_KEY, json.dumps(envelope), ex=ENVELOPE_TTL_S)
    run.stats.update(trade_ready=envelope["trade_ready_count"], count=envelope["count"])
    run.stage("completed", f"{envelope['count']} candidates", progress=100)
    return DiscoveryResult(
        "success", run.progress.job_id, strategy, engine, envelope, scored,
        warnings=tuple(warnings),
    )  # fmt: skip
