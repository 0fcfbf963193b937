"""Wiring: build the providers and services the app drives, live or demo.

The live environment talks to the configured AMC system; the demo one (see
`amc_tui.demo`) brings its own Redis, market and broker. Both return the same
`Environment`, so the app and the snapshot never special-case the demo.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from services.amc_api import AmcApiClient
from services.audit import AuditLog
from services.broker import AlpacaBroker, AmcApiHoldings
from services.clock import Clock
from services.discovery import DiscoveryService
from services.environment import Environment
from services.errors import ConfigError
from services.health import HealthService
from services.market_data import PolygonMarket
from services.orders import PortfolioService
from services.queue import QueueService
from services.settings import Settings, state_dir
from services.short_data import PolygonShortData
from services.squeeze import SqueezeService


def build_environment(settings: Settings, clock: Clock, *, demo: bool) -> Environment:
    """Return the demo environment or the live one for these settings."""
    if demo:
        from amc_tui.demo import build_demo  # noqa: PLC0415 - starts a server

        return build_demo(settings, clock)
    return build_live(settings, clock)


def _secret(value: Any) -> str | None:
    return None if value is None else str(value.get_secret_value()) or None


def build_live(settings: Settings, clock: Clock) -> Environment:
    """Wire the console to a real AMC system.

    Raises:
        ConfigError: nothing to connect to (no Redis, API or broker).
    """
    redis_url = _secret(settings.redis_url)
    if not (redis_url or settings.amc_api_url or settings.alpaca_api_key):
        raise ConfigError(
            "nothing to connect to: set REDIS_URL, AMC_API_URL or ALPACA_API_KEY "
            "(see `amc-tui config`), or try `amc-tui demo`"
        )
    audit = AuditLog(Path(settings.audit_log), clock)
    env = Environment(settings, clock, "live", {}, {}, audit)
    api = _api_client(settings, clock, env)
    market = _market(settings, clock)
    discovery = DiscoveryService(
        redis_url, market, strategy=settings.strategy, clock=clock,
        queue=settings.discovery_queue, source="live",
    )
    squeeze = SqueezeService(
        redis_url, _short_data(settings, clock), discovery.bars, clock=clock,
        source="live",
        amc_api_candidates=api.sync_squeeze_candidates if api else None,
    )
    portfolio = PortfolioService(_broker(settings, api), settings, audit, clock,
                                 source="live")
    services: dict[str, Any] = {"candidates": discovery, "squeeze": squeeze,
                                "portfolio": portfolio}
    env.providers["health"] = HealthService(settings, clock, redis_url, api,
                                            source="live")
    if redis_url:
        services["queue"] = QueueService(
            redis_url, queues=(settings.discovery_queue, "discovery", "default"),
            clock=clock, source="live",
        )
    env.services.update(services)
    env.providers.update(services)
    _register_closers(env)
    return env


def _api_client(settings: Settings, clock: Clock, env: Environment) -> AmcApiClient | None:
    if not settings.amc_api_url:
        return None
    client = AmcApiClient(settings.amc_api_url, settings.request_timeout_s, clock=clock)
    env.closers.append(client.close)
    return client


def _market(settings: Settings, clock: Clock) -> PolygonMarket | None:
    key = _secret(settings.polygon_api_key)
    if key is None:
        return None
    return PolygonMarket(key, settings.polygon_base_url,
                         settings.polygon_calls_per_minute,
                         cache_dir=state_dir() / "bars", clock=clock)


def _short_data(settings: Settings, clock: Clock) -> PolygonShortData | None:
    key = _secret(settings.polygon_api_key)
    if key is None:
        return None
    return PolygonShortData(key, settings.polygon_base_url, clock=clock,
                            borrow_csv=settings.borrow_csv)


def _broker(settings: Settings, api: AmcApiClient | None) -> Any:
    key, secret = _secret(settings.alpaca_api_key), _secret(settings.alpaca_secret_key)
    if key and secret:
        return AlpacaBroker(key, secret, paper=settings.alpaca_paper,
                            url_override=settings.alpaca_base_url,
                            timeout_s=settings.request_timeout_s)
    if settings.amc_api_url:
        return AmcApiHoldings(settings.amc_api_url, settings.request_timeout_s)
    return None


def _register_closers(env: Environment) -> None:
    for service in env.services.values():
        close = getattr(service, "close", None)
        if callable(close):
            env.closers.append(close)
