"""The base of the five dashboard panes: a header with provenance and a body.

A pane receives `Loaded` state from the app and renders it. When a refresh
fails it keeps showing the last good data, adds the `-stale` class and says why
in its header. Actions go back to the app as `ActionRequested` messages, so the
app decides (read-only mode, confirmation, worker, audit) and the pane stays a
pure view.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from rich.markup import escape
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Static

from services.environment import Outcome
from services.state import Loaded
from services.text import one_line, printable


class Pane(Vertical, can_focus=False):
    """Base class of the dashboard panes.

    Subclasses set `pane_id` and `pane_title`, yield their body widgets from
    `compose_body()` and render data in `show_data()`.
    """

    pane_id: ClassVar[str] = ""
    pane_title: ClassVar[str] = ""

    class ActionRequested(Message):
        """A pane asks the app to run a service action.

        Attributes:
            label: What the action does, for notifications and the audit log.
            run: Blocking callable returning an `Outcome`; runs in a thread.
            confirm: Question to ask first (include the count), or None.
            mutating: Refused in read-only mode when True.
            self_audited: The service writes its own audit record (orders),
                so the app must not write a second one.
        """

        def __init__(
            self,
            label: str,
            run: Callable[[], Outcome],
            *,
            confirm: str | None = None,
            mutating: bool = True,
            self_audited: bool = False,
        ) -> None:
            super().__init__()
            self.label = label
            self.run = run
            self.confirm = confirm
            self.mutating = mutating
            self.self_audited = self_audited

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(id=kwargs.pop("id", self.pane_id), **kwargs)
        self.loaded: Loaded[Any] | None = None
        self.border_title = self.pane_title

    def compose(self) -> ComposeResult:
        yield Static("loading…", classes="pane-status")
        yield from self.compose_body()

    def compose_body(self) -> ComposeResult:
        """Yield the widgets that show this pane's data."""
        yield from ()

    def show_data(self, data: Any) -> None:
        """Render fresh data; called only with data that loaded successfully."""

    def apply(self, loaded: Loaded[Any], now: float) -> None:
        """Take new state from the app: render data, then the header."""
        previous = self.loaded.data if self.loaded else None
        self.loaded = loaded
        self.set_class(loaded.freshness.stale, "-stale")
        self.remove_class("-loading")
        if loaded.data is not None and loaded.data is not previous:
            self.show_data(loaded.data)
        self.tick(now)

    def tick(self, now: float) -> None:
        """Refresh the header's age ("updated 4s ago") without reloading data."""
        if self.loaded is None:
            return
        freshness = self.loaded.freshness
        text = escape(printable(freshness.label(now)))
        if freshness.error:
            text += f"  [b]STALE[/b]: {escape(one_line(freshness.error))}"
        self.query_one(".pane-status", Static).update(text)
        self.border_subtitle = "STALE" if freshness.stale else ""

    def request(
        self,
        label: str,
        run: Callable[[], Outcome],
        *,
        confirm: str | None = None,
        mutating: bool = True,
        self_audited: bool = False,
    ) -> None:
        """Ask the app to run `run` (see `ActionRequested`)."""
        self.post_message(
            self.ActionRequested(
                label,
                run,
                confirm=confirm,
                mutating=mutating,
                self_audited=self_audited,
            )
        )
