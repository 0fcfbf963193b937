"""Market data for discovery: the `MarketSource` protocol and the frame layout.

The Polygon adapter lives here too; it is blocking (the Polygon SDK is built on
urllib3), so callers run it from thread workers or RQ jobs.
"""

from __future__ import annotations

import gzip
import json
import logging
import math
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import certifi
import numpy as np
import pandas as pd
import urllib3
from pandas.tseries.holiday import (
    AbstractHolidayCalendar,
    GoodFriday,
    Holiday,
    USLaborDay,
    USMartinLutherKingJr,
    USMemorialDay,
    USPresidentsDay,
    USThanksgivingDay,
    nearest_workday,
    sunday_to_monday,
)
from pandas.tseries.offsets import CustomBusinessDay
from urllib3.util.retry import Retry

from services.clock import Clock
from services.errors import ConfigError, PolygonError

if TYPE_CHECKING:
    from polygon import RESTClient

log = logging.getLogger(__name__)

NEW_YORK = ZoneInfo("America/New_York")
MAX_TICKER_PAGES = 40
REFERENCE_MAX_AGE_S = 7 * 86400

BAR_COLUMNS = ("symbol", "date", "open", "high", "low", "close", "volume")
_BAR_DTYPES = {column: "float64" for column in BAR_COLUMNS[2:]}
REFERENCE_COLUMNS = (
    "name",
    "type",
    "float_shares",
    "float_is_proxy",
    "shares_outstanding",
    "short_interest",
    "days_to_cover",
    "borrow_fee",
    "utilization",
)


@runtime_checkable
class MarketSource(Protocol):
    """Where discovery gets its market frames (see the shared frame conventions).

    Attributes:
        source: "demo" or "live".
    """

    source: str

    def daily_bars(self, days: int) -> pd.DataFrame:
        """Return the last `days` trading days of bars for the whole market."""
        ...

    def reference(self) -> pd.DataFrame:
        """Return reference data indexed by symbol; NaN means unknown."""
        ...

    def last_price(self, symbol: str) -> float | None:
        """Return the latest known price of `symbol`, or None when unknown."""
        ...


class NyseHolidays(AbstractHolidayCalendar):  # type: ignore[misc]
    """Full-day NYSE closures (early closes are trading days)."""

    rules = [
        Holiday("New Year's Day", month=1, day=1, observance=sunday_to_monday),
        USMartinLutherKingJr,
        USPresidentsDay,
        GoodFriday,
        USMemorialDay,
        Holiday(
            "Juneteenth",
            month=6,
            day=19,
            start_date="2022-01-01",
            observance=nearest_workday,
        ),
        Holiday("Independence Day", month=7, day=4, observance=nearest_workday),
        USLaborDay,
        USThanksgivingDay,
        Holiday("Christmas", month=12, day=25, observance=nearest_workday),
    ]


_TRADING_DAY = CustomBusinessDay(calendar=NyseHolidays())


def last_trading_day(on_or_before: date) -> date:
    """Return the last NYSE trading day on or before `on_or_before`."""
    stamp = pd.Timestamp(on_or_before) + _TRADING_DAY - _TRADING_DAY
    day: date = stamp.date()
    return day


def trading_days(end: date, count: int) -> list[date]:
    """Return the `count` NYSE trading days ending on or before `end`, oldest first."""
    if count <= 0:
        return []
    stamps = pd.date_range(end=last_trading_day(end), periods=count, freq=_TRADING_DAY)
    return [stamp.date() for stamp in stamps]


class PolygonNotAuthorized(PolygonError):
    """The Polygon plan does not include an endpoint; retrying cannot help."""

    title = "Not in your plan"


class PolygonRateLimited(PolygonError):
    """Polygon kept answering 429 after the capped number of retries."""

    title = "Rate limited"


class PolygonDataError(PolygonError):
    """A page came back truncated, empty, undecodable or incomplete."""

    title = "Bad market data"


class PolygonHttpError(PolygonError):
    """Polygon answered one request with an unexpected HTTP status."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


class PolygonNoData(PolygonError):
    """Polygon answered correctly but holds no bars for the requested range."""

    title = "No bars"


@dataclass(frozen=True)
class RateLimit:
    """A 429 back-off in progress, for the pane's countdown.

    Attributes:
        until: Epoch seconds (the service clock) when the retry fires.
        attempt: Which retry this is, starting at 1.
        max_attempts: The retry cap.
        what: The request being retried, e.g. "grouped bars 2025-09-10".
    """

    until: float
    attempt: int
    max_attempts: int
    what: str

    def message(self, now: float) -> str:
        """Return e.g. "rate-limited, retrying in 42 s (retry 1/3, tickers p2)"."""
        left = max(0, math.ceil(self.until - now))
        return (
            f"rate-limited, retrying in {left} s "
            f"(retry {self.attempt}/{self.max_attempts}, {self.what})"
        )


class CallLimiter:
    """At most `per_minute` calls in any sliding 60-second window; thread-safe.

    Args:
        per_minute: The plan's allowance (a free plan allows 5).
        sleep: How to wait; tests pass a recorder.
        monotonic: The time source for the window.
    """

    def __init__(
        self,
        per_minute: int,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if per_minute < 1:
            raise ConfigError("POLYGON_CALLS_PER_MINUTE must be at least 1")
        self.per_minute = per_minute
        self._sleep = sleep
        self._monotonic = monotonic
        self._calls: deque[float] = deque()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Wait for a free slot, take it and return the seconds waited."""
        with self._lock:
            now = self._monotonic()
            while self._calls and now - self._calls[0] >= 60.0:
                self._calls.popleft()
            waited = 0.0
            if len(self._calls) >= self.per_minute:
                waited = 60.0 - (now - self._calls[0])
                self._sleep(waited)
                self._calls.popleft()
            self._calls.append(now + waited)
            return waited


class _RecordingPool(urllib3.PoolManager):
    """A pool that remembers each thread's last response.

    The SDK raises `BadResponse` with only the body text; the status and the
    Retry-After header, which decide between back-off and giving up, come from
    the response remembered here.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._last = threading.local()

    def urlopen(self, method: str, url: str, *args: Any, **kw: Any) -> Any:
        self._last.response = None
        response = super().urlopen(method, url, *args, **kw)
        self._last.response = response
        return response

    def last_response(self) -> Any:
        """Return this thread's last response, or None if the request failed."""
        return getattr(self._last, "response", None)


class BarCache:
    """One CSV file per trading day of grouped bars, so reruns fetch only gaps.

    Only complete, successfully decoded days are written; a day that failed is
    never stored, so it cannot pass later for a day without data.
    """

    columns = ("symbol", "open", "high", "low", "close", "volume")

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, day: date, suffix: str) -> Path:
        return self.directory / f"grouped-{day.isoformat()}.{suffix}"

    def get(self, day: date) -> pd.DataFrame | None:
        """Return the cached bars of `day` (possibly empty), or None if absent."""
        if self._path(day, "empty").exists():
            return _empty_day(day)
        path = self._path(day, "csv")
        if not path.exists():
            return None
        try:
            frame = pd.read_csv(path, dtype={"symbol": str}, keep_default_na=False)
        except (OSError, ValueError) as exc:
            log.warning("bar cache %s unreadable, refetching: %s", path, exc)
            return None
        return _with_date(frame, day)

    def put(self, day: date, frame: pd.DataFrame) -> None:
        """Store `day` atomically; an empty frame becomes an "empty" marker."""
        self.directory.mkdir(parents=True, exist_ok=True)
        if frame.empty:
            self._path(day, "empty").touch()
            return
        final = self._path(day, "csv")
        temp = final.with_suffix(".tmp")
        frame.loc[:, list(self.columns)].to_csv(temp, index=False)
        os.replace(temp, final)

    def days(self) -> list[date]:
        """Return the days held, oldest first."""
        names = sorted(p.name for p in self.directory.glob("grouped-*.*"))
        return [date.fromisoformat(n[8:18]) for n in names if n[-4:] != ".tmp"]


def _empty_day(day: date) -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype="float64") for c in BarCache.columns})
    frame["symbol"] = frame["symbol"].astype(str)
    return _with_date(frame, day)


def _with_date(frame: pd.DataFrame, day: date) -> pd.DataFrame:
    """Add the `date` column and return the frame in bar-column order."""
    frame = frame.assign(date=pd.Timestamp(day).as_unit("ns"))
    return frame.astype(_BAR_DTYPES).loc[:, list(BAR_COLUMNS)]


def decode_page(body: bytes, what: str) -> dict[str, Any]:
    """Decode one JSON page strictly: every defect is an error, never "no data".

    Raises:
        PolygonDataError: the body is empty, invalid UTF-8, truncated or
            malformed JSON, or not a JSON object.
    """
    if body[:2] == b"\x1f\x8b":
        try:
            body = gzip.decompress(body)
        except (OSError, EOFError) as exc:
            raise PolygonDataError(
                f"{what}: page unreadable (bad gzip: {exc})"
            ) from None
    if not body.strip():
        raise PolygonDataError(f"{what}: page unreadable (empty body)")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PolygonDataError(
            f"{what}: page unreadable (invalid UTF-8 at byte {exc.start})"
        ) from None
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PolygonDataError(
            f"{what}: page unreadable (truncated or malformed JSON at char {exc.pos})"
        ) from None
    if not isinstance(payload, dict):
        raise PolygonDataError(f"{what}: page unreadable (not a JSON object)")
    return payload


def grouped_rows(payload: dict[str, Any], what: str) -> list[dict[str, Any]]:
    """Return the rows of a grouped-aggregates page after checking completeness.

    A page without `results` is valid only when Polygon says it counted zero
    rows (a market holiday); otherwise it is an error for that day.
    """
    results = payload.get("results")
    count = payload.get("resultsCount")
    if results is None:
        if count == 0 and payload.get("status", "OK") in ("OK", "DELAYED"):
            return []
        raise PolygonDataError(f"{what}: page without results")
    if not isinstance(results, list):
        raise PolygonDataError(f"{what}: results is not a list")
    if isinstance(count, int) and count != len(results):
        raise PolygonDataError(
            f"{what}: incomplete ({len(results)} of {count} rows received)"
        )
    return results


def _rows_to_bars(rows: list[dict[str, Any]], day: date) -> pd.DataFrame:
    """Turn grouped-aggregate rows into one day's bars (rows without a ticker drop)."""
    rows = [r for r in rows if isinstance(r, dict) and isinstance(r.get("T"), str)]
    if not rows:
        return _empty_day(day)
    data: dict[str, Any] = {"symbol": [r["T"] for r in rows]}
    for column, key in (("open", "o"), ("high", "h"), ("low", "l"), ("close", "c"),
                        ("volume", "v")):  # fmt: skip
        data[column] = _floats([r.get(key) for r in rows])
    frame = pd.DataFrame(data).drop_duplicates("symbol", keep="last")
    return _with_date(frame.reset_index(drop=True), day)


def _floats(values: list[Any]) -> np.ndarray:
    """Convert to float64; anything that is not a number becomes NaN."""
    try:
        return np.array(values, dtype="float64")
    except (TypeError, ValueError):
        return np.array([_float_or_nan(v) for v in values], dtype="float64")


def _float_or_nan(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _snippet(text: str, limit: int = 120) -> str:
    """Return a one-line, shortened piece of an error body."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _bad_response() -> type[Exception]:
    """The SDK's error for a non-2xx reply (imported lazily with the SDK)."""
    from polygon.exceptions import BadResponse  # noqa: PLC0415

    error: type[Exception] = BadResponse
    return error


class PolygonMarket:
    """The live market source, over the official polygon-api-client.

    One grouped-aggregates call per trading day covers the whole market; days
    already in the on-disk cache are not fetched again. Blocking: call it from
    a thread worker or an RQ job.

    Args:
        api_key: The Polygon key; sent as a header by the SDK, never logged.
        base_url: API root, e.g. a local test server.
        calls_per_minute: The plan's allowance; calls wait for a free slot.
        cache_dir: Where daily bars are cached; None keeps nothing on disk.
        clock: Time for the trading-day choice and the 429 countdown.
        max_retries: Retries of one request after a 429 (then it gives up).
        max_wait_s: Cap on one back-off, whatever Retry-After asks for.
        timeout_s: Connect and read timeout of each request.
        sleep: How to wait (the limiter and back-off); tests pass a recorder.

    Attributes:
        source: Always "live".
        calls: HTTP requests made so far, for the benchmark and the pane.
        issues: Problems met by the last fetch that did not stop it, e.g.
            "2025-09-10: page unreadable (…)"; the data is partial when set.
    """

    source = "live"

    def __init__(
        self,
        api_key: str,
        base_url: str = "https://api.polygon.io",
        calls_per_minute: int = 5,
        cache_dir: Path | None = None,
        clock: Clock | None = None,
        *,
        max_retries: int = 3,
        max_wait_s: float = 120.0,
        timeout_s: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not api_key:
            raise ConfigError("POLYGON_API_KEY is not set", title="Polygon")
        self.base_url = base_url.rstrip("/")
        self.clock = clock or Clock()
        self.cache = BarCache(cache_dir) if cache_dir else None
        self.max_retries = max_retries
        self.max_wait_s = max_wait_s
        self.calls = 0
        self._issues: dict[str, tuple[str, ...]] = {}
        self._last_close = pd.Series(dtype="float64")
        self._sleep = sleep
        self._limiter = CallLimiter(calls_per_minute, sleep=sleep)
        self._rate_limit: RateLimit | None = None
        self._lock = threading.Lock()
        self._rest = self._build_client(api_key, timeout_s)

    def _build_client(self, api_key: str, timeout_s: float) -> RESTClient:
        # Imported here: the SDK costs a fifth of a second and the demo never
        # needs it.
        from polygon import RESTClient  # noqa: PLC0415

        rest = RESTClient(
            api_key=api_key,
            base=self.base_url,
            connect_timeout=timeout_s,
            read_timeout=timeout_s,
            retries=0,
        )
        # The SDK's own urllib3 retries would sleep through every Retry-After
        # and end in an opaque MaxRetryError; back-off is done here instead.
        self._pool = _RecordingPool(
            num_pools=4,
            headers=rest.headers,
            ca_certs=certifi.where(),
            cert_reqs="CERT_REQUIRED",
            retries=Retry(total=0, redirect=2, raise_on_status=False),
        )
        rest.client = self._pool
        return rest

    def close(self) -> None:
        """Close the connection pool."""
        self._pool.clear()

    @property
    def rate_limit(self) -> RateLimit | None:
        """The 429 back-off in progress, or None."""
        return self._rate_limit

    def rate_limit_message(self, now: float | None = None) -> str | None:
        """Return "rate-limited, retrying in N s (…)" during a back-off, else None."""
        state = self._rate_limit
        if state is None:
            return None
        return state.message(self.clock.now() if now is None else now)

    def _request(self, what: str, call: Callable[[], Any]) -> dict[str, Any]:
        """Make one raw SDK call under the limiter, backing off on 429.

        Raises:
            PolygonError: (or a subclass) for every failure, translated.
        """
        attempt = 0
        while True:
            self._limiter.acquire()
            with self._lock:
                self.calls += 1
            try:
                response = call()
            except (_bad_response(), UnicodeDecodeError) as exc:
                failed = self._pool.last_response()
                status = getattr(failed, "status", None)
                if status == 429 and attempt < self.max_retries:
                    attempt += 1
                    self._back_off(failed, attempt, what)
                    continue
                raise self._translate(status, failed, what, exc) from None
            except urllib3.exceptions.HTTPError as exc:
                raise PolygonError(
                    f"{what}: Polygon unreachable at {self.base_url} "
                    f"({type(exc).__name__})",
                    title="Polygon unreachable",
                ) from None
            return decode_page(response.data, what)

    def _back_off(self, response: Any, attempt: int, what: str) -> None:
        """Sleep as Retry-After asks (capped), exposing the countdown meanwhile."""
        wait = 2.0 * 2**attempt
        header = response.headers.get("Retry-After") if response is not None else None
        if header:
            try:
                wait = float(Retry(0).parse_retry_after(header))
            except urllib3.exceptions.InvalidHeader:
                log.warning("Polygon sent an unreadable Retry-After: %r", header)
        wait = min(max(wait, 0.0), self.max_wait_s)
        self._rate_limit = RateLimit(
            self.clock.now() + wait, attempt, self.max_retries, what
        )
        log.warning(
            "Polygon 429 on %s; retry %d/%d in %.0f s",
            what, attempt, self.max_retries, wait,
        )  # fmt: skip
        try:
            self._sleep(wait)
        finally:
            self._rate_limit = None

    def _translate(
        self, status: int | None, response: Any, what: str, exc: Exception
    ) -> PolygonError:
        """Turn a non-200 answer into the console's error for it."""
        body = b"" if response is None else (response.data or b"")
        text = body.decode("utf-8", errors="replace")
        if status == 429:
            return PolygonRateLimited(
                f"{what}: still rate-limited after {self.max_retries} retries; "
                "days already fetched are cached, run again later"
            )
        if status == 403 and "NOT_AUTHORIZED" in text:
            return PolygonNotAuthorized(
                f"{what}: your Polygon plan does not include this data "
                "(NOT_AUTHORIZED); not retried"
            )
        if status == 401:
            return PolygonError(
                f"{what}: Polygon rejected the API key (401)", title="Polygon auth"
            )
        if status is None:
            return PolygonError(f"{what}: bad answer ({type(exc).__name__})")
        return PolygonHttpError(
            f"{what}: HTTP {status}: {_snippet(text)}", status=status
        )

    def session_day(self) -> date:
        """Return the latest session whose daily bars should be complete.

        Grouped bars for a day are final after the close, so before 18:00 New
        York time the latest complete session is the previous trading day.
        """
        now = datetime.fromtimestamp(self.clock.now(), tz=NEW_YORK)
        day = now.date() if now.hour >= 18 else now.date() - timedelta(days=1)
        return last_trading_day(day)

    def market_open(self) -> bool:
        """True during the regular session (09:30-16:00 New York, trading days).

        Outside it the all-tickers snapshot only repeats the last daily bar,
        so discovery skips that call.
        """
        now = datetime.fromtimestamp(self.clock.now(), tz=NEW_YORK)
        if last_trading_day(now.date()) != now.date():
            return False
        minutes = now.hour * 60 + now.minute
        return 9 * 60 + 30 <= minutes < 16 * 60

    def fetch_day(self, day: date) -> pd.DataFrame:
        """Fetch one trading day of bars for the whole market (one call).

        Raises:
            PolygonError: the day could not be fetched or was incomplete.
        """
        what = f"grouped bars {day.isoformat()}"
        payload = self._request(
            what,
            partial(
                self._rest.get_grouped_daily_aggs,
                day.isoformat(),
                adjusted=True,
                include_otc=False,
                raw=True,
            ),
        )
        return _rows_to_bars(grouped_rows(payload, what), day)

    def daily_bars(self, days: int) -> pd.DataFrame:
        """Return `days` trading days of bars, fetching only days not cached.

        A day whose page is unreadable is left out and named in `issues`; it
        is never cached. The latest session must be readable.

        Raises:
            PolygonError: the latest session is unreadable, the plan or the
                rate limit stops the fetch, or the range holds no bars.
        """
        end = self.session_day()
        wanted = trading_days(end, days)
        issues: list[str] = []
        frames = {day: self._day_bars(day, end, issues) for day in wanted}
        self._issues["bars"] = tuple(issues)
        if frames[end] is None:
            raise PolygonDataError(
                f"incomplete: latest session unreadable: {issues[-1]}"
            )
        bars = pd.concat(
            [f for f in frames.values() if f is not None], ignore_index=True
        )
        if bars.empty:
            raise PolygonNoData(f"no bars for this range ({wanted[0]} to {end})")
        bars = bars.sort_values(["symbol", "date"], ignore_index=True)
        self._last_close = bars.groupby("symbol")["close"].last()
        return bars

    def _day_bars(self, day: date, end: date, issues: list[str]) -> pd.DataFrame | None:
        """Return one day from the cache or Polygon; None (with an issue) if bad."""
        if self.cache is not None:
            cached = self.cache.get(day)
            if cached is not None:
                return cached
        try:
            frame = self.fetch_day(day)
        except (PolygonDataError, PolygonHttpError) as exc:
            log.warning("Polygon %s", exc.message)
            issues.append(exc.message)
            return None
        if self.cache is not None and (not frame.empty or day < end):
            self.cache.put(day, frame)
        return frame

    @property
    def issues(self) -> tuple[str, ...]:
        """Problems of the last fetches that left the data partial."""
        return tuple(i for group in self._issues.values() for i in group)

    def reference(self) -> pd.DataFrame:
        """Return names and types of active US stock tickers (other columns NaN).

        Pages are followed through `next_url`. A page that fails leaves the
        listing partial, named in `issues`; discovery still runs on bars.
        A complete listing is cached for a week.
        """
        cached = self._cached_reference()
        if cached is not None:
            return cached
        rows, issues = self._ticker_pages()
        self._issues["reference"] = tuple(issues)
        frame = _reference_frame(rows)
        if not issues and self.cache is not None:
            self._store_reference(frame)
        return frame

    def _ticker_pages(self) -> tuple[list[dict[str, Any]], list[str]]:
        rows: list[dict[str, Any]] = []
        cursor: str | None = None
        for page in range(1, MAX_TICKER_PAGES + 1):
            what = f"tickers page {page}"
            try:
                payload = self._request(what, self._tickers_call(cursor))
                results = _ticker_results(payload, what)
            except PolygonError as exc:
                return rows, [f"reference incomplete: {exc.message}"]
            rows.extend(results)
            cursor = _next_cursor(payload)
            if cursor is None:
                return rows, []
        return rows, [f"reference incomplete: stopped after {MAX_TICKER_PAGES} pages"]

    def _tickers_call(self, cursor: str | None) -> Callable[[], Any]:
        return partial(
            self._rest.list_tickers,
            market="stocks",
            active=True,
            limit=1000,
            params={"cursor": cursor} if cursor else None,
            raw=True,
        )

    def _reference_path(self) -> Path | None:
        if self.cache is None:
            return None
        return self.cache.directory / "reference.csv"

    def _cached_reference(self) -> pd.DataFrame | None:
        path = self._reference_path()
        if path is None or not path.exists():
            return None
        if self.clock.now() - path.stat().st_mtime > REFERENCE_MAX_AGE_S:
            return None
        try:
            frame = pd.read_csv(path, dtype={"symbol": str, "name": str, "type": str})
        except (OSError, ValueError) as exc:
            log.warning("reference cache %s unreadable, refetching: %s", path, exc)
            return None
        return _reference_frame(frame.to_dict("records"), key="symbol")

    def _store_reference(self, frame: pd.DataFrame) -> None:
        path = self._reference_path()
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_suffix(".tmp")
        frame[["name", "type"]].to_csv(temp, index_label="symbol")
        os.replace(temp, path)

    def intraday(self) -> pd.DataFrame:
        """Return the all-tickers snapshot: price and volume indexed by symbol.

        Price is the last trade, else today's close, else yesterday's; volume
        is today's, else yesterday's.

        Raises:
            PolygonNotAuthorized: the plan has no snapshot access (not retried).
            PolygonError: any other failure.
        """
        what = "all-tickers snapshot"
        payload = self._request(
            what, partial(self._rest.get_snapshot_all, "stocks", raw=True)
        )
        tickers = payload.get("tickers")
        if not isinstance(tickers, list):
            raise PolygonDataError(f"{what}: page without tickers")
        return _snapshot_frame(tickers)

    def last_price(self, symbol: str) -> float | None:
        """Return the last close fetched for `symbol`, else ask /prev (one call)."""
        symbol = symbol.upper()
        known = self._last_close.get(symbol)
        if known is not None and not math.isnan(known):
            return float(known)
        what = f"previous close {symbol}"
        call = partial(
            self._rest.get_previous_close_agg, symbol, adjusted=True, raw=True
        )
        try:
            rows = grouped_rows(self._request(what, call), what)
        except PolygonError as exc:
            log.warning("no price for %s: %s", symbol, exc.message)
            return None
        close = rows[0].get("c") if rows else None
        return float(close) if isinstance(close, int | float) else None


def _ticker_results(payload: dict[str, Any], what: str) -> list[dict[str, Any]]:
    results = payload.get("results")
    if not isinstance(results, list):
        raise PolygonDataError(f"{what}: page without results")
    count = payload.get("count")
    if isinstance(count, int) and count != len(results):
        raise PolygonDataError(f"{what}: incomplete ({len(results)} of {count} rows)")
    return results


def _next_cursor(payload: dict[str, Any]) -> str | None:
    next_url = payload.get("next_url")
    if not next_url:
        return None
    cursor = parse_qs(urlsplit(str(next_url)).query).get("cursor")
    return cursor[0] if cursor else None


def _reference_frame(rows: list[dict[str, Any]], key: str = "ticker") -> pd.DataFrame:
    """Build the reference layout; Polygon's listing has no float or short data."""
    symbols = [str(r.get(key)) for r in rows if r.get(key)]
    frame = pd.DataFrame(
        {
            "name": [str(r.get("name") or "") for r in rows if r.get(key)],
            "type": [str(r.get("type") or "") for r in rows if r.get(key)],
        },
        index=pd.Index(symbols, name="symbol", dtype=str),
    )
    frame = frame[~frame.index.duplicated(keep="last")]
    for column in REFERENCE_COLUMNS[2:]:
        frame[column] = False if column == "float_is_proxy" else np.nan
    return frame.loc[:, list(REFERENCE_COLUMNS)]


def _first_number(*values: Any) -> float:
    """Return the first positive number among `values`, else NaN."""
    for value in values:
        if isinstance(value, int | float) and value > 0:
            return float(value)
    return math.nan


def _snapshot_frame(tickers: list[dict[str, Any]]) -> pd.DataFrame:
    symbols, prices, volumes = [], [], []
    for item in tickers:
        if not isinstance(item, dict) or not item.get("ticker"):
            continue
        day = item.get("day") or {}
        prev = item.get("prevDay") or {}
        trade = item.get("lastTrade") or {}
        symbols.append(str(item["ticker"]))
        prices.append(_first_number(trade.get("p"), day.get("c"), prev.get("c")))
        volumes.append(_first_number(day.get("v"), prev.get("v")))
    return pd.DataFrame(
        {"price": prices, "volume": volumes},
        index=pd.Index(symbols, name="symbol", dtype=str),
    )
