"""The contract between the headless core and the console.

Each pane is fed by a `Provider`: a blocking, thread-safe `load()` returning a
plain, immutable state object. Actions are service methods returning an
`Outcome`. The live environment and the demo are two sets of providers behind
the same contract; the app never knows which one it drives.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, runtime_checkable

from services.audit import AuditLog
from services.clock import Clock
from services.settings import Settings

log = logging.getLogger(__name__)

T_co = TypeVar("T_co", covariant=True)

PANE_IDS = ("health", "queue", "candidates", "squeeze", "portfolio")


@runtime_checkable
class PaneState(Protocol):
    """What every pane's state object offers the headless snapshot."""

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-able dict (the snapshot's section for this pane)."""

    def text_lines(self) -> list[str]:
        """Return a plain-text rendering, one line per row, no markup."""


class Provider(Protocol[T_co]):
    """Loads one pane's state.

    `load()` blocks (network, Redis, pandas) and is called from a thread
    worker; it raises `AmcTuiError` subclasses on failure, never anything else
    on purpose. `source` is what the pane shows: "demo", "live" or "AMC API".
    """

    source: str

    def load(self) -> T_co:
        """Fetch and return fresh state."""


@dataclass(frozen=True)
class Outcome:
    """The result of an action, shown to the user and written to the audit log.

    Attributes:
        ok: False when the action failed or did only part of its work.
        message: One line, e.g. "4 requeued, 1 missing".
        details: Ids and counts for the audit log; never secrets.
    """

    ok: bool
    message: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class Environment:
    """Everything the app drives: providers per pane and the services behind them.

    Attributes:
        settings: The effective settings.
        clock: Time source for ages and records.
        mode: "demo" or "live"; shown on screen and in every output.
        providers: Pane id → provider of that pane's state.
        services: Pane id → the service object its pane binds to for actions.
        audit: Where every mutation is recorded.
        closers: Called in reverse order by `close()` (stop servers, clients).
    """

    settings: Settings
    clock: Clock
    mode: str
    providers: dict[str, Provider[Any]]
    services: dict[str, Any]
    audit: AuditLog
    closers: list[Callable[[], None]] = field(default_factory=list)

    @property
    def is_demo(self) -> bool:
        """True when running on the embedded demo environment."""
        return self.mode == "demo"

    def close(self) -> None:
        """Release every resource, continuing past failures (they are logged)."""
        while self.closers:
            closer = self.closers.pop()
            try:
                closer()
            except Exception:  # noqa: BLE001 - shutdown must finish
                log.exception("error while closing %r", closer)
