"""The immutable job-queue state the queue pane and the headless snapshot render.

Owns the plain data (counts, rows, workers, AMC keys, stuck jobs, failure groups)
and its JSON and text forms. It must not read Redis or import Textual.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from services.clock import format_age
from services.rq_codec import text

_BINARY_FIELDS = frozenset({b"data", b"result", b"exc_info", b"meta"})


@dataclass(frozen=True)
class StuckThresholds:
    """When a job or worker counts as stuck or dead (seconds unless noted).

    Attributes:
        wait_sla_s: A queued job waiting longer than this is past its SLA.
        handoff_s: A job in the intermediate (hand-off) list longer than this.
        worker_dead_s: A worker hash whose heartbeat is older than this is
            presumed dead. rq does not refresh it while idle (about 405 s
            between beats), so keep it above that.
        busy_heartbeat_s: A busy worker, or a started job, whose heartbeats are
            older than this is presumed dead (busy workers beat every 30 s).
        storm_min: This many queued jobs with the same call form a storm.
        amc_heartbeat_s: `amc:discovery:worker:heartbeat` older than this is stale.
    """

    wait_sla_s: float = 120.0
    handoff_s: float = 60.0
    worker_dead_s: float = 600.0
    busy_heartbeat_s: float = 120.0
    storm_min: int = 5
    amc_heartbeat_s: float = 180.0


@dataclass(frozen=True)
class QueueCounts:
    """Sizes of one queue's list and registries (LLEN / ZCARD, never a scan)."""

    name: str
    queued: int = 0
    intermediate: int = 0
    started: int = 0
    failed: int = 0
    finished: int = 0
    deferred: int = 0
    scheduled: int = 0
    canceled: int = 0
    dangling: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Return the snapshot form."""
        return dict(self.__dict__)


@dataclass(frozen=True)
class JobRow:
    """One job as listed, with why it is stuck (empty reason when it is not).

    Attributes:
        job_id: The job id (never rq 2's `id:execution` composite).
        queue: The list or registry's queue name.
        status: Where it was found: queued, hand-off, started, failed, finished,
            deferred, scheduled, canceled, orphaned or missing.
        function: Dotted function path, or "<undecodable>".
        age_s: Seconds since it entered its current state, or None.
        reason: Why it is stuck, or "".
        worker: The worker running it (started jobs), or "".
        exc_type: Exception class for failed jobs, or "".
        raw_fields: The job hash as read (shown by `fields`, on demand).
        call: The call with secret-looking arguments redacted.
        traceback: The full traceback of a failed job, or "".
        decode_error: Why the payload could not be decoded, or None.
        call_key: Function and arguments as text, for duplicate detection.
        result: A redacted preview of a finished job's return value, or "".
        listed_in: The list or registry the id was read from ("started", ...).
    """

    job_id: str
    queue: str
    status: str
    function: str
    age_s: float | None
    reason: str = ""
    worker: str = ""
    exc_type: str = ""
    raw_fields: tuple[tuple[bytes, bytes], ...] = ()
    call: str = ""
    traceback: str = ""
    decode_error: str | None = None
    call_key: str = ""
    result: str = ""
    listed_in: str = ""

    @property
    def fields(self) -> tuple[tuple[str, str], ...]:
        """Every job-hash field as text; binary ones summarised, arguments redacted."""
        shown = []
        for key, value in sorted(self.raw_fields):
            if key in _BINARY_FIELDS:
                shown.append((text(key), f"({len(value)} bytes, binary)"))
            elif key == b"description":
                # rq writes the raw argument repr here; show the redacted call.
                shown.append(("description", self.call))
            else:
                shown.append((text(key), text(value)))
        return tuple(shown)

    def detail_text(self) -> str:
        """Return every field, the call and the full traceback as plain text."""
        lines = [
            f"job id: {self.job_id}",
            f"queue: {self.queue}",
            f"listed as: {self.status}",
            f"age: {format_age(self.age_s)}",
            f"stuck: {self.reason or 'no'}",
            f"call: {self.call or self.function}",
        ]
        if self.decode_error:
            lines.append(f"payload undecodable: {self.decode_error}")
        if self.result:
            lines.append(f"result: {self.result}")
        lines.append("")
        lines += [f"{name}: {value}" for name, value in self.fields]
        if self.traceback:
            lines += ["", "traceback:", self.traceback]
        return "\n".join(lines)


@dataclass(frozen=True)
class WorkerInfo:
    """A worker as Redis records it, with a judgement of whether it is alive."""

    name: str
    state: str
    queues: tuple[str, ...]
    current_job: str
    heartbeat_age_s: float | None
    alive: bool
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Return the snapshot form."""
        return {
            "name": self.name,
            "state": self.state,
            "queues": list(self.queues),
            "current_job": self.current_job or None,
            "heartbeat_age_s": _round(self.heartbeat_age_s),
            "alive": self.alive,
            "note": self.note,
        }

    def label(self) -> str:
        """Return e.g. "w1 busy (hb 2h) presumed dead (no heartbeat for 2h)"."""
        text = f"{self.name} {self.state} (hb {format_age(self.heartbeat_age_s)})"
        return f"{text} {self.note}" if self.note else text


@dataclass(frozen=True)
class LockInfo:
    """Holder and remaining TTL of `discovery_job_lock`."""

    holder: str
    ttl_s: int | None

    def to_dict(self) -> dict[str, Any]:
        """Return the snapshot form."""
        return {"holder": self.holder, "ttl_s": self.ttl_s}


@dataclass(frozen=True)
class AmcKeys:
    """The AMC system's own keys next to RQ's."""

    heartbeat_age_s: float | None = None
    heartbeat_note: str = ""
    lock: LockInfo | None = None
    status: dict[str, Any] | None = None
    status_error: str | None = None

    def label(self) -> str:
        """Return one line: heartbeat age, lock holder and TTL, discovery status."""
        return _amc_line(self)

    def to_dict(self) -> dict[str, Any]:
        """Return the snapshot form."""
        return {
            "heartbeat_age_s": _round(self.heartbeat_age_s),
            "heartbeat_note": self.heartbeat_note,
            "lock": self.lock.to_dict() if self.lock else None,
            "status": self.status,
            "status_error": self.status_error,
        }


@dataclass(frozen=True)
class StuckJob:
    """A job that needs an operator, with the reason and how long it has waited."""

    job_id: str
    queue: str
    reason: str
    age_s: float | None

    def to_dict(self) -> dict[str, Any]:
        """Return the snapshot form."""
        return {
            "job_id": self.job_id,
            "queue": self.queue,
            "reason": self.reason,
            "age_s": _round(self.age_s),
        }


@dataclass(frozen=True)
class FailedGroup:
    """Failed jobs of one exception type (within the sampled window)."""

    exc_type: str
    count: int
    job_ids: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """Return the snapshot form."""
        return {
            "exc_type": self.exc_type,
            "count": self.count,
            "job_ids": list(self.job_ids[:20]),
        }


@dataclass(frozen=True)
class Storm:
    """Many queued jobs with the same function and arguments."""

    queue: str
    call: str
    call_key: str
    job_ids: tuple[str, ...]
    newest: str

    def to_dict(self) -> dict[str, Any]:
        """Return the snapshot form."""
        return {
            "queue": self.queue,
            "call": self.call,
            "count": len(self.job_ids),
            "newest": self.newest,
        }


@dataclass(frozen=True)
class QueueView:
    """Everything the queue pane shows, read in one refresh.

    Attributes:
        queues: Per-queue counts.
        rows: The paged window of jobs (per list and registry) plus orphans.
        workers: Every worker named in `rq:workers` or a per-queue set.
        amc: The AMC heartbeat, lock and status keys.
        stuck: Jobs that need an operator.
        failed_groups: Failed jobs in the window grouped by exception type.
        storms: Duplicate storms found in the queued window.
        suspended: True when `rq:suspended` is set.
        page: (offset, size) of the window per list.
        sweep_note: Progress of the orphan sweep over job hashes.
    """

    queues: tuple[QueueCounts, ...]
    rows: tuple[JobRow, ...]
    workers: tuple[WorkerInfo, ...]
    amc: AmcKeys
    stuck: tuple[StuckJob, ...]
    failed_groups: tuple[FailedGroup, ...]
    storms: tuple[Storm, ...] = ()
    suspended: bool = False
    page: tuple[int, int] = (0, 50)
    sweep_note: str = ""
    source: str = "live"
    extra: dict[str, Any] = field(default_factory=dict)

    def requeueable_stuck(self) -> list[str]:
        """Ids of stuck jobs a requeue fixes without risking a second run.

        Jobs merely waiting on their queue are left alone, and so are jobs that
        run past their timeout on a live worker: requeueing those would run
        them twice.
        """
        fixable = ("abandoned", "orphaned", "in hand-off")
        return [s.job_id for s in self.stuck if s.reason.startswith(fixable)]

    def row(self, job_id: str) -> JobRow | None:
        """Return the first row for `job_id`, if listed."""
        return next((r for r in self.rows if r.job_id == job_id), None)

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-able snapshot section."""
        return {
            "queues": [q.to_dict() for q in self.queues],
            "workers": [w.to_dict() for w in self.workers],
            "stuck": [s.to_dict() for s in self.stuck],
            "amc": self.amc.to_dict(),
            "failed_groups": [g.to_dict() for g in self.failed_groups],
            "storms": [s.to_dict() for s in self.storms],
            "suspended": self.suspended,
            "page": {"offset": self.page[0], "size": self.page[1]},
            "rows_shown": len(self.rows),
            "sweep": self.sweep_note,
        }

    def text_lines(self) -> list[str]:
        """Return a plain-text rendering, no markup."""
        lines = [_queue_line(q) for q in self.queues]
        lines.append(_amc_line(self.amc))
        if self.suspended:
            lines.append("workers: SUSPENDED (rq:suspended is set)")
        lines += [f"worker {w.label()}" for w in self.workers] or ["workers: none"]
        lines += [f"storm {s.queue}: {len(s.job_ids)}x {s.call}" for s in self.storms]
        lines += [f"failed {g.exc_type}: {g.count}" for g in self.failed_groups]
        lines += [
            f"stuck {s.job_id} [{s.queue}] {format_age(s.age_s)}: {s.reason}"
            for s in self.stuck
        ]
        return lines


def _queue_line(q: QueueCounts) -> str:
    return (
        f"{q.name}: {q.queued} queued, {q.intermediate} hand-off, {q.started} started, "
        f"{q.failed} failed, {q.finished} finished, {q.deferred} deferred, "
        f"{q.scheduled} scheduled, {q.canceled} canceled"
    )


def _amc_line(amc: AmcKeys) -> str:
    beat = (
        format_age(amc.heartbeat_age_s) if amc.heartbeat_age_s is not None else "absent"
    )
    lock = f"held by {amc.lock.holder} (TTL {amc.lock.ttl_s}s)" if amc.lock else "free"
    state = (amc.status or {}).get("status", amc.status_error or "absent")
    note = f" {amc.heartbeat_note}" if amc.heartbeat_note else ""
    return f"amc: heartbeat {beat}{note}; lock {lock}; discovery status {state}"


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
