"""Discovery for the console: read results; run in-process, on RQ or fanned out.

`DiscoveryService` is the candidates pane's provider and action target. It
reads the AMC envelope and status keys, knows whether any RQ worker serves the
queue, and runs discovery itself when none does. Blocking and headless: the
app calls it from thread workers; it never imports Textual.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import time
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import redis
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from services.clock import Clock
from services.discovery_jobs import (
    SHARD_TTL_S,
    frame_from_json,
    pack_shard,
    run_discovery_job,
    run_discovery_shard,
    shard_input_key,
    shard_result_key,
)
from services.discovery_run import (
    BARS_DAYS,
    ENVELOPE_KEY,
    ENVELOPE_TTL_S,
    LOCK_KEY,
    STATUS_KEY,
    DiscoveryLock,
    DiscoveryResult,
    RunProgress,
    RunState,
    new_job_id,
    prefilter,
    publish,
    run_discovery,
    tier_counts,
)
from services.discovery_view import (
    SUSPECT_ENGINE_WORDS,
    Candidate,
    CandidatesView,
    RunInfo,
    StrategyComparison,
    StrategyRow,
)
from services.environment import Outcome
from services.errors import AmcTuiError, DiscoveryError, RedisUnavailable
from services.market_data import MarketSource
from services.redis_conn import connect, describe_failure
from services.scoring import STRATEGIES, explain, score_all, score_universe

__all__ = [
    "CandidatesView",
    "DiscoveryResult",
    "DiscoveryService",
    "run_discovery",
    "run_discovery_job",
    "run_discovery_shard",
]

log = logging.getLogger(__name__)

JOB_TIMEOUT_S = 900
RESULT_TTL_S = 3600
SPARK_BARS = 20
COMPARE_TOP = 10
WORKER_PREFIX = "rq:worker:"
JOB_FUNC = "services.discovery.run_discovery_job"
SHARD_FUNC = "services.discovery.run_discovery_shard"
COUNT_KEYS = (
    "universe_size", "filtered_size", "count", "trade_ready_count", "monitor_count",
)  # fmt: skip
WAITING = (JobStatus.QUEUED, JobStatus.DEFERRED, JobStatus.SCHEDULED)


class _KeptMarket:
    """Wraps a market source and keeps the last frames it served (no refetch)."""

    def __init__(self, market: MarketSource) -> None:
        self.inner = market
        self.source = market.source
        self.bars: pd.DataFrame | None = None
        self.ref: pd.DataFrame | None = None

    def daily_bars(self, days: int) -> pd.DataFrame:
        self.bars = self.inner.daily_bars(days)
        return self.bars

    def reference(self) -> pd.DataFrame:
        self.ref = self.inner.reference()
        return self.ref

    def last_price(self, symbol: str) -> float | None:
        return self.inner.last_price(symbol)

    def __getattr__(self, name: str) -> Any:
        # intraday(), issues and rate_limit_message() exist on live markets only.
        return getattr(self.inner, name)


class DiscoveryService:
    """Provider of the candidates pane and its discovery actions.

    Args:
        redis_url: The AMC Redis; None runs everything in memory.
        market: Where bars come from; None when no market is configured.
        strategy: Strategy of the next run ("bms", "hybrid_v1", "legacy_v0").
        clock: Time for ids, ages and the grace period.
        queue: The RQ queue the AMC workers serve.
        source: "demo" or "live" (the provider contract's label).
        limit: Candidates kept per run.
        grace_s: How long no worker must be alive before `auto_run_due`.
    """

    def __init__(
        self,
        redis_url: str | None,
        market: MarketSource | None,
        strategy: str = "bms",
        clock: Clock | None = None,
        queue: str = "amc_discovery",
        source: str | None = None,
        limit: int = 300,
        grace_s: float = 120.0,
    ) -> None:
        self.redis_url = redis_url
        self.market = None if market is None else _KeptMarket(market)
        self.strategy = strategy if strategy in STRATEGIES else "bms"
        self.clock = clock or Clock()
        self.queue = queue
        self.source = source or (market.source if market else "live")
        self.limit = limit
        self.grace_s = grace_s
        self._client: redis.Redis | None = None
        self._running = threading.Lock()
        self._state = threading.Lock()
        self._progress: RunProgress | None = None
        self._last: DiscoveryResult | None = None
        self._scored: dict[str, pd.DataFrame] = {}
        self._comparison: StrategyComparison | None = None
        self._no_worker_since: float | None = None
        self._lock_held = False
        self._extra_warnings: tuple[str, ...] = ()
        self._corrupt = False

    # -- plumbing ---------------------------------------------------------

    def _redis(self) -> redis.Redis | None:
        if self.redis_url is None:
            return None
        if self._client is None:
            self._client = connect(self.redis_url)
        return self._client

    def close(self) -> None:
        """Close the Redis client and the market's connections."""
        if self._client is not None:
            self._client.close()
        close = getattr(self.market.inner, "close", None) if self.market else None
        if callable(close):
            close()

    def bars(self) -> pd.DataFrame | None:
        """Return the last bars frame a run used (the squeeze detector reuses it)."""
        return None if self.market is None else self.market.bars

    def _on_progress(self, progress: RunProgress) -> None:
        with self._state:
            self._progress = progress

    def set_strategy(self, strategy: str) -> Outcome:
        """Choose the strategy of the next run."""
        if strategy not in STRATEGIES:
            return Outcome(
                False, f"unknown strategy {strategy}; use one of {STRATEGIES}"
            )
        self.strategy = strategy
        return Outcome(True, f"strategy {strategy} (applies to the next run)")

    # -- reading ----------------------------------------------------------

    def load(self) -> CandidatesView:
        """Read the envelope, the status key and the workers into a view.

        Raises:
            RedisUnavailable: Redis is configured but unreachable and no
                in-process result is at hand.
        """
        now = self.clock.now()
        try:
            envelope, status, workers, lock = self._read_redis()
            redis_warning = None
        except RedisUnavailable as exc:
            if self._last is None:
                raise
            envelope, status, workers, lock = None, None, (), None
            redis_warning = f"{exc.message}: showing this console's last result"
        self._track_workers(workers, now)
        self._lock_held = lock is not None
        mine = self._last.envelope if self._last is not None else None
        from_memory = envelope is None and mine is not None
        envelope = envelope if envelope is not None else mine
        warnings = self._warnings(envelope, workers, lock, status)
        if redis_warning:
            warnings.insert(0, redis_warning)
        return self._view(envelope, from_memory, warnings, status, workers, now)

    def _read_redis(
        self,
    ) -> tuple[dict[str, Any] | None, dict[str, Any] | None, tuple[str, ...], Any]:
        client = self._redis()
        if client is None:
            return None, None, (), None
        try:
            pipe = client.pipeline(transaction=False)
            for key in (ENVELOPE_KEY, STATUS_KEY, LOCK_KEY):
                pipe.get(key)
            pipe.ttl(LOCK_KEY)
            raw_env, raw_status, lock, lock_ttl = pipe.execute()
            workers = self._live_workers(client)
        except redis.RedisError as exc:
            raise describe_failure(exc, self.redis_url or "") from None
        self._corrupt = raw_env is not None and _json(raw_env) is None
        holder = None if lock is None else (_text(lock), lock_ttl)
        return _json(raw_env), _json(raw_status), workers, holder

    def _live_workers(self, client: redis.Redis) -> tuple[str, ...]:
        # The set holds worker keys ("rq:worker:<name>"), as rq registers them.
        members = client.smembers(f"rq:workers:{self.queue}")
        names = sorted(_text(m).removeprefix(WORKER_PREFIX) for m in members)
        if not names:
            return ()
        pipe = client.pipeline(transaction=False)
        for name in names:
            pipe.exists(WORKER_PREFIX + name)
        return tuple(n for n, alive in zip(names, pipe.execute(), strict=True) if alive)

    def live_workers(self) -> tuple[str, ...]:
        """Return the names of workers serving the queue whose hash still exists.

        A member of `rq:workers:<queue>` whose `rq:worker:<name>` hash expired is
        a dead worker (contract §11), not a live one.
        """
        client = self._redis()
        if client is None:
            return ()
        try:
            return self._live_workers(client)
        except redis.RedisError as exc:
            raise describe_failure(exc, self.redis_url or "") from None

    def _track_workers(self, workers: tuple[str, ...], now: float) -> None:
        if workers:
            self._no_worker_since = None
        elif self._no_worker_since is None:
            self._no_worker_since = now

    def _warnings(
        self,
        envelope: dict[str, Any] | None,
        workers: tuple[str, ...],
        lock: Any,
        status: dict[str, Any] | None,
    ) -> list[str]:
        warnings = list(self._extra_warnings)
        if self._corrupt:
            warnings.append(f"{ENVELOPE_KEY} holds unreadable JSON (corrupted)")
        if envelope is None:
            warnings.append("no cached results: run discovery")
        else:
            warnings.extend(_envelope_warnings(envelope))
        if self.redis_url is not None and not workers:
            warnings.append(f"no live worker serves {self.queue}: runs go in-process")
        if lock is not None and self._progress is None and not _status_active(status):
            warnings.append(f"{LOCK_KEY} held by {lock[0]} (expires in {lock[1]} s)")
        if status is not None and status.get("status") == "failed":
            warnings.append(
                f"last run {status.get('job_id')} failed: {status.get('message')}"
            )
        return warnings

    def _view(
        self,
        envelope: dict[str, Any] | None,
        from_memory: bool,
        warnings: list[str],
        status: dict[str, Any] | None,
        workers: tuple[str, ...],
        now: float,
    ) -> CandidatesView:
        env = envelope or {}
        raw_items = env.get("candidates") or []
        items = self._candidates(raw_items if isinstance(raw_items, list) else [])
        generated = _float(env.get("timestamp"))
        counts = {k: int(env[k]) for k in COUNT_KEYS if isinstance(env.get(k), int)}
        return CandidatesView(
            engine=str(env.get("engine") or ""),
            source=self._source_of(env, from_memory),
            generated_at=generated,
            age_s=None if generated is None else now - generated,
            strategy=str(env.get("strategy") or self.strategy),
            items=items,
            warnings=tuple(warnings),
            run=self._run_info(status, workers, now),
            job_id=str(env.get("job_id") or ""),
            counts=tuple(counts.items()),
            queue=self.queue,
            workers=workers,
            comparison=self._comparison,
        )

    def _candidates(self, raw: list[Any]) -> tuple[Candidate, ...]:
        dicts = [c for c in raw if isinstance(c, dict)]
        closes = self._closes({str(c.get("symbol")) for c in dicts})
        return tuple(
            Candidate.from_dict(c, closes.get(str(c.get("symbol")), ())) for c in dicts
        )

    def _closes(self, symbols: set[str]) -> dict[str, tuple[float, ...]]:
        bars = self.bars()
        if bars is None or not symbols:
            return {}
        recent = bars[bars["symbol"].isin(symbols)].groupby("symbol").tail(SPARK_BARS)
        return {
            str(sym): tuple(float(c) for c in group["close"] if np.isfinite(c))
            for sym, group in recent.groupby("symbol", sort=False)
        }

    def _source_of(self, env: dict[str, Any], from_memory: bool) -> str:
        if not env:
            return self.source
        engine = str(env.get("engine") or "").lower()
        ours = self._last is not None and env.get("job_id") == self._last.job_id
        if from_memory or (ours and "in-process" in engine):
            return "in-process"
        if "fallback" in engine or "emergency" in engine:
            return "fallback"
        if "demo" in engine:
            return "demo"
        return "live"

    def _run_info(
        self, status: dict[str, Any] | None, workers: tuple[str, ...], now: float
    ) -> RunInfo | None:
        reason = (
            ""
            if workers or self.redis_url is None
            else f"no live worker on {self.queue}"
        )
        progress = self._progress
        if progress is not None:
            limit_text = (
                getattr(self.market, "rate_limit_message", None)
                if self.market
                else None
            )
            return RunInfo(
                progress.job_id, progress.stage, progress.progress,
                now - progress.started_at, progress.runner, progress.message,
                limit_text(now) if callable(limit_text) else None,
                reason if progress.runner == "in-process" else "",
            )  # fmt: skip
        if status is None:
            return None
        return RunInfo(
            str(status.get("job_id", "?")), str(status.get("status", "?")),
            int(_float(status.get("progress")) or 0),
            _float(status.get("elapsed_seconds")) or 0.0,
            str(status.get("runner") or "rq"), str(status.get("message") or ""),
        )  # fmt: skip

    # -- actions ----------------------------------------------------------

    def run_in_process(self, strategy: str | None = None) -> Outcome:
        """Run discovery in this process (a thread worker of the app).

        Never two at once: this console's own guard, then the Redis lock. When
        Redis is down the run still happens, kept in memory only.
        """
        if self.market is None:
            return Outcome(False, "no market data: set POLYGON_API_KEY or use the demo")
        if not self._running.acquire(blocking=False):
            return Outcome(False, "a discovery run is already going in this console")
        strategy = strategy or self.strategy
        try:
            result = self._run_once(strategy)
        except AmcTuiError as exc:
            return Outcome(False, exc.message, {"strategy": strategy})
        finally:
            self._progress = None
            self._running.release()
        return self._outcome(result)

    def _run_once(self, strategy: str) -> DiscoveryResult:
        assert self.market is not None
        job_id = new_job_id("console", self.clock)
        try:
            target = self._redis()
            result = self._run_with(target, strategy, job_id)
            self._extra_warnings = ()
        except RedisUnavailable as exc:
            log.warning("discovery without Redis: %s", exc.message)
            result = self._run_with(None, strategy, job_id)
            self._extra_warnings = (f"{exc.message}: result kept in this console only",)
        if result.status == "success":
            self._remember(result)
        return result

    def _run_with(
        self, target: redis.Redis | None, strategy: str, job_id: str
    ) -> DiscoveryResult:
        assert self.market is not None
        return run_discovery(
            self.market, strategy, self.limit, target, self.clock,
            self._on_progress, job_id=job_id,
        )  # fmt: skip

    def _remember(self, result: DiscoveryResult) -> None:
        with self._state:
            self._last = result
            if result.scored is not None:
                self._scored[result.strategy] = result.scored

    def _outcome(self, result: DiscoveryResult) -> Outcome:
        details = {"job_id": result.job_id, "strategy": result.strategy}
        if result.status == "skipped":
            return Outcome(False, f"skipped: {LOCK_KEY} held by {result.lock_holder}",
                           {**details, "lock_holder": result.lock_holder})  # fmt: skip
        env = result.envelope or {}
        message = (
            f"{env.get('count', 0)} candidates ({env.get('trade_ready_count', 0)} "
            f"trade-ready) in {env.get('elapsed_seconds', 0):.1f}s, {result.job_id}"
        )
        return Outcome(True, message, {**details, "count": env.get("count", 0)})

    def enqueue(self, strategy: str | None = None) -> Outcome:
        """Queue one discovery job on the configured queue (id `manual_<epoch>`)."""
        client = self._redis()
        if client is None:
            return Outcome(False, "enqueue needs Redis (REDIS_URL)")
        strategy = strategy or self.strategy
        try:
            job = self._queue(client).enqueue(
                JOB_FUNC,
                kwargs={"limit": self.limit, "strategy": strategy,
                        "market": self.market.source if self.market else "live"},
                job_id=self._free_id(client, "manual"),
                job_timeout=JOB_TIMEOUT_S,
                result_ttl=RESULT_TTL_S,
            )  # fmt: skip
            alive = self._live_workers(client)
        except redis.RedisError as exc:
            raise describe_failure(exc, self.redis_url or "") from None
        note = "" if alive else "; no live worker: it waits until one starts"
        return Outcome(
            True, f"queued {job.id} on {self.queue}{note}", {"job_id": job.id}
        )

    def _queue(self, client: redis.Redis) -> Queue:
        return Queue(self.queue, connection=client)

    def _free_id(self, client: redis.Redis, prefix: str) -> str:
        """Return `<prefix>_<epoch>`, suffixed if that id exists (no overwrite)."""
        base = new_job_id(prefix, self.clock)
        job_id, n = base, 1
        while client.exists(f"rq:job:{job_id}"):
            n += 1
            job_id = f"{base}_{n}"
        return job_id

    def auto_run_due(
        self, view: CandidatesView | None = None, grace_s: float | None = None
    ) -> bool:
        """True when the app should run discovery in-process now.

        That is: no live worker for at least the grace period (or no Redis at
        all), no run going, no lock held elsewhere, and no cached envelope to
        show. Pass the view just loaded to decide without reading Redis again.
        """
        if self.market is None or self._running.locked():
            return False
        grace = self.grace_s if grace_s is None else grace_s
        if view is None:
            try:
                view = self.load()
            except AmcTuiError:
                return False
        # A result older than the envelope's TTL is what the AMC API no longer
        # serves: it is due for a new run, even if this console still shows it.
        now = self.clock.now()
        fresh = (
            view.generated_at is not None and now - view.generated_at < ENVELOPE_TTL_S
        )
        if fresh or view.workers or self._lock_held:
            return False
        if self.redis_url is None:
            return True
        since = self._no_worker_since
        return since is not None and now - since >= grace

    # -- fan-out ----------------------------------------------------------

    def fan_out(
        self, shards: int = 4, wait_s: float = 30.0, strategy: str | None = None
    ) -> Outcome:
        """Split the universe into shards, one RQ job each, and merge the results.

        Shards no worker has finished within `wait_s` are scored in-process
        (waiting ones are cancelled first), so the run always completes. The
        console holds `discovery_job_lock` for the whole run.
        """
        client = self._redis()
        if client is None or self.market is None:
            return Outcome(False, "fan-out needs Redis (REDIS_URL) and a market")
        if not self._running.acquire(blocking=False):
            return Outcome(False, "a discovery run is already going in this console")
        strategy = strategy or self.strategy
        try:
            result, split = self._fan_out(client, max(1, shards), wait_s, strategy)
        except redis.RedisError as exc:
            return Outcome(False, describe_failure(exc, self.redis_url or "").message)
        except AmcTuiError as exc:
            return Outcome(False, exc.message, {"strategy": strategy})
        finally:
            self._progress = None
            self._running.release()
        if result.status == "success":
            self._remember(result)
        outcome = self._outcome(result)
        message = (
            f"{outcome.message}; shards: {split[0]} by workers, {split[1]} in-process"
        )
        return replace(outcome, message=message, details={**outcome.details,
                       "by_workers": split[0], "in_process": split[1]})  # fmt: skip

    def _fan_out(
        self, client: redis.Redis, shards: int, wait_s: float, strategy: str
    ) -> tuple[DiscoveryResult, tuple[int, int]]:
        assert self.market is not None
        run_id = self._free_id(client, "fanout")
        lock = DiscoveryLock(client, f"{os.getpid()}:{int(self.clock.now())}")
        if not lock.acquire():
            reason = "Another discovery job is already running"
            skipped = DiscoveryResult("skipped", run_id, strategy, reason=reason,
                                      lock_holder=lock.holder())  # fmt: skip
            return skipped, (0, 0)
        run = RunState(client, self.clock, run_id, "fan-out", self._on_progress)
        try:
            return self._fan_out_locked(client, run, shards, wait_s, strategy)
        except Exception as exc:
            reason = exc.message if isinstance(exc, AmcTuiError) else repr(exc)
            run.stage("failed", reason, progress=100)
            raise DiscoveryError(f"fan-out {run_id} failed: {reason}") from exc
        finally:
            lock.release()
            client.delete(*[k(run_id, i) for i in range(shards)
                            for k in (shard_input_key, shard_result_key)])  # fmt: skip

    def _fan_out_locked(
        self,
        client: redis.Redis,
        run: RunState,
        shards: int,
        wait_s: float,
        strategy: str,
    ) -> tuple[DiscoveryResult, tuple[int, int]]:
        assert self.market is not None
        run.stage("starting", f"fetching {BARS_DAYS} days of {self.market.source} bars")
        bars = self.market.daily_bars(BARS_DAYS)
        reference = self.market.reference()
        run.stage("filtering", f"{bars['symbol'].nunique()} symbols")
        filtered, run.stats = prefilter(bars, reference, strategy)
        # TODO: hybrid_v1 and legacy_v0 pre-rank per shard (top 400 each), so their
        # fan-out differs from one run; re-rank the merged shards to match it.
        parts = _split(filtered, shards)
        jobs = self._enqueue_shards(
            client, run.progress.job_id, parts, reference, strategy
        )
        run.stage("scoring", f"{len(jobs)} shards queued on {self.queue}")
        frames, split = self._collect(
            client, run, jobs, parts, reference, strategy, wait_s
        )
        merged = pd.concat(frames)
        merged = merged.sort_values(["score", "symbol"], ascending=[False, True],
                                    na_position="last", kind="stable")  # fmt: skip
        run.stage("processing", f"{len(merged)} kept from {len(parts)} shards")
        warnings = list(getattr(self.market, "issues", ()))
        result = publish(merged, strategy, self.limit, run, source=self.market.source,
                         warnings=warnings)  # fmt: skip
        return result, split

    def _enqueue_shards(
        self,
        client: redis.Redis,
        run_id: str,
        parts: list[pd.DataFrame],
        reference: pd.DataFrame,
        strategy: str,
    ) -> list[Job]:
        queue = self._queue(client)
        jobs = []
        for shard, part in enumerate(parts):
            client.set(shard_input_key(run_id, shard), pack_shard(part, reference),
                       ex=SHARD_TTL_S)  # fmt: skip
            kwargs = {"run_id": run_id, "shard": shard, "strategy": strategy}
            jobs.append(queue.enqueue(
                SHARD_FUNC, kwargs=kwargs, job_id=f"{run_id}_s{shard}",
                job_timeout=JOB_TIMEOUT_S, result_ttl=600,
            ))  # fmt: skip
        return jobs

    def _collect(
        self,
        client: redis.Redis,
        run: RunState,
        jobs: list[Job],
        parts: list[pd.DataFrame],
        reference: pd.DataFrame,
        strategy: str,
        wait_s: float,
    ) -> tuple[list[pd.DataFrame], tuple[int, int]]:
        """Wait for the shard jobs; score the rest here. Returns (frames, split)."""
        run_id = run.progress.job_id
        results: dict[int, pd.DataFrame] = {}
        given_up: set[int] = set()
        deadline = time.monotonic() + wait_s
        while len(results) + len(given_up) < len(jobs) and time.monotonic() < deadline:
            for shard, job in enumerate(jobs):
                if shard in results or shard in given_up:
                    continue
                status = _status(job)
                if status == JobStatus.FINISHED:
                    blob = client.get(shard_result_key(run_id, shard))
                    if blob is not None:
                        results[shard] = frame_from_json(blob)
                elif status in (
                    JobStatus.FAILED,
                    JobStatus.STOPPED,
                    JobStatus.CANCELED,
                ):
                    given_up.add(shard)
            done = len(results)
            run.stage("scoring", f"{done}/{len(jobs)} shards done by workers",
                      progress=20 + 60 * done // len(jobs))  # fmt: skip
            time.sleep(0.1)
        by_workers = len(results)
        for shard, job in enumerate(jobs):
            if shard not in results:
                _cancel_if_waiting(job)
                results[shard] = score_universe(
                    parts[shard], reference, strategy=strategy
                )
        return [results[i] for i in range(len(jobs))], (
            by_workers,
            len(jobs) - by_workers,
        )

    # -- comparison and explanation --------------------------------------

    def compare_strategies(self) -> Outcome:
        """Score all three strategies on the same bars; keep the comparison."""
        if self.market is None:
            return Outcome(False, "no market data: set POLYGON_API_KEY or use the demo")
        try:
            bars = self.market.bars
            if bars is None:
                bars = self.market.daily_bars(BARS_DAYS)
            reference = (
                self.market.ref
                if self.market.ref is not None
                else self.market.reference()
            )
        except AmcTuiError as exc:
            return Outcome(False, exc.message)
        # Funds out for all; each strategy then applies its own gates, on
        # identical input, sharing the common feature work.
        funds_out, _ = prefilter(bars, reference, "hybrid_v1")
        scored = score_all(funds_out, reference)
        rows = [self._strategy_row(s, scored[s]) for s in STRATEGIES]
        comparison = StrategyComparison(tuple(rows), _overlap(rows), self.clock.now())
        self._comparison = comparison
        summary = ", ".join(f"{r.strategy} {r.count}" for r in rows)
        return Outcome(
            True,
            f"compared: {summary}; in all three: {dict(comparison.overlap)['all']}",
        )

    def _strategy_row(self, strategy: str, scored: pd.DataFrame) -> StrategyRow:
        with self._state:
            self._scored[strategy] = scored
        top = scored.head(self.limit)
        ready, monitor = tier_counts(top["action"])
        scores = top["score"].dropna()
        average = round(float(scores.mean()), 2) if len(scores) else None
        return StrategyRow(strategy, len(top), ready, monitor, average,
                           frozenset(str(s) for s in top.index),
                           tuple(str(s) for s in top.index[:COMPARE_TOP]))  # fmt: skip

    def explain(self, symbol: str, strategy: str | None = None) -> str | None:
        """Explain a symbol's score component by component, from local inputs.

        Returns None when this console holds no scored frame with the symbol
        (e.g. the envelope came from another worker); the pane then shows the
        envelope's component scores instead.
        """
        strategy = strategy or self.strategy
        frame = self._scored.get(strategy)
        if frame is None or symbol not in frame.index:
            return None
        row = frame.loc[symbol]
        parts = explain(row, strategy)
        lines = [
            f"{symbol} · {strategy} · score {row['score']:.2f} · {row['action']}",
            "",
        ]
        lines += [f"{'component':<22} {'points':>8} {'weight':>7} {'adds':>7}  why"]
        for c in parts:
            lines.append(f"{c.component:<22} {c.points:>8.2f} {c.weight:>7.2f} "
                         f"{c.contribution:>7.2f}  {c.note}")  # fmt: skip
        total = sum(c.contribution for c in parts)
        lines += ["", f"{'sum of contributions':<38} {total:>7.2f}"]
        if abs(total - float(row["score"])) >= 0.01:
            lines.append(f"{'score (capped at 100, rounded)':<38} {row['score']:>7.2f}")
        lines += ["", str(row["thesis"])]
        return "\n".join(lines)


def _json(raw: Any) -> dict[str, Any] | None:
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return value if isinstance(value, dict) else None


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def _float(value: Any) -> float | None:
    """A finite float from a JSON value, or None (text, bool, NaN, huge ints)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _status_active(status: dict[str, Any] | None) -> bool:
    return status is not None and status.get("status") not in ("completed", "failed")


def _envelope_warnings(env: dict[str, Any]) -> list[str]:
    """Flag demo, fallback and emergency engines and hollow envelopes."""
    warnings = []
    engine = str(env.get("engine") or "")
    if any(word in engine.lower() for word in SUSPECT_ENGINE_WORDS):
        warnings.append(f"engine says {engine!r}: not live discovery data")
    count, candidates = env.get("count"), env.get("candidates")
    if isinstance(count, int) and count > 0 and not candidates:
        warnings.append(f"envelope claims count={count} but holds no candidates")
    warnings.extend(f"partial data: {w}" for w in env.get("warnings") or [])
    return warnings


def _split(frame: pd.DataFrame, shards: int) -> list[pd.DataFrame]:
    """Split bars into up to `shards` frames of whole symbols."""
    symbols = np.sort(frame["symbol"].unique())
    chunks = [
        c for c in np.array_split(symbols, min(shards, max(1, len(symbols)))) if len(c)
    ]
    return [frame[frame["symbol"].isin(chunk)] for chunk in chunks]


def _status(job: Job) -> JobStatus | None:
    try:
        return job.get_status(refresh=True)
    except NoSuchJobError:
        return JobStatus.CANCELED


def _cancel_if_waiting(job: Job) -> None:
    """Cancel a shard job no worker has picked up, so it never runs twice."""
    try:
        if job.get_status(refresh=True) in WAITING:
            job.cancel()
    except (NoSuchJobError, redis.RedisError) as exc:
        log.warning("could not cancel shard %s: %s", job.id, type(exc).__name__)


def _overlap(rows: list[StrategyRow]) -> tuple[tuple[str, int], ...]:
    pairs = [
        (f"{a.strategy} & {b.strategy}", len(a.symbols & b.symbols))
        for i, a in enumerate(rows) for b in rows[i + 1:]
    ]  # fmt: skip
    shared = frozenset.intersection(*(r.symbols for r in rows)) if rows else frozenset()
    return (*pairs, ("all", len(shared)))
