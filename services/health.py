"""The health provider: every component checked concurrently, one verdict.

Owns `HealthService.load()` (a `HealthReport`: HEALTHY / DEGRADED / DOWN with
ranked reasons, each component's status, latency and short history). It only
reads; it never enqueues, cleans or repairs anything. Blocking `load()` runs the
checks on the AMC API client's event loop with an overall deadline.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis

from services import health_checks as hc
from services.amc_api import AmcApiClient, ApiResult, BackgroundLoop
from services.clock import Clock, format_age
from services.errors import AmcTuiError, ApiError
from services.health_checks import Check, Probe
from services.redis_conn import connect, describe_failure
from services.settings import Settings

log = logging.getLogger(__name__)

COMPONENTS = (
    "AMC API",
    "Redis",
    "Workers",
    "Queue SLA",
    "Discovery",
    "Polygon",
    "Alpaca",
)
# A failure of one of these takes the console's view of the system down.
CRITICAL = frozenset({"AMC API", "Redis"})
OVERALL = ("healthy", "degraded", "down")
STATUS_RANK = {"fail": 0, "warn": 1, "unknown": 2, "ok": 3}
ALPACA_PAPER_URL = "https://paper-api.alpaca.markets"
ALPACA_LIVE_URL = "https://api.alpaca.markets"


@dataclass(frozen=True)
class ComponentStatus:
    """One component's verdict in a report.

    Attributes:
        name: One of `COMPONENTS`.
        status: "ok", "warn", "fail" or "unknown".
        detail: One line for the table.
        latency_ms: How long the check took, or None if it did not run.
        evidence: Facts behind the verdict, for the detail view.
        for_s: How long the component has had this status, as far as this
            console has watched (0 on the first check), or None if unknown.
    """

    name: str
    status: str
    detail: str
    latency_ms: float | None
    evidence: tuple[str, ...] = ()
    for_s: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the snapshot form of this component."""
        latency = None if self.latency_ms is None else round(self.latency_ms, 1)
        return {
            "status": self.status,
            "detail": self.detail,
            "latency_ms": latency,
            "for_s": None if self.for_s is None else round(self.for_s, 1),
            "evidence": list(self.evidence),
        }


@dataclass(frozen=True)
class HealthReport:
    """The health pane's state: overall verdict, components and history.

    Attributes:
        status: "healthy", "degraded" or "down".
        components: One entry per component, in `COMPONENTS` order.
        reasons: Why the status is not healthy, most serious first.
        missing_routes: Console routes the AMC API does not mount.
        history: Each component's recent statuses, oldest first.
        checked_at: Epoch seconds of this check.
        source: "demo" or "live".
    """

    status: str
    components: tuple[ComponentStatus, ...]
    reasons: tuple[str, ...]
    missing_routes: tuple[str, ...]
    history: Mapping[str, tuple[str, ...]]
    checked_at: float
    source: str = "live"

    def component(self, name: str) -> ComponentStatus | None:
        """Return the component called `name`, if checked."""
        return next((c for c in self.components if c.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-able form used by the headless snapshot."""
        return {
            "status": self.status,
            "components": {c.name: c.to_dict() for c in self.components},
            "reasons": list(self.reasons),
            "missing_routes": list(self.missing_routes),
            "history": {k: list(v) for k, v in self.history.items()},
            "checked_at": datetime.fromtimestamp(self.checked_at, UTC).isoformat(),
            "source": self.source,
        }

    def text_lines(self) -> list[str]:
        """Return a plain-text rendering: verdict, reasons, one line per component."""
        lines = [f"Health: {self.status.upper()}"]
        lines += [f"  ! {reason}" for reason in self.reasons]
        lines += [_text_row(c, self.history.get(c.name, ())) for c in self.components]
        if self.missing_routes:
            lines.append("  Missing routes: " + ", ".join(self.missing_routes))
        return lines


def _text_row(c: ComponentStatus, history: tuple[str, ...]) -> str:
    latency = "-" if c.latency_ms is None else f"{c.latency_ms:.0f} ms"
    held = "" if c.for_s is None else f"for {format_age(c.for_s)}"
    strip = history_strip(history)
    head = f"  {c.status.upper():<7} {held:>8} {c.name:<10} {latency:>8}"
    return f"{head}  {strip:<10} {c.detail}"


HISTORY_MARKS = {"ok": "▁", "warn": "▄", "fail": "█", "unknown": "·"}


def history_strip(statuses: tuple[str, ...] | list[str]) -> str:
    """Render recent statuses as a strip of marks, oldest first."""
    return "".join(HISTORY_MARKS.get(s, "?") for s in statuses)


def verdict(components: tuple[ComponentStatus, ...]) -> tuple[str, tuple[str, ...]]:
    """Return the overall status and the reasons, most serious first.

    DOWN when a critical component (AMC API, Redis) fails; DEGRADED when any
    component fails or warns; "unknown" (not configured) does not count.
    """
    ranked = sorted(
        (c for c in components if c.status in ("fail", "warn")),
        key=lambda c: (STATUS_RANK[c.status], c.name not in CRITICAL),
    )
    reasons = tuple(f"{c.name}: {c.detail}" for c in ranked)
    if any(c.status == "fail" and c.name in CRITICAL for c in ranked):
        return "down", reasons
    return ("degraded" if ranked else "healthy"), reasons


class HealthService:
    """Checks every component the console depends on.

    Args:
        settings: Effective settings (queue name, SLA, heartbeat limit, keys).
        clock: Time source for ages and the report's timestamp.
        redis_url: The AMC Redis, or None when not configured.
        api: The AMC API client, or None when not configured (e.g. the demo).
        source: "demo" or "live", shown in the pane header.
        polygon_check: Blocking probe returning a `Check`; built from the
            settings when omitted (None when no key is set).
        alpaca_check: Likewise for Alpaca.
        deadline_s: Bound of each component; default `settings.request_timeout_s`.
        history_len: Statuses kept per component.
    """

    def __init__(
        self,
        settings: Settings,
        clock: Clock,
        redis_url: str | None,
        api: AmcApiClient | None,
        source: str = "live",
        polygon_check: Probe | None = None,
        alpaca_check: Probe | None = None,
        *,
        deadline_s: float | None = None,
        history_len: int = 20,
    ) -> None:
        self.source = source
        self._settings = settings
        self._clock = clock
        self._redis_url = redis_url
        self._api = api
        self._deadline_s = deadline_s or settings.request_timeout_s
        self._polygon = polygon_check or _polygon_from(settings, self._deadline_s)
        self._alpaca = alpaca_check or _alpaca_from(settings, self._deadline_s)
        self._history: dict[str, deque[str]] = {
            name: deque(maxlen=history_len) for name in COMPONENTS
        }
        self._since: dict[str, float] = {}
        self._lock = threading.Lock()
        self._redis: redis.Redis | None = None
        self._own_loop: BackgroundLoop | None = None
        self._pending: dict[str, asyncio.Future[Check]] = {}

    def load(self) -> HealthReport:
        """Check every component concurrently and return the report.

        A component that does not finish within the deadline reads "fail: no
        answer within N s"; the whole call is bounded by about that deadline.

        Raises:
            AmcTuiError: only if the checks could not be scheduled at all.
        """
        checked = self._loop().run(self._check_all(), timeout=self._deadline_s + 2.0)
        return self._report(checked)

    def close(self) -> None:
        """Release the Redis client, the probes' pools and this service's loop."""
        if self._redis is not None:
            self._redis.close()
        for probe in (self._polygon, self._alpaca):
            close = getattr(probe, "close", None)
            if callable(close):
                close()
        if self._own_loop is not None:
            self._own_loop.close()

    def _loop(self) -> BackgroundLoop:
        # The API client's pool belongs to its loop, so its checks run there.
        if self._api is not None:
            return self._api.runner
        with self._lock:
            if self._own_loop is None:
                self._own_loop = BackgroundLoop("amc-health-loop")
            return self._own_loop

    async def _check_all(self) -> list[tuple[str, Check, float | None]]:
        jobs = {
            "AMC API": self._check_api,
            "Redis": self._blocking("Redis", self._check_redis),
            "Workers": self._blocking("Workers", self._check_workers),
            "Queue SLA": self._blocking("Queue SLA", self._check_queue_sla),
            "Discovery": self._check_discovery,
            "Polygon": self._blocking(
                "Polygon", self._probe(self._polygon, "POLYGON_API_KEY")
            ),
            "Alpaca": self._blocking(
                "Alpaca", self._probe(self._alpaca, "ALPACA_API_KEY")
            ),
        }
        return list(await asyncio.gather(*(self._timed(n, f) for n, f in jobs.items())))

    async def _timed(
        self, name: str, check: Callable[[], Any]
    ) -> tuple[str, Check, float | None]:
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self._deadline_s):
                result: Check = await check()
        except TimeoutError:
            result = Check("fail", f"no answer within {self._deadline_s:g} s")
        except AmcTuiError as exc:
            result = Check("fail", exc.message)
        except Exception as exc:  # noqa: BLE001 - one broken check must not hide others
            log.exception("health check %s crashed", name)
            result = Check("fail", f"check crashed: {type(exc).__name__}")
        if result.status == "unknown" and result.detail.startswith("not configured"):
            return name, result, None
        return name, result, (time.perf_counter() - started) * 1000

    def _blocking(self, name: str, fn: Callable[[], Check]) -> Callable[[], Any]:
        """Run `fn` on a thread, at most one at a time per component.

        A server that trickles bytes can hold a thread far past the deadline;
        starting another each refresh would exhaust the pool and make every
        component fail. While one is still out, the check says so instead.
        """

        async def run() -> Check:
            previous = self._pending.get(name)
            if previous is not None and not previous.done():
                return Check("fail", "previous check still waiting for an answer")
            loop = asyncio.get_running_loop()
            future = loop.run_in_executor(None, fn)
            self._pending[name] = future
            # Shielded: the deadline abandons the wait, not the thread's future,
            # so `done()` above tells when the thread really finished.
            return await asyncio.shield(future)

        return run

    def _report(self, checked: list[tuple[str, Check, float | None]]) -> HealthReport:
        now = self._clock.now()
        with self._lock:
            components = tuple(
                ComponentStatus(
                    name,
                    c.status,
                    c.detail,
                    latency,
                    c.evidence,
                    self._age(name, c, now),
                )
                for name, c, latency in checked
            )
            history = {name: tuple(marks) for name, marks in self._history.items()}
        status, reasons = verdict(components)
        missing = next((c.missing_routes for n, c, _ in checked if n == "AMC API"), ())
        return HealthReport(
            status, components, reasons, missing, history, now, self.source
        )

    def _age(self, name: str, check: Check, now: float) -> float:
        """Record the status in the history; return how long it has held."""
        marks = self._history[name]
        if not marks or marks[-1] != check.status or name not in self._since:
            self._since[name] = now
        marks.append(check.status)
        return now - self._since[name]

    # ------------------------------------------------------------ AMC API

    async def _check_api(self) -> Check:
        if self._api is None:
            return Check("unknown", "not configured (no AMC_API_URL)")
        health, routes = await asyncio.gather(
            self._api.health(), self._api.routes(), return_exceptions=True
        )
        check = _read_health(health)
        if isinstance(routes, ApiError):
            evidence = (*check.evidence, f"route list unavailable: {routes.message}")
            return Check(check.status, check.detail, evidence)
        if isinstance(routes, BaseException):
            raise routes
        return hc.with_routes(check, hc.missing_routes(routes))

    # ------------------------------------------------------------ Redis side

    def _client(self) -> redis.Redis | None:
        if self._redis_url is None:
            return None
        with self._lock:
            if self._redis is None:
                self._redis = connect(self._redis_url, self._deadline_s)
            return self._redis

    def _with_redis(self, fn: Callable[[redis.Redis], Check], critical: bool) -> Check:
        client = self._client()
        if client is None:
            return Check("unknown", "not configured (no REDIS_URL)")
        assert self._redis_url is not None
        try:
            return fn(client)
        except redis.RedisError as exc:
            error = describe_failure(exc, self._redis_url)
            # Only the Redis row fails; the rows that depend on it say why not checked.
            return Check("fail" if critical else "unknown", error.message)

    def _check_redis(self) -> Check:
        def check(client: redis.Redis) -> Check:
            client.ping()  # the first one may include connecting
            started = time.perf_counter()
            client.ping()
            return hc.redis_check(client, (time.perf_counter() - started) * 1000)

        return self._with_redis(check, critical=True)

    def _queues(self, client: redis.Redis) -> list[str]:
        return hc.queue_names(client, [self._settings.discovery_queue])

    def _check_workers(self) -> Check:
        def check(client: redis.Redis) -> Check:
            return hc.workers_check(
                client,
                self._queues(client),
                self._clock.now(),
                self._settings.heartbeat_stale_s,
            )

        return self._with_redis(check, critical=False)

    def _check_queue_sla(self) -> Check:
        def check(client: redis.Redis) -> Check:
            return hc.queue_sla_check(
                client,
                self._queues(client),
                self._clock.now(),
                self._settings.wait_sla_s,
            )

        return self._with_redis(check, critical=False)

    async def _check_discovery(self) -> Check:
        flag_fake = self.source != "demo"
        if self._redis_url is not None:
            return await asyncio.to_thread(
                self._with_redis,
                lambda c: hc.discovery_check(c, self._clock.now(), flag_fake),
                False,
            )
        if self._api is not None:
            peek = await self._api.cache_peek()
            return _read_peek(peek, self._clock.now(), flag_fake)
        return Check("unknown", "not configured (no REDIS_URL or AMC_API_URL)")

    # ------------------------------------------------------------ Providers

    def _probe(self, probe: Probe | None, key_name: str) -> Callable[[], Check]:
        if probe is not None:
            return probe
        return lambda: Check("unknown", f"not configured (no {key_name})")


def _read_health(health: ApiResult | BaseException) -> Check:
    if isinstance(health, ApiResult):
        return hc.api_health_check(health)
    if isinstance(health, ApiError):
        # /health answering 503 with an error body still means the app is up.
        if health.status == 503 and health.title == "API reported an error":
            return Check("warn", f"degraded: {health.message}")
        return Check("fail", health.message)
    raise health


def _read_peek(peek: ApiResult, now: float, flag_fake: bool) -> Check:
    if not peek.value("exists"):
        return Check("warn", "no cached candidates (expired or never written)")
    if peek.value("corrupted"):
        return Check("fail", "cache corrupted (the API could not parse it)")
    return hc.envelope_check(
        {**(peek.body or {}), "candidates": None}, now, None, flag_fake
    )


def _secret(value: Any) -> str | None:
    return None if value is None else value.get_secret_value() or None


def _polygon_from(settings: Settings, timeout_s: float) -> Probe | None:
    key = _secret(settings.polygon_api_key)
    if key is None:
        return None
    return hc.polygon_probe(key, settings.polygon_base_url, timeout_s)


def _alpaca_from(settings: Settings, timeout_s: float) -> Probe | None:
    key, secret = _secret(settings.alpaca_api_key), _secret(settings.alpaca_secret_key)
    if key is None:
        return None
    if secret is None:
        return lambda: Check(
            "fail", "ALPACA_API_KEY is set but no ALPACA_SECRET_KEY / ALPACA_API_SECRET"
        )
    paper = ALPACA_PAPER_URL if settings.alpaca_paper else ALPACA_LIVE_URL
    base = settings.alpaca_base_url or paper
    return hc.alpaca_probe(key, secret, base, timeout_s, settings.alpaca_paper)
