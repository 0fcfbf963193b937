"""Time source for everything that shows an age or stamps a record.

Services take a `Clock` instead of calling `time.time()` so snapshot tests can
freeze it and get byte-identical output.
"""

from __future__ import annotations

import time
from dataclasses import dataclass


class Clock:
    """Wall-clock time in epoch seconds."""

    def now(self) -> float:
        """Return the current time in epoch seconds."""
        return time.time()


@dataclass(frozen=True)
class FrozenClock(Clock):
    """A clock that always reads the same instant, for tests and snapshots."""

    at: float

    def now(self) -> float:
        """Return the frozen instant."""
        return self.at


def format_age(seconds: float | None) -> str:
    """Format an age in seconds the way panes show it ("42s", "3m", "2h", "4d")."""
    if seconds is None:
        return "never"
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f}s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f}m"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.0f}h"
    return f"{seconds / 86400:.0f}d"
