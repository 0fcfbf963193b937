"""Headless snapshot: load every pane once, then render JSON, text, Markdown or SVG.

All four formats come from the same loaded states: JSON, text and Markdown are
built from the states' `to_dict()`, and SVG renders the real app given those
states, so it never calls a provider a second time.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from services.environment import PANE_IDS, Environment
from services.errors import AmcTuiError
from services.report import render_markdown, render_text
from services.settings import scrub, secret_values
from services.state import Freshness, Loaded
from services.text import one_line

log = logging.getLogger(__name__)

SCHEMA_ID = "amc-tui.snapshot/1"
FORMATS = ("json", "text", "markdown", "svg")
EXIT_CODES = {"healthy": 0, "degraded": 1, "down": 2}
EXIT_SNAPSHOT_FAILED = 3
SECTION_OF = {
    "queue": "queue",
    "candidates": "candidates",
    "squeeze": "alerts",
    "portfolio": "portfolio",
}
STATUS_RANK = {"healthy": 0, "degraded": 1, "down": 2}


def collect(env: Environment, timeout_s: float) -> dict[str, Loaded[Any]]:
    """Load every pane concurrently; a pane not done within `timeout_s` fails.

    Each load runs on a daemon thread, so a provider stuck on a silent peer
    cannot keep the process alive past the deadline.
    """
    results: dict[str, Loaded[Any]] = {}
    lock = threading.Lock()

    def load(pane_id: str) -> None:
        provider = env.providers[pane_id]
        empty: Loaded[Any] = Loaded(None, Freshness(provider.source))
        try:
            loaded = empty.succeeded(provider.load(), env.clock.now())
        except AmcTuiError as exc:
            loaded = empty.failed(f"{exc.title}: {exc.message}")
        except Exception as exc:  # noqa: BLE001 - recorded in the snapshot
            log.exception("snapshot: %s failed", pane_id)
            loaded = empty.failed(f"{type(exc).__name__}: {exc}")
        with lock:
            results[pane_id] = loaded

    threads = [
        threading.Thread(target=load, args=(p,), daemon=True) for p in env.providers
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout_s
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    with lock:
        done = dict(results)
    for pane_id, provider in env.providers.items():
        if pane_id not in done:
            done[pane_id] = Loaded(None, Freshness(provider.source)).failed(
                f"Timeout: no answer within {timeout_s:.0f}s"
            )
    return done


def _section(loaded: Loaded[Any] | None) -> dict[str, Any]:
    if loaded is None:
        return {"error": "not configured"}
    body: dict[str, Any] = loaded.data.to_dict() if loaded.data is not None else {}
    if loaded.freshness.error:
        body["error"] = loaded.freshness.error
    body["source"] = body.get("source", loaded.freshness.source)
    return body


def overall_status(health: dict[str, Any], sections: list[dict[str, Any]]) -> str:
    """Combine the health verdict with the panes.

    Stuck jobs, or a pane that could not load, make a healthy verdict degraded:
    CI must never read "healthy" off a dashboard it could not fill.
    """
    status = str(health.get("status") or "degraded")
    if status not in STATUS_RANK:
        status = "degraded"
    trouble = any(s.get("error") or s.get("stuck") for s in sections)
    if trouble and STATUS_RANK[status] < STATUS_RANK["degraded"]:
        status = "degraded"
    return status


def build_snapshot(env: Environment, states: dict[str, Loaded[Any]]) -> dict[str, Any]:
    """Assemble the documented snapshot dict (see docs/snapshot.schema.json)."""
    health = _section(states.get("health"))
    panes = {pane_id: _section(states.get(pane_id)) for pane_id in PANE_IDS[1:]}
    configured = [panes[p] for p in PANE_IDS[1:] if p in env.providers]
    snapshot: dict[str, Any] = {
        "schema": SCHEMA_ID,
        "generated_at": datetime.fromtimestamp(env.clock.now(), UTC).isoformat(),
        "mode": env.mode,
        "demo": env.is_demo,
        "status": overall_status(health, configured),
        "components": health.get("components", {}),
        "reasons": health.get("reasons", []),
        "missing_routes": health.get("missing_routes", []),
        "health": health,
    }
    for pane_id, section in panes.items():
        snapshot[SECTION_OF[pane_id]] = section
    failed = [
        f"{p} pane: {panes[p]['error']}"
        for p in PANE_IDS[1:]
        if p in env.providers and panes[p].get("error")
    ]
    if health.get("error"):
        failed.insert(0, f"health check failed: {health['error']}")
    snapshot["reasons"] = [*failed, *snapshot["reasons"]]
    return snapshot


def _map_leaves(value: Any, leaf: Callable[[Any], Any]) -> Any:
    """Apply `leaf` to every non-container value of a snapshot dict."""
    if isinstance(value, dict):
        return {key: _map_leaves(item, leaf) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_map_leaves(item, leaf) for item in value]
    return leaf(value)


def _one_line(value: Any) -> Any:
    """Strings printable and single-line: a job id with a newline or an escape
    sequence must not forge a report line or reach the terminal it prints on."""
    return one_line(value) if isinstance(value, str) else value


def _finite(value: Any) -> Any:
    """NaN and ±inf (from outside data) become null: JSON has no such numbers."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def render(
    env: Environment, states: dict[str, Loaded[Any]], fmt: str, size: tuple[int, int]
) -> tuple[str, int]:
    """Render the snapshot in `fmt` and return (text, exit code)."""
    text, code = _render(env, states, fmt, size)
    # A server may echo a key back in an error body: nothing leaves with one.
    return scrub(text, secret_values(env.settings)), code


def _render(
    env: Environment, states: dict[str, Loaded[Any]], fmt: str, size: tuple[int, int]
) -> tuple[str, int]:
    snapshot = build_snapshot(env, states)
    code = EXIT_CODES[snapshot["status"]]
    if fmt == "json":
        text = json.dumps(
            _map_leaves(snapshot, _finite), indent=2, default=str, allow_nan=False
        )
        return text + "\n", code
    if fmt == "text":
        return render_text(_map_leaves(snapshot, _one_line)), code
    if fmt == "markdown":
        return render_markdown(_map_leaves(snapshot, _one_line)), code
    return asyncio.run(render_svg(env, states, size)), code


async def render_svg(
    env: Environment, states: dict[str, Loaded[Any]], size: tuple[int, int]
) -> str:
    """Render the real app headless at `size`, fed the given states."""
    from amc_tui.app import AmcTuiApp  # noqa: PLC0415 - Textual only for SVG

    app = AmcTuiApp(env, initial=states, auto_refresh=False)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        svg = app.export_screenshot(title=f"amc-tui {env.mode.upper()}")
    return svg
