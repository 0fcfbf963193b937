"""RQ triage for the AMC discovery queues: read-only views and explicit actions.

`QueueService.load()` reads counts, paged windows, workers and the AMC keys with
read commands only (no rq registry cleanup) over a bytes-mode client, and
classifies stuck jobs. Actions are separate methods returning an `Outcome`; they
never run as a side effect of reading. Blocking: call from a thread worker.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import redis
import rq
from rq import Queue
from rq.suspension import resume, suspend

from services.clock import Clock
from services.environment import Outcome
from services.errors import AmcTuiError, ConfigError, QueueError
from services.queue_classify import build_view
from services.queue_ops import Scripts, Tally
from services.queue_read import (
    AMC_LOCK,
    JOB,
    Reader,
    queue_key,
    registry_key,
)
from services.queue_view import LockInfo, QueueView, StuckThresholds
from services.redis_conn import DEFAULT_TIMEOUT_S, connect, describe_failure
from services.rq_codec import (
    decode_payload,
    exception_type,
    format_time,
    inflate_text,
    parse_time,
    result_exc_text,
    text,
)

log = logging.getLogger(__name__)

DEFAULT_QUEUES = ("amc_discovery", "discovery", "default")
DISCOVERY_FUNCTION = "services.discovery.run_discovery_job"
SUPPORTED_RQ = ((2, 0), (4, 0))
CANCELED_KEEP_S = 365 * 86400
T = TypeVar("T")


def check_rq_version(version: str = rq.__version__) -> None:
    """Refuse to start with an rq outside the range the actions were written for.

    Redis data written by rq 1.15 and later reads either way; this pins the
    installed library whose enqueue and suspend APIs the actions call.

    Raises:
        ConfigError: `version` is outside [2.0, 4.0).
    """
    try:
        major_minor = tuple(int(part) for part in version.split(".")[:2])
    except ValueError:
        raise ConfigError(f"cannot read the installed rq version {version!r}") from None
    low, high = SUPPORTED_RQ
    if not low <= major_minor < high:
        raise ConfigError(f"installed rq {version} is not supported; install rq>=2,<4")


class QueueService:
    """Reads and acts on RQ queues in one Redis database.

    Args:
        redis_url: Redis URL (a password in it is never logged or shown).
        queues: Queues always shown; more are discovered from `rq:queues`.
        clock: Time source for ages.
        thresholds: When jobs and workers count as stuck or dead.
        source: "live" or "demo", shown by the pane.
        serializers: Payload serializer per queue ("pickle" or "json").
        discovery_function: Dotted path enqueued by `enqueue_discovery()`.
        discovery_kwargs: Keyword arguments for that job (e.g. the demo's
            `{"market": "demo"}`).
        discovery_queue: Queue of the discovery job (the AMC worker's queue).
        page_size: Ids read per list or registry window.
        sweep_budget: Job keys the orphan sweep examines per refresh.
        timeout_s: Socket timeout of every Redis call.
        stop_verify_s: How long `stop_job()` waits to see the job stop.
    """

    def __init__(
        self,
        redis_url: str,
        queues: Sequence[str] = DEFAULT_QUEUES,
        clock: Clock | None = None,
        thresholds: StuckThresholds | None = None,
        source: str = "live",
        serializers: Mapping[str, str] | None = None,
        discovery_function: str = DISCOVERY_FUNCTION,
        discovery_kwargs: Mapping[str, Any] | None = None,
        discovery_queue: str = "amc_discovery",
        page_size: int = 50,
        sweep_budget: int = 500,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        stop_verify_s: float = 5.0,
    ) -> None:
        check_rq_version()
        self.source = source
        self.queues = tuple(queues)
        self.clock = clock or Clock()
        self.thresholds = thresholds or StuckThresholds()
        self.serializers = dict(serializers or {})
        unknown = set(self.serializers.values()) - {"pickle", "json"}
        if unknown:
            raise ConfigError(
                f"unknown serializer {sorted(unknown)}; use pickle or json"
            )
        self.discovery_function = discovery_function
        self.discovery_kwargs = dict(discovery_kwargs or {})
        self.discovery_queue = discovery_queue
        self.stop_verify_s = stop_verify_s
        self._url = redis_url
        self._client = connect(redis_url, timeout_s)
        self._reader = Reader(self._client, page_size, sweep_budget)
        self._scripts = Scripts(self._client)
        self._lock = threading.Lock()
        self._offset = 0
        self._last: QueueView | None = None
        self._started: list[subprocess.Popen[bytes]] = []

    # -- reading -----------------------------------------------------------

    def load(self) -> QueueView:
        """Read and classify the current state; never writes to Redis.

        Raises:
            RedisUnavailable: Redis is down, timed out or refused.
        """
        with self._lock:
            view = self._guard(self._read)
            self._last = view
            return view

    def _read(self) -> QueueView:
        names = self._reader.queue_names(self.queues)
        raw = self._reader.read(names, self._offset)
        page = (self._offset, self._reader.page_size)
        now = self.clock.now()
        return build_view(
            raw, now, self.thresholds, self.serializers, page, self.source
        )

    def set_page(self, offset: int) -> None:
        """Show the window starting at `offset` in every list on the next load."""
        self._offset = max(0, offset)

    def turn_page(self, step: int) -> Outcome:
        """Move the window of every list by `step` pages (negative: back)."""
        size = self._reader.page_size
        self.set_page(self._offset + step * size)
        first = self._offset + 1
        return Outcome(True, f"showing rows {first:,}-{self._offset + size:,}", {})

    @property
    def last_view(self) -> QueueView | None:
        """The view of the latest successful load."""
        return self._last

    def lock_info(self) -> LockInfo | None:
        """Return the holder and TTL of `discovery_job_lock`, or None if free."""

        def read() -> LockInfo | None:
            pipe = self._client.pipeline(transaction=False)
            pipe.get(AMC_LOCK)
            pipe.ttl(AMC_LOCK)
            value, ttl = pipe.execute()
            if value is None:
                return None
            return LockInfo(text(value), ttl if ttl >= 0 else None)

        return self._guard(read)

    def count_for(self, action: str, **kwargs: Any) -> int:
        """Return how many jobs `action` would touch, for the confirmation.

        Args:
            action: "requeue_failed", "requeue_stuck", "requeue_group"
                (kwarg `exc_type`), "collapse_storm" (kwarg `call_key`) or any
                id-based action (kwarg `ids`).
        """
        if action == "requeue_failed":
            return self._guard(self._failed_total)
        view = self._last
        if action == "requeue_stuck":
            return len(self._stuck_ids())
        if action == "requeue_group" and view is not None:
            return len(self._guard(lambda: self._group_ids(kwargs["exc_type"])))
        if action == "collapse_storm" and view is not None:
            storm = next(
                (s for s in view.storms if s.call_key == kwargs["call_key"]), None
            )
            return len(storm.job_ids) - 1 if storm else 0
        return len(kwargs.get("ids", ()))

    # -- actions -----------------------------------------------------------

    def requeue(self, ids: Sequence[str]) -> Outcome:
        """Requeue jobs by id: failed, canceled, abandoned, orphaned or hand-off.

        Jobs already on their queue are left alone; orphaned jobs are pushed
        back directly (no failed-registry round trip).
        """
        stamp = format_time(self.clock.now())
        tally = self._guard(lambda: self._scripts.run_requeue(ids, stamp))
        return _outcome(tally, "requeued", "requeue")

    def requeue_all_failed(self) -> Outcome:
        """Requeue every failed job of every known queue."""
        return self.requeue(self._guard(self._all_failed_ids))

    def requeue_stuck(self) -> Outcome:
        """Requeue the stuck jobs of the latest view that a requeue can fix."""
        return self.requeue(self._stuck_ids())

    def requeue_group(self, exc_type: str) -> Outcome:
        """Requeue every failed job whose exception type is `exc_type`."""
        return self.requeue(self._guard(lambda: self._group_ids(exc_type)))

    def cancel(self, ids: Sequence[str]) -> Outcome:
        """Cancel queued, deferred, scheduled or failed jobs (kept as canceled)."""
        score = self.clock.now() + CANCELED_KEEP_S
        tally = self._guard(lambda: self._scripts.run_cancel(ids, score))
        return _outcome(tally, "canceled", "cancel")

    def delete(self, ids: Sequence[str], queue_hint: str = "") -> Outcome:
        """Delete jobs and every list, registry and result entry naming them."""
        pairs = [(job_id, self._hint(job_id, queue_hint)) for job_id in ids]
        tally = self._guard(lambda: self._scripts.run_delete(pairs))
        return _outcome(tally, "deleted", "delete")

    def remove_started_entry(self, job_id: str, queue: str) -> Outcome:
        """Drop a stale started-registry entry without touching the job hash."""
        removed = self._guard(lambda: self._scripts.drop_started(args=[queue, job_id]))
        if not removed:
            return Outcome(
                False,
                f"no started entry for {job_id} on {queue}",
                {"job_ids": [job_id]},
            )
        return Outcome(
            True,
            f"removed {removed} started entry for {job_id}",
            {"job_ids": [job_id], "queue": queue},
        )

    def stop_job(self, job_id: str) -> Outcome:
        """Ask the job's worker to stop it, then check that it did."""
        status, worker = self._guard(
            lambda: self._client.hmget(JOB + job_id, "status", "worker_name")
        )
        if status is None:
            return Outcome(False, f"{job_id} is missing", {"job_ids": [job_id]})
        if status != b"started" or not worker:
            return Outcome(
                False,
                f"{job_id} is not running ({text(status)})",
                {"job_ids": [job_id]},
            )
        payload = json.dumps({"command": "stop-job", "job_id": job_id})
        channel = f"rq:pubsub:{text(worker)}"
        listeners = self._guard(lambda: self._client.publish(channel, payload))
        return self._verify_stopped(job_id, text(worker), int(listeners))

    def _verify_stopped(self, job_id: str, worker: str, listeners: int) -> Outcome:
        deadline = time.monotonic() + self.stop_verify_s
        details = {"job_ids": [job_id], "worker": worker, "listeners": listeners}
        while time.monotonic() < deadline:
            status = self._guard(lambda: self._client.hget(JOB + job_id, "status"))
            if status != b"started":
                return Outcome(
                    True, f"{job_id} stopped ({text(status) or 'gone'})", details
                )
            time.sleep(0.1)
        return Outcome(
            False,
            f"worker {worker} did not acknowledge; it may have lost its command "
            "channel; restart the worker",
            details,
        )

    def enqueue_discovery(self, limit: int = 300) -> Outcome:
        """Enqueue one discovery job now, as `manual_<epoch>`."""
        job_id = f"manual_{int(self.clock.now())}"

        def enqueue() -> None:
            queue = Queue(self.discovery_queue, connection=self._client)
            queue.enqueue(
                self.discovery_function,
                args=(limit,),
                kwargs=self.discovery_kwargs,
                job_id=job_id,
                job_timeout=900,
                result_ttl=3600,
            )

        self._guard(enqueue)
        return Outcome(
            True,
            f"enqueued {job_id} on {self.discovery_queue}",
            {"job_ids": [job_id], "queue": self.discovery_queue},
        )

    def collapse_storm(self, queue: str, call_key: str) -> Outcome:
        """Cancel every queued duplicate of a call except the newest."""
        members = self._guard(lambda: self._storm_members(queue, call_key))
        if len(members) < 2:
            return Outcome(False, "no duplicates left to collapse", {"queue": queue})
        newest = max(members, key=lambda m: m[1])[0]
        doomed = [job_id for job_id, _ in members if job_id != newest]
        outcome = self.cancel(doomed)
        message = f"{outcome.message}; kept newest {newest}"
        return Outcome(outcome.ok, message, {**outcome.details, "kept": newest})

    def clear_lock(self, expected_holder: str = "") -> Outcome:
        """Delete `discovery_job_lock`, only if it still has the holder shown."""
        info = self.lock_info()
        if info is None:
            return Outcome(False, "the lock is already free", {})
        result = self._guard(
            lambda: self._scripts.clear_lock(keys=[AMC_LOCK], args=[expected_holder])
        )
        details = {"holder": info.holder, "ttl_s": info.ttl_s}
        if result == -1:
            return Outcome(False, "the lock changed hands; look again", details)
        ttl = "no TTL" if info.ttl_s is None else f"TTL {info.ttl_s}s"
        return Outcome(True, f"cleared lock held by {info.holder} ({ttl})", details)

    def suspend_workers(self) -> Outcome:
        """Set `rq:suspended`: workers finish their job and take no new ones."""
        self._guard(lambda: suspend(self._client))
        return Outcome(True, "workers suspended", {})

    def resume_workers(self) -> Outcome:
        """Clear `rq:suspended`."""
        self._guard(lambda: resume(self._client))
        return Outcome(True, "workers resumed", {})

    def start_worker(
        self, queues: Sequence[str] | None = None, burst: bool = False
    ) -> Outcome:
        """Start `python -m services.worker` in the background.

        The URL goes through the environment, so a password never shows in `ps`.
        """
        names = list(queues or [self.discovery_queue])
        args = [sys.executable, "-m", "services.worker"]
        for name in names:
            args += ["--queue", name]
        if burst:
            args.append("--burst")
        env = {**os.environ, "AMC_WORKER_REDIS_URL": self._url}
        root = Path(__file__).resolve().parent.parent
        proc = subprocess.Popen(
            args,
            env=env,
            cwd=root,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._started.append(proc)
        return Outcome(
            True,
            f"started worker pid {proc.pid} on {', '.join(names)}",
            {"pid": proc.pid, "queues": names},
        )

    def stop_started_workers(self, grace_s: float = 5.0) -> None:
        """Stop the workers this console started (warm shutdown, then kill).

        The demo calls this before its private Redis goes away; against a real
        system, workers started from the console keep running after it quits.
        """
        for proc in self._started:
            if proc.poll() is None:
                proc.terminate()
        for proc in self._started:
            try:
                proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=grace_s)
        self._started.clear()

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    # -- helpers -----------------------------------------------------------

    def _guard(self, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except AmcTuiError:
            raise
        except redis.RedisError as exc:
            raise describe_failure(exc, self._url) from None
        except Exception as exc:  # noqa: BLE001 - rq raises many library types
            log.warning("queue action failed: %s", type(exc).__name__)
            raise QueueError(f"{type(exc).__name__}: {exc}") from None

    def _known_queues(self) -> list[str]:
        return self._reader.queue_names(self.queues)

    def _hint(self, job_id: str, hint: str) -> str:
        if hint or self._last is None:
            return hint
        row = self._last.row(job_id)
        return row.queue if row else ""

    def _failed_total(self) -> int:
        pipe = self._client.pipeline(transaction=False)
        for name in self._known_queues():
            pipe.zcard(registry_key("failed", name))
        return int(sum(pipe.execute()))

    def _all_failed_ids(self) -> list[str]:
        ids: list[str] = []
        for name in self._known_queues():
            ids += [
                text(i)
                for i in self._client.zrange(registry_key("failed", name), 0, -1)
            ]
        return ids

    def _stuck_ids(self) -> list[str]:
        return self._last.requeueable_stuck() if self._last else []

    def _group_ids(self, exc_type: str) -> list[str]:
        matches = self._all_failed_ids()
        pipe = self._client.pipeline(transaction=False)
        for job_id in matches:
            pipe.hget(JOB + job_id, "exc_info")
            pipe.xrevrange(f"rq:results:{job_id}", count=1)
        out = pipe.execute()
        picked = []
        for n, job_id in enumerate(matches):
            stored, entries = out[2 * n], out[2 * n + 1]
            trace = inflate_text(stored) or (
                result_exc_text(entries[0][1].get(b"exc_string")) if entries else ""
            )
            if exception_type(trace) == exc_type:
                picked.append(job_id)
        return picked

    def _storm_members(self, queue: str, call_key: str) -> list[tuple[str, float]]:
        members: list[tuple[str, float]] = []
        serializer = self.serializers.get(queue, "pickle")
        start, step = 0, 1000
        while True:
            ids = [
                text(i)
                for i in self._client.lrange(queue_key(queue), start, start + step - 1)
            ]
            if not ids:
                return members
            pipe = self._client.pipeline(transaction=False)
            for job_id in ids:
                pipe.hmget(JOB + job_id, "data", "enqueued_at")
            for job_id, (data, enq) in zip(ids, pipe.execute(), strict=True):
                if decode_payload(data, serializer).call_key == call_key:
                    members.append((job_id, _epoch(enq)))
            start += step


def _epoch(raw: bytes | None) -> float:
    return parse_time(raw) or 0.0


def _outcome(tally: Tally, primary: str, action: str) -> Outcome:
    message = tally.message(primary)
    done = tally.count(primary)
    ok = done > 0 and done == sum(len(v) for v in tally.ids.values())
    details = {
        "action": action,
        **{k.replace(" ", "_"): v for k, v in tally.ids.items()},
    }
    log.info("%s: %s", action, message)
    return Outcome(ok, message, details)


__all__ = ["DEFAULT_QUEUES", "QueueService", "QueueView", "StuckThresholds"]
