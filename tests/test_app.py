"""Pilot tests of the dashboard on the real demo environment."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from textual.widgets import DataTable

from amc_tui.app import AmcTuiApp
from services.clock import Clock
from services.environment import PANE_IDS, Environment, Outcome
from services.errors import RedisUnavailable
from tests.support.dashboard import FROZEN_AT, demo_env, wait_until
from widgets.pane import Pane


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Environment]:
    environment = demo_env(tmp_path)
    yield environment
    environment.close()


class Flaky:
    """Succeeds with the wrapped provider's data, then fails as told."""

    def __init__(self, inner: Any, error: BaseException | None = None) -> None:
        self.source = inner.source
        self.inner = inner
        self.error = error
        self.calls = 0

    def load(self) -> Any:
        self.calls += 1
        if self.error is not None and self.calls > 1:
            raise self.error
        return self.inner.load()


async def test_every_pane_loads_and_q_quits(env: Environment) -> None:
    app = AmcTuiApp(env)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_until(pilot, app.all_loaded)
        assert all(app.states[p].data is not None for p in PANE_IDS)
        assert not any(app.states[p].freshness.stale for p in PANE_IDS)
        assert app.unexpected_errors == []
        await pilot.press("q")
    assert app.return_code == 0


@pytest.mark.parametrize("error", [ValueError("boom"), KeyError("missing")])
async def test_unexpected_error_marks_only_that_pane(
    env: Environment, error: BaseException
) -> None:
    env.providers["portfolio"] = Flaky(env.providers["portfolio"], error)
    app = AmcTuiApp(env)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_until(pilot, app.all_loaded)
        await pilot.press("r")
        await wait_until(pilot, lambda: app.states["portfolio"].freshness.stale)
        portfolio = app.states["portfolio"]
        assert portfolio.data is not None, "last good data must be kept"
        assert type(error).__name__ in (portfolio.freshness.error or "")
        assert app.pane("portfolio").has_class("-stale")
        assert not app.states["queue"].freshness.stale
        assert app.unexpected_errors == [error]
        assert app.is_running


async def test_known_failure_keeps_last_data_and_recovers(env: Environment) -> None:
    flaky = Flaky(env.providers["queue"], RedisUnavailable("redis is unreachable"))
    env.providers["queue"] = flaky
    app = AmcTuiApp(env)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_until(pilot, app.all_loaded)
        await pilot.press("r")
        await wait_until(pilot, lambda: app.states["queue"].freshness.stale)
        status = str(app.pane("queue").query_one(".pane-status").render())
        assert "STALE" in status and "unreachable" in status
        flaky.error = None
        await pilot.press("r")
        await wait_until(pilot, lambda: not app.states["queue"].freshness.stale)
        assert app.unexpected_errors == []


class Slow:
    """A provider that, while armed, answers late with a marker object."""

    source = "demo"

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.armed = False
        self.late_calls = 0
        self.marker = object()

    def load(self) -> Any:
        if self.armed:
            self.late_calls += 1
            time.sleep(1.0)
            return self.marker
        return self.inner.load()


async def test_late_result_of_superseded_load_is_discarded(env: Environment) -> None:
    slow = Slow(env.providers["health"])
    env.providers["health"] = slow
    app = AmcTuiApp(env)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_until(pilot, app.all_loaded)
        slow.armed = True
        await pilot.press("r")
        await wait_until(pilot, lambda: slow.late_calls == 1)
        slow.armed = False
        await pilot.press("r")
        await pilot.pause(1.5)
        assert app.states["health"].data is not slow.marker
        assert not app.states["health"].freshness.stale
        assert app.unexpected_errors == []


async def test_quit_does_not_wait_for_a_hung_load(env: Environment) -> None:
    class Hung:
        source = "demo"

        def load(self) -> Any:
            time.sleep(30)

    env.providers["squeeze"] = Hung()
    app = AmcTuiApp(env)
    started = time.monotonic()
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: "queue" in app.states)
        await pilot.press("q")
    assert time.monotonic() - started < 10
    assert app.return_code == 0


async def test_read_only_refuses_mutations(tmp_path: Path) -> None:
    env = demo_env(tmp_path, read_only=True)
    ran: list[str] = []
    app = AmcTuiApp(env)
    try:
        async with app.run_test(size=(160, 48)) as pilot:
            await wait_until(pilot, app.all_loaded)
            pane = app.pane("queue")
            pane.request("requeue", lambda: ran.append("x") or Outcome(True, "done"))
            await pilot.pause(0.3)
            assert ran == []
            assert "READ-ONLY" in str(app.query_one("#banner").render())
    finally:
        env.close()
    assert env.audit.read() == []


async def test_confirmed_action_runs_once_and_is_audited(env: Environment) -> None:
    ran: list[str] = []
    app = AmcTuiApp(env)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_until(pilot, app.all_loaded)
        app.pane("queue").request(
            "requeue",
            lambda: (
                ran.append("x")
                or Outcome(True, "4 requeued, 1 missing", {"ids": ["a"]})
            ),
            confirm="Requeue 5 jobs?",
        )
        await pilot.pause(0.2)
        await pilot.press("y")
        await wait_until(pilot, lambda: bool(ran) and bool(env.audit.read()))
    record = env.audit.read()[-1]
    assert ran == ["x"]
    assert record["action"] == "requeue"
    assert record["outcome"] == "4 requeued, 1 missing"
    assert "@" in record["who"]


async def test_declined_action_does_not_run(env: Environment) -> None:
    ran: list[str] = []
    app = AmcTuiApp(env)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_until(pilot, app.all_loaded)
        app.pane("queue").request(
            "delete",
            lambda: ran.append("x") or Outcome(True, ""),
            confirm="Delete 3 jobs?",
        )
        await pilot.pause(0.2)
        await pilot.press("n")
        await pilot.pause(0.3)
    assert ran == []


async def test_layout_follows_the_terminal_size(env: Environment) -> None:
    app = AmcTuiApp(env)
    async with app.run_test(size=(200, 50)) as pilot:
        await wait_until(pilot, app.all_loaded)
        assert not app.screen.has_class("-single")
        assert sum(p.display for p in app.query(Pane)) == 5
        await pilot.resize_terminal(80, 24)
        await pilot.pause(0.1)
        assert app.screen.has_class("-single")
        await pilot.press("2")
        await pilot.pause(0.1)
        shown = [p.pane_id for p in app.query(Pane) if p.region.area > 0]
        assert shown == ["queue"]
        await pilot.resize_terminal(40, 10)
        await pilot.pause(0.1)
        assert app.screen.has_class("-too-small")
        await pilot.resize_terminal(0, 0)
        await pilot.pause(0.1)
        await pilot.resize_terminal(200, 50)
        await pilot.pause(0.1)
        assert not app.screen.has_class("-too-small")
        assert app.unexpected_errors == []


async def test_zoom_shows_only_the_focused_pane(env: Environment) -> None:
    app = AmcTuiApp(env)
    async with app.run_test(size=(200, 50)) as pilot:
        await wait_until(pilot, app.all_loaded)
        await pilot.press("4")
        await pilot.press("z")
        await pilot.pause(0.1)
        shown = [p.pane_id for p in app.query(Pane) if p.region.area > 0]
        assert shown == ["squeeze"]
        await pilot.press("z")
        await pilot.pause(0.1)
        assert len([p for p in app.query(Pane) if p.region.area > 0]) == 5


async def test_pause_stops_the_refresh_timer(env: Environment) -> None:
    app = AmcTuiApp(env)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_until(pilot, app.all_loaded)
        await pilot.press("p")
        assert app.paused
        assert "PAUSED" in str(app.query_one("#banner").render())
        await pilot.press("p")
        assert not app.paused


async def test_help_lists_the_keys_of_every_pane(env: Environment) -> None:
    app = AmcTuiApp(env)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_until(pilot, app.all_loaded)
        rows = app._binding_rows()
        scopes = {scope for scope, _, _ in rows}
        assert {
            "Global",
            "Job queue",
            "Discovery candidates",
            "Squeeze alerts",
            "Portfolio",
            "Health",
        } <= scopes
        assert all(description for _, _, description in rows)
        await pilot.press("question_mark")
        await pilot.pause(0.2)
        assert type(app.screen).__name__ == "HelpScreen"
        await pilot.press("escape")


async def test_command_palette_offers_every_pane_action(env: Environment) -> None:
    app = AmcTuiApp(env)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_until(pilot, app.all_loaded)
        titles = [cmd.title for cmd in app.get_system_commands(app.screen)]
        for pane in app.query(Pane):
            for binding in pane.BINDINGS:
                assert f"{pane.pane_title}: {binding.description}" in titles


async def test_no_color_is_honoured(env: Environment, monkeypatch: Any) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    app = AmcTuiApp(env)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, app.all_loaded)
        assert app.no_color


async def test_filter_box_never_traps_the_keys(env: Environment) -> None:
    app = AmcTuiApp(env)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, app.all_loaded)
        await pilot.press("2", "slash", "a", "escape")
        assert isinstance(app.focused, DataTable)
        await pilot.press("3", "2")
        assert isinstance(app.focused, DataTable)
        assert app.active_pane == "queue"


async def test_buying_a_candidate_opens_order_entry_with_its_price(
    env: Environment,
) -> None:
    app = AmcTuiApp(env)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_until(pilot, app.all_loaded)
        await pilot.press("3")
        pane = app.pane("candidates")
        symbol = pane.selected_symbol()
        await pilot.press("b")
        await wait_until(pilot, lambda: "Order" in type(app.screen).__name__)
        assert app.active_pane == "portfolio"
        assert symbol is not None


async def test_polling_survives_the_command_palette(tmp_path: Path) -> None:
    env = demo_env(tmp_path, refresh_interval=0.3)
    counter = Flaky(env.providers["queue"])
    env.providers["queue"] = counter
    app = AmcTuiApp(env)
    try:
        async with app.run_test(size=(160, 48)) as pilot:
            await wait_until(pilot, app.all_loaded)
            await pilot.press("ctrl+p")
            await pilot.pause(0.2)
            await pilot.press("escape")
            before = counter.calls
            await wait_until(pilot, lambda: counter.calls >= before + 2)
    finally:
        env.close()


class MovableClock(Clock):
    """A clock the test moves by hand."""

    def __init__(self, at: float) -> None:
        self.at = at

    def now(self) -> float:
        return self.at


@pytest.mark.parametrize("read_only", [False, True])
async def test_discovery_runs_in_process_when_workers_stay_down(
    tmp_path: Path, read_only: bool
) -> None:
    clock = MovableClock(FROZEN_AT)
    env = demo_env(tmp_path, clock, inprocess_grace_s=0, read_only=read_only)
    client = redis.Redis.from_url(env.services["queue"]._url)
    # Eleven minutes on: the cache expired and the leftover lock with it.
    clock.at += 660
    client.delete("amc:discovery:candidates:v2", "discovery_job_lock")
    app = AmcTuiApp(env)
    try:
        async with app.run_test(size=(160, 48)) as pilot:
            await wait_until(pilot, app.all_loaded)
            if read_only:
                await pilot.pause(1.0)
                assert not client.exists("amc:discovery:candidates:v2")
            else:
                await wait_until(
                    pilot, lambda: bool(client.exists("amc:discovery:candidates:v2"))
                )
                await pilot.press("r")
                await wait_until(
                    pilot,
                    lambda: app.states["candidates"].data.generated_at == clock.at,
                )
    finally:
        client.close()
        env.close()
