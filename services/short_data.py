"""Short interest, short volume, float and borrow data as the shared reference frame.

Adapts polygon-api-client (`list_short_interest`, `list_short_volume`,
`get_ticker_details`) and an optional borrow fee / utilisation CSV
(`AMC_BORROW_CSV`). Polygon only knows shares outstanding, so a float taken from
ticker details is flagged `float_is_proxy`. A missing field or a null becomes
NaN, never a default. Blocking (urllib3 under the SDK): call from threads.
Library errors leave this module only as `ShortDataError` subclasses.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import certifi
import pandas as pd
import urllib3
from urllib3.util.retry import Retry

from services.clock import Clock
from services.errors import PolygonError
from services.market_data import REFERENCE_COLUMNS as MARKET_REFERENCE_COLUMNS

log = logging.getLogger(__name__)

# The shared reference frame, plus the short-volume ratio this adapter reads.
REFERENCE_COLUMNS = (*MARKET_REFERENCE_COLUMNS, "short_volume_ratio")
NUMERIC_COLUMNS = tuple(
    c for c in REFERENCE_COLUMNS if c not in {"name", "type", "float_is_proxy"}
)


class ShortDataError(PolygonError):
    """Short interest, float or borrow data could not be read."""

    title = "Short data"


class ShortDataRateLimited(ShortDataError):
    """Polygon answered 429; `retry_after_s` says when to try again."""

    title = "Rate limited"

    def __init__(self, message: str, retry_after_s: float | None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class ShortDataNotEntitled(ShortDataError):
    """The Polygon plan does not include this endpoint (403); do not retry."""

    title = "Not in plan"


class ShortDataIncomplete(ShortDataError):
    """A page of a paginated answer was unreadable, so the data set is partial."""

    title = "Incomplete data"


@dataclass
class _Page:
    """What the recorder saw of one HTTP response."""

    status: int
    retry_after: str | None
    path: str
    shape: str


class _RecordingPool:
    """Wraps the SDK's urllib3 pool to remember each response per thread.

    The SDK raises `BadResponse` with only the body and silently turns an
    unreadable page into the end of the data; recording the status, the
    Retry-After header and whether the page parsed lets this adapter say
    which of those happened.
    """

    def __init__(self, pool: urllib3.PoolManager) -> None:
        self._pool = pool
        self._local = threading.local()

    @property
    def pages(self) -> list[_Page]:
        if not hasattr(self._local, "pages"):
            self._local.pages = []
        pages: list[_Page] = self._local.pages
        return pages

    def reset(self) -> None:
        self._local.pages = []

    def request(self, method: str, url: str, **kwargs: Any) -> Any:
        response = self._pool.request(method, url, **kwargs)
        page = _Page(
            response.status,
            response.headers.get("Retry-After"),
            urlsplit(url).path,
            _shape(response.status, response.data),
        )
        self.pages.append(page)
        return response

    def clear(self) -> None:
        self._pool.clear()


def _shape(status: int, data: bytes) -> str:
    """Classify a body: "ok", "no results" or "unreadable: <why>"."""
    if status != 200:
        return "error"
    try:
        decoded = json.loads(data.decode("utf-8"))
    except ValueError as exc:
        return f"unreadable: {type(exc).__name__} {str(exc)[:80]}"
    if isinstance(decoded, dict) and "results" not in decoded:
        return "no results"
    return "ok"


def number(value: Any) -> float:
    """Return a finite, non-negative float, or NaN for anything else."""
    if value is None or isinstance(value, bool):
        return math.nan
    try:
        result = float(value)
    except (TypeError, ValueError):
        return math.nan
    return result if math.isfinite(result) and result >= 0 else math.nan


def fraction(value: Any) -> float:
    """Parse "25%", "0.25" or 0.25 as a fraction; NaN when unreadable."""
    if isinstance(value, str) and value.strip().endswith("%"):
        return number(value.strip()[:-1]) / 100.0
    if isinstance(value, str):
        return number(value.strip() or None)
    return number(value)


def load_borrow_csv(path: str | Path) -> pd.DataFrame:
    """Read `symbol,borrow_fee,utilization` (fractions or "25%") by symbol.

    Raises:
        ShortDataError: the file is missing, unreadable or lacks a column.
    """
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise ShortDataError(f"cannot read {path}: {exc}", title="Borrow CSV") from None
    raw.columns = [str(c).strip().lower() for c in raw.columns]
    missing = {"symbol", "borrow_fee", "utilization"} - set(raw.columns)
    if missing:
        raise ShortDataError(
            f"{path} lacks column(s) {', '.join(sorted(missing))}", title="Borrow CSV"
        )
    frame = pd.DataFrame(
        {
            "borrow_fee": [fraction(v) for v in raw["borrow_fee"]],
            "utilization": [fraction(v) for v in raw["utilization"]],
        },
        index=pd.Index([s.strip().upper() for s in raw["symbol"]], name="symbol"),
    )
    return frame[~frame.index.duplicated(keep="last") & (frame.index != "")]


def empty_reference(symbols: Iterable[str]) -> pd.DataFrame:
    """Return a reference frame with every value unknown."""
    index = pd.Index(list(symbols), name="symbol", dtype=object)
    frame = pd.DataFrame(index=index)
    frame["name"] = pd.Series(None, index=index, dtype=object)
    frame["type"] = pd.Series(None, index=index, dtype=object)
    for column in NUMERIC_COLUMNS:
        frame[column] = math.nan
    frame["float_is_proxy"] = False
    return frame[list(REFERENCE_COLUMNS)]


class PolygonShortData:
    """Reference data for squeeze detection from Polygon and a borrow CSV.

    Args:
        api_key: Polygon key (sent as a bearer header by the SDK; never logged).
        clock: Time source for look-back windows and the float cache.
        base_url: Polygon base URL (a local server in tests).
        timeout_s: Connect and read timeout per request.
        borrow_csv: Path of the borrow fee / utilisation CSV, or None.
        retries: Retries on 5xx answers and connection errors (not on 429).
        max_details: Ticker-details calls per `reference()`; later symbols
            keep an unknown float until a later load.
        float_cache_s: How long a fetched float is reused.
    """

    source = "live"

    def __init__(
        self,
        api_key: str,
        clock: Clock,
        base_url: str = "https://api.polygon.io",
        timeout_s: float = 5.0,
        borrow_csv: str | Path | None = None,
        retries: int = 2,
        max_details: int = 200,
        float_cache_s: float = 86400.0,
    ) -> None:
        # Imported here: the SDK is slow to import and the demo never needs it.
        from polygon import RESTClient  # noqa: PLC0415
        from polygon.exceptions import AuthError  # noqa: PLC0415

        try:
            self._client = RESTClient(api_key=api_key, base=base_url.rstrip("/"))
        except AuthError:
            raise ShortDataError("no Polygon API key configured") from None
        pool = urllib3.PoolManager(
            num_pools=4,
            headers=self._client.headers,
            ca_certs=certifi.where(),
            cert_reqs="CERT_REQUIRED",
            # The SDK never passes its own timeout to urllib3; set it on the pool.
            timeout=urllib3.Timeout(connect=timeout_s, read=timeout_s),
            # A 429 is reported at once with its Retry-After instead of
            # sleeping inside a worker thread (urllib3 would wait the full delay).
            retries=Retry(
                total=retries,
                status_forcelist=[500, 502, 503, 504],
                backoff_factor=0.2,
                raise_on_status=False,
                respect_retry_after_header=False,
            ),
        )
        self._pool = _RecordingPool(pool)
        self._client.client = self._pool
        self._clock = clock
        self._base = base_url
        self._borrow_csv = borrow_csv
        self._max_details = max_details
        self._float_cache_s = float_cache_s
        self._floats: dict[str, tuple[float, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._pool.clear()

    def factor_sources(self) -> dict[str, str]:
        """Where each squeeze factor's data comes from."""
        borrow = "AMC_BORROW_CSV" if self._borrow_csv else "not configured"
        return {
            "short_interest": "Polygon short interest",
            "float": "Polygon ticker details",
            "borrow": borrow,
        }

    def reference(self, symbols: Sequence[str] | None = None) -> pd.DataFrame:
        """Return the reference frame for `symbols` (every SI ticker when None).

        Raises:
            ShortDataError: a Polygon call or the borrow CSV failed.
        """
        interest = self.short_interest()
        volume = self.short_volume()
        wanted = list(interest.index) if symbols is None else list(symbols)
        frame = empty_reference(wanted)
        for column in ("short_interest", "days_to_cover"):
            frame[column] = interest[column].reindex(frame.index)
        frame["short_volume_ratio"] = volume["short_volume_ratio"].reindex(frame.index)
        self._add_floats(frame)
        if self._borrow_csv:
            borrow = load_borrow_csv(self._borrow_csv).reindex(frame.index)
            frame["borrow_fee"] = borrow["borrow_fee"]
            frame["utilization"] = borrow["utilization"]
        return frame

    def short_interest(self, lookback_days: int = 45) -> pd.DataFrame:
        """Latest short interest per ticker settled in the look-back window.

        Returns:
            Indexed by symbol: `short_interest`, `days_to_cover`,
            `avg_daily_volume` (NaN where null or absent), `settlement_date`.
        """
        since = self._since(lookback_days)
        records = self._run(
            "short interest",
            lambda: self._client.list_short_interest(
                settlement_date_gte=since, limit=50000
            ),
        )
        rows = [
            {
                "symbol": r.ticker,
                "short_interest": number(r.short_interest),
                "days_to_cover": number(r.days_to_cover),
                "avg_daily_volume": number(r.avg_daily_volume),
                "settlement_date": r.settlement_date or "",
            }
            for r in records
            if isinstance(getattr(r, "ticker", None), str)
        ]
        columns = [
            "short_interest",
            "days_to_cover",
            "avg_daily_volume",
            "settlement_date",
        ]
        return _latest(rows, "settlement_date", columns)

    def short_volume(self, lookback_days: int = 7) -> pd.DataFrame:
        """Latest daily short volume per ticker in the look-back window.

        Returns:
            Indexed by symbol: `short_volume`, `total_volume`,
            `short_volume_ratio` (a fraction), `date`.
        """
        since = self._since(lookback_days)
        records = self._run(
            "short volume",
            lambda: self._client.list_short_volume(date_gte=since, limit=50000),
        )
        rows = [
            {
                "symbol": r.ticker,
                "short_volume": number(r.short_volume),
                "total_volume": number(r.total_volume),
                # Polygon gives the ratio in percent.
                "short_volume_ratio": number(r.short_volume_ratio) / 100.0,
                "date": r.date or "",
            }
            for r in records
            if isinstance(getattr(r, "ticker", None), str)
        ]
        columns = ["short_volume", "total_volume", "short_volume_ratio", "date"]
        return _latest(rows, "date", columns)

    def ticker_float(self, symbol: str) -> dict[str, Any]:
        """Shares outstanding (as a proxy float), name and type of one ticker.

        Returns:
            {"name", "type", "shares_outstanding", "float_shares",
            "float_is_proxy"}; an unknown ticker gives NaN values.
        """
        try:
            details = self._run_one(
                f"ticker details {symbol}",
                lambda: self._client.get_ticker_details(symbol),
            )
        except ShortDataError:
            if self._pool.pages and self._pool.pages[-1].status == 404:
                return _float_record(None, None, math.nan)
            raise
        shares = number(getattr(details, "share_class_shares_outstanding", None))
        if math.isnan(shares):
            shares = number(getattr(details, "weighted_shares_outstanding", None))
        return _float_record(
            getattr(details, "name", None), getattr(details, "type", None), shares
        )

    def _add_floats(self, frame: pd.DataFrame) -> None:
        """Fill name, type and float columns, from the cache where fresh."""
        now = self._clock.now()
        fetched = 0
        for symbol in frame.index:
            with self._lock:
                cached = self._floats.get(symbol)
            if cached is None or now - cached[0] > self._float_cache_s:
                if fetched >= self._max_details:
                    # TODO: spread ticker-details calls over loads by rate budget.
                    log.warning("float unknown for %s: details budget spent", symbol)
                    continue
                cached = (now, self.ticker_float(symbol))
                fetched += 1
                with self._lock:
                    self._floats[symbol] = cached
            for key, value in cached[1].items():
                frame.at[symbol, key] = value

    def _since(self, days: int) -> str:
        today = dt.datetime.fromtimestamp(self._clock.now(), tz=dt.UTC).date()
        return (today - dt.timedelta(days=days)).isoformat()

    def _run_one(self, label: str, call: Callable[[], Any]) -> Any:
        """Make one non-paginated call, translating its failures."""
        self._pool.reset()
        from polygon.exceptions import BadResponse  # noqa: PLC0415

        try:
            result = call()
        except BadResponse:
            raise self._http_error(label) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise self._unreachable(label, exc) from None
        self._check_pages(label)
        return result

    def _run(self, label: str, call: Callable[[], Iterator[Any]]) -> list[Any]:
        """Consume a paginated call, translating failures and partial pages."""
        return list(self._run_one(label, lambda: list(call())))

    def _check_pages(self, label: str) -> None:
        for number_, page in enumerate(self._pool.pages, start=1):
            if page.shape.startswith("unreadable"):
                raise ShortDataIncomplete(f"{label}: page {number_} {page.shape}")
            if page.shape == "no results" and number_ > 1:
                raise ShortDataIncomplete(f"{label}: page {number_} has no results")

    def _http_error(self, label: str) -> ShortDataError:
        page = self._pool.pages[-1] if self._pool.pages else None
        status = page.status if page else 0
        log.warning("polygon %s answered HTTP %s", label, status)
        if status == 429:
            wait = number(page.retry_after) if page else math.nan
            after = None if math.isnan(wait) else wait
            hint = f"; retry in {after:.0f}s" if after is not None else ""
            return ShortDataRateLimited(f"{label}: Polygon rate limit{hint}", after)
        if status == 403:
            return ShortDataNotEntitled(
                f"{label}: your Polygon plan does not include this data (HTTP 403)"
            )
        if status == 401:
            return ShortDataError(f"{label}: Polygon refused the API key (HTTP 401)")
        return ShortDataError(f"{label}: Polygon answered HTTP {status}")

    def _unreachable(self, label: str, exc: BaseException) -> ShortDataError:
        host = urlsplit(self._base).netloc
        log.warning("polygon %s failed: %s", label, type(exc).__name__)
        return ShortDataError(f"{label}: {host} unreachable ({type(exc).__name__})")


def _float_record(name: Any, kind: Any, shares: float) -> dict[str, Any]:
    known = not math.isnan(shares)
    return {
        "name": name if isinstance(name, str) else None,
        "type": kind if isinstance(kind, str) else None,
        "shares_outstanding": shares,
        "float_shares": shares,
        "float_is_proxy": known,
    }


def _latest(
    rows: list[dict[str, Any]], date_key: str, columns: list[str]
) -> pd.DataFrame:
    """Keep each symbol's most recent row (by ISO date string)."""
    if not rows:
        return pd.DataFrame(columns=columns, index=pd.Index([], name="symbol"))
    frame = pd.DataFrame(rows).sort_values([date_key, "symbol"], kind="stable")
    frame = frame.drop_duplicates("symbol", keep="last").set_index("symbol")
    return frame[columns]


class FrameShortData:
    """Short data from a reference-frame callable, e.g. the demo market's.

    Args:
        reference_fn: Returns the full reference frame (indexed by symbol).
        source: "demo" or "live".
        sources: Factor source labels; default names `source` for each.
    """

    def __init__(
        self,
        reference_fn: Callable[[], pd.DataFrame],
        source: str = "demo",
        sources: dict[str, str] | None = None,
    ) -> None:
        self.source = source
        self._reference_fn = reference_fn
        self._sources = sources or {
            f: f"{source} reference" for f in ("short_interest", "float", "borrow")
        }

    def factor_sources(self) -> dict[str, str]:
        """Where each squeeze factor's data comes from."""
        return dict(self._sources)

    def reference(self, symbols: Sequence[str] | None = None) -> pd.DataFrame:
        """Return the reference frame, limited to `symbols` when given."""
        frame = self._reference_fn()
        return frame if symbols is None else frame.reindex(list(symbols))
