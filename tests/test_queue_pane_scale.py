"""Case C15: a large, busy queue refreshes within budget and keeps the cursor.

The pane keeps only the service's page of rows in its DataTable, so the cost of
a refresh follows the page size, not the queue length.
"""

from __future__ import annotations

import statistics
import time

import redis
from textual.app import App, ComposeResult
from textual.widgets import DataTable

from services.queue import QueueService
from services.state import Freshness, Loaded
from tests.queue_helpers import job_hash
from widgets.queue_pane import QueuePane

JOBS = 5000


class PaneApp(App[None]):
    def compose(self) -> ComposeResult:
        yield QueuePane()


def _seed(client: redis.Redis, ids: range, status: str = "queued") -> None:
    pipe = client.pipeline(transaction=False)
    for n in ids:
        pipe.hset(f"rq:job:job{n}", mapping=job_hash(f"job{n}", status=status))
        pipe.rpush("rq:queue:default", f"job{n}")
    pipe.execute()


def _churn(client: redis.Redis, round_: int) -> None:
    """Remove 200 jobs from the head, add 200, and change 500 statuses."""
    pipe = client.pipeline(transaction=False)
    pipe.ltrim("rq:queue:default", 200, -1)
    pipe.execute()
    start = JOBS + round_ * 200
    _seed(client, range(start, start + 200))
    pipe = client.pipeline(transaction=False)
    for n in range(round_ * 200 + 200, round_ * 200 + 700):
        pipe.hset(f"rq:job:job{n}", "status", "started" if round_ % 2 else "queued")
    pipe.execute()


async def test_busy_5000_job_queue_refreshes_within_budget(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    _seed(client, range(JOBS))
    service = QueueService(redis_url, queues=("default",))
    app = PaneApp()
    timings = []
    try:
        async with app.run_test(size=(140, 40)) as pilot:
            pane = app.query_one(QueuePane)
            pane.apply(Loaded(service.load(), Freshness("live", 0.0)), now=1.0)
            await pilot.pause()
            table = app.query_one(DataTable)
            table.move_cursor(row=40)
            kept = str(
                table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
            )
            for round_ in range(5):
                _churn(client, round_)
                view = service.load()
                started = time.perf_counter()
                pane.apply(Loaded(view, Freshness("live", 0.0)), now=2.0 + round_)
                await pilot.pause()
                timings.append(time.perf_counter() - started)
                assert table.row_count < JOBS // 10, "a page of each list, not all"
                if view.row(kept) is not None:
                    row_key = table.coordinate_to_cell_key(table.cursor_coordinate)
                    assert row_key.row_key.value == kept
            await pilot.press("down")
    finally:
        service.close()
        client.close()
    assert statistics.median(timings) < 0.15, timings
