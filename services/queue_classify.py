"""Stuck-job rules: turn one refresh's raw RQ reads into a `QueueView`.

Pure functions over already-read data and a clock reading; they must not touch
Redis. Each stuck rule says why, in words an operator can act on.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import replace
from functools import lru_cache

from services.clock import format_age
from services.queue_read import Listing, RawState
from services.queue_view import (
    AmcKeys,
    FailedGroup,
    JobRow,
    LockInfo,
    QueueCounts,
    QueueView,
    Storm,
    StuckJob,
    StuckThresholds,
    WorkerInfo,
)
from services.rq_codec import (
    UNDECODABLE,
    Payload,
    decode_payload,
    describe_call,
    exception_type,
    inflate_text,
    parse_time,
    result_exc_text,
    result_preview,
    text,
)


def build_view(
    raw: RawState,
    now: float,
    thresholds: StuckThresholds,
    serializers: Mapping[str, str],
    page: tuple[int, int],
    source: str = "live",
) -> QueueView:
    """Classify one refresh's raw reads.

    Args:
        raw: What `Reader.read()` returned.
        now: The clock reading for every age.
        thresholds: When jobs and workers count as stuck or dead.
        serializers: Payload serializer per queue ("pickle" unless named).
        page: (offset, size) of the windows, echoed into the view.
        source: "demo" or "live".
    """
    workers = tuple(
        _worker(name, f, now, thresholds) for name, f in raw.workers.items()
    )
    live = {q for w in workers if w.alive for q in w.queues}
    rows = [
        _row(item, raw, now, thresholds, serializers, live) for item in raw.listings
    ]
    rows += [_orphan(job_id, q, f, now, serializers) for job_id, q, f in raw.orphans]
    storms = _storms(rows, thresholds.storm_min)
    rows = _mark_storms(rows, storms)
    return QueueView(
        queues=_counts(raw, rows),
        rows=tuple(rows),
        workers=_with_current_jobs(workers, rows),
        amc=_amc(raw, now, thresholds),
        stuck=_stuck(rows),
        failed_groups=_groups(rows),
        storms=storms,
        suspended=raw.suspended,
        page=page,
        sweep_note=raw.sweep_note,
        source=source,
    )


def _counts(raw: RawState, rows: list[JobRow]) -> tuple[QueueCounts, ...]:
    dangling: dict[str, int] = defaultdict(int)
    for row in rows:
        if row.status == "missing":
            dangling[row.queue] += 1
    return tuple(
        QueueCounts(name=name, dangling=dangling[name], **counts)
        for name, counts in raw.counts.items()
    )


def _age(now: float, *stamps: float | None) -> float | None:
    known = [s for s in stamps if s is not None]
    return max(0.0, now - known[0]) if known else None


def _worker(
    name: str, fields: dict[bytes, bytes], now: float, limits: StuckThresholds
) -> WorkerInfo:
    beat = parse_time(fields.get(b"last_heartbeat"))
    age = _age(now, beat)
    queues = tuple(q for q in text(fields.get(b"queues")).split(",") if q)
    state = text(fields.get(b"state")) or "?"
    current = text(fields.get(b"current_job"))
    if not fields or b"birth" not in fields or not queues or beat is None:
        note = "stale/incomplete worker record"
        return WorkerInfo(name, state, queues, current, age, False, note)
    if fields.get(b"death"):
        return WorkerInfo(name, "dead", queues, current, age, False, "stopped")
    # rq beats every job_monitoring_interval while busy, but not while idle.
    limit = limits.busy_heartbeat_s if state == "busy" else limits.worker_dead_s
    if age is not None and age > limit:
        note = f"presumed dead (no heartbeat for {format_age(age)})"
        return WorkerInfo(name, state, queues, current, age, False, note)
    return WorkerInfo(name, state, queues, current, age, True)


def _with_current_jobs(
    workers: tuple[WorkerInfo, ...], rows: list[JobRow]
) -> tuple[WorkerInfo, ...]:
    """Fill `current_job` from started jobs (rq 2+ keeps it off the worker hash)."""
    running = {r.worker: r.job_id for r in rows if r.status == "started" and r.worker}
    return tuple(
        w
        if w.current_job or w.name not in running
        else replace(w, current_job=running[w.name])
        for w in workers
    )


def _traceback(job_id: str, fields: dict[bytes, bytes], raw: RawState) -> str:
    stored = fields.get(b"exc_info")
    if stored:
        return _inflate_cached(stored)
    entry = raw.results.get(job_id) or {}
    return result_exc_text(entry.get(b"exc_string"))


@lru_cache(maxsize=2048)
def _inflate_cached(raw: bytes) -> str:
    return inflate_text(raw)


@lru_cache(maxsize=2048)
def _exc_type_cached(traceback: str) -> str:
    return exception_type(traceback)


@lru_cache(maxsize=4096)
def _call(raw: bytes | None, serializer: str) -> tuple[Payload, str]:
    payload = decode_payload(raw, serializer)
    return payload, describe_call(payload)


def _row(
    item: Listing,
    raw: RawState,
    now: float,
    limits: StuckThresholds,
    serializers: Mapping[str, str],
    live: set[str],
) -> JobRow:
    fields = raw.jobs.get(item.job_id) or {}
    if not fields:
        reason = "dangling: job data expired/missing"
        return JobRow(
            item.job_id,
            item.queue,
            "missing",
            UNDECODABLE,
            None,
            reason,
            listed_in=item.where,
        )
    payload, call = _call(fields.get(b"data"), serializers.get(item.queue, "pickle"))
    worker = text(fields.get(b"worker_name"))
    age, reason, trace = _classify(item, fields, worker, raw, now, limits, live)
    return JobRow(
        job_id=item.job_id,
        queue=item.queue,
        status=item.where,
        function=payload.function,
        age_s=age,
        reason=reason,
        worker=worker,
        exc_type=_exc_type_cached(trace) if item.where == "failed" else "",
        raw_fields=tuple(fields.items()),
        call=call,
        traceback=trace,
        decode_error=payload.error,
        call_key=payload.call_key if payload.error is None else "",
        result=_result(raw, item, serializers),
        listed_in=item.where,
    )


def _result(raw: RawState, item: Listing, serializers: Mapping[str, str]) -> str:
    value = (raw.results.get(item.job_id) or {}).get(b"return_value")
    return result_preview(value, serializers.get(item.queue, "pickle")) if value else ""


def _classify(
    item: Listing,
    fields: dict[bytes, bytes],
    worker: str,
    raw: RawState,
    now: float,
    limits: StuckThresholds,
    live: set[str],
) -> tuple[float | None, str, str]:
    """Return (age, why stuck, traceback) for a job found in `item.where`."""
    enqueued = parse_time(fields.get(b"enqueued_at"))
    if item.where == "queued":
        age = _age(now, enqueued, parse_time(fields.get(b"created_at")))
        return age, _queued_reason(item.queue, age, limits, live), ""
    if item.where == "hand-off":
        age = _age(now, raw.first_seen.get(item.job_id), enqueued)
        late = age is not None and age > limits.handoff_s
        return age, f"in hand-off for {format_age(age)}" if late else "", ""
    started = parse_time(fields.get(b"started_at"))
    if item.where == "started":
        reason = _started_reason(worker, item, fields, raw, now, limits)
        return _age(now, started, enqueued), reason, ""
    ended = parse_time(fields.get(b"ended_at"))
    if item.where == "failed":
        trace = _traceback(item.job_id, fields, raw)
        return _age(now, ended, started, enqueued), "", trace
    return _age(now, ended, enqueued), "", ""


def _queued_reason(
    queue: str, age: float | None, limits: StuckThresholds, live: set[str]
) -> str:
    reasons = []
    if queue not in live:
        reasons.append(f"queued: no live worker on {queue}")
    if age is not None and age > limits.wait_sla_s:
        reasons.append(
            f"waiting {format_age(age)}, past the {format_age(limits.wait_sla_s)} SLA"
        )
    return "; ".join(reasons)


def _started_reason(
    worker_name: str,
    item: Listing,
    fields: dict[bytes, bytes],
    raw: RawState,
    now: float,
    limits: StuckThresholds,
) -> str:
    worker_fields = raw.workers.get(worker_name) if worker_name else None
    worker = _worker(worker_name, worker_fields, now, limits) if worker_fields else None
    if worker is None or not worker.alive:
        return "abandoned: worker dead"
    beats = [
        parse_time(fields.get(b"last_heartbeat")),
        parse_time(worker_fields.get(b"last_heartbeat") if worker_fields else None),
    ]
    beat_age = _age(now, max((b for b in beats if b is not None), default=None))
    if beat_age is not None and beat_age > limits.busy_heartbeat_s:
        return f"abandoned: no heartbeat for {format_age(beat_age)}"
    started = parse_time(fields.get(b"started_at"))
    timeout = _float(fields.get(b"timeout"))
    if started is not None and timeout and timeout > 0 and now - started > timeout:
        return f"running past its timeout ({format_age(timeout)})"
    if item.score is not None and item.score < now:
        return "overdue: started-registry expiry has passed"
    return ""


def _float(raw: bytes | None) -> float | None:
    try:
        return float(text(raw)) if raw else None
    except ValueError:
        return None


def _orphan(
    job_id: str,
    queue: str,
    fields: dict[bytes, bytes],
    now: float,
    serializers: Mapping[str, str],
) -> JobRow:
    payload, call = _call(fields.get(b"data"), serializers.get(queue, "pickle"))
    age = _age(
        now,
        parse_time(fields.get(b"enqueued_at")),
        parse_time(fields.get(b"created_at")),
    )
    return JobRow(
        job_id,
        queue,
        "orphaned",
        payload.function,
        age,
        "orphaned: status queued but on no queue",
        raw_fields=tuple(fields.items()),
        call=call,
        decode_error=payload.error,
    )


def _storms(rows: list[JobRow], minimum: int) -> tuple[Storm, ...]:
    groups: dict[tuple[str, str], list[JobRow]] = defaultdict(list)
    for row in rows:
        if row.status == "queued" and row.call_key:
            groups[(row.queue, row.call_key)].append(row)
    storms = []
    for (queue, key), members in groups.items():
        if len(members) < minimum:
            continue
        newest = min(members, key=lambda r: r.age_s if r.age_s is not None else 0.0)
        ids = tuple(r.job_id for r in members)
        storms.append(Storm(queue, members[0].call, key, ids, newest.job_id))
    return tuple(storms)


def _mark_storms(rows: list[JobRow], storms: tuple[Storm, ...]) -> list[JobRow]:
    sizes = {(s.queue, s.call_key): len(s.job_ids) for s in storms}
    marked = []
    for row in rows:
        size = sizes.get((row.queue, row.call_key)) if row.status == "queued" else None
        if size:
            reason = "; ".join(
                x for x in (row.reason, f"duplicate storm: {size}x") if x
            )
            row = replace(row, reason=reason)
        marked.append(row)
    return marked


def _stuck(rows: list[JobRow]) -> tuple[StuckJob, ...]:
    stuck = [
        StuckJob(r.job_id, r.queue, r.reason, r.age_s)
        for r in rows
        if r.reason and r.status != "failed"
    ]
    stuck.sort(key=lambda s: -(s.age_s or 0.0))
    return tuple(stuck)


def _groups(rows: list[JobRow]) -> tuple[FailedGroup, ...]:
    groups: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        if row.status == "failed":
            groups[row.exc_type].append(row.job_id)
    ordered = sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    return tuple(FailedGroup(exc, len(ids), tuple(ids)) for exc, ids in ordered)


def _amc(raw: RawState, now: float, limits: StuckThresholds) -> AmcKeys:
    age, note = None, ""
    if raw.heartbeat is not None:
        try:
            age = max(0.0, now - float(text(raw.heartbeat)))
            note = "stale" if age > limits.amc_heartbeat_s else "fresh"
        except ValueError:
            note = "unparseable value (not epoch seconds)"
    lock = LockInfo(text(raw.lock), raw.lock_ttl) if raw.lock is not None else None
    status, error = _status(raw.status)
    return AmcKeys(age, note, lock, status, error)


def _status(raw: bytes | None) -> tuple[dict[str, object] | None, str | None]:
    if raw is None:
        return None, None
    try:
        value = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None, "unreadable (not UTF-8 JSON)"
    if not isinstance(value, dict):
        return None, "unreadable (not a JSON object)"
    return value, None
