"""The individual health checks: Redis, RQ workers, queue SLA, discovery cache,
Polygon and Alpaca, plus the reading of the AMC API's `/health` and `/_routes`.

Each check is a blocking function returning a `Check`; it only reads (Redis read
commands, GETs) and never raises for a bad answer: the answer becomes the
status. Callers run them in threads and bound them with a deadline.
"""

from __future__ import annotations

import json
import logging
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast

import httpx
import redis

from services.amc_api import ApiResult, snippet
from services.clock import format_age
from services.rq_codec import parse_time as rq_time
from services.rq_codec import text

log = logging.getLogger(__name__)

Status = Literal["ok", "warn", "fail", "unknown"]

AMC_HEARTBEAT = "amc:discovery:worker:heartbeat"
CACHE_KEY = "amc:discovery:candidates:v2"
CACHE_TTL_S = 600.0
JOB_TIMEOUT_S = 900.0
COMPLETION_TARGET_S = 60.0
RECENT_FINISHED = 10
EVICTING_WARN_RATIO = 0.9
SLOW_PING_MS = 250.0
IDLE_DEAD_S = 600.0
BUSY_DEAD_S = 120.0
FAKE_ENGINE_WORDS = ("demo", "fallback", "emergency")

# Routes the console reads; without them a pane cannot work.
REQUIRED_ROUTES = (
    "/health",
    "/_routes",
    "/discovery/contenders/last",
    "/discovery/status",
    "/discovery/trigger",
    "/portfolio/holdings",
)
# Routes the console would use when mounted; the first six are the ones the
# 2025-09-12 report found answering 404 (contract §2.6).
OPTIONAL_ROUTES = (
    "/discovery/test",
    "/discovery/strategy-validation",
    "/discovery/calibration/status",
    "/discovery/direct",
    "/squeeze/alerts",
    "/trades/portfolio",
    "/discovery/health",
    "/discovery/cache/peek",
    "/discovery/squeeze-candidates",
    "/discovery/emergency/worker-health",
)
IGNORED_ROUTES = frozenset(
    {"/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect"}
)


@dataclass(frozen=True)
class Check:
    """What one check found.

    Attributes:
        status: "ok", "warn", "fail" or "unknown" (not configured, or not
            checkable because something it depends on is down).
        detail: One line for the table.
        evidence: Supporting facts (ids, ages, counts) for the detail view.
        missing_routes: Only for the AMC API: console routes not mounted.
    """

    status: Status
    detail: str
    evidence: tuple[str, ...] = ()
    missing_routes: tuple[str, ...] = field(default=())


def _text(raw: bytes | str | None) -> str | None:
    return text(raw) if raw is not None else None


def parse_time(raw: bytes | str | None) -> float | None:
    """Parse an RQ timestamp (ISO, "Z" or naive UTC) or epoch seconds."""
    value = text(raw).strip()
    try:
        return float(value) if value else None
    except ValueError:
        return rq_time(value.encode())


# ---------------------------------------------------------------- AMC API


def api_health_check(health: ApiResult) -> Check:
    """Read `/health`: 200 is ok, a 503 health body means degraded (warn)."""
    components = health.value("components", {})
    if not isinstance(components, dict):
        components = {}
    broken = sorted(
        name
        for name, part in components.items()
        if isinstance(part, dict) and part.get("ok") is False
    )
    evidence = [
        f"HTTP {health.status}, status {health.value('status')!r}",
        f"commit {health.value('commit', '?')}, build {health.value('build', '?')}, "
        f"env {health.headers.get('x-amc-env', '?')}",
    ]
    env = components.get("env")
    missing_env = env.get("missing") if isinstance(env, dict) else None
    if isinstance(missing_env, list) and missing_env:
        evidence.append("env missing: " + ", ".join(str(m) for m in missing_env))
    if health.value("status") not in ("healthy", "degraded", "error"):
        # Not the AMC health shape: a proxy, a login page or another service.
        return Check("warn", "/health answered without an AMC status", tuple(evidence))
    if health.status == 200 and not broken:
        return Check("ok", f"healthy ({health.elapsed_ms:.0f} ms)", tuple(evidence))
    what = ", ".join(broken) or "no component detail"
    return Check("warn", f"degraded: {what} not ok", tuple(evidence))


def missing_routes(mounted: Iterable[str]) -> tuple[str, ...]:
    """Return the console's routes (required first) that are not mounted."""
    paths = {p.rstrip("/") or "/" for p in mounted} - IGNORED_ROUTES
    wanted = REQUIRED_ROUTES + OPTIONAL_ROUTES
    return tuple(route for route in wanted if route not in paths)


def with_routes(check: Check, missing: Sequence[str]) -> Check:
    """Fold the missing routes into the API check (required ones warn)."""
    required = [r for r in missing if r in REQUIRED_ROUTES]
    evidence = [*check.evidence]
    if missing:
        evidence.append("not mounted (404): " + ", ".join(missing))
    status: Status = check.status
    detail = check.detail
    if required:
        status = "warn" if status == "ok" else status
        detail += f"; required routes missing: {', '.join(required)}"
    elif missing:
        detail += f"; {len(missing)} optional routes missing"
    return Check(status, detail, tuple(evidence), tuple(missing))


# ---------------------------------------------------------------- Redis


def redis_check(client: redis.Redis, ping_ms: float) -> Check:
    """Memory use, eviction policy and evictions (evicting Redis loses jobs)."""
    memory = client.info("memory")
    stats = client.info("stats")
    used = int(memory.get("used_memory", 0))
    limit = int(memory.get("maxmemory", 0))
    policy = str(memory.get("maxmemory_policy", "?"))
    evicted = int(stats.get("evicted_keys", 0))
    detail = f"ping {ping_ms:.1f} ms · {_size(used)} used · policy {policy}"
    evidence = [f"maxmemory {_size(limit) if limit else 'unlimited'}"]
    problems = _redis_problems(used, limit, policy, evicted, ping_ms)
    if problems:
        return Check("warn", "; ".join(problems), (detail, *evidence))
    return Check("ok", detail, tuple(evidence))


def _redis_problems(
    used: int, limit: int, policy: str, evicted: int, ping_ms: float
) -> list[str]:
    problems = []
    # With maxmemory 0 nothing is ever evicted, whatever the policy says.
    if limit and policy != "noeviction":
        problems.append(
            f"maxmemory-policy {policy} evicts keys: queued jobs can be lost"
        )
    if limit and used >= EVICTING_WARN_RATIO * limit:
        problems.append(f"memory {used / limit:.0%} of maxmemory")
    if evicted:
        problems.append(f"{evicted} keys already evicted")
    if ping_ms > SLOW_PING_MS:
        problems.append(f"slow ping {ping_ms:.0f} ms")
    return problems


def _size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


# ---------------------------------------------------------------- Workers


def queue_names(client: redis.Redis, configured: Sequence[str]) -> list[str]:
    """Return the configured queues first, then any other queue RQ knows."""
    names = list(dict.fromkeys(configured))
    for raw in sorted(client.smembers("rq:queues")):
        name = (_text(raw) or "").removeprefix("rq:queue:")
        if name and name not in names:
            names.append(name)
    return names


@dataclass(frozen=True)
class WorkerInfo:
    """One name listed in `rq:workers:<queue>`."""

    name: str
    alive: bool
    state: str
    heartbeat_age_s: float | None


def read_workers(client: redis.Redis, queue: str, now: float) -> list[WorkerInfo]:
    """Workers registered on `queue`; alive means a complete hash still exists."""
    # RQ stores full keys ("rq:worker:<name>") in these sets.
    members = client.smembers(f"rq:workers:{queue}")
    names = sorted((_text(m) or "").removeprefix("rq:worker:") for m in members)
    pipe = client.pipeline(transaction=False)
    for name in names:
        pipe.exists(f"rq:worker:{name}")
        pipe.hmget(f"rq:worker:{name}", "state", "last_heartbeat")
    replies = pipe.execute()
    workers = []
    for i, name in enumerate(names):
        exists, (state, beat) = replies[2 * i], replies[2 * i + 1]
        beat_at = parse_time(beat)
        age = None if beat_at is None else now - beat_at
        label = _text(state) or ("incomplete record" if exists else "gone")
        alive = bool(exists) and state is not None and not _silent(label, age)
        workers.append(WorkerInfo(name, alive, label, age))
    return workers


def _silent(state: str, age: float | None) -> bool:
    """True when a worker's own heartbeat is too old even for its state."""
    if age is None:
        return False
    # Idle RQ workers refresh last_heartbeat only every ~405 s (contract §11).
    limit = BUSY_DEAD_S if state == "busy" else IDLE_DEAD_S
    return age > limit


def workers_check(
    client: redis.Redis, queues: Sequence[str], now: float, stale_s: float
) -> Check:
    """Live workers per queue and the AMC heartbeat (alive if younger than stale_s)."""
    main = queues[0]
    beat_at = parse_time(client.get(AMC_HEARTBEAT))
    beat_age = None if beat_at is None else now - beat_at
    evidence = [_heartbeat_line(beat_age, stale_s)]
    live_main, queued_main, others_unserved = 0, 0, []
    for queue in queues:
        workers = read_workers(client, queue, now)
        live = [w for w in workers if w.alive]
        queued = int(client.llen(f"rq:queue:{queue}"))
        evidence.extend(_worker_lines(queue, workers, queued))
        if queue == main:
            live_main, queued_main = len(live), queued
        elif queued and not live:
            others_unserved.append(f"{queue} ({queued} queued)")
    beat_fresh = beat_age is not None and beat_age < stale_s
    return _workers_verdict(
        main, live_main, queued_main, beat_fresh, beat_age, others_unserved, evidence
    )


def _heartbeat_line(age: float | None, stale_s: float) -> str:
    if age is None:
        return f"AMC heartbeat {AMC_HEARTBEAT}: absent"
    state = "alive" if age < stale_s else "STALE"
    return f"AMC heartbeat: {format_age(age)} old ({state}; limit {stale_s:.0f} s)"


def _worker_lines(queue: str, workers: list[WorkerInfo], queued: int) -> list[str]:
    live = sum(w.alive for w in workers)
    lines = [f"queue {queue}: {queued} queued, {live} live worker(s)"]
    for w in workers:
        if w.state == "gone":
            lines.append(f"  {w.name}: registered but its hash is gone (dead)")
            continue
        if w.state == "incomplete record":
            lines.append(f"  {w.name}: stale/incomplete worker record")
            continue
        if not w.alive:
            lines.append(
                f"  {w.name}: {w.state}, presumed dead (no heartbeat for "
                f"{format_age(w.heartbeat_age_s)})"
            )
            continue
        lines.append(
            f"  {w.name}: {w.state}, last_heartbeat {format_age(w.heartbeat_age_s)}"
        )
    return lines


def _workers_verdict(
    main: str,
    live: int,
    queued: int,
    beat_fresh: bool,
    beat_age: float | None,
    others_unserved: list[str],
    evidence: list[str],
) -> Check:
    beat = "absent" if beat_age is None else f"{format_age(beat_age)} old"
    ev = tuple(evidence)
    if not live and not beat_fresh and queued:
        detail = f"no live worker on {main}; {queued} jobs queued; heartbeat {beat}"
        return Check("fail", detail, ev)
    if not live and not beat_fresh:
        return Check("warn", f"no live worker on {main}; heartbeat {beat}", ev)
    if not live:
        detail = f"heartbeat fresh ({beat}) but no RQ worker registered on {main}"
        return Check("warn", detail, ev)
    if others_unserved:
        detail = f"{live} live on {main}; no worker for " + ", ".join(others_unserved)
        return Check("warn", detail, ev)
    return Check("ok", f"{live} live worker(s) on {main}; heartbeat {beat}", ev)


# ---------------------------------------------------------------- Queue SLA


def queue_sla_check(
    client: redis.Redis, queues: Sequence[str], now: float, wait_sla_s: float
) -> Check:
    """Oldest queued job age against the wait SLA; recent run times against 60 s."""
    evidence: list[str] = []
    worst: tuple[float, str, str] | None = None
    durations: list[float] = []
    for queue in queues:
        oldest = _oldest_queued(client, queue, now)
        if oldest is not None:
            evidence.append(
                f"{queue}: oldest queued {oldest[1]} {format_age(oldest[0])}"
            )
            if worst is None or oldest[0] > worst[0]:
                worst = (oldest[0], oldest[1], queue)
        durations.extend(_recent_durations(client, queue))
    return _sla_verdict(worst, durations, wait_sla_s, evidence)


def _oldest_queued(
    client: redis.Redis, queue: str, now: float
) -> tuple[float, str] | None:
    head = client.lindex(f"rq:queue:{queue}", 0)
    if head is None:
        return None
    job_id = _text(head) or "?"
    enqueued, created = client.hmget(f"rq:job:{job_id}", "enqueued_at", "created_at")
    at = parse_time(enqueued) or parse_time(created)
    if at is None:
        return None
    return now - at, job_id


def _recent_durations(client: redis.Redis, queue: str) -> list[float]:
    # Scores are expiry times (end + result TTL): the highest are the newest.
    entries = client.zrevrange(f"rq:finished:{queue}", 0, RECENT_FINISHED - 1)
    pipe = client.pipeline(transaction=False)
    for entry in entries:
        job_id = (_text(cast(bytes, entry)) or "").split(":", 1)[0]
        pipe.hmget(f"rq:job:{job_id}", "started_at", "ended_at")
    durations = []
    for started, ended in pipe.execute() if entries else []:
        begin, end = parse_time(started), parse_time(ended)
        if begin is not None and end is not None and end >= begin:
            durations.append(end - begin)
    return durations


def _sla_verdict(
    worst: tuple[float, str, str] | None,
    durations: list[float],
    wait_sla_s: float,
    evidence: list[str],
) -> Check:
    parts: list[str] = []
    status: Status = "ok"
    if worst is None:
        parts.append("no job waiting")
    else:
        age, job_id, queue = worst
        parts.append(
            f"oldest queued {job_id} on {queue} waited {format_age(age)} "
            f"(SLA {format_age(wait_sla_s)})"
        )
        if age > JOB_TIMEOUT_S:
            status = "fail"
        elif age > wait_sla_s:
            status = "warn"
    if durations:
        median = statistics.median(durations)
        parts.append(f"median run {median:.0f} s over {len(durations)} recent jobs")
        evidence.append(
            "recent run times: " + ", ".join(f"{d:.0f}s" for d in durations)
        )
        if median > COMPLETION_TARGET_S and status == "ok":
            status = "warn"
            parts[-1] += f" (target {COMPLETION_TARGET_S:.0f} s)"
    return Check(status, "; ".join(parts), tuple(evidence))


# ---------------------------------------------------------------- Discovery


def discovery_check(client: redis.Redis, now: float, flag_fake: bool = True) -> Check:
    """Age of the cached envelope against its TTL, engine flags, empty lists."""
    value, ttl = client.get(CACHE_KEY), client.ttl(CACHE_KEY)
    if value is None:
        return Check(
            "warn",
            "no cached candidates (expired or never written)",
            (f"{CACHE_KEY} is absent",),
        )
    raw = value if isinstance(value, bytes) else str(value).encode()
    try:
        envelope = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return Check(
            "fail",
            f"cache corrupted (invalid UTF-8 at byte {exc.start})",
            (snippet(raw[max(0, exc.start - 20) : exc.start + 20]),),
        )
    except ValueError:
        return Check("fail", "cache corrupted (not JSON)", (snippet(raw),))
    if not isinstance(envelope, dict):
        return Check("fail", "cache corrupted (not an object)", (snippet(raw),))
    return envelope_check(envelope, now, ttl, flag_fake)


def envelope_age(
    envelope: Mapping[str, Any], now: float, ttl: int | None
) -> float | None:
    """Age from the envelope's timestamp, else inferred from the key's TTL."""
    at = envelope.get("timestamp")
    stamp = parse_time(str(at)) if at is not None else None
    stamp = stamp or parse_time(envelope.get("iso_timestamp"))
    if stamp is not None:
        return now - stamp
    if ttl is not None and ttl > 0:
        return CACHE_TTL_S - ttl
    return None


def envelope_check(
    envelope: Mapping[str, Any], now: float, ttl: int | None, flag_fake: bool = True
) -> Check:
    """Judge a parsed cache envelope (see `discovery_check`)."""
    age = envelope_age(envelope, now, ttl)
    engine = str(envelope.get("engine") or "?")
    items = envelope.get("candidates")
    count = envelope.get("count")
    shown = len(items) if isinstance(items, list) else 0
    evidence = [
        f"engine {engine}",
        f"job_id {envelope.get('job_id', '?')}",
        f"count {count}, candidates listed {shown}",
        f"key TTL {ttl} s",
    ]
    problems = _envelope_problems(engine, age, count, items, flag_fake)
    summary = f"{format_age(age)} old · {shown} candidates · {engine}"
    if problems:
        return Check("warn", "; ".join(problems), (summary, *evidence))
    return Check("ok", summary, tuple(evidence))


def _envelope_problems(
    engine: str, age: float | None, count: Any, items: Any, flag_fake: bool
) -> list[str]:
    problems = []
    if age is not None and age > CACHE_TTL_S:
        problems.append(f"stale: {format_age(age)} old (TTL {CACHE_TTL_S:.0f} s)")
    flags = [w for w in FAKE_ENGINE_WORDS if w in engine.lower()]
    if flag_fake and flags:
        problems.append(f"engine {engine!r} is {'/'.join(flags)} data, not a real scan")
    if isinstance(count, int) and count > 0 and items == []:
        problems.append(f"count {count} but the candidate list is empty")
    return problems


# ---------------------------------------------------------------- Polygon / Alpaca

Probe = Callable[[], Check]


class HttpProbe:
    """A cheap authenticated GET, judged into a `Check`; thread-safe, reusable.

    One `httpx.Client` is kept for the probe's life: building one per call
    costs about 100 ms (TLS context). Credentials travel in headers only.

    Args:
        url: The endpoint to call.
        headers: Authentication headers (never logged or shown).
        timeout_s: Connect and read timeout.
        summarise: Turns the JSON answer into the detail line.
        auth_hint: Appended to "credentials rejected" (e.g. the environment).
    """

    def __init__(
        self,
        url: str,
        headers: Mapping[str, str],
        timeout_s: float,
        summarise: Callable[[Any], str],
        auth_hint: str = "",
    ) -> None:
        self.url = url
        self._summarise = summarise
        self._auth_hint = auth_hint
        self._timeout_s = timeout_s
        self._client = httpx.Client(
            timeout=timeout_s, headers=dict(headers), trust_env=False
        )

    def __call__(self) -> Check:
        """Call the endpoint once and judge the answer."""
        try:
            response = self._client.get(self.url)
        except httpx.TimeoutException:
            return Check("fail", f"no answer within {self._timeout_s:g} s", (self.url,))
        except httpx.HTTPError as exc:
            return Check("fail", f"unreachable ({type(exc).__name__})", (self.url,))
        evidence = (self.url, *rate_limit_lines(response.headers))
        return _probe_verdict(response, self._summarise, evidence, self._auth_hint)

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()


def _reply_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return snippet(response.content)
    if isinstance(body, dict):
        message = body.get("message") or body.get("error")
        if message:
            return snippet(str(message))
    return snippet(response.content)


def _probe_verdict(
    response: httpx.Response,
    summarise: Callable[[Any], str],
    evidence: tuple[str, ...],
    auth_hint: str,
) -> Check:
    status, body = response.status_code, _reply_text(response)
    if status in (401, 403):
        if b"NOT_AUTHORIZED" in response.content:
            return Check(
                "warn", f"plan does not include this data (HTTP {status})", evidence
            )
        detail = f"credentials rejected (HTTP {status}): {body}{auth_hint}"
        return Check("fail", detail, evidence)
    if status == 429:
        wait = response.headers.get("retry-after", "?")
        return Check("warn", f"rate-limited (HTTP 429), retry after {wait} s", evidence)
    if status >= 300:
        return Check("fail", f"HTTP {status}: {body}", evidence)
    try:
        detail = summarise(response.json())
    except (ValueError, AttributeError, TypeError):
        return Check("fail", f"unreadable answer (HTTP {status}): {body}", evidence)
    return _rate_limited(Check("ok", detail, evidence), response.headers)


def rate_limit_lines(headers: Mapping[str, str]) -> list[str]:
    """Describe the X-RateLimit-* headers, when the provider sends them."""
    limit, left = headers.get("x-ratelimit-limit"), headers.get("x-ratelimit-remaining")
    if limit is None or left is None:
        return []
    return [f"rate limit: {left} of {limit} requests left"]


def _rate_limited(check: Check, headers: Mapping[str, str]) -> Check:
    try:
        limit = int(headers.get("x-ratelimit-limit", "0"))
        left = int(headers.get("x-ratelimit-remaining", "0"))
    except ValueError:
        return check
    if limit and left < 0.1 * limit:
        detail = f"{check.detail}; only {left}/{limit} requests left this minute"
        return Check("warn", detail, check.evidence)
    return check


def polygon_probe(api_key: str, base_url: str, timeout_s: float) -> Probe:
    """A cheap authenticated Polygon call: GET /v1/marketstatus/now."""
    url = base_url.rstrip("/") + "/v1/marketstatus/now"
    headers = {"Authorization": f"Bearer {api_key}"}

    def summarise(body: Any) -> str:
        extra = " (pre-market)" if body.get("earlyHours") else ""
        extra += " (after-hours)" if body.get("afterHours") else ""
        return f"authenticated; market {body['market']}{extra}"

    return HttpProbe(url, headers, timeout_s, summarise)


def alpaca_probe(
    key_id: str, secret: str, base_url: str, timeout_s: float, paper: bool = True
) -> Probe:
    """A cheap authenticated Alpaca call: GET /v2/clock."""
    url = base_url.rstrip("/") + "/v2/clock"
    mode = "PAPER" if paper else "LIVE"
    hint = f"; credentials don't match this environment ({mode})"
    headers = {"APCA-API-KEY-ID": key_id, "APCA-API-SECRET-KEY": secret}

    def summarise(body: Any) -> str:
        state = "open" if body["is_open"] else "closed"
        return f"authenticated; market {state}, next open {body.get('next_open', '?')}"

    return HttpProbe(url, headers, timeout_s, summarise, hint)
