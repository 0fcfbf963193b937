"""`amc-tui discover`: one discovery run from the shell, in-process or enqueued."""

from __future__ import annotations

from typing import Any

from services.clock import Clock
from services.discovery import DiscoveryService
from services.discovery_jobs import build_market
from services.discovery_run import run_discovery
from services.errors import ConfigError, DiscoveryError
from services.market_data import MarketSource
from services.scoring import STRATEGIES
from services.settings import Settings

TABLE_COLUMNS = (
    ("symbol", 7),
    ("score", 6),
    ("action", 12),
    ("price", 9),
    ("momentum_1d", 11),
    ("volume_surge", 12),
    ("thesis", 0),
)


def run_discover(
    settings: Settings, *, demo: bool, strategy: str, enqueue: bool, limit: int
) -> dict[str, Any]:
    """Run (or enqueue) one discovery and return the JSON-able result.

    In-process runs on a live market publish to the configured Redis, so the
    real AMC API serves them; demo runs stay in memory and never touch Redis.
    """
    if strategy not in STRATEGIES:
        raise ConfigError(f"unknown strategy {strategy!r}; use {', '.join(STRATEGIES)}")
    redis_url = settings.redis_url.get_secret_value() if settings.redis_url else None
    market = build_market("demo" if demo else "live", settings=settings)
    if enqueue:
        return _enqueue(redis_url, market, strategy, limit, settings.discovery_queue)
    target = None if demo else redis_url
    result = run_discovery(market, strategy, limit, target, Clock())
    if result.status != "success" or result.envelope is None:
        raise DiscoveryError(f"discovery {result.status}: {result.reason}")
    envelope = result.envelope
    return {
        "mode": "demo" if demo else "live",
        "status": result.status,
        "job_id": result.job_id,
        "strategy": strategy,
        "engine": envelope.get("engine"),
        "generated_at": envelope.get("iso_timestamp"),
        "universe_size": envelope.get("universe_size"),
        "count": envelope.get("count"),
        "warnings": list(result.warnings),
        "items": envelope.get("candidates", []),
    }


def _enqueue(
    redis_url: str | None, market: MarketSource, strategy: str, limit: int, queue: str
) -> dict[str, Any]:
    if redis_url is None:
        raise ConfigError("--enqueue needs REDIS_URL (or --redis-url)")
    service = DiscoveryService(redis_url, market, strategy, queue=queue, limit=limit)
    try:
        outcome = service.enqueue(strategy)
    finally:
        service.close()
    if not outcome.ok:
        raise DiscoveryError(outcome.message)
    return {"status": "queued", "message": outcome.message, **outcome.details}


def format_table(result: dict[str, Any]) -> str:
    """Render the result as a fixed-width table for a terminal."""
    if result["status"] == "queued":
        return f"{result['message']}\n"
    demo = result["mode"] == "demo" and "DEMO" not in str(result["engine"])
    head = f"{'DEMO ' if demo else ''}{result['engine']} · {result['count']} candidates"
    lines = [f"{head} · {result['generated_at']}"]
    lines += [f"warning: {w}" for w in result["warnings"]]
    lines.append("  ".join(f"{name:<{width}}" for name, width in TABLE_COLUMNS))
    for item in result["items"]:
        cells = []
        for name, width in TABLE_COLUMNS:
            value = item.get(name)
            text = f"{value:.2f}" if isinstance(value, float) else str(value or "—")
            cells.append(f"{text:<{width}}")
        lines.append("  ".join(cells))
    return "\n".join(lines) + "\n"
