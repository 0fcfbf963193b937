"""The squeeze alerts provider: detection over the held bars, shared alerts, actions.

`SqueezeService.load()` runs `detect` on the bars the discovery engine already
holds (it never fetches bars), asks the short-data source for the few symbols
that can pass, syncs the passing rows into the alert store (Redis when a URL is
given, else in memory, unshared) and returns an immutable `SqueezeView`.
Blocking: call from threads. Must not import Textual.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import pandas as pd

from services.clock import Clock
from services.environment import Outcome
from services.errors import AmcTuiError
from services.squeeze_alerts import (
    Alert,
    AlertBackend,
    AlertInput,
    AlertStore,
    MemoryAlertStore,
    effective_state,
)
from services.squeeze_detect import (
    FACTORS,
    LEVEL_RANK,
    PRICE_MAX,
    PRICE_MIN,
    SPIKE_MIN,
    WEIGHTS,
    detect,
    join_features,
    market_features,
)

__all__ = [
    "AlertStore",
    "MemoryAlertStore",
    "SqueezeService",
    "SqueezeView",
    "AlertRow",
    "ApiCandidate",
    "detect",
    "parse_duration",
]

log = logging.getLogger(__name__)

NOTIFY_LEVELS = ("EXTREME", "HIGH")
ROW_FIELDS = (
    "si_pct",
    "days_to_cover",
    "float_shares",
    "float_is_proxy",
    "volume_ratio",
    "price",
    "change_pct",
    "confidence",
)


class SqueezeError(AmcTuiError):
    """Squeeze detection could not run on the data it was given."""

    title = "Squeeze"


class ShortData(Protocol):
    """A source of the reference columns for a set of symbols.

    `reference(symbols)` returns the shared reference frame (indexed by
    symbol) for at least those symbols; `factor_sources()` names where each
    squeeze factor's data came from, for the detail screen.
    """

    source: str

    def reference(self, symbols: Sequence[str] | None = None) -> pd.DataFrame:
        """Return the reference frame for `symbols` (all when None)."""

    def factor_sources(self) -> dict[str, str]:
        """Return {factor: source label} for short_interest, float, borrow."""


def parse_duration(text: str) -> float:
    """Parse "15m", "1h", "1d", "90s" or "1h30m" into seconds.

    Raises:
        ValueError: the text is not a positive duration.
    """
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*([smhd])", text.strip().lower())
    leftover = re.sub(r"(\d+(?:\.\d+)?)\s*([smhd])", "", text.strip().lower()).strip()
    if not parts or leftover:
        raise ValueError(f"not a duration: {text!r} (try 15m, 1h or 1d)")
    unit = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    seconds = sum(float(n) * unit[u] for n, u in parts)
    if seconds <= 0:
        raise ValueError("a snooze must last more than zero seconds")
    return seconds


@dataclass(frozen=True)
class AlertRow:
    """One row of the squeeze alerts table (None means unknown).

    Attributes:
        symbol: Ticker.
        level: Current level (EXTREME, HIGH, MEDIUM, LOW).
        peak_level: Highest level since the alert fired.
        pattern: E.g. VIGL_EXTREME.
        score: 0-100.
        si_pct: Short interest as % of float.
        days_to_cover: Days.
        float_shares: Float, or shares outstanding when `float_is_proxy`.
        float_is_proxy: True when the float is shares outstanding.
        volume_ratio: Last volume / 30-day average.
        price: Last close.
        change_pct: Change on the day, %.
        confidence: 0-1, lowered by each missing input.
        first_seen: Epoch seconds.
        state: new, acknowledged or snoozed.
        snooze_until: Epoch seconds, or None.
    """

    symbol: str
    level: str
    peak_level: str
    pattern: str
    score: float
    si_pct: float | None
    days_to_cover: float | None
    float_shares: float | None
    float_is_proxy: bool
    volume_ratio: float | None
    price: float | None
    change_pct: float | None
    confidence: float | None
    first_seen: float
    state: str
    snooze_until: float | None

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form."""
        return dict(self.__dict__)

    def text(self) -> str:
        """Return one plain-text line."""
        return (
            f"{self.symbol:<6} {self.level:<8} {self.score:6.1f} "
            f"SI {fmt(self.si_pct, '{:.1f}%')} DTC {fmt(self.days_to_cover, '{:.1f}')} "
            f"float {fmt_float(self.float_shares, self.float_is_proxy)} "
            f"vol {fmt(self.volume_ratio, '{:.1f}x')} ${fmt(self.price, '{:.2f}')} "
            f"{fmt(self.change_pct, '{:+.1f}%')} {self.state}"
        )


@dataclass(frozen=True)
class ApiCandidate:
    """A squeeze candidate served by the AMC API (which ranks by BMS score)."""

    symbol: str
    score: float | None
    tier: str
    source: str

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form."""
        return dict(self.__dict__)


@dataclass(frozen=True)
class SqueezeView:
    """What the squeeze pane shows.

    Attributes:
        alerts: Active alerts sorted by level, then score, descending.
        new_high: Symbols whose EXTREME/HIGH alert fired since the last load.
        api_candidates: AMC API squeeze candidates (empty when not configured).
        api_error: Why the API candidates could not be read, or None.
        scanned: Symbols scored.
        shared: True when alerts live in Redis (shared by consoles).
        note: A plain remark such as "no bars loaded yet", or "".
    """

    alerts: tuple[AlertRow, ...] = ()
    new_high: tuple[str, ...] = ()
    api_candidates: tuple[ApiCandidate, ...] = ()
    api_error: str | None = None
    scanned: int = 0
    shared: bool = False
    note: str = ""

    @property
    def counts(self) -> dict[str, int]:
        """Alerts per level and per state, plus the total."""
        counts = {level: 0 for level in ("EXTREME", "HIGH", "MEDIUM", "LOW")}
        for row in self.alerts:
            counts[row.level] = counts.get(row.level, 0) + 1
        for state in ("new", "acknowledged", "snoozed"):
            counts[state] = sum(1 for r in self.alerts if r.state == state)
        counts["total"] = len(self.alerts)
        return counts

    def to_dict(self) -> dict[str, Any]:
        """Return the snapshot section: alerts, counts, new_high, API candidates."""
        return {
            "alerts": [row.to_dict() for row in self.alerts],
            "counts": self.counts,
            "new_high": list(self.new_high),
            "api_candidates": [c.to_dict() for c in self.api_candidates],
        }

    def summary(self) -> str:
        """Return the one-line count of alerts by level."""
        counts = self.counts
        return (
            f"{counts['total']} alerts: {counts['EXTREME']} extreme, "
            f"{counts['HIGH']} high, {counts['MEDIUM']} medium, {counts['LOW']} low "
            f"({self.scanned} scanned{'' if self.shared else ', not shared'})"
        )

    def text_lines(self) -> list[str]:
        """Return a plain-text rendering."""
        lines = [self.summary()]
        if self.note:
            lines.append(self.note)
        lines += [row.text() for row in self.alerts]
        lines += [
            f"{c.source}: {c.symbol} {fmt(c.score, '{:.1f}')} {c.tier}"
            for c in self.api_candidates
        ]
        if self.api_error:
            lines.append(f"AMC API candidates unavailable: {self.api_error}")
        return lines


def fmt(value: float | None, pattern: str) -> str:
    """Format a number, or "?" when it is unknown."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "?"
    return pattern.format(value)


def fmt_float(value: float | None, proxy: bool) -> str:
    """Format a share count in millions; a proxy float is marked with "~"."""
    text = fmt(None if value is None else value / 1e6, "{:.1f}M")
    return f"~{text}" if proxy and text != "?" else text


class SqueezeService:
    """Provider of the squeeze pane and owner of its actions.

    Args:
        redis_url: Where alerts are shared; None keeps them in this process only
            (not shared with other consoles, lost on restart).
        short_data: Reference data (short interest, float, borrow) by symbol.
        bars_source: Returns the bars the discovery engine holds, or None
            before its first load. Never fetched here.
        clock: Time source.
        source: "demo" or "live", shown in the pane header.
        amc_api_candidates: Returns the AMC API's squeeze candidates (raw dicts)
            when an API is configured; it raises `AmcTuiError` on failure.
    """

    def __init__(
        self,
        redis_url: str | None,
        short_data: ShortData,
        bars_source: Callable[[], pd.DataFrame | None],
        clock: Clock,
        source: str,
        amc_api_candidates: Callable[[], list[dict[str, Any]]] | None = None,
    ) -> None:
        self.source = source
        self._short_data = short_data
        self._bars_source = bars_source
        self._clock = clock
        self._api = amc_api_candidates
        self._store: AlertBackend = (
            AlertStore(redis_url, clock) if redis_url else MemoryAlertStore(clock)
        )
        self._shared = redis_url is not None
        self._lock = threading.Lock()
        self._seen_seq: int | None = None
        self._last: pd.DataFrame | None = None

    def close(self) -> None:
        """Close the Redis connection of the alert store, if any."""
        if isinstance(self._store, AlertStore):
            self._store.close()

    def load(self) -> SqueezeView:
        """Detect, sync alerts, and return the view.

        Raises:
            AmcTuiError: short data, Redis or the bars failed.
        """
        bars = self._bars_source()
        if bars is None or bars.empty:
            alerts = self._store.alerts()
            return self._view(alerts, (), 0, "no bars loaded yet: alerts not refreshed")
        seen = self._seen_before()
        result = self._detect(bars)
        passing = result[result["passed"]]
        self._store.sync([_input(symbol, rec) for symbol, rec in passing.iterrows()])
        with self._lock:
            self._last = result
        alerts = self._store.alerts()
        new_high = tuple(
            sorted(
                (a for a in alerts if a.seq > seen and a.peak_level in NOTIFY_LEVELS),
                key=_sort_key,
            )
        )
        with self._lock:
            self._seen_seq = max([seen, *(a.seq for a in alerts)])
        return self._view(alerts, tuple(a.symbol for a in new_high), len(result), "")

    def _seen_before(self) -> int:
        with self._lock:
            seen = self._seen_seq
        return self._store.last_seq() if seen is None else seen

    def _detect(self, bars: pd.DataFrame) -> pd.DataFrame:
        """Score the universe; short data is asked only for symbols that can pass."""
        try:
            market = market_features(bars)
        except (KeyError, ValueError, TypeError) as exc:
            raise SqueezeError(f"bars frame is unusable: {exc}") from None
        eligible = market.index[
            market["price"].between(PRICE_MIN, PRICE_MAX)
            & (market["volume_ratio"] >= SPIKE_MIN)
        ]
        reference = self._short_data.reference(list(eligible))
        features = join_features(market, reference)
        sources = {
            "volume": f"daily bars ({self.source})",
            **self._short_data.factor_sources(),
        }
        return detect(features, sources)

    def _view(
        self, alerts: list[Alert], new_high: tuple[str, ...], scanned: int, note: str
    ) -> SqueezeView:
        now = self._clock.now()
        rows = tuple(_row(a, now) for a in sorted(alerts, key=_sort_key))
        candidates, error = self._api_candidates()
        return SqueezeView(
            rows, new_high, candidates, error, scanned, self._shared, note
        )

    def _api_candidates(self) -> tuple[tuple[ApiCandidate, ...], str | None]:
        if self._api is None:
            return (), None
        try:
            raw = self._api()
        except AmcTuiError as exc:
            return (), exc.message
        return tuple(
            _api_candidate(item) for item in raw if isinstance(item, dict)
        ), None

    def acknowledge(self, symbol: str) -> Outcome:
        """Mark a symbol's alert acknowledged (for every console)."""
        if not self._store.set_state(symbol, "acknowledged", None):
            return Outcome(False, f"{symbol}: no active alert", {"symbol": symbol})
        return Outcome(True, f"{symbol} acknowledged", {"symbol": symbol})

    def snooze(self, symbol: str, seconds: float) -> Outcome:
        """Hide a symbol's alert from "new" until now + `seconds`."""
        if seconds <= 0:
            return Outcome(False, "snooze must last more than zero seconds")
        until = self._clock.now() + seconds
        if not self._store.set_state(symbol, "snoozed", until):
            return Outcome(False, f"{symbol}: no active alert", {"symbol": symbol})
        details = {"symbol": symbol, "seconds": seconds, "until": until}
        return Outcome(True, f"{symbol} snoozed for {_span(seconds)}", details)

    def history(self, symbol: str) -> Outcome:
        """Return the symbol's alert history; `details["text"]` is plain text."""
        events = self._store.history(symbol)
        lines = [
            f"{_stamp(e.at)}  {e.event:<12} {e.level:<8} "
            f"{fmt(None if e.score is None else e.score * 100, '{:.1f}')}"
            for e in events
        ]
        text = "\n".join(lines) or "no history"
        details = {
            "symbol": symbol,
            "events": [e.to_dict() for e in events],
            "text": text,
        }
        return Outcome(True, f"{symbol}: {len(events)} history events", details)

    def detail(self, symbol: str) -> Outcome:
        """Explain a symbol's score factor by factor; `details["text"]` is text."""
        with self._lock:
            last = self._last
        if last is None or symbol not in last.index:
            return Outcome(
                False,
                f"{symbol}: not in the latest detection",
                {"symbol": symbol, "text": "not in the latest detection"},
            )
        text = explain(symbol, last.loc[symbol])
        return Outcome(
            True, f"{symbol} score explained", {"symbol": symbol, "text": text}
        )


def explain(symbol: str, rec: pd.Series) -> str:
    """Return a plain-text explanation of one detection row."""
    proxy = bool(rec["float_is_proxy"])
    values = {
        "volume": fmt(_num(rec["volume_ratio"]), "{:.2f}x vs 30-day average"),
        "short_interest": fmt(_pct(rec["si_float"]), "{:.1f}% of float"),
        "float": fmt_float(_num(rec["float_shares"]), proxy)
        + (" (shares outstanding, proxy)" if proxy else ""),
        "borrow": fmt(_pct(rec["borrow_fee"]), "{:.1f}%/yr fee"),
    }
    lines = [
        f"{symbol}: {rec['level']} {rec['pattern']}  score {rec['score_pct']:.2f}/100",
        f"passed: {'yes' if rec['passed'] else 'no'} (bar {rec['pass_bar']:.2f} "
        f"for SI confidence {rec['si_confidence']:.2f})"
        + (f"; rejected: {rec['rejected']}" if rec["rejected"] else ""),
        f"confidence {rec['confidence']:.2f}",
        "",
        f"{'factor':<15} {'weight':>6} {'contrib':>8}  value / source",
    ]
    for factor in FACTORS:
        lines.append(
            f"{factor:<15} {WEIGHTS[factor]:>6.2f} {rec[f'c_{factor}']:>8.4f}  "
            f"{values[factor]}  [{rec[f'src_{factor}']}]"
        )
    lines += [
        "",
        f"days to cover {fmt(_num(rec['days_to_cover']), '{:.1f}')}, "
        f"utilisation {fmt(_pct(rec['utilization']), '{:.0f}%')} (not in the score)",
        f"SI feed score (SI % + days to cover) "
        f"{fmt(_num(rec['si_feed_score']), '{:.2f}')}",
        f"price ${fmt(_num(rec['price']), '{:.2f}')}, "
        f"change {fmt(_num(rec['change_pct']), '{:+.2f}%')}",
    ]
    return "\n".join(lines)


def _num(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _pct(value: Any) -> float | None:
    number = _num(value)
    return None if number is None else number * 100.0


def _input(symbol: Any, rec: pd.Series) -> AlertInput:
    row = {
        "si_pct": _pct(rec["si_float"]),
        "days_to_cover": _num(rec["days_to_cover"]),
        "float_shares": _num(rec["float_shares"]),
        "float_is_proxy": bool(rec["float_is_proxy"]),
        "volume_ratio": _num(rec["volume_ratio"]),
        "price": _num(rec["price"]),
        "change_pct": _num(rec["change_pct"]),
        "confidence": _num(rec["confidence"]),
    }
    return AlertInput(
        str(symbol), str(rec["level"]), str(rec["pattern"]), float(rec["score"]), row
    )


def _row(alert: Alert, now: float) -> AlertRow:
    r = alert.row
    return AlertRow(
        symbol=alert.symbol,
        level=alert.level,
        peak_level=alert.peak_level,
        pattern=alert.pattern,
        score=round(alert.score * 100.0, 2),
        si_pct=r.get("si_pct"),
        days_to_cover=r.get("days_to_cover"),
        float_shares=r.get("float_shares"),
        float_is_proxy=bool(r.get("float_is_proxy", False)),
        volume_ratio=r.get("volume_ratio"),
        price=r.get("price"),
        change_pct=r.get("change_pct"),
        confidence=r.get("confidence"),
        first_seen=alert.first_seen,
        state=effective_state(alert.state, alert.snooze_until, now),
        snooze_until=alert.snooze_until,
    )


def _sort_key(alert: Alert) -> tuple[int, float, str]:
    return (-LEVEL_RANK.get(alert.level, 0), -alert.score, alert.symbol)


def _api_candidate(item: Mapping[str, Any]) -> ApiCandidate:
    """Read one AMC API squeeze candidate (its score is a BMS score, §2.4)."""
    score = _num(item.get("score", item.get("bms_score")))
    if score is not None and score <= 1:
        score = round(score * 100.0, 2)
    tier = str(item.get("squeeze_tier") or "?")
    return ApiCandidate(
        str(item.get("symbol", "?")), score, tier, "AMC API (BMS score)"
    )


def _span(seconds: float) -> str:
    if seconds % 86400 == 0:
        return f"{seconds / 86400:.0f}d"
    if seconds % 3600 == 0:
        return f"{seconds / 3600:.0f}h"
    if seconds % 60 == 0:
        return f"{seconds / 60:.0f}m"
    return f"{seconds:.0f}s"


def _stamp(epoch: float) -> str:
    stamp = dt.datetime.fromtimestamp(epoch, tz=dt.UTC)
    return stamp.strftime("%Y-%m-%d %H:%M:%S")
