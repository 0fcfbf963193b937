"""Build settings layers the way a user supplies them, for tests."""

from __future__ import annotations

from typing import Any


def as_layers(over: dict[str, Any]) -> dict[str, Any]:
    """Split overrides into flags and environment.

    `live_trading_env` only counts from the environment (AMC_LIVE_TRADING), so
    it is moved there; everything else goes in as a command-line flag.
    """
    flags = dict(over)
    env = {"AMC_LIVE_TRADING": "1"} if flags.pop("live_trading_env", False) else {}
    return {"cli": flags, "env": env}
