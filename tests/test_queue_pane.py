"""Pilot tests of QueuePane: escaping, stable rows, filter, confirmations, detail."""

from __future__ import annotations

from typing import Any

import redis
from textual.app import App, ComposeResult
from textual.widgets import DataTable, Input

from services.queue_view import (
    AmcKeys,
    FailedGroup,
    JobRow,
    LockInfo,
    QueueCounts,
    QueueView,
    WorkerInfo,
)
from services.state import Freshness, Loaded
from tests.queue_helpers import put_job, service
from widgets.dialogs import DetailScreen
from widgets.pane import Pane
from widgets.queue_pane import QueuePane

MARKUP_ID = "[bold]evil[/]"
TRACE = "Traceback (most recent call last):\n  [/] oops [red]\nRuntimeError: [b]x"


def _view(extra: tuple[JobRow, ...] = (), lock: LockInfo | None = None) -> QueueView:
    rows = (
        *extra,
        JobRow(
            "j1",
            "default",
            "queued",
            "mod.fn",
            30.0,
            "queued: no live worker on default",
        ),
        JobRow(
            MARKUP_ID,
            "default",
            "failed",
            "mod.[i]fn",
            90.0,
            exc_type="RuntimeError",
            traceback=TRACE,
            raw_fields=((b"status", b"failed"),),
        ),
        JobRow("j3", "default", "finished", "mod.ok", 5.0),
    )
    return QueueView(
        queues=(QueueCounts("default", queued=1, failed=1, finished=1),),
        rows=rows,
        workers=(WorkerInfo("[/]w[bold", "busy", ("default",), "", 5.0, True),),
        amc=AmcKeys(lock=lock),
        stuck=(),
        failed_groups=(FailedGroup("RuntimeError", 1, (MARKUP_ID,)),),
    )


class PaneApp(App[None]):
    """Mounts one QueuePane and records the actions it requests."""

    def __init__(self, svc: Any = None) -> None:
        super().__init__()
        self.requests: list[Pane.ActionRequested] = []
        self.svc = svc

    def compose(self) -> ComposeResult:
        pane = QueuePane()
        if self.svc is not None:
            pane.bind_service(self.svc)
        yield pane

    def on_pane_action_requested(self, event: Pane.ActionRequested) -> None:
        self.requests.append(event)


def _apply(app: PaneApp, view: QueueView) -> QueuePane:
    pane = app.query_one(QueuePane)
    pane.apply(Loaded(view, Freshness("live", updated_at=0.0)), now=1.0)
    return pane


async def test_markup_in_redis_text_renders_literally():
    app = PaneApp()
    async with app.run_test(size=(140, 40)) as pilot:
        _apply(app, _view())
        await pilot.pause()
        table = app.query_one(DataTable)
        assert table.get_row(MARKUP_ID)[0].plain == MARKUP_ID
        assert table.get_row(MARKUP_ID)[4].plain == "mod.[i]fn"
        workers = app.query_one(".queue-workers")
        assert "[/]w[bold busy" in str(workers.render())
        table.move_cursor(row=table.get_row_index(MARKUP_ID))
        await pilot.press("enter")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, DetailScreen)
        assert TRACE in screen.body
        assert screen.title_text == f"Job {MARKUP_ID}"


async def test_cursor_stays_on_its_job_across_refresh():
    app = PaneApp()
    async with app.run_test(size=(140, 40)) as pilot:
        _apply(app, _view())
        table = app.query_one(DataTable)
        table.move_cursor(row=table.get_row_index("j3"))
        newcomer = JobRow("j0", "default", "queued", "mod.fn", 1.0)
        pane = _apply(app, _view(extra=(newcomer,)))
        await pilot.pause()
        assert table.row_count == 4
        assert pane.selected_id() == "j3"


async def test_filter_by_error_class():
    app = PaneApp()
    async with app.run_test(size=(140, 40)) as pilot:
        _apply(app, _view())
        await pilot.press("slash")
        assert app.query_one(Input).has_class("-open")
        await pilot.press(*"runtime")
        await pilot.pause()
        assert app.query_one(DataTable).row_count == 1
        await pilot.press("enter", "slash")
        await pilot.pause()
        assert app.query_one(DataTable).row_count == 3


async def test_bulk_and_lock_actions_confirm_with_counts(redis_url: str):
    with service(redis_url) as svc:
        app = PaneApp(svc)
        async with app.run_test(size=(140, 40)) as pilot:
            pane = _apply(app, _view(lock=LockInfo("4242:17", 200)))
            await pilot.pause()
            await pilot.press("f", "l")
            await pilot.pause()
            confirms = [r.confirm for r in app.requests]
            assert confirms == [
                "Requeue 1 failed job?",
                "Clear discovery_job_lock held by 4242:17 (TTL 200s)?",
            ]
            assert all(r.mutating for r in app.requests)
            table = app.query_one(DataTable)
            table.move_cursor(row=table.get_row_index("j1"))
            assert pane.check_action("stop_selected", ()) is None
            assert pane.check_action("requeue_group", ()) is None
            assert pane.check_action("resume_workers", ()) is None


async def test_requeue_selected_runs_the_service(
    redis_url: str, redis_client: redis.Redis
):
    put_job(redis_client, "F1", status="failed")
    redis_client.zadd("rq:failed:default", {"F1": 2e9})
    with service(redis_url) as svc:
        view = svc.load()
        app = PaneApp(svc)
        async with app.run_test(size=(140, 40)) as pilot:
            _apply(app, view)
            await pilot.pause()
            await pilot.press("u")
            await pilot.pause()
            request = app.requests[-1]
            assert request.confirm == "Requeue job F1?"
            assert request.run().message == "1 requeued"
    assert redis_client.lrange("rq:queue:default", 0, -1) == [b"F1"]


async def test_actions_disabled_without_service():
    app = PaneApp()
    async with app.run_test(size=(140, 40)) as pilot:
        pane = _apply(app, _view())
        await pilot.press("f", "u", "x")
        await pilot.pause()
        assert app.requests == []
        assert pane.check_action("requeue_failed", ()) is None


async def test_failed_refresh_keeps_last_rows_marked_stale():
    app = PaneApp()
    async with app.run_test(size=(140, 40)) as pilot:
        pane = _apply(app, _view())
        loaded = Loaded(_view(), Freshness("live", updated_at=0.0))
        pane.apply(loaded.failed("Redis unreachable: 127.0.0.1:1 [reconnecting]"), 9.0)
        await pilot.pause()
        assert pane.has_class("-stale")
        assert app.query_one(DataTable).row_count == 3
        assert pane.border_subtitle == "STALE"


async def test_paging_is_a_read_only_request(redis_url: str):
    with service(redis_url) as svc:
        app = PaneApp(svc)
        async with app.run_test(size=(140, 40)) as pilot:
            pane = _apply(app, _view())
            await pilot.pause()
            assert pane.check_action("turn_page", (-1,)) is None
            await pilot.press("right_square_bracket")
            await pilot.pause()
            request = app.requests[-1]
            assert not request.mutating and request.confirm is None
            assert request.run().message == "showing rows 51-100"
