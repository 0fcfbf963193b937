"""The candidates pane's state: candidates, provenance, warnings and the run.

Plain frozen dataclasses built from the AMC envelope (whoever wrote it: the
real RQ job, this console, an emergency route), so the pane, the headless
snapshot and the CLI render the same thing. No I/O here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from services.clock import format_age

SUSPECT_ENGINE_WORDS = ("demo", "fallback", "emergency")
SPARK = "▁▂▃▄▅▆▇█"


def _num(value: Any) -> float | None:
    """Return a finite float, or None for missing, text or ±inf/NaN."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:  # a 400-digit integer from another writer
        return None
    return number if math.isfinite(number) else None


def candidate_score(item: Mapping[str, Any]) -> float | None:
    """Return the 0-100 score of a candidate in any of the AMC shapes.

    The first present of `score`, `bms_score`, `meta_score`; a fraction (at
    most 1, from the 0-1 strategies) is scaled to 0-100 unless it is a BMS score.
    """
    for key in ("score", "bms_score", "meta_score"):
        value = _num(item.get(key))
        if value is None:
            continue
        scaled = key != "bms_score" and "bms_score" not in item and value <= 1.0
        return round(value * 100.0 if scaled else value, 2)
    return None


def sparkline(closes: tuple[float, ...]) -> str:
    """Render closes as unicode blocks, lowest to highest."""
    if not closes:
        return ""
    low, high = min(closes), max(closes)
    span = (high - low) or 1.0
    return "".join(SPARK[int((c - low) / span * (len(SPARK) - 1))] for c in closes)


@dataclass(frozen=True)
class Candidate:
    """One scored stock as the pane shows it.

    Attributes:
        symbol: Ticker.
        score: 0-100, or None when the producer gave none.
        action: TRADE_READY, MONITOR, WATCHLIST, TIER_n, ...
        components: Component scores by name, as the producer named them.
        closes: Recent closes for the sparkline (empty if bars are not local).
    """

    symbol: str
    score: float | None
    action: str
    confidence: str = ""
    price: float | None = None
    change_pct: float | None = None
    rel_vol: float | None = None
    atr_pct: float | None = None
    dollar_volume: float | None = None
    short_interest: float | None = None
    float_shares: float | None = None
    thesis: str = ""
    components: tuple[tuple[str, float | None], ...] = ()
    closes: tuple[float, ...] = ()

    @classmethod
    def from_dict(
        cls, item: Mapping[str, Any], closes: tuple[float, ...] = ()
    ) -> Candidate:
        """Normalise one envelope candidate (BMS, hybrid or legacy shape)."""
        raw = item.get("component_scores")
        parts = raw.items() if isinstance(raw, Mapping) else ()
        return cls(
            symbol=str(item.get("symbol") or "?"),
            score=candidate_score(item),
            action=str(item.get("action") or item.get("action_tag") or "?"),
            confidence=str(item.get("confidence") or ""),
            price=_num(item.get("price")),
            change_pct=_num(item.get("change_pct", item.get("momentum_1d"))),
            rel_vol=_num(item.get("rel_vol", item.get("volume_surge"))),
            atr_pct=_num(item.get("atr_pct")),
            dollar_volume=_num(item.get("dollar_volume")),
            short_interest=_num(item.get("short_interest")),
            float_shares=_num(item.get("float_shares")),
            thesis=str(item.get("thesis") or ""),
            components=tuple(
                (str(k), _num(v)) for k, v in parts if not isinstance(v, Mapping)
            ),
            closes=closes,
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form (symbol, score, action, component scores, ...)."""
        return {
            "symbol": self.symbol,
            "score": self.score,
            "action": self.action,
            "confidence": self.confidence,
            "price": self.price,
            "change_pct": self.change_pct,
            "rel_vol": self.rel_vol,
            "atr_pct": self.atr_pct,
            "dollar_volume": self.dollar_volume,
            "short_interest": self.short_interest,
            "float_shares": self.float_shares,
            "thesis": self.thesis,
            "component_scores": dict(self.components),
        }


@dataclass(frozen=True)
class RunInfo:
    """A discovery run in progress (or the last one's end).

    Attributes:
        job_id: The run's id.
        stage: starting, filtering, scoring, processing, completed or failed.
        progress: 0-100.
        elapsed_s: Seconds since it started.
        runner: "in-process", "rq" or "fan-out".
        message: The stage's one line.
        rate_limit: "rate-limited, retrying in N s" during a Polygon back-off.
        reason: Why it runs where it runs, e.g. "no live worker on amc_discovery".
    """

    job_id: str
    stage: str
    progress: int
    elapsed_s: float
    runner: str
    message: str = ""
    rate_limit: str | None = None
    reason: str = ""

    @property
    def active(self) -> bool:
        """True until the run completed or failed."""
        return self.stage not in ("completed", "failed")

    def label(self) -> str:
        """Return e.g. "in-process run console_1: scoring 20% · 3s"."""
        text = (
            f"{self.runner} run {self.job_id}: {self.stage} {self.progress}% "
            f"· {self.elapsed_s:.0f}s"
        )
        if self.message:
            text += f" · {self.message}"
        if self.rate_limit:
            text += f" · {self.rate_limit}"
        if self.reason:
            text += f" ({self.reason})"
        return text

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form."""
        return {
            "job_id": self.job_id,
            "stage": self.stage,
            "progress": self.progress,
            "elapsed_s": round(self.elapsed_s, 1),
            "runner": self.runner,
            "message": self.message,
            "rate_limit": self.rate_limit,
            "reason": self.reason,
            "active": self.active,
        }


@dataclass(frozen=True)
class StrategyRow:
    """One strategy's results on the shared data."""

    strategy: str
    count: int
    trade_ready: int
    monitor: int
    average_score: float | None
    symbols: frozenset[str] = field(repr=False, default=frozenset())
    top: tuple[str, ...] = ()


@dataclass(frozen=True)
class StrategyComparison:
    """All three strategies on the same bars: tiers, overlap, average score.

    Attributes:
        rows: One row per strategy.
        overlap: Shared kept symbols per pair ("bms & hybrid_v1") and for
            "all" three.
        generated_at: Epoch seconds of the comparison.
    """

    rows: tuple[StrategyRow, ...]
    overlap: tuple[tuple[str, int], ...]
    generated_at: float

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form."""
        return {
            "generated_at": self.generated_at,
            "strategies": [
                {
                    "strategy": r.strategy,
                    "count": r.count,
                    "trade_ready": r.trade_ready,
                    "monitor": r.monitor,
                    "average_score": r.average_score,
                }
                for r in self.rows
            ],  # fmt: skip
            "overlap": dict(self.overlap),
        }

    def text_lines(self) -> list[str]:
        """Return a plain-text table, one strategy per line, then the overlap."""
        lines = [f"{'strategy':<10} {'kept':>6} {'ready':>6} {'monitor':>8} {'avg':>7}"]
        for r in self.rows:
            avg = "-" if r.average_score is None else f"{r.average_score:.1f}"
            lines.append(
                f"{r.strategy:<10} {r.count:>6} {r.trade_ready:>6} {r.monitor:>8} "
                f"{avg:>7}"
            )
        lines.append("")
        lines.extend(f"overlap {name}: {count}" for name, count in self.overlap)
        lines += ["", "top candidates, side by side:"]
        lines.append("  ".join(f"{r.strategy:<10}" for r in self.rows))
        for rank in range(max((len(r.top) for r in self.rows), default=0)):
            cells = [r.top[rank] if rank < len(r.top) else "" for r in self.rows]
            lines.append("  ".join(f"{cell:<10}" for cell in cells))
        return lines


@dataclass(frozen=True)
class CandidatesView:
    """Everything the candidates pane shows.

    Attributes:
        engine: The envelope's engine, or "" when nothing is cached.
        source: live, demo, in-process or fallback (where the data came from).
        generated_at: Epoch seconds of the envelope, or None.
        age_s: Its age when loaded, or None.
        strategy: The strategy that produced the items (or will, next run).
        items: The candidates, best first.
        warnings: Provenance and partial-data warnings, one line each.
        run: The run in progress or the last one's end, or None.
        workers: Live RQ workers serving the queue.
        comparison: The last strategy comparison, or None.
    """

    engine: str
    source: str
    generated_at: float | None
    age_s: float | None
    strategy: str
    items: tuple[Candidate, ...] = ()
    warnings: tuple[str, ...] = ()
    run: RunInfo | None = None
    job_id: str = ""
    counts: tuple[tuple[str, int], ...] = ()
    queue: str = ""
    workers: tuple[str, ...] = ()
    comparison: StrategyComparison | None = None

    def provenance(self) -> str:
        """Return e.g. "engine X · live · generated 12:00:00Z (42s ago)"."""
        if self.generated_at is None:
            return f"no results · {self.source} · strategy {self.strategy}"
        stamp = datetime.fromtimestamp(self.generated_at, tz=UTC).strftime("%H:%M:%SZ")
        origin = self.engine
        if self.source.lower() not in self.engine.lower():
            origin = f"{self.engine} · {self.source}"
        return (
            f"{origin} · generated {stamp} "
            f"({format_age(self.age_s)} ago) · {len(self.items)} shown"
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON section of the headless snapshot."""
        return {
            "engine": self.engine,
            "source": self.source,
            "generated_at": _iso(self.generated_at),
            "age_s": None if self.age_s is None else round(self.age_s, 1),
            "strategy": self.strategy,
            "job_id": self.job_id,
            "counts": dict(self.counts),
            "items": [c.to_dict() for c in self.items],
            "warnings": list(self.warnings),
            "run": None if self.run is None else self.run.to_dict(),
            "queue": self.queue,
            "workers": list(self.workers),
            "comparison": None
            if self.comparison is None
            else self.comparison.to_dict(),
        }

    def text_lines(self) -> list[str]:
        """Return plain text: provenance, warnings, run, then one line per item."""
        lines = [self.provenance()]
        lines.extend(f"warning: {w}" for w in self.warnings)
        if self.run is not None:
            lines.append(self.run.label())
        for c in self.items:
            score = "-" if c.score is None else f"{c.score:6.2f}"
            price = "-" if c.price is None else f"{c.price:.2f}"
            lines.append(f"{c.symbol:<6} {score} {c.action:<12} {price:>8}  {c.thesis}")
        return lines


def _iso(epoch: float | None) -> str | None:
    """ISO 8601 UTC time for the snapshot, or None when never generated."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, tz=UTC).isoformat()
