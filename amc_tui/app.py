"""The amc-tui dashboard: five panes fed by providers, refreshed off the loop.

The app owns scheduling and the user's requests: it loads every pane's state
in workers, keeps the last good state when a load fails, and runs the actions
panes ask for (confirming, refusing in read-only mode, auditing). It opens no
connection itself; the `Environment` it is given does all I/O.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from rich.markup import escape
from textual import work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Grid
from textual.dom import DOMNode
from textual.notifications import SeverityLevel
from textual.reactive import reactive
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Static
from textual.worker import get_current_worker

from amc_tui.help import HelpScreen
from amc_tui.panes import build_panes
from amc_tui.threads import in_daemon_thread
from services.environment import PANE_IDS, Environment, Outcome
from services.errors import AmcTuiError
from services.settings import scrub, secret_values
from services.state import Freshness, Loaded
from services.text import one_line, printable
from widgets.candidates_pane import CandidatesPane
from widgets.dialogs import ConfirmScreen
from widgets.pane import Pane
from widgets.portfolio_pane import PortfolioPane

log = logging.getLogger(__name__)

MIN_SIZE = (60, 15)
WIDE_SIZE = (140, 40)
PANE_KEYS = {str(i + 1): pane_id for i, pane_id in enumerate(PANE_IDS)}
TAB_LABELS = {
    "health": "Health",
    "queue": "Queue",
    "candidates": "Candidates",
    "squeeze": "Squeeze",
    "portfolio": "Portfolio",
}


class DashboardScreen(Screen[None]):
    """The default screen; it tells the app when the terminal changes size."""

    def on_resize(self) -> None:
        app = self.app
        if isinstance(app, AmcTuiApp):
            app.call_after_refresh(app.apply_layout)


class AmcTuiApp(App[int]):
    """The operator and trader console.

    Args:
        env: Providers and services to drive (demo or live).
        initial: Pre-loaded states (the headless snapshot renders these and
            never calls a provider); None loads everything on mount.
        auto_refresh: Start the periodic refresh timer.
    """

    CSS_PATH = "amc_tui.tcss"
    TITLE = "amc-tui"
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("r", "refresh_now", "Refresh"),
        Binding("p", "toggle_pause", "Pause"),
        Binding("z", "toggle_zoom", "Zoom"),
        Binding("question_mark", "show_help", "Help", key_display="?"),
        *(
            Binding(
                key,
                f"show_pane('{pane_id}')",
                f"Show {TAB_LABELS[pane_id]}",
                show=False,
            )
            for key, pane_id in PANE_KEYS.items()
        ),
    ]

    paused: reactive[bool] = reactive(False, init=False)
    """True while auto-refresh is paused with `p`."""

    zoomed: reactive[bool] = reactive(False, init=False)
    """True when the active pane fills the screen (always so when narrow)."""

    active_pane: reactive[str] = reactive("health", init=False)
    """Id of the pane shown when zoomed or narrow."""

    def __init__(
        self,
        env: Environment,
        *,
        initial: dict[str, Loaded[Any]] | None = None,
        auto_refresh: bool = True,
    ) -> None:
        super().__init__()
        self.env = env
        self.read_only = env.settings.read_only
        self.bell_enabled = env.settings.bell
        self.states: dict[str, Loaded[Any]] = initial or {}
        self.snapshot_mode = initial is not None
        self.refresh_enabled = auto_refresh and not self.snapshot_mode
        self.unexpected_errors: list[BaseException] = []
        self._generation = dict.fromkeys(PANE_IDS, 0)
        self._in_flight: set[str] = set()
        self._secrets = secret_values(env.settings)
        self._refresh_timer: Timer | None = None

    # Layout -------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static(self._banner_text(), id="banner")
        yield Static("", id="tabs")
        with Grid(id="dashboard"):
            yield from build_panes(self.env)
        yield Static(
            f"terminal too small (needs {MIN_SIZE[0]}×{MIN_SIZE[1]})", id="too-small"
        )
        yield Footer()

    def on_mount(self) -> None:
        self.title = f"amc-tui · {self.env.mode.upper()}"
        self.apply_layout()
        self.set_interval(1.0, self._tick_ages)
        if self.states:
            for pane_id, loaded in self.states.items():
                self._show(pane_id, loaded)
        else:
            self.action_refresh_now()
        if self.refresh_enabled:
            self._refresh_timer = self.set_interval(
                self.env.settings.refresh_interval, self._refresh_due
            )
        self._focus_pane(self.active_pane)

    def get_default_screen(self) -> Screen[Any]:
        return DashboardScreen()

    def apply_layout(self) -> None:
        width, height = self.size
        small = width < MIN_SIZE[0] or height < MIN_SIZE[1]
        narrow = width < WIDE_SIZE[0] or height < WIDE_SIZE[1]
        self.screen.set_class(small, "-too-small")
        self.screen.set_class(narrow or self.zoomed, "-single")
        self._update_tabs()

    def _update_tabs(self) -> None:
        labels = []
        for key, pane_id in PANE_KEYS.items():
            title = TAB_LABELS[pane_id]
            if pane_id == self.active_pane:
                labels.append(f"[reverse] {key} {title} [/reverse]")
            else:
                labels.append(f" {key} {title} ")
        self.query_one("#tabs", Static).update(" ".join(labels))
        for pane in self.query(Pane):
            pane.set_class(pane.pane_id == self.active_pane, "-active")

    def _banner_text(self) -> str:
        mode = self.env.mode.upper()
        parts = [f"[b]amc-tui[/b]  [reverse] {mode} [/reverse]"]
        if self.read_only:
            parts.append("[reverse] READ-ONLY [/reverse]")
        if self.paused:
            parts.append("[reverse] PAUSED [/reverse]")
        return "  ".join(parts)

    def watch_paused(self) -> None:
        self.query_one("#banner", Static).update(self._banner_text())

    def watch_zoomed(self) -> None:
        self.apply_layout()

    def watch_active_pane(self) -> None:
        self._update_tabs()

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        """Show a toast, except in a headless snapshot, which shows state only."""
        if not self.snapshot_mode:
            message = printable(scrub(message, self._secrets))
            title = one_line(scrub(title, self._secrets))
            super().notify(
                message, title=title, severity=severity, timeout=timeout, markup=markup
            )

    def pane(self, pane_id: str) -> Pane:
        """Return the pane widget with this id."""
        return self.query_one(f"#{pane_id}", Pane)

    # Loading ------------------------------------------------------------

    def action_refresh_now(self) -> None:
        """Reload every pane now; a newer load supersedes one still running."""
        for pane_id in self.env.providers:
            self._start_load(pane_id)

    def _refresh_due(self) -> None:
        """Timer tick: reload the panes whose previous load has finished."""
        for pane_id in self.env.providers:
            if pane_id not in self._in_flight:
                self._start_load(pane_id)

    def _start_load(self, pane_id: str) -> None:
        self._generation[pane_id] += 1
        self._in_flight.add(pane_id)
        self._load(pane_id, self._generation[pane_id])

    @work(exit_on_error=False)
    async def _load(self, pane_id: str, generation: int) -> None:
        provider = self.env.providers[pane_id]
        try:
            data = await in_daemon_thread(provider.load, name=f"load-{pane_id}")
        except AmcTuiError as exc:
            self._failed(pane_id, generation, exc.title, exc.message)
            return
        except Exception as exc:  # noqa: BLE001 - a pane must never take the app down
            log.exception("unexpected error loading %s", pane_id)
            self.unexpected_errors.append(exc)
            self._failed(pane_id, generation, type(exc).__name__, str(exc))
            return
        if generation != self._generation[pane_id] or get_current_worker().is_cancelled:
            return
        self._in_flight.discard(pane_id)
        previous = self._state(pane_id, provider.source)
        self._show(pane_id, previous.succeeded(data, self.env.clock.now()))

    def _failed(self, pane_id: str, generation: int, title: str, message: str) -> None:
        if generation != self._generation[pane_id]:
            return
        self._in_flight.discard(pane_id)
        source = self.env.providers[pane_id].source
        was_stale = self._state(pane_id, source).freshness.stale
        error = scrub(f"{title}: {message}", self._secrets)
        self._show(pane_id, self._state(pane_id, source).failed(error))
        if not was_stale:
            self.notify(escape(message), title=escape(title), severity="warning")

    def _state(self, pane_id: str, source: str) -> Loaded[Any]:
        return self.states.get(pane_id) or Loaded(None, Freshness(source))

    def _show(self, pane_id: str, loaded: Loaded[Any]) -> None:
        self.states[pane_id] = loaded
        self.pane(pane_id).apply(loaded, self.env.clock.now())

    def _tick_ages(self) -> None:
        now = self.env.clock.now()
        for pane in self.query(Pane):
            pane.tick(now)

    def all_loaded(self) -> bool:
        """True once every pane has loaded or failed at least once."""
        return all(pane_id in self.states for pane_id in self.env.providers)

    # Actions from panes -------------------------------------------------

    def on_pane_action_requested(self, event: Pane.ActionRequested) -> None:
        event.stop()
        if event.mutating and self.read_only:
            self.notify(
                f"read-only mode: {escape(event.label)} is disabled", severity="warning"
            )
            return
        if event.confirm is None:
            self._run_action(event)
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._run_action(event)

        self.push_screen(ConfirmScreen(event.confirm), answered)

    @work(group="actions", exit_on_error=False)
    async def _run_action(self, event: Pane.ActionRequested) -> None:
        try:
            outcome = await in_daemon_thread(event.run, name="action")
        except AmcTuiError as exc:
            outcome = Outcome(False, exc.message)
        except Exception as exc:  # noqa: BLE001 - report, never crash
            log.exception("action %s failed", event.label)
            outcome = Outcome(False, f"{type(exc).__name__}: {exc}")
        if event.mutating and not event.self_audited:
            self.env.audit.record(
                event.label, outcome.message, ok=outcome.ok, **outcome.details
            )
        severity: SeverityLevel = "information" if outcome.ok else "error"
        self.notify(
            escape(outcome.message), title=escape(event.label), severity=severity
        )
        self.action_refresh_now()

    def on_candidates_pane_order_requested(
        self, event: CandidatesPane.OrderRequested
    ) -> None:
        """Trade a candidate: order entry lives with the portfolio."""
        event.stop()
        self.action_show_pane("portfolio")
        portfolio = self.query_one(PortfolioPane)
        portfolio.open_order_entry(event.symbol, event.price, side="buy")

    # Keys -----------------------------------------------------------------

    def action_toggle_pause(self) -> None:
        """Pause or resume the periodic refresh."""
        self.paused = not self.paused
        if self._refresh_timer is not None:
            if self.paused:
                self._refresh_timer.pause()
            else:
                self._refresh_timer.resume()
        self.notify("auto-refresh paused" if self.paused else "auto-refresh resumed")

    def action_toggle_zoom(self) -> None:
        """Show only the active pane, or all of them again."""
        self.active_pane = self._focused_pane_id() or self.active_pane
        self.zoomed = not self.zoomed

    def action_show_pane(self, pane_id: str) -> None:
        """Make `pane_id` the active pane and move the focus into it."""
        self.active_pane = pane_id
        self._focus_pane(pane_id)

    def action_show_help(self) -> None:
        """Open the help screen listing every key of every pane."""
        self.push_screen(HelpScreen(self._binding_rows()))

    def _focus_pane(self, pane_id: str) -> None:
        """Focus the pane's table, never a text box: keys must stay commands."""
        pane = self.pane(pane_id)
        focusable = [w for w in pane.query("*") if w.focusable]
        preferred = [w for w in focusable if isinstance(w, DataTable)]
        if preferred or focusable:
            (preferred or focusable)[0].focus()

    def _focused_pane_id(self) -> str | None:
        node: DOMNode | None = self.focused
        while node is not None:
            if isinstance(node, Pane):
                return node.pane_id
            node = node.parent
        return None

    def on_descendant_focus(self) -> None:
        pane_id = self._focused_pane_id()
        if pane_id is not None:
            self.active_pane = pane_id

    def _binding_rows(self) -> list[tuple[str, str, str]]:
        rows = [
            ("Global", self.get_key_display(b), b.description)
            for b in self.BINDINGS
            if isinstance(b, Binding)
        ]
        for pane in self.query(Pane):
            for binding in pane.BINDINGS:
                if isinstance(binding, Binding):
                    key = self.get_key_display(binding)
                    rows.append((pane.pane_title, key, binding.description))
        return rows

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for pane in self.query(Pane):
            for binding in pane.BINDINGS:
                if isinstance(binding, Binding) and binding.description:
                    yield SystemCommand(
                        f"{pane.pane_title}: {binding.description}",
                        f"key {self.get_key_display(binding)}",
                        lambda p=pane, a=binding.action: self._run_pane_action(p, a),
                    )

    def _run_pane_action(self, pane: Pane, action: str) -> None:
        self.action_show_pane(pane.pane_id)
        self.call_later(self.run_action, action, pane)
