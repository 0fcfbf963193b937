"""Server-side scripts for the queue actions, applied in chunks of ids.

Each script moves one job at a time atomically (no id is ever half-moved) and
carries on past missing jobs, returning what it did per id. Written against
rq's key layout from 1.15 to 3.x; scripts touch keys they derive from job
origins, so they need a single (non-cluster) Redis. Blocking: call from a thread.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import redis

CHUNK = 1000

# Shared Lua helper: drop every started-registry entry of a job ("id" on rq 1.x,
# "id:execution" on rq 2+).
_DROP_STARTED = """
local function drop_started(origin, id)
  local wip = 'rq:wip:' .. origin
  local removed = 0
  for _, m in ipairs(redis.call('ZRANGE', wip, 0, -1)) do
    if m == id or string.sub(m, 1, #id + 1) == id .. ':' then
      removed = removed + redis.call('ZREM', wip, m)
    end
  end
  return removed
end
"""

_REQUEUE = (
    _DROP_STARTED
    + """
local now = ARGV[1]
local out = {}
for i = 2, #ARGV do
  local id = ARGV[i]
  local jk = 'rq:job:' .. id
  local f = redis.call('HMGET', jk, 'status', 'origin')
  local status, origin = f[1], f[2]
  local verdict = 'requeued'
  if not origin then
    verdict = 'missing'
  elseif status == 'finished' or status == 'deferred' or status == 'scheduled' then
    verdict = 'skipped'
  else
    local q = 'rq:queue:' .. origin
    local hand = q .. ':intermediate'
    if status == 'queued' and redis.call('LPOS', q, id) then
      verdict = 'already queued'
    else
      redis.call('LREM', hand, 0, id)
      redis.call('ZREM', 'rq:failed:' .. origin, id)
      redis.call('ZREM', 'rq:canceled:' .. origin, id)
      if status == 'started' then drop_started(origin, id) end
      redis.call('HSET', jk, 'status', 'queued', 'enqueued_at', now)
      redis.call('HDEL', jk, 'started_at', 'ended_at', 'exc_info', 'worker_name')
      redis.call('PERSIST', jk)
      redis.call('RPUSH', q, id)
      redis.call('SADD', 'rq:queues', q)
    end
  end
  out[#out + 1] = verdict
end
return out
"""
)

_CANCEL = """
local score = ARGV[1]
local out = {}
for i = 2, #ARGV do
  local id = ARGV[i]
  local jk = 'rq:job:' .. id
  local f = redis.call('HMGET', jk, 'status', 'origin')
  local status, origin = f[1], f[2]
  local verdict = 'canceled'
  if not origin then
    verdict = 'missing'
  elseif status == 'started' then
    verdict = 'running (stop it first)'
  elseif status == 'canceled' or status == 'finished' then
    verdict = 'skipped'
  else
    local q = 'rq:queue:' .. origin
    redis.call('LREM', q, 0, id)
    redis.call('LREM', q .. ':intermediate', 0, id)
    for _, kind in ipairs({'deferred', 'scheduled', 'failed'}) do
      redis.call('ZREM', 'rq:' .. kind .. ':' .. origin, id)
    end
    redis.call('ZADD', 'rq:canceled:' .. origin, score, id)
    redis.call('HSET', jk, 'status', 'canceled')
  end
  out[#out + 1] = verdict
end
return out
"""

_DELETE = (
    _DROP_STARTED
    + """
local function delete_one(id, hint)
  local jk = 'rq:job:' .. id
  local origin = redis.call('HGET', jk, 'origin') or hint
  local removed = redis.call('DEL', jk)
  if origin and origin ~= '' then
    local q = 'rq:queue:' .. origin
    removed = removed + redis.call('LREM', q, 0, id)
    removed = removed + redis.call('LREM', q .. ':intermediate', 0, id)
    local kinds = {'failed', 'finished', 'deferred', 'scheduled', 'canceled'}
    for _, kind in ipairs(kinds) do
      removed = removed + redis.call('ZREM', 'rq:' .. kind .. ':' .. origin, id)
    end
    removed = removed + drop_started(origin, id)
  end
  redis.call('DEL', 'rq:results:' .. id, 'rq:executions:' .. id, jk .. ':dependents')
  return removed > 0 and 'deleted' or 'missing'
end

local out = {}
for i = 1, #ARGV, 2 do
  local id, hint = ARGV[i], ARGV[i + 1]
  if redis.call('HGET', 'rq:job:' .. id, 'status') == 'started' then
    out[#out + 1] = 'running (stop or requeue it first)'
  else
    out[#out + 1] = delete_one(id, hint)
  end
end
return out
"""
)

_DROP_STARTED_ONLY = (
    _DROP_STARTED
    + """
return drop_started(ARGV[1], ARGV[2])
"""
)

_CLEAR_LOCK = """
local value = redis.call('GET', KEYS[1])
if not value then return 0 end
if ARGV[1] ~= '' and value ~= ARGV[1] then return -1 end
return redis.call('DEL', KEYS[1])
"""


@dataclass
class Tally:
    """What a bulk action did, per verdict ("requeued", "missing", ...)."""

    ids: dict[str, list[str]] = field(default_factory=dict)

    def add(self, verdict: str, job_id: str) -> None:
        """Record one id's verdict."""
        self.ids.setdefault(verdict, []).append(job_id)

    def count(self, verdict: str) -> int:
        """Return how many ids got `verdict`."""
        return len(self.ids.get(verdict, ()))

    def message(self, primary: str) -> str:
        """Return e.g. "4 requeued, 1 missing" (the primary verdict first)."""
        order = [primary] + sorted(v for v in self.ids if v != primary)
        parts = [
            f"{self.count(v):,} {v}" for v in order if self.count(v) or v == primary
        ]
        return ", ".join(parts)


def chunks(items: Sequence[str], size: int = CHUNK) -> Iterator[Sequence[str]]:
    """Yield `items` in slices of `size`."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Scripts:
    """The registered action scripts of one client."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self.requeue = client.register_script(_REQUEUE)
        self.cancel = client.register_script(_CANCEL)
        self.delete = client.register_script(_DELETE)
        self.drop_started = client.register_script(_DROP_STARTED_ONLY)
        self.clear_lock = client.register_script(_CLEAR_LOCK)

    def run_requeue(self, ids: Sequence[str], now_text: str) -> Tally:
        """Requeue `ids`, pipelining one script call per chunk."""
        return self._bulk(self.requeue, ids, [now_text])

    def run_cancel(self, ids: Sequence[str], score: float) -> Tally:
        """Cancel `ids` (kept in the canceled registry until `score`)."""
        return self._bulk(self.cancel, ids, [repr(score)])

    def run_delete(self, pairs: Iterable[tuple[str, str]]) -> Tally:
        """Delete (job id, queue hint) pairs and every trace of them."""
        flat = [x for pair in pairs for x in pair]
        tally = Tally()
        for part in chunks(flat, 2 * CHUNK):
            for job_id, verdict in zip(
                part[::2], self.delete(args=list(part)), strict=True
            ):
                tally.add(_s(verdict), job_id)
        return tally

    def _bulk(self, script: object, ids: Sequence[str], head: list[str]) -> Tally:
        pipe = self.client.pipeline(transaction=False)
        parts = list(chunks(list(dict.fromkeys(ids))))
        for part in parts:
            script(args=[*head, *part], client=pipe)  # type: ignore[operator]
        tally = Tally()
        for part, verdicts in zip(parts, pipe.execute(), strict=True):
            for job_id, verdict in zip(part, verdicts, strict=True):
                tally.add(_s(verdict), job_id)
        return tally


def _s(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw
