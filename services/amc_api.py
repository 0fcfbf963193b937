"""Async adapter for the AMC-TRADER HTTP API, over one `httpx.AsyncClient`.

Async-native: the endpoint methods are coroutines. Threads (Textual thread
workers, providers) call them through `AmcApiClient.sync()`, which runs them on
the client's own event loop in a daemon thread. Every reply, however broken,
becomes an `ApiResult` or an `ApiError` subclass; this module never polls a
route that enqueues a discovery job on a cache miss.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import re
import threading
import time
import zlib
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx

from services.clock import Clock
from services.errors import ApiError

log = logging.getLogger(__name__)

T = TypeVar("T")

# GET on these answers from cache or, on a miss, enqueues a discovery job
# (contract §2.4, §2.9): polling them turned every page view into queued jobs.
ENQUEUING_ROUTES = frozenset(
    {
        "/discovery/contenders",
        "/discovery/candidates",
        "/discovery/candidates/trade-ready",
        "/api/discovery/contenders",
        "/api/discovery/candidates",
        "/api/discovery/candidates/trade-ready",
        "/api/contenders",
        "/recommendations",
        "/api/recommendations",
    }
)
RETRYABLE_STATUSES = frozenset({502, 503, 504})
SNIPPET_CHARS = 80
_TAG_RE = re.compile(r"<[^>]*>")
_SPACE_RE = re.compile(r"\s+")
# C0/C1 controls and bidi overrides: a terminal would act on them.
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


class ApiTimeout(ApiError):
    """The API did not answer completely within the deadline."""

    title = "API timeout"


class ApiUnreachable(ApiError):
    """No connection could be made to the API."""

    title = "API unreachable"


class ApiBusy(ApiError):
    """Too many requests were already waiting for a connection."""

    title = "Backend busy"


class ApiNotFound(ApiError):
    """404: the route is not mounted, or the thing asked for no longer exists.

    Attributes:
        route_missing: True for the router's own `{"detail": "Not Found"}`,
            which means the path is not mounted at all.
    """

    title = "Not found"

    def __init__(
        self, message: str, *, status: int | None = 404, route_missing: bool = False
    ) -> None:
        super().__init__(message, status=status)
        self.route_missing = route_missing


class ApiMethodNotAllowed(ApiError):
    """405: the route exists but not for this method."""

    title = "Method not allowed"


class ApiValidationError(ApiError):
    """422: the API rejected the query parameters."""

    title = "Rejected parameters"


class ApiUnavailable(ApiError):
    """502/503/504 or 429: the backend or its gateway cannot answer now.

    Attributes:
        retry_after_s: Seconds the server asked us to wait, when it said.
    """

    title = "Backend unavailable"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message, status=status)
        self.retry_after_s = retry_after_s


class ApiReportedError(ApiError):
    """The API answered 2xx but its body says the call failed."""

    title = "API reported an error"


class ApiMalformed(ApiError):
    """The body cannot be read: bad UTF-8, bad JSON, empty or not JSON at all."""

    title = "Malformed response"


class UnsafeRouteError(ApiError):
    """A GET was asked of a route that enqueues a discovery job on a cache miss."""

    title = "Refused route"


@dataclass(frozen=True)
class ApiResult:
    """One successful API reply.

    Attributes:
        method: HTTP method used.
        path: Path asked for.
        status: Real HTTP status (202 means queued, 503 only where accepted).
        body: Parsed JSON (dict, list, ...), or None for 204.
        elapsed_ms: Time from sending to the last body byte, in milliseconds.
        headers: Response headers, lower-cased names.
    """

    method: str
    path: str
    status: int
    body: Any
    elapsed_ms: float
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def queued(self) -> bool:
        """True for a 202 answer: the API enqueued work instead of answering."""
        return self.status == 202

    def value(self, name: str, default: Any = None) -> Any:
        """Return `body[name]` when the body is an object, else `default`."""
        if isinstance(self.body, dict):
            return self.body.get(name, default)
        return default


def snippet(raw: bytes | str, limit: int = SNIPPET_CHARS) -> str:
    """Return a short, single-line, printable excerpt of a body.

    HTML tags are dropped, control bytes and invalid UTF-8 are shown escaped,
    whitespace is collapsed and the text is cut to `limit` characters.
    """
    text = raw if isinstance(raw, str) else raw.decode("utf-8", "backslashreplace")
    text = _TAG_RE.sub(" ", text)
    text = _CONTROL_RE.sub(lambda m: ascii(m.group())[1:-1], text)
    text = _SPACE_RE.sub(" ", text).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _inflate(raw: bytes) -> bytes:
    """Decompress bodies that are gzip or zlib without saying so (magic bytes)."""
    try:
        if raw[:2] == b"\x1f\x8b":
            return gzip.decompress(raw)
        if raw[:1] == b"\x78" and raw[1:2] in (b"\x01", b"\x9c", b"\xda"):
            return zlib.decompress(raw)
    except (OSError, zlib.error, EOFError):
        return raw
    return raw


def _charset(content_type: str) -> str | None:
    match = re.search(r"charset=([\w.-]+)", content_type, re.IGNORECASE)
    return match.group(1).lower() if match else None


def decode_text(raw: bytes, content_type: str, status: int) -> str:
    """Decode a JSON body to text, strictly.

    A UTF-8 byte-order mark wins over the declared charset (it is what the
    bytes really are); otherwise a declared non-UTF-8 charset is honoured and
    UTF-8 is the default, as JSON requires.

    Raises:
        ApiMalformed: the bytes are not valid in that encoding; the message
            gives the byte offset and an escaped snippet around it.
    """
    encoding, skipped = "utf-8", 0
    if raw.startswith(b"\xef\xbb\xbf"):
        raw, skipped = raw[3:], 3
    else:
        declared = _charset(content_type)
        if declared and declared.replace("-", "").replace("_", "") != "utf8":
            encoding = declared
    try:
        return raw.decode(encoding)
    except LookupError:
        return _strict_utf8(raw, status)
    except UnicodeDecodeError as exc:
        around = snippet(raw[max(0, exc.start - 20) : exc.start + 20])
        raise ApiMalformed(
            f"malformed data from backend (invalid {encoding.upper()} at byte "
            f"{exc.start + skipped}): {around}",
            status=status,
        ) from None


def _strict_utf8(raw: bytes, status: int) -> str:
    return decode_text(raw, "application/json; charset=utf-8", status)


def _looks_html(content_type: str, raw: bytes) -> bool:
    head = raw.lstrip()[:15].lower()
    return "html" in content_type.lower() or head.startswith((b"<!doctype", b"<html"))


def _error_message(body: Any) -> str:
    """Pull a readable message out of any of the API's error envelopes."""
    if not isinstance(body, dict):
        return snippet(json.dumps(body)) if body is not None else ""
    detail = body.get("detail", body.get("error", body.get("message")))
    if isinstance(detail, list):
        return "; ".join(_validation_item(item) for item in detail[:3])
    if isinstance(detail, dict):
        inner = detail.get("message", detail.get("detail", detail.get("error")))
        detail = inner if inner is not None else json.dumps(detail)
    return snippet(str(detail)) if detail is not None else snippet(json.dumps(body))


def _validation_item(item: Any) -> str:
    if not isinstance(item, dict):
        return snippet(str(item))
    loc = [str(p) for p in item.get("loc", []) if p not in ("query", "body")]
    return snippet(f"{'.'.join(loc) or 'request'}: {item.get('msg', '?')}")


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("retry-after", "").strip()
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


@dataclass(frozen=True)
class RawReply:
    """What came back over the wire, before interpretation."""

    method: str
    path: str
    status: int
    headers: Mapping[str, str]
    content: bytes
    elapsed_ms: float


def interpret(reply: RawReply, accept: frozenset[int] = frozenset()) -> ApiResult:
    """Turn a raw reply into an `ApiResult`, or raise the matching `ApiError`.

    Args:
        reply: Status, headers and (already transfer-decoded) body bytes.
        accept: Non-2xx statuses whose JSON body is a valid answer (e.g. 503
            from `/health`, which means "degraded").

    Raises:
        ApiError: a subclass naming what went wrong, with the real status and
            a short sanitised snippet of the body.
    """
    status = reply.status
    if status >= 300 and status not in accept:
        raise _status_error(reply)
    if status == 204:
        return _result(reply, None)
    try:
        body = _parse_body(reply)
    except ApiMalformed:
        if status >= 300:
            raise _status_error(reply) from None
        raise
    if isinstance(body, dict) and _reports_failure(body):
        raise ApiReportedError(
            f"{reply.path} answered {status} but reported: {_error_message(body)}",
            status=status,
        )
    return _result(reply, body)


def _result(reply: RawReply, body: Any) -> ApiResult:
    return ApiResult(
        reply.method, reply.path, reply.status, body, reply.elapsed_ms, reply.headers
    )


def _reports_failure(body: dict[str, Any]) -> bool:
    return body.get("success") is False or body.get("status") == "error"


def _parse_body(reply: RawReply) -> Any:
    content_type = reply.headers.get("content-type", "")
    raw = _inflate(reply.content)
    if not raw.strip():
        raise ApiMalformed(
            f"empty body from {reply.path} (HTTP {reply.status})", status=reply.status
        )
    if _looks_html(content_type, raw):
        raise ApiMalformed(
            f"unexpected content type {content_type or 'text/html'} from "
            f"{reply.path} (HTTP {reply.status}): {snippet(raw)}",
            status=reply.status,
            title="Unexpected content",
        )
    text = decode_text(raw, content_type, reply.status)
    try:
        return json.loads(text)
    except ValueError:
        raise ApiMalformed(
            f"{reply.path} (HTTP {reply.status}) sent invalid JSON: {snippet(text)}",
            status=reply.status,
        ) from None


def _body_summary(reply: RawReply) -> tuple[Any, str]:
    """Parse an error body leniently: (parsed JSON or None, readable text)."""
    raw = _inflate(reply.content)
    if not raw.strip():
        return None, "empty body"
    if _looks_html(reply.headers.get("content-type", ""), raw):
        return None, f"HTML page: {snippet(raw)}"
    try:
        body = json.loads(raw.decode("utf-8", "replace"))
    except ValueError:
        return None, snippet(raw)
    return body, _error_message(body)


def _status_error(reply: RawReply) -> ApiError:
    body, text = _body_summary(reply)
    status, where = reply.status, f"{reply.method} {reply.path}"
    if status == 404:
        not_mounted = body == {"detail": "Not Found"}
        what = "route not mounted" if not_mounted else "not found"
        return ApiNotFound(
            f"{where}: {what} (HTTP 404; {text})", route_missing=not_mounted
        )
    if status == 405:
        allow = reply.headers.get("allow", "?")
        return ApiMethodNotAllowed(
            f"{where}: method not allowed (HTTP 405; allowed: {allow})", status=status
        )
    if status == 422:
        return ApiValidationError(f"{where} rejected: {text}", status=status)
    if status in RETRYABLE_STATUSES or status == 429:
        return _unavailable(reply, where, text)
    return ApiError(f"{where} failed (HTTP {status}; {text})", status=status)


def _unavailable(reply: RawReply, where: str, text: str) -> ApiUnavailable:
    wait = _retry_after(reply.headers)
    what = "rate-limited" if reply.status == 429 else "backend unavailable"
    hint = f"; retry after {wait:g} s" if wait is not None else ""
    return ApiUnavailable(
        f"{where}: {what} (HTTP {reply.status}; {text}){hint}",
        status=reply.status,
        retry_after_s=wait,
    )


class BackgroundLoop:
    """An asyncio event loop running in a daemon thread, for blocking callers."""

    def __init__(self, name: str = "amc-api-loop") -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name=name, daemon=True
        )
        self._thread.start()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop coroutines run on."""
        return self._loop

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run `coro` on the loop and block until it finishes.

        Raises:
            ApiTimeout: it did not finish within `timeout` (it is cancelled).
        """
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise ApiTimeout(f"no result within {timeout:g} s") from None

    def close(self) -> None:
        """Stop the loop; pending work is abandoned."""
        if self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=2)


class AmcApiClient:
    """Client of the AMC-TRADER API with deadlines, bounded concurrency and retries.

    Use it either from one event loop (await the methods) or from threads via
    `sync()`, not both: the connection pool belongs to one loop.

    Args:
        base_url: Root of the API, e.g. "https://amc-trader.onrender.com".
        timeout_s: Overall deadline of one attempt (connect, send, read every
            byte); a server trickling bytes still times out.
        max_concurrency: Requests in flight at once; also the pool size.
        clock: Time source (kept for ages shown to users).
        retries: Extra attempts for idempotent GETs on connection failures and
            502/503/504; never for POST, never for read timeouts.
        queue_timeout_s: How long a request may wait for a free slot before
            failing as "backend busy".
        poison_threshold: Consecutive timeouts after which the pool is
            presumed poisoned and the client is rebuilt.
    """

    def __init__(
        self,
        base_url: str,
        timeout_s: float = 5.0,
        max_concurrency: int = 8,
        clock: Clock | None = None,
        *,
        retries: int = 2,
        queue_timeout_s: float = 30.0,
        poison_threshold: int = 3,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.max_concurrency = max(1, max_concurrency)
        self.clock = clock or Clock()
        self.retries = retries
        self.queue_timeout_s = queue_timeout_s
        self.poison_threshold = poison_threshold
        self.generation = 0
        self._timeouts_in_row = 0
        self._semaphore: asyncio.Semaphore | None = None
        self._client = self._new_client()
        self._runner: BackgroundLoop | None = None
        self._runner_lock = threading.Lock()
        self._closing: set[asyncio.Task[None]] = set()

    def _new_client(self) -> httpx.AsyncClient:
        self.generation += 1
        timeout = httpx.Timeout(
            connect=min(self.timeout_s, 3.0),
            read=self.timeout_s,
            write=self.timeout_s,
            pool=self.timeout_s,
        )
        limits = httpx.Limits(
            max_connections=self.max_concurrency,
            max_keepalive_connections=self.max_concurrency,
        )
        return httpx.AsyncClient(
            base_url=self.base_url,
            timeout=timeout,
            limits=limits,
            headers={"Accept": "application/json", "Accept-Encoding": "gzip"},
            trust_env=False,
        )

    @property
    def runner(self) -> BackgroundLoop:
        """The private event loop used by `sync()` (started on first use)."""
        with self._runner_lock:
            if self._runner is None:
                self._runner = BackgroundLoop()
            return self._runner

    def sync(
        self, coro_fn: Callable[[], Awaitable[T]], timeout: float | None = None
    ) -> T:
        """Run `coro_fn()` on the client's loop and block for its result.

        Example: `api.sync(api.health)` or `api.sync(lambda: api.trigger(50))`.

        Raises:
            ApiError: whatever the call raises, or `ApiTimeout` past `timeout`.
        """

        async def call() -> T:
            return await coro_fn()

        limit = timeout if timeout is not None else self._call_budget()
        return self.runner.run(call(), limit)

    def _call_budget(self) -> float:
        attempts = self.retries + 1
        return self.queue_timeout_s + attempts * (self.timeout_s + 1.0)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()

    def close(self) -> None:
        """Close the pool from a thread and stop the private loop, if started."""
        if self._runner is None:
            return
        try:
            self._runner.run(self.aclose(), timeout=2.0)
        except ApiError:
            log.warning("closing the AMC API client timed out")
        self._runner.close()
        self._runner = None

    # Endpoints the console uses. None of them enqueues work except trigger().

    async def health(self) -> ApiResult:
        """GET /health; a 503 with a health body means "degraded" and is returned."""
        return await self.request("GET", "/health", accept=frozenset({503}))

    async def routes(self) -> frozenset[str]:
        """GET /_routes: the set of mounted paths.

        Raises:
            ApiMalformed: the answer is not a list of path strings.
        """
        result = await self.request("GET", "/_routes")
        paths = result.body
        if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
            raise ApiMalformed(
                f"/_routes did not answer a list of paths: {snippet(str(paths))}",
                status=result.status,
            )
        return frozenset(paths)

    async def contenders_last(self) -> ApiResult:
        """GET /discovery/contenders/last: the cache as is; never enqueues."""
        return await self.request("GET", "/discovery/contenders/last")

    async def discovery_status(self, job_id: str) -> ApiResult:
        """GET /discovery/status for one job; `status` "unknown" means expired.

        Raises:
            ApiNotFound: "job <id> no longer exists" for a 404 other than the
                router's own (which means the route is not mounted).
        """
        try:
            params = {"job_id": job_id}
            return await self.request("GET", "/discovery/status", params=params)
        except ApiNotFound as exc:
            if exc.route_missing:
                raise
            raise ApiNotFound(
                f"job {job_id} no longer exists ({exc.message})", status=exc.status
            ) from None

    async def discovery_health(self) -> ApiResult:
        """GET /discovery/health (cache, last job, queue length, failed count).

        Raises:
            ApiReportedError: the route's own failure shape, `status:"unhealthy"`
                with an `error` (worker-health's "unhealthy" is a valid answer).
        """
        result = await self.request("GET", "/discovery/health")
        if result.value("status") == "unhealthy" and result.value("error"):
            raise ApiReportedError(
                f"/discovery/health reported: {snippet(str(result.value('error')))}",
                status=result.status,
            )
        return result

    async def cache_peek(self) -> ApiResult:
        """GET /discovery/cache/peek: size, age and engine of the cached envelope."""
        return await self.request("GET", "/discovery/cache/peek")

    async def trigger(self, limit: int) -> ApiResult:
        """POST /discovery/trigger: enqueue one discovery job. Explicit action only."""
        return await self.request("POST", "/discovery/trigger", params={"limit": limit})

    async def squeeze_candidates(
        self, min_score: float = 0.0, limit: int = 100
    ) -> ApiResult:
        """GET /discovery/squeeze-candidates (reads cached results only)."""
        params = {"min_score": min_score, "limit": limit}
        return await self.request("GET", "/discovery/squeeze-candidates", params=params)

    def sync_squeeze_candidates(self) -> list[dict[str, Any]]:
        """Blocking: the squeeze candidates' raw dicts, for thread workers.

        Raises:
            ApiMalformed: `candidates` is not a list of objects.
            ApiError: the call failed.
        """
        result = self.sync(self.squeeze_candidates)
        items = result.value("candidates", [])
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise ApiMalformed(
                "/discovery/squeeze-candidates: candidates is not a list of objects",
                status=result.status,
            )
        return items

    async def holdings(self) -> ApiResult:
        """GET /portfolio/holdings; `success:false` in a 200 raises."""
        return await self.request("GET", "/portfolio/holdings")

    async def worker_health(self) -> ApiResult:
        """GET /discovery/emergency/worker-health."""
        return await self.request("GET", "/discovery/emergency/worker-health")

    async def get(
        self, path: str, params: Mapping[str, Any] | None = None
    ) -> ApiResult:
        """GET any other read-only path (guarded like every request)."""
        return await self.request("GET", path, params=params)

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        accept: frozenset[int] = frozenset(),
    ) -> ApiResult:
        """Send one request with deadline, bounded concurrency and GET retries.

        Raises:
            UnsafeRouteError: a GET on a route that enqueues on a cache miss.
            ApiError: a subclass describing the failure.
        """
        method = method.upper()
        _guard(method, path)
        attempts = self.retries + 1 if method == "GET" else 1
        for attempt in range(attempts):
            try:
                reply = await self._send_bounded(method, path, params)
                return interpret(reply, accept)
            except (ApiUnreachable, ApiUnavailable) as exc:
                wait = self._retry_wait(exc, attempt, attempts)
                if wait is None:
                    raise
                log.info("retrying %s %s in %.2f s: %s", method, path, wait, exc.title)
                await asyncio.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def _retry_wait(self, exc: ApiError, attempt: int, attempts: int) -> float | None:
        """Seconds to wait before the next attempt, or None to give up now."""
        if attempt + 1 >= attempts:
            return None
        backoff = 0.1 * 2.0**attempt
        if isinstance(exc, ApiUnavailable):
            if exc.status == 429:
                return None
            if exc.retry_after_s is not None:
                # A Retry-After longer than a deadline is the caller's decision.
                if exc.retry_after_s > self.timeout_s:
                    return None
                return max(backoff, exc.retry_after_s)
        return backoff

    async def _send_bounded(
        self, method: str, path: str, params: Mapping[str, Any] | None
    ) -> RawReply:
        semaphore = self._slots()
        try:
            async with asyncio.timeout(self.queue_timeout_s):
                await semaphore.acquire()
        except TimeoutError:
            raise ApiBusy(
                f"backend busy: {method} {path} waited {self.queue_timeout_s:g} s "
                "for a free connection"
            ) from None
        try:
            return await self._send(method, path, params)
        finally:
            semaphore.release()

    def _slots(self) -> asyncio.Semaphore:
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self.max_concurrency)
        return self._semaphore

    async def _send(
        self, method: str, path: str, params: Mapping[str, Any] | None
    ) -> RawReply:
        client = self._client
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.timeout_s):
                response = await client.request(method, path, params=params)
        except TimeoutError:
            await self._note_timeout(client)
            raise ApiTimeout(
                f"{method} {path}: no complete answer within {self.timeout_s:g} s"
            ) from None
        except httpx.HTTPError as exc:
            raise await self._transport_error(client, method, path, exc) from None
        self._timeouts_in_row = 0
        elapsed = (time.perf_counter() - started) * 1000
        headers = {k.lower(): v for k, v in response.headers.items()}
        return RawReply(
            method, path, response.status_code, headers, response.content, elapsed
        )

    async def _transport_error(
        self, client: httpx.AsyncClient, method: str, path: str, exc: httpx.HTTPError
    ) -> ApiError:
        where = f"{method} {path}"
        if isinstance(exc, httpx.PoolTimeout):
            await self._note_timeout(client)
            return ApiBusy(f"backend busy: {where} found no free connection")
        if isinstance(exc, httpx.TimeoutException):
            await self._note_timeout(client)
            return ApiTimeout(f"{where}: timed out ({type(exc).__name__})")
        if isinstance(exc, httpx.DecodingError):
            return ApiMalformed(f"{where}: body could not be decompressed")
        if isinstance(exc, httpx.ConnectError | httpx.RemoteProtocolError):
            return ApiUnreachable(f"{where}: {self.base_url} unreachable ({exc})")
        return ApiUnreachable(f"{where}: transport error {type(exc).__name__}")

    async def _note_timeout(self, client: httpx.AsyncClient) -> None:
        """Count a timeout; past the threshold, replace the (possibly poisoned) pool."""
        self._timeouts_in_row += 1
        if self._timeouts_in_row < self.poison_threshold or client is not self._client:
            return
        log.warning(
            "%d timeouts in a row from %s; rebuilding the HTTP client",
            self._timeouts_in_row,
            self.base_url,
        )
        self._timeouts_in_row = 0
        self._client = self._new_client()
        task = asyncio.get_running_loop().create_task(_close_quietly(client))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)


async def _close_quietly(client: httpx.AsyncClient) -> None:
    try:
        async with asyncio.timeout(2.0):
            await client.aclose()
    except (TimeoutError, httpx.HTTPError, RuntimeError):
        log.info("the replaced HTTP client did not close cleanly")


def _guard(method: str, path: str) -> None:
    normalised = "/" + path.split("?", 1)[0].strip("/")
    if method == "GET" and normalised in ENQUEUING_ROUTES:
        raise UnsafeRouteError(
            f"GET {normalised} enqueues a discovery job on a cache miss; read "
            "/discovery/contenders/last or Redis instead"
        )
