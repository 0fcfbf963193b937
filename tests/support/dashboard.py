"""Builds the demo environment for app tests, and a pilot wait helper.

Tests get the real demo wiring (a private Redis seeded with the incident, the
DEMO market, the paper broker) at a frozen instant, so ids and ages are stable.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from textual.pilot import Pilot

from amc_tui.demo import build_demo
from services.clock import FrozenClock
from services.environment import Environment
from services.health import HealthReport
from services.settings import load_settings
from services.state import Freshness, Loaded

# 2025-09-12 19:05 UTC, an hour into the incident of the report.
FROZEN_AT = 1757703929.0 + 3600


def demo_env(
    tmp_path: Any, clock: FrozenClock | None = None, **cli: Any
) -> Environment:
    """The demo environment with its audit log and bar cache under `tmp_path`."""
    cli = {
        "audit_log": str(tmp_path / "audit.log"),
        "log_file": str(tmp_path / "amc-tui.log"),
        **cli,
    }
    settings = load_settings(cli, env={}, config_path=tmp_path / "none.toml").settings
    return build_demo(settings, clock or FrozenClock(FROZEN_AT))


async def wait_until(
    pilot: Pilot[Any], condition: Callable[[], bool], timeout_s: float = 10.0
) -> None:
    """Let the app run until `condition()` holds; fail the test after the timeout."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s}s")
        await pilot.pause(0.05)


@dataclass
class StaticProvider:
    """Serves a fixed state: snapshot tests must not depend on timing."""

    source: str
    state: Any

    def load(self) -> Any:
        return self.state


def steady_health(report: HealthReport) -> HealthReport:
    """Replace measured latencies and memory figures with fixed values."""
    components = tuple(
        replace(
            c,
            latency_ms=None if c.latency_ms is None else 12.0,
            detail="answering (figures fixed for snapshots)"
            if c.name == "Redis"
            else c.detail,
        )
        for c in report.components
    )
    return replace(report, components=components)


def frozen_states(env: Environment) -> dict[str, Loaded[Any]]:
    """Load every pane once and make the result independent of timing."""
    states: dict[str, Loaded[Any]] = {}
    for pane_id, provider in env.providers.items():
        data = provider.load()
        if isinstance(data, HealthReport):
            data = steady_health(data)
        empty: Loaded[Any] = Loaded(None, Freshness(provider.source))
        states[pane_id] = empty.succeeded(data, env.clock.now() - 3)
    return states
