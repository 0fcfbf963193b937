"""Read-only collection of RQ state from Redis, in a few pipelined round trips.

Owns the raw reads behind `QueueService.load()`: counts by LLEN / ZCARD, paged
LRANGE / ZRANGE windows, job hashes of the window only, worker hashes and a
budgeted SCAN sweep for orphaned jobs. It issues read commands only, never an rq
method that cleans registries. Blocking: call from a thread.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import redis

JOB = "rq:job:"
QUEUE = "rq:queue:"
WORKER = "rq:worker:"
REGISTRIES = ("wip", "failed", "finished", "deferred", "scheduled", "canceled")
COUNT_NAMES = ("started", "failed", "finished", "deferred", "scheduled", "canceled")
AMC_HEARTBEAT = "amc:discovery:worker:heartbeat"
AMC_LOCK = "discovery_job_lock"
AMC_STATUS = "amc:discovery:status:v2"
SUSPENDED = "rq:suspended"
RESULT_EXC = b"__exc_string"
RESULT_VALUE = b"__return_value"
_U32 = struct.Struct(">I")

# Read-only scripts. FETCH packs each job hash into one length-prefixed blob (one
# reply element per job instead of two per field, which dominates parsing time),
# adding the latest result's exc_string (failed jobs without `exc_info`) or
# return_value (finished jobs) from the `rq:results:<id>` stream.
_FETCH = """
local out = {}
local function put(parts, k, v)
  parts[#parts + 1] = struct.pack('>I4', #k) .. k .. struct.pack('>I4', #v) .. v
end
for i = 1, #ARGV do
  local id = ARGV[i]
  local h = redis.call('HGETALL', 'rq:job:' .. id)
  local parts, has_exc, failed, finished = {}, false, false, false
  for j = 1, #h, 2 do
    if h[j] == 'exc_info' then has_exc = true end
    if h[j] == 'status' then
      failed = h[j + 1] == 'failed' or h[j + 1] == 'stopped'
      finished = h[j + 1] == 'finished'
    end
    put(parts, h[j], h[j + 1])
  end
  if (failed and not has_exc) or finished then
    local r = redis.call('XREVRANGE', 'rq:results:' .. id, '+', '-', 'COUNT', 1)
    if r[1] then
      local f = r[1][2]
      for j = 1, #f, 2 do
        if f[j] == 'exc_string' then put(parts, '__exc_string', f[j + 1]) end
        if f[j] == 'return_value' then put(parts, '__return_value', f[j + 1]) end
      end
    end
  end
  out[i] = table.concat(parts)
end
return out
"""

# SWEEP advances a SCAN over job hashes and returns (cursor, keys seen, then
# id/origin pairs) for hashes whose status is queued but which sit on neither
# their queue nor its hand-off list. Queues longer than ARGV[3] are not checked.
_SWEEP = """
local res = redis.call('SCAN', ARGV[1], 'MATCH', 'rq:job:*', 'COUNT', ARGV[2])
local limit = tonumber(ARGV[3])
local lens = {}
local out = {res[1], #res[2]}
for _, key in ipairs(res[2]) do
  local id = string.sub(key, 8)
  if not string.find(id, ':', 1, true) then
    local f = redis.call('HMGET', key, 'status', 'origin')
    if f[1] == 'queued' and f[2] then
      local q = 'rq:queue:' .. f[2]
      local n = lens[q]
      if n == nil then
        n = redis.call('LLEN', q) + redis.call('LLEN', q .. ':intermediate')
        lens[q] = n
      end
      if n <= limit and not redis.call('LPOS', q, id)
          and not redis.call('LPOS', q .. ':intermediate', id) then
        out[#out + 1] = id
        out[#out + 1] = f[2]
      end
    end
  end
end
return out
"""


def unpack_fields(blob: bytes) -> dict[bytes, bytes]:
    """Unpack a FETCH blob into the job hash's fields."""
    fields: dict[bytes, bytes] = {}
    pos, end = 0, len(blob)
    while pos < end:
        (size,) = _U32.unpack_from(blob, pos)
        key = blob[pos + 4 : pos + 4 + size]
        pos += 4 + size
        (size,) = _U32.unpack_from(blob, pos)
        fields[key] = blob[pos + 4 : pos + 4 + size]
        pos += 4 + size
    return fields


def queue_key(name: str) -> str:
    """Return the list key of queue `name`."""
    return QUEUE + name


def intermediate_key(name: str) -> str:
    """Return the hand-off (intermediate) list key of queue `name` (rq >= 1.16)."""
    return f"{QUEUE}{name}:intermediate"


def registry_key(kind: str, name: str) -> str:
    """Return the key of registry `kind` ("wip", "failed", ...) of queue `name`."""
    return f"rq:{kind}:{name}"


def job_id_of(entry: str) -> str:
    """Return the job id of a registry entry (rq 2 stores `id:execution`)."""
    return entry.split(":", 1)[0] if ":" in entry else entry


def _s(raw: bytes | str) -> str:
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw


@dataclass
class Listing:
    """One window entry: where an id was found and the registry score."""

    job_id: str
    queue: str
    where: str
    score: float | None = None
    entry: str = ""


@dataclass
class RawState:
    """Everything one refresh read, before classification."""

    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    listings: list[Listing] = field(default_factory=list)
    jobs: dict[str, dict[bytes, bytes]] = field(default_factory=dict)
    results: dict[str, dict[bytes, bytes]] = field(default_factory=dict)
    first_seen: dict[str, float] = field(default_factory=dict)
    workers: dict[str, dict[bytes, bytes]] = field(default_factory=dict)
    heartbeat: bytes | None = None
    lock: bytes | None = None
    lock_ttl: int | None = None
    status: bytes | None = None
    suspended: bool = False
    orphans: list[tuple[str, str, dict[bytes, bytes]]] = field(default_factory=list)
    sweep_note: str = ""


class Reader:
    """Issues the read-only commands of one refresh.

    Args:
        client: A bytes-mode client (from `services.redis_conn.connect`).
        page_size: Ids fetched per list or registry window.
        sweep_budget: Job keys the orphan sweep examines per refresh.
        lpos_limit: Longest queue on which a suspect id is checked with LPOS.
    """

    def __init__(
        self,
        client: redis.Redis,
        page_size: int = 50,
        sweep_budget: int = 500,
        lpos_limit: int = 20_000,
    ) -> None:
        self.client = client
        self.page_size = page_size
        self.sweep_budget = sweep_budget
        self.lpos_limit = lpos_limit
        self._cursor = 0
        self._suspects: dict[str, str] = {}
        self._scanned = 0
        self._fetch = client.register_script(_FETCH)
        self._sweep_script = client.register_script(_SWEEP)

    def queue_names(self, configured: Sequence[str]) -> list[str]:
        """Return the configured queues plus every queue named in `rq:queues`."""
        names = list(configured)
        for member in sorted(self.client.smembers("rq:queues")):
            name = _s(member).removeprefix(QUEUE)
            if name not in names:
                names.append(name)
        return names

    def read(self, queues: Sequence[str], offset: int) -> RawState:
        """Run every read of one refresh and return the raw results."""
        state = RawState()
        worker_keys = self._read_counts(state, queues)
        self._read_windows(state, queues, offset, worker_keys)
        self._read_jobs(state)
        self._sweep(state)
        return state

    def _read_counts(self, state: RawState, queues: Sequence[str]) -> set[str]:
        pipe = self.client.pipeline(transaction=False)
        for name in queues:
            pipe.llen(queue_key(name))
            pipe.llen(intermediate_key(name))
            for kind in REGISTRIES:
                pipe.zcard(registry_key(kind, name))
            pipe.smembers(f"rq:workers:{name}")
        pipe.smembers("rq:workers")
        pipe.exists(SUSPENDED)
        pipe.get(AMC_HEARTBEAT)
        pipe.get(AMC_LOCK)
        pipe.ttl(AMC_LOCK)
        pipe.get(AMC_STATUS)
        out = pipe.execute()

        worker_keys: set[str] = set()
        step = 2 + len(REGISTRIES) + 1
        for i, name in enumerate(queues):
            chunk = out[i * step : (i + 1) * step]
            state.counts[name] = {"queued": chunk[0], "intermediate": chunk[1]}
            state.counts[name].update(zip(COUNT_NAMES, chunk[2:-1], strict=True))
            worker_keys.update(_s(k) for k in chunk[-1])
        tail = out[len(queues) * step :]
        worker_keys.update(_s(k) for k in tail[0])
        state.suspended = bool(tail[1])
        state.heartbeat, state.lock, ttl, state.status = (
            tail[2],
            tail[3],
            tail[4],
            tail[5],
        )
        state.lock_ttl = ttl if ttl is not None and ttl >= 0 else None
        return worker_keys

    def _read_windows(
        self, state: RawState, queues: Sequence[str], offset: int, workers: set[str]
    ) -> None:
        size, end = self.page_size, offset + self.page_size - 1
        pipe = self.client.pipeline(transaction=False)
        for name in queues:
            pipe.lrange(queue_key(name), offset, end)
            pipe.lrange(intermediate_key(name), 0, size - 1)
            pipe.zrange(registry_key("wip", name), 0, size - 1, withscores=True)
            pipe.zrevrange(registry_key("failed", name), offset, end, withscores=True)
            pipe.zrevrange(registry_key("finished", name), 0, 19, withscores=True)
            for kind in ("deferred", "scheduled", "canceled"):
                pipe.zrange(registry_key(kind, name), 0, size - 1, withscores=True)
        ordered = sorted(workers)
        for key in ordered:
            pipe.hgetall(key)
        out = pipe.execute()

        per_queue = 8
        for i, name in enumerate(queues):
            self._add_windows(state, name, out[i * per_queue : (i + 1) * per_queue])
        for key, fields in zip(ordered, out[len(queues) * per_queue :], strict=True):
            state.workers[key.removeprefix(WORKER)] = fields

    def _add_windows(self, state: RawState, name: str, chunk: list[Any]) -> None:
        listings = state.listings
        listings += [Listing(_s(i), name, "queued") for i in chunk[0]]
        listings += [Listing(_s(i), name, "hand-off") for i in chunk[1]]
        kinds = ("started", "failed", "finished", "deferred", "scheduled", "canceled")
        for kind, window in zip(kinds, chunk[2:], strict=True):
            for member, score in window:
                entry = _s(member)
                listings.append(Listing(job_id_of(entry), name, kind, score, entry))

    def _read_jobs(self, state: RawState) -> None:
        ids = list(dict.fromkeys(item.job_id for item in state.listings))
        handoff = [item for item in state.listings if item.where == "hand-off"]
        pipe = self.client.pipeline(transaction=False)
        for part in range(0, len(ids), 500):
            self._fetch(args=ids[part : part + 500], client=pipe)
        for item in handoff:
            pipe.get(f"{intermediate_key(item.queue)}:first_seen:{item.job_id}")
        out = pipe.execute()

        blobs = [blob for chunk in out[: len(out) - len(handoff)] for blob in chunk]
        for job_id, blob in zip(ids, blobs, strict=True):
            fields = unpack_fields(blob)
            result = {
                name: fields.pop(key)
                for key, name in (
                    (RESULT_EXC, b"exc_string"),
                    (RESULT_VALUE, b"return_value"),
                )
                if key in fields
            }
            if result:
                state.results[job_id] = result
            state.jobs[job_id] = fields
        for item, seen in zip(handoff, out[len(out) - len(handoff) :], strict=True):
            if seen:
                state.first_seen[item.job_id] = float(seen)

    def _sweep(self, state: RawState) -> None:
        """Advance the server-side orphan sweep, then recheck known orphans."""
        if self.sweep_budget > 0:
            self._advance_sweep(state)
        self._confirm_suspects(state)

    def _advance_sweep(self, state: RawState) -> None:
        args = [self._cursor, self.sweep_budget, self.lpos_limit]
        cursor, scanned, *found = self._sweep_script(args=args)
        self._cursor = int(cursor)
        for job_id, origin in zip(found[::2], found[1::2], strict=True):
            self._suspects[_s(job_id)] = _s(origin)
        self._scanned += int(scanned)
        if self._cursor == 0:
            state.sweep_note = f"orphan sweep complete ({self._scanned} job keys)"
            self._scanned = 0
        else:
            state.sweep_note = f"orphan sweep in progress ({self._scanned} job keys)"

    def _confirm_suspects(self, state: RawState) -> None:
        listed = {(i.job_id, i.queue) for i in state.listings if i.where == "queued"}
        suspects = {k: v for k, v in self._suspects.items() if (k, v) not in listed}
        lengths = {q: c["queued"] + c["intermediate"] for q, c in state.counts.items()}
        pipe = self.client.pipeline(transaction=False)
        checked: list[tuple[str, str]] = []
        for job_id, origin in suspects.items():
            if lengths.get(origin, 0) > self.lpos_limit:
                # TODO: detect orphans on queues longer than lpos_limit without LPOS.
                continue
            checked.append((job_id, origin))
            pipe.hgetall(JOB + job_id)
            pipe.lpos(queue_key(origin), job_id)
            pipe.lpos(intermediate_key(origin), job_id)
        out = pipe.execute()
        self._suspects = {}
        for n, (job_id, origin) in enumerate(checked):
            fields, pos, hand = out[3 * n : 3 * n + 3]
            if (
                fields.get(b"status") != b"queued"
                or pos is not None
                or hand is not None
            ):
                continue
            self._suspects[job_id] = origin
            state.orphans.append((job_id, origin, fields))
