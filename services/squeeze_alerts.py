"""Squeeze alert state, shared through Redis by every console, or kept in memory.

Owns the alert lifecycle (new, acknowledged, snoozed until a time, cleared when
the symbol falls out) and the capped per-symbol history. An alert fires when a
symbol enters a level or moves above the highest level it reached since it last
fired; the Redis store decides that inside one Lua script, so two consoles
syncing the same detection at once fire it once. Blocking: call from threads.
Must not import Textual or compute scores.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import redis

from services.clock import Clock
from services.redis_conn import connect, describe_failure
from services.squeeze_detect import LEVEL_RANK

log = logging.getLogger(__name__)

HISTORY_CAP = 50
HISTORY_TTL_S = 30 * 86400
STATES = ("new", "acknowledged", "snoozed")


@dataclass(frozen=True)
class AlertInput:
    """One passing detection row handed to a store.

    Attributes:
        symbol: Ticker.
        level: EXTREME, HIGH, MEDIUM or LOW.
        pattern: E.g. SQUEEZE_HIGH.
        score: 0-1.
        row: Display values (JSON-able, None for unknown) stored with the alert.
    """

    symbol: str
    level: str
    pattern: str
    score: float
    row: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Alert:
    """An active alert as every console sees it.

    Attributes:
        symbol: Ticker.
        level: The current level.
        peak_level: The highest level since it fired (what fired last).
        pattern: The current pattern.
        score: 0-1.
        state: "new", "acknowledged" or "snoozed" (an expired snooze reads "new").
        first_seen: Epoch seconds when the symbol first entered a level.
        fired_at: Epoch seconds of the latest fire (entry or move up).
        snooze_until: Epoch seconds, or None.
        seq: Global fire counter value of the latest fire.
        row: Display values stored with the alert.
    """

    symbol: str
    level: str
    peak_level: str
    pattern: str
    score: float
    state: str
    first_seen: float
    fired_at: float
    snooze_until: float | None
    seq: int
    row: dict[str, Any]


@dataclass(frozen=True)
class HistoryEvent:
    """One entry of a symbol's alert history (newest first when listed)."""

    at: float
    event: str
    level: str
    score: float | None

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form."""
        return {
            "at": self.at,
            "event": self.event,
            "level": self.level,
            "score": self.score,
        }


class AlertBackend(Protocol):
    """What `SqueezeService` needs from a store (Redis or memory)."""

    def sync(self, rows: Sequence[AlertInput]) -> list[str]:
        """Upsert the passing rows, clear the rest; return the symbols fired."""

    def alerts(self) -> list[Alert]:
        """Return every active alert."""

    def set_state(self, symbol: str, state: str, until: float | None) -> bool:
        """Acknowledge or snooze; False when the symbol has no active alert."""

    def history(self, symbol: str) -> list[HistoryEvent]:
        """Return the symbol's history, newest first."""

    def last_seq(self) -> int:
        """Return the global fire counter."""


def effective_state(state: str, snooze_until: float | None, now: float) -> str:
    """Return the state to show: an expired snooze is "new" again."""
    if state == "snoozed" and (snooze_until is None or snooze_until <= now):
        return "new"
    return state


def clean_row(row: dict[str, Any]) -> dict[str, Any]:
    """Turn NaN and numpy scalars into JSON-able values (None for unknown)."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if hasattr(value, "item"):
            value = value.item()
        if isinstance(value, float) and not math.isfinite(value):
            value = None
        out[key] = value
    return out


# KEYS: active set, fire counter. ARGV: now, key prefix, history cap, history
# TTL, then six
# values per row (symbol, rank, level, pattern, score, row json). Alert and
# history keys are derived from the prefix, so this needs a single-node Redis.
_SYNC = """
local now, prefix, cap = ARGV[1], ARGV[2], tonumber(ARGV[3])
local ttl = tonumber(ARGV[4])
local fired, present = {}, {}
local function remember(sym, event, level, score)
  local hist = prefix .. ':history:' .. sym
  redis.call('LPUSH', hist, cjson.encode({at=tonumber(now), event=event,
    level=level, score=tonumber(score)}))
  redis.call('LTRIM', hist, 0, cap - 1)
  redis.call('EXPIRE', hist, ttl)
end
for i = 5, #ARGV, 6 do
  local sym, rank, level = ARGV[i], tonumber(ARGV[i+1]), ARGV[i+2]
  local pattern, score, row = ARGV[i+3], ARGV[i+4], ARGV[i+5]
  present[sym] = true
  local key = prefix .. ':alert:' .. sym
  local peak = tonumber(redis.call('HGET', key, 'peak_rank') or '0')
  redis.call('HSET', key, 'symbol', sym, 'level', level, 'pattern', pattern,
    'score', score, 'row', row, 'updated_at', now)
  if rank > peak then
    local seq = redis.call('INCR', KEYS[2])
    redis.call('HSET', key, 'peak_rank', rank, 'peak_level', level,
      'state', 'new', 'fired_at', now, 'seq', seq, 'snooze_until', '')
    if peak == 0 then redis.call('HSET', key, 'first_seen', now) end
    redis.call('SADD', KEYS[1], sym)
    remember(sym, peak == 0 and 'fired' or 'upgraded', level, score)
    fired[#fired + 1] = sym
  end
end
for _, sym in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if not present[sym] then
    local key = prefix .. ':alert:' .. sym
    local level = redis.call('HGET', key, 'level') or ''
    redis.call('DEL', key)
    redis.call('SREM', KEYS[1], sym)
    remember(sym, 'cleared', level, '')
  end
end
return fired
"""

# KEYS: alert hash, history list. ARGV: state, until, now, cap, event, TTL.
_SET_STATE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'state', ARGV[1], 'snooze_until', ARGV[2])
local level = redis.call('HGET', KEYS[1], 'level') or ''
redis.call('LPUSH', KEYS[2], cjson.encode({at=tonumber(ARGV[3]), event=ARGV[5],
  level=level}))
redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[4]) - 1)
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[6]))
return 1
"""


class AlertStore:
    """Alert state in Redis, shared by every console and kept across restarts.

    Keys: `<prefix>:alert:<SYM>` (hash), `<prefix>:active` (set of symbols),
    `<prefix>:history:<SYM>` (capped list of JSON events), `<prefix>:seq`
    (fire counter).

    Args:
        redis_url: Redis URL; the client is bytes-mode with socket timeouts.
        clock: Time source for every stamp.
        key_prefix: Namespace of every key.
        history_cap: Events kept per symbol.
        history_ttl_s: A symbol's history expires this long after its last
            event, so symbols that never return do not pile up.

    Raises:
        RedisUnavailable: from every method when Redis fails.
    """

    def __init__(
        self,
        redis_url: str,
        clock: Clock,
        key_prefix: str = "amctui:squeeze",
        history_cap: int = HISTORY_CAP,
        history_ttl_s: int = HISTORY_TTL_S,
    ) -> None:
        self._url = redis_url
        self._client = connect(redis_url)
        self._clock = clock
        self._prefix = key_prefix
        self._cap = history_cap
        self._ttl = history_ttl_s
        self._sync = self._client.register_script(_SYNC)
        self._set_state = self._client.register_script(_SET_STATE)

    def close(self) -> None:
        """Close the Redis connection pool."""
        self._client.close()

    def _key(self, kind: str, symbol: str = "") -> str:
        return f"{self._prefix}:{kind}:{symbol}" if symbol else f"{self._prefix}:{kind}"

    def sync(self, rows: Sequence[AlertInput]) -> list[str]:
        """Upsert the passing rows and clear alerts whose symbol fell out.

        Returns:
            The symbols that fired (entered a level or moved up) in this call.
        """
        args: list[Any] = [self._clock.now(), self._prefix, self._cap, self._ttl]
        for row in rows:
            args += [
                row.symbol,
                LEVEL_RANK[row.level],
                row.level,
                row.pattern,
                repr(float(row.score)),
                json.dumps(clean_row(row.row)),
            ]
        keys = [self._key("active"), self._key("seq")]
        fired = self._call(lambda: self._sync(keys=keys, args=args))
        return [_text(s) for s in fired]

    def alerts(self) -> list[Alert]:
        """Return every active alert (one pipelined round trip for the hashes)."""
        symbols = sorted(
            _text(s)
            for s in self._call(lambda: self._client.smembers(self._key("active")))
        )
        pipe = self._client.pipeline(transaction=False)
        for symbol in symbols:
            pipe.hgetall(self._key("alert", symbol))
        hashes = self._call(pipe.execute) if symbols else []
        return [_alert(h) for h in hashes if h]

    def set_state(self, symbol: str, state: str, until: float | None) -> bool:
        """Set "acknowledged" or "snoozed" (with `until`); False if no alert."""
        args: list[str | float | int] = [
            state,
            "" if until is None else repr(until),
            self._clock.now(),
            self._cap,
            state,
            self._ttl,
        ]
        keys = [self._key("alert", symbol), self._key("history", symbol)]
        return bool(self._call(lambda: self._set_state(keys=keys, args=args)))

    def history(self, symbol: str) -> list[HistoryEvent]:
        """Return the symbol's history, newest first."""
        raw = self._call(
            lambda: self._client.lrange(self._key("history", symbol), 0, -1)
        )
        return [_event(json.loads(item)) for item in raw]

    def last_seq(self) -> int:
        """Return the global fire counter (0 before the first fire)."""
        value = self._call(lambda: self._client.get(self._key("seq")))
        return int(value or 0)

    def _call(self, fn: Any) -> Any:
        """Run one Redis call, translating its failures."""
        try:
            return fn()
        except redis.RedisError as exc:
            log.warning("squeeze alert store: %s", type(exc).__name__)
            raise describe_failure(exc, self._url) from None


class MemoryAlertStore:
    """The same lifecycle as `AlertStore`, held in this process only.

    Used when no Redis URL is configured: alerts are then neither shared with
    other consoles nor kept across restarts.
    """

    def __init__(self, clock: Clock, history_cap: int = HISTORY_CAP) -> None:
        self._clock = clock
        self._cap = history_cap
        self._lock = threading.Lock()
        self._alerts: dict[str, dict[str, Any]] = {}
        self._history: dict[str, list[HistoryEvent]] = {}
        self._seq = 0

    def sync(self, rows: Sequence[AlertInput]) -> list[str]:
        """Upsert the passing rows and clear the rest (see `AlertStore.sync`)."""
        now = self._clock.now()
        with self._lock:
            fired = [row.symbol for row in rows if self._upsert(row, now)]
            present = {row.symbol for row in rows}
            for symbol in sorted(set(self._alerts) - present):
                level = self._alerts.pop(symbol)["level"]
                self._remember(symbol, HistoryEvent(now, "cleared", level, None))
        return fired

    def _upsert(self, row: AlertInput, now: float) -> bool:
        record = self._alerts.setdefault(row.symbol, {"peak_rank": 0})
        record.update(
            symbol=row.symbol,
            level=row.level,
            pattern=row.pattern,
            score=float(row.score),
            row=clean_row(row.row),
        )
        peak = record["peak_rank"]
        if LEVEL_RANK[row.level] <= peak:
            return False
        self._seq += 1
        record.update(
            peak_rank=LEVEL_RANK[row.level],
            peak_level=row.level,
            state="new",
            fired_at=now,
            seq=self._seq,
            snooze_until=None,
        )
        record.setdefault("first_seen", now)
        event = "fired" if peak == 0 else "upgraded"
        self._remember(row.symbol, HistoryEvent(now, event, row.level, row.score))
        return True

    def _remember(self, symbol: str, event: HistoryEvent) -> None:
        events = self._history.setdefault(symbol, [])
        events.insert(0, event)
        del events[self._cap :]

    def alerts(self) -> list[Alert]:
        """Return every active alert."""
        with self._lock:
            records = [dict(r) for r in self._alerts.values()]
        return [_alert_from_record(r) for r in records]

    def set_state(self, symbol: str, state: str, until: float | None) -> bool:
        """Set "acknowledged" or "snoozed" (with `until`); False if no alert."""
        with self._lock:
            record = self._alerts.get(symbol)
            if record is None:
                return False
            record.update(state=state, snooze_until=until)
            event = HistoryEvent(self._clock.now(), state, record["level"], None)
            self._remember(symbol, event)
        return True

    def history(self, symbol: str) -> list[HistoryEvent]:
        """Return the symbol's history, newest first."""
        with self._lock:
            return list(self._history.get(symbol, []))

    def last_seq(self) -> int:
        """Return the fire counter."""
        with self._lock:
            return self._seq


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _alert(raw: dict[bytes, bytes]) -> Alert:
    """Build an `Alert` from a Redis hash."""
    h = {_text(k): _text(v) for k, v in raw.items()}
    until = h.get("snooze_until") or ""
    return Alert(
        symbol=h["symbol"],
        level=h["level"],
        peak_level=h.get("peak_level", h["level"]),
        pattern=h.get("pattern", ""),
        score=float(h.get("score", "nan")),
        state=h.get("state", "new"),
        first_seen=float(h.get("first_seen", 0)),
        fired_at=float(h.get("fired_at", 0)),
        snooze_until=float(until) if until else None,
        seq=int(h.get("seq", 0)),
        row=json.loads(h.get("row") or "{}"),
    )


def _alert_from_record(r: dict[str, Any]) -> Alert:
    """Build an `Alert` from a memory-store record."""
    return Alert(
        symbol=r["symbol"],
        level=r["level"],
        peak_level=r["peak_level"],
        pattern=r["pattern"],
        score=r["score"],
        state=r["state"],
        first_seen=r["first_seen"],
        fired_at=r["fired_at"],
        snooze_until=r["snooze_until"],
        seq=r["seq"],
        row=r["row"],
    )


def _event(data: dict[str, Any]) -> HistoryEvent:
    score = data.get("score")
    return HistoryEvent(
        float(data.get("at", 0)),
        str(data.get("event", "")),
        str(data.get("level", "")),
        float(score) if isinstance(score, int | float) else None,
    )
