"""Wiring: build the providers and services the app drives, live or demo.

The live environment talks to the configured AMC system; the demo one (see
`amc_tui.demo`) brings its own Redis, market and broker. Both return the same
`Environment`, so the app and the snapshot never special-case the demo.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from services.audit import AuditLog
from services.clock import Clock
from services.environment import Environment
from services.errors import ConfigError
from services.settings import Settings, state_dir

if TYPE_CHECKING:
    from services.amc_api import AmcApiClient
    from services.broker import Broker
    from services.market_data import PolygonMarket
    from services.squeeze import ShortData

FACTORS = ("short_interest", "float", "borrow")


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
    # Imported here: the demo and `config` never pay for the live SDKs.
    from services.discovery import DiscoveryService  # noqa: PLC0415
    from services.health import HealthService  # noqa: PLC0415
    from services.portfolio import PortfolioService  # noqa: PLC0415
    from services.queue import QueueService  # noqa: PLC0415
    from services.squeeze import SqueezeService  # noqa: PLC0415

    redis_url = _secret(settings.redis_url)
    if not (redis_url or settings.amc_api_url or settings.alpaca_api_key):
        raise ConfigError(
            "nothing to connect to: set REDIS_URL, AMC_API_URL or ALPACA_API_KEY "
            "(see `amc-tui config`), or try `amc-tui demo`"
        )
    env = Environment(
        settings, clock, "live", {}, {}, AuditLog(Path(settings.audit_log), clock)
    )
    api = _api_client(settings, clock, env)
    discovery = DiscoveryService(
        redis_url,
        _market(settings, clock),
        settings.strategy,
        clock,
        settings.discovery_queue,
        "live",
        grace_s=settings.inprocess_grace_s,
    )
    # Read-only never writes: alerts are then kept in memory, not shared.
    squeeze = SqueezeService(
        None if settings.read_only else redis_url,
        _short_data(settings, clock),
        discovery.bars,
        clock,
        "live",
        amc_api_candidates=api.sync_squeeze_candidates if api else None,
    )
    broker, source = _broker(settings)
    services: dict[str, Any] = {
        "health": HealthService(settings, clock, redis_url, api, source="live"),
        "candidates": discovery,
        "squeeze": squeeze,
        "portfolio": PortfolioService(broker, settings, env.audit, clock, source),
    }
    if redis_url:
        services["queue"] = QueueService(
            redis_url,
            queues=(settings.discovery_queue, "discovery", "default"),
            clock=clock,
            source="live",
            discovery_queue=settings.discovery_queue,
        )
    env.services.update(services)
    env.providers.update(services)
    _register_closers(env)
    return env


def _api_client(
    settings: Settings, clock: Clock, env: Environment
) -> AmcApiClient | None:
    if not settings.amc_api_url:
        return None
    from services.amc_api import AmcApiClient  # noqa: PLC0415

    client = AmcApiClient(settings.amc_api_url, settings.request_timeout_s, clock=clock)
    env.closers.append(client.close)
    return client


def _market(settings: Settings, clock: Clock) -> PolygonMarket | None:
    key = _secret(settings.polygon_api_key)
    if key is None:
        return None
    from services.market_data import PolygonMarket  # noqa: PLC0415

    return PolygonMarket(
        key,
        settings.polygon_base_url,
        settings.polygon_calls_per_minute,
        cache_dir=state_dir() / "bars",
        clock=clock,
    )


def _short_data(settings: Settings, clock: Clock) -> ShortData:
    from services.short_data import (  # noqa: PLC0415
        FrameShortData,
        PolygonShortData,
        empty_reference,
    )

    key = _secret(settings.polygon_api_key)
    if key is None:
        return FrameShortData(
            lambda: empty_reference([]),
            "live",
            dict.fromkeys(FACTORS, "not configured"),
        )
    return PolygonShortData(
        key,
        clock,
        settings.polygon_base_url,
        settings.request_timeout_s,
        borrow_csv=settings.borrow_csv,
    )


def _broker(settings: Settings) -> tuple[Broker | None, str]:
    key, secret = _secret(settings.alpaca_api_key), _secret(settings.alpaca_secret_key)
    if key and secret:
        from services.alpaca_broker import AlpacaBroker  # noqa: PLC0415

        broker = AlpacaBroker(
            key,
            secret,
            paper=settings.alpaca_paper,
            url_override=settings.alpaca_base_url,
            timeout_s=settings.request_timeout_s,
        )
        return broker, "live"
    if settings.amc_api_url:
        from services.amc_holdings import AmcApiHoldings  # noqa: PLC0415

        return AmcApiHoldings(
            settings.amc_api_url, settings.request_timeout_s
        ), "AMC API"
    return None, "live"


def _register_closers(env: Environment) -> None:
    services = env.services
    env.closers.append(services["portfolio"].close_clients)
    for pane_id in ("health", "queue", "candidates"):
        if pane_id in services:
            env.closers.append(services[pane_id].close)
