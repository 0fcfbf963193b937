"""The embedded demo: private Redis, the 2025-09-12 incident, DEMO market, paper broker.

Nothing here is a special case of the app: the demo is a different set of
adapters behind the same providers. Everything it starts is stopped by
`Environment.close()`, and the Redis directory is removed.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from services.audit import AuditLog
from services.clock import Clock
from services.demo_market import DemoMarket
from services.discovery import DiscoveryService
from services.embedded_redis import EmbeddedRedis
from services.environment import Environment
from services.health import HealthService
from services.health_checks import Check
from services.incident import seed_incident
from services.paper_broker import PaperBroker, SeedPosition
from services.portfolio import PortfolioService
from services.queue import QueueService
from services.settings import Settings
from services.short_data import FrameShortData
from services.squeeze import SqueezeService

DEMO_MARKET_ENV = "AMC_TUI_MARKET"
DEMO_CASH = 25_000.0
# Position sizes in the paper account; entries sit a little off the last close
# so the demo shows both gains and losses.
DEMO_LOTS = ((40, 0.92), (120, 1.08), (300, 0.97), (25, 1.15))


def demo_settings(settings: Settings) -> Settings:
    """Drop every live credential: the demo must never reach a real system."""
    return settings.model_copy(
        update={
            "amc_api_url": None,
            "redis_url": None,
            "polygon_api_key": None,
            "alpaca_api_key": None,
            "alpaca_secret_key": None,
            "live": False,
            "inprocess_grace_s": min(settings.inprocess_grace_s, 30.0),
            "audit_log": str(Path(settings.audit_log).with_name("demo-audit.log")),
        }
    )


def _positions(market: DemoMarket) -> list[SeedPosition]:
    picks = [
        market.planted_breakouts[0],
        market.planted_squeezes[0],
        *market.symbols[100:102].tolist(),
    ]
    seeded = []
    for symbol, (qty, entry_ratio) in zip(picks, DEMO_LOTS, strict=False):
        price = market.last_price(symbol) or 10.0
        seeded.append(SeedPosition(symbol, qty, round(price * entry_ratio, 2)))
    return seeded


def _prev_closes(market: DemoMarket) -> Callable[[str], float | None]:
    """Previous session's close per symbol, for the portfolio's day change."""
    bars = market.daily_bars(2)
    first = bars.groupby("symbol", sort=False)["close"].first()
    closes = dict(zip(first.index.tolist(), first.tolist(), strict=True))
    return lambda symbol: closes.get(symbol.upper())


def build_demo(settings: Settings, clock: Clock) -> Environment:
    """Start the demo's private Redis, seed it and wire every pane to it."""
    settings = demo_settings(settings)
    server = EmbeddedRedis().start()
    audit = AuditLog(Path(settings.audit_log), clock)
    env = Environment(settings, clock, "demo", {}, {}, audit)
    env.closers.append(server.stop)
    # Workers started from the queue pane inherit this and score the demo market.
    os.environ[DEMO_MARKET_ENV] = "demo"
    _wire(env, server.url, DemoMarket())
    # The console's own fallback already ran once, as it would have on the day:
    # no worker was alive, so discovery ran in-process before the lock leaked.
    env.services["candidates"].run_in_process()
    seed_incident(server.url, settings.discovery_queue, clock)
    return env


def _wire(env: Environment, url: str, market: DemoMarket) -> None:
    settings, clock = env.settings, env.clock
    queue = QueueService(
        url,
        queues=(settings.discovery_queue, "discovery"),
        clock=clock,
        source="demo",
        discovery_queue=settings.discovery_queue,
    )
    discovery = DiscoveryService(
        url,
        market,
        settings.strategy,
        clock,
        settings.discovery_queue,
        "demo",
        grace_s=settings.inprocess_grace_s,
    )
    # Read-only never writes: alerts are then kept in memory, not shared.
    alerts_url = None if settings.read_only else url
    squeeze = SqueezeService(
        alerts_url,
        FrameShortData(market.reference, "demo"),
        discovery.bars,
        clock,
        "demo",
    )
    broker = PaperBroker(
        market.last_price, clock, _positions(market), DEMO_CASH, _prev_closes(market)
    )
    portfolio = PortfolioService(broker, settings, env.audit, clock, "demo")
    health = HealthService(
        settings,
        clock,
        url,
        None,
        source="demo",
        polygon_check=lambda: Check("ok", "DEMO market: no Polygon key needed"),
        alpaca_check=lambda: Check("ok", "DEMO paper broker: no Alpaca key needed"),
    )
    env.services.update(
        queue=queue,
        candidates=discovery,
        squeeze=squeeze,
        portfolio=portfolio,
        health=health,
    )
    env.providers.update(env.services)
    env.closers += [
        health.close,
        queue.close,
        queue.stop_started_workers,
        discovery.close,
        portfolio.close_clients,
    ]
