"""The job-queue pane: counts, workers, AMC keys and a triage table of jobs.

Renders a `QueueView`; it never opens a connection. Every action goes to the app
through `Pane.request`, with a confirmation that states the count for anything
destructive or bulk. Text from Redis (ids, functions, tracebacks) never meets
markup: cells are `Text`, statics are `markup=False`, details are plain.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Input, Static

from services.clock import format_age
from services.queue import QueueService
from services.queue_view import JobRow, QueueCounts, QueueView, Storm
from widgets.dialogs import DetailScreen
from widgets.pane import Pane
from widgets.safe import SafeStatic, SafeTable

COLUMNS = (
    ("Job id", "id"),
    ("Status", "status"),
    ("Age", "age"),
    ("Why stuck / error", "reason"),
    ("Function", "function"),
    ("Queue", "queue"),
)
COLUMN_KEYS = tuple(key for _, key in COLUMNS)
ROW_ACTIONS = frozenset({"requeue_selected", "cancel_selected", "delete_selected"})


def row_cells(row: JobRow) -> tuple[Text, ...]:
    """Return the table cells of one job, as plain `Text` (never markup)."""
    style = "bold" if row.reason else ""
    return (
        Text(row.job_id, style=style),
        Text(row.status),
        Text(format_age(row.age_s)),
        Text(row.reason or row.exc_type),
        Text(row.function),
        Text(row.queue),
    )


_COUNT_NAMES = (
    "queued",
    "hand-off",
    "started",
    "failed",
    "finished",
    "deferred",
    "scheduled",
    "canceled",
    "dangling",
)


def _sizes(q: QueueCounts) -> tuple[int, ...]:
    return (
        q.queued,
        q.intermediate,
        q.started,
        q.failed,
        q.finished,
        q.deferred,
        q.scheduled,
        q.canceled,
        q.dangling,
    )


def count_line(q: QueueCounts) -> str:
    """Return e.g. "amc_discovery: 8 queued · 1 failed" (zero counts left out)."""
    parts = [
        f"{n:,} {name}"
        for name, n in zip(_COUNT_NAMES, _sizes(q), strict=True)
        if n or name == "queued"
    ]
    return f"{q.name}: {' · '.join(parts)}"


def matches(row: JobRow, needle: str) -> bool:
    """True when the filter text occurs in the id, function, status or error."""
    if not needle:
        return True
    haystack = " ".join(
        (row.job_id, row.function, row.status, row.exc_type, row.reason, row.queue)
    )
    return needle.lower() in haystack.lower()


def plural(count: int, noun: str) -> str:
    """Return "1 job" / "1,243 jobs"."""
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


class QueuePane(Pane):
    """RQ triage: what is stuck, why, and the keys to fix it."""

    pane_id = "queue"
    pane_title = "Job queue"

    BINDINGS = [
        Binding("u", "requeue_selected", "Requeue"),
        Binding("f", "requeue_failed", "Requeue failed"),
        Binding("k", "requeue_stuck", "Requeue stuck"),
        Binding("g", "requeue_group", "Requeue error group"),
        Binding("c", "cancel_selected", "Cancel"),
        Binding("x,delete", "delete_selected", "Delete"),
        Binding("t", "stop_selected", "Stop job"),
        Binding("e", "remove_started_entry", "Drop started entry"),
        Binding("n", "enqueue_discovery", "Enqueue discovery"),
        Binding("m", "collapse_storm", "Collapse storm"),
        Binding("l", "clear_lock", "Clear lock"),
        Binding("s", "suspend_workers", "Suspend workers"),
        Binding("o", "resume_workers", "Resume workers"),
        Binding("w", "start_worker", "Start worker"),
        Binding("slash", "toggle_filter", "Filter", key_display="/"),
        Binding("right_square_bracket", "turn_page(1)", "Next page", key_display="]"),
        Binding("left_square_bracket", "turn_page(-1)", "Prev page", key_display="["),
        Binding("enter", "show_detail", "Detail", show=False),
        Binding("escape", "close_filter", "Close filter", show=False),
    ]

    DEFAULT_CSS = """
    QueuePane #queue-table { height: 1fr; }
    QueuePane .queue-counts { height: auto; max-height: 3; }
    QueuePane .queue-workers { color: $text-muted; height: auto; max-height: 2; }
    QueuePane .queue-workers.-alarm { color: $warning; }
    QueuePane .queue-failed { color: $error; height: auto; max-height: 2; }
    QueuePane .queue-failed.-empty { display: none; }
    QueuePane #queue-filter { display: none; }
    QueuePane #queue-filter.-open { display: block; }
    QueuePane.-suspended .queue-counts { color: $warning; }
    QueuePane.-stale #queue-table { opacity: 70%; }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._service: QueueService | None = None
        self._view: QueueView | None = None
        self._cells: dict[str, tuple[Text, ...]] = {}
        self._rows: dict[str, JobRow] = {}
        self._filter = ""

    def bind_service(self, service: QueueService) -> None:
        """Keep the service whose actions this pane requests."""
        self._service = service

    def compose_body(self) -> ComposeResult:
        yield SafeStatic("", classes="queue-counts", markup=False)
        yield SafeStatic("", classes="queue-workers", markup=False)
        yield Input(
            placeholder="filter: id, function, status, error class",
            id="queue-filter",
            disabled=True,
        )
        yield SafeTable(id="queue-table", cursor_type="row")
        yield SafeStatic("", classes="queue-failed -empty", markup=False)

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns(*COLUMNS)

    # -- rendering ---------------------------------------------------------

    def show_data(self, data: QueueView) -> None:
        """Render counts, workers, failure groups and the job table."""
        self._view = data
        self.set_class(data.suspended, "-suspended")
        counts = [count_line(q) for q in data.queues if sum(_sizes(q))]
        empty = [q.name for q in data.queues if not sum(_sizes(q))]
        if empty:
            counts.append(f"no jobs on: {', '.join(empty)}")
        offset, size = data.page
        if offset:
            counts.append(f"showing rows {offset + 1:,}-{offset + size:,} of each list")
        if data.suspended:
            counts.append("workers SUSPENDED: none will take new jobs")
        self.query_one(".queue-counts", Static).update("\n".join(counts))
        self._render_workers(data)
        self._render_failed(data)
        self._render_table()

    def _render_workers(self, data: QueueView) -> None:
        alive = [w for w in data.workers if w.alive]
        labels = "; ".join(w.label() for w in data.workers) or "none registered"
        widget = self.query_one(".queue-workers", Static)
        count = f"{len(alive)}/{len(data.workers)} alive"
        # The AMC line (heartbeat, lock) first: it is what an incident turns on.
        widget.update(f"{data.amc.label()}\nworkers {count}: {labels}")
        widget.set_class(not alive, "-alarm")

    def _render_failed(self, data: QueueView) -> None:
        groups = ", ".join(f"{g.exc_type} ×{g.count}" for g in data.failed_groups)
        widget = self.query_one(".queue-failed", Static)
        widget.update(f"failed by exception (shown window): {groups}" if groups else "")
        widget.set_class(not groups, "-empty")

    def _render_table(self) -> None:
        """Update cells in place; rebuild only when rows come, go or reorder."""
        rows = self._view.rows if self._view else ()
        shown: dict[str, JobRow] = {}
        for row in rows:
            if matches(row, self._filter):
                shown.setdefault(row.job_id, row)
        cells = {job_id: row_cells(row) for job_id, row in shown.items()}
        table = self.query_one(DataTable)
        if list(cells) != list(self._cells):
            self._rebuild(table, cells)
        else:
            self._update_changed(table, cells)
        self._cells, self._rows = cells, shown

    def _rebuild(
        self, table: DataTable[Any], cells: dict[str, tuple[Text, ...]]
    ) -> None:
        selected = self.selected_id()
        with self.app.batch_update():
            table.clear()
            for job_id, row in cells.items():
                table.add_row(*row, key=job_id)
            if selected in cells:
                table.move_cursor(row=table.get_row_index(selected), animate=False)

    def _update_changed(
        self, table: DataTable[Any], cells: dict[str, tuple[Text, ...]]
    ) -> None:
        with self.app.batch_update():
            for job_id, row in cells.items():
                old = self._cells.get(job_id, ())
                for key, value, before in zip(COLUMN_KEYS, row, old, strict=False):
                    if value != before:
                        table.update_cell(job_id, key, value, update_width=True)

    # -- selection and state -----------------------------------------------

    def selected_id(self) -> str | None:
        """Return the job id under the cursor, or None for an empty table."""
        table = self.query_one(DataTable)
        if table.row_count == 0:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        return None if key.value is None else str(key.value)

    def selected_row(self) -> JobRow | None:
        """Return the row under the cursor."""
        job_id = self.selected_id()
        return None if job_id is None else self._rows.get(job_id)

    def _storm_of(self, row: JobRow | None) -> Storm | None:
        if row is None or self._view is None:
            return None
        return next((s for s in self._view.storms if row.job_id in s.job_ids), None)

    def _failed_total(self) -> int:
        return sum(q.failed for q in self._view.queues) if self._view else 0

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Disable actions that do not apply to the current data or selection."""
        if action == "toggle_filter":
            return True
        if action == "show_detail":
            return True if self.selected_row() is not None else None
        if self._service is None or self._view is None:
            return None if action in self._action_names() else True
        row, view = self.selected_row(), self._view
        rules = {
            "stop_selected": row is not None and row.status == "started",
            "remove_started_entry": row is not None
            and row.listed_in == "started"
            and (row.status == "missing" or row.reason.startswith("abandoned")),
            "requeue_group": row is not None and row.status == "failed",
            "collapse_storm": self._storm_of(row) is not None,
            "clear_lock": view.amc.lock is not None,
            "suspend_workers": not view.suspended,
            "resume_workers": view.suspended,
            "requeue_failed": self._failed_total() > 0,
            "requeue_stuck": bool(view.requeueable_stuck()),
            "turn_page": parameters != (-1,) or view.page[0] > 0,
        }
        if action in ROW_ACTIONS:
            return True if row is not None else None
        if action in rules:
            return True if rules[action] else None
        return True

    def _action_names(self) -> set[str]:
        return {str(b.action) for b in self.BINDINGS if isinstance(b, Binding)}

    # -- actions -----------------------------------------------------------

    def action_requeue_selected(self) -> None:
        """Requeue the selected job (failed, abandoned, orphaned, canceled)."""
        row = self.selected_row()
        if self._service and row:
            self.request(
                f"Requeue {row.job_id}",
                partial(self._service.requeue, [row.job_id]),
                confirm=f"Requeue job {row.job_id}?",
            )

    def action_requeue_failed(self) -> None:
        """Requeue every failed job of every queue."""
        if self._service:
            count = self._failed_total()
            self.request(
                f"Requeue {plural(count, 'failed job')}",
                self._service.requeue_all_failed,
                confirm=f"Requeue {plural(count, 'failed job')}?",
            )

    def action_requeue_stuck(self) -> None:
        """Requeue every stuck job a requeue can fix."""
        if self._service and self._view:
            count = len(self._view.requeueable_stuck())
            self.request(
                f"Requeue {plural(count, 'stuck job')}",
                self._service.requeue_stuck,
                confirm=f"Requeue {plural(count, 'stuck job')} (abandoned, orphaned "
                "or in hand-off)?",
            )

    def action_requeue_group(self) -> None:
        """Requeue every failed job with the selected job's exception type."""
        row = self.selected_row()
        if self._service and row and self._view:
            groups = self._view.failed_groups
            count = next((g.count for g in groups if g.exc_type == row.exc_type), 1)
            self.request(
                f"Requeue failed {row.exc_type} jobs",
                partial(self._service.requeue_group, row.exc_type),
                confirm=f"Requeue every failed {row.exc_type} job "
                f"({count:,} in the shown window)?",
            )

    def action_cancel_selected(self) -> None:
        """Cancel the selected job (kept in the canceled registry)."""
        row = self.selected_row()
        if self._service and row:
            self.request(
                f"Cancel {row.job_id}",
                partial(self._service.cancel, [row.job_id]),
                confirm=f"Cancel job {row.job_id}?",
            )

    def action_delete_selected(self) -> None:
        """Delete the selected job and every trace of it."""
        row = self.selected_row()
        if self._service and row:
            self.request(
                f"Delete {row.job_id}",
                partial(self._service.delete, [row.job_id], row.queue),
                confirm=f"Delete 1 job ({row.job_id}) for good?",
            )

    def action_stop_selected(self) -> None:
        """Ask the worker to stop the selected running job, then verify."""
        row = self.selected_row()
        if self._service and row:
            self.request(
                f"Stop {row.job_id}",
                partial(self._service.stop_job, row.job_id),
                confirm=f"Stop running job {row.job_id} on {row.worker}?",
            )

    def action_remove_started_entry(self) -> None:
        """Drop the selected stale started-registry entry (the job hash stays)."""
        row = self.selected_row()
        if self._service and row:
            self.request(
                f"Drop started entry {row.job_id}",
                partial(self._service.remove_started_entry, row.job_id, row.queue),
                confirm=f"Drop the started-registry entry of 1 job ({row.job_id})?",
            )

    def action_enqueue_discovery(self) -> None:
        """Enqueue one discovery job now."""
        if self._service:
            self.request(
                "Enqueue discovery job",
                self._service.enqueue_discovery,
                confirm=f"Enqueue 1 discovery job on {self._service.discovery_queue}?",
            )

    def action_collapse_storm(self) -> None:
        """Cancel the duplicates of the selected job's storm, keeping the newest."""
        storm = self._storm_of(self.selected_row())
        if self._service and storm:
            doomed = plural(len(storm.job_ids) - 1, "duplicate job")
            self.request(
                f"Collapse storm on {storm.queue}",
                partial(self._service.collapse_storm, storm.queue, storm.call_key),
                confirm=f"Cancel {doomed} of {storm.call}, keeping {storm.newest}?",
            )

    def action_clear_lock(self) -> None:
        """Delete the discovery lock, if it still has the holder shown."""
        lock = self._view.amc.lock if self._view else None
        if self._service and lock:
            ttl = "no TTL" if lock.ttl_s is None else f"TTL {lock.ttl_s}s"
            self.request(
                "Clear discovery_job_lock",
                partial(self._service.clear_lock, lock.holder),
                confirm=f"Clear discovery_job_lock held by {lock.holder} ({ttl})?",
            )

    def action_suspend_workers(self) -> None:
        """Stop workers from taking new jobs."""
        if self._service:
            self.request(
                "Suspend workers",
                self._service.suspend_workers,
                confirm="Suspend every worker?",
            )

    def action_resume_workers(self) -> None:
        """Let workers take jobs again."""
        if self._service:
            self.request("Resume workers", self._service.resume_workers)

    def action_start_worker(self) -> None:
        """Start a console worker on the discovery queue."""
        if self._service:
            self.request(
                "Start worker",
                self._service.start_worker,
                confirm=f"Start a worker on {self._service.discovery_queue}?",
            )

    def action_turn_page(self, step: int) -> None:
        """Show the next (1) or previous (-1) window of every list."""
        if self._service:
            self.request(
                "Turn page", partial(self._service.turn_page, step), mutating=False
            )

    def action_toggle_filter(self) -> None:
        """Show or hide the filter box."""
        box = self.query_one("#queue-filter", Input)
        box.toggle_class("-open")
        # Disabled while closed so it never takes focus from the table.
        box.disabled = not box.has_class("-open")
        if box.has_class("-open"):
            box.focus()
        else:
            box.value = ""
            self.query_one(DataTable).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._filter = event.value.strip()
        self._render_table()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.query_one(DataTable).focus()

    def action_close_filter(self) -> None:
        """Escape: clear and close the filter box, back to the table."""
        if self.query_one("#queue-filter", Input).has_class("-open"):
            self.action_toggle_filter()

    def action_show_detail(self) -> None:
        """Show every field of the selected job, its call and full traceback."""
        row = self.selected_row()
        if row:
            self.app.push_screen(DetailScreen(f"Job {row.job_id}", row.detail_text()))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_show_detail()
