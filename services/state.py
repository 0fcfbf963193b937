"""State shared by every pane: where data came from and how fresh it is.

A pane keeps its last good state when a refresh fails; `Freshness` records the
failure next to it so the pane can show the old data marked stale, with why.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Generic, TypeVar

from services.clock import format_age

T = TypeVar("T")


@dataclass(frozen=True)
class Freshness:
    """Provenance and staleness of one pane's data.

    Attributes:
        source: Where the data came from: "demo", "live" or "AMC API".
        updated_at: Epoch seconds of the last successful load, or None.
        error: Why the latest refresh failed, or None when it succeeded.
    """

    source: str
    updated_at: float | None = None
    error: str | None = None

    @property
    def stale(self) -> bool:
        """True when the shown data is older than the latest attempt."""
        return self.error is not None

    def label(self, now: float) -> str:
        """Return e.g. "demo · updated 4s ago" or "live · never loaded"."""
        if self.updated_at is None:
            return f"{self.source} · never loaded"
        return f"{self.source} · updated {format_age(now - self.updated_at)} ago"

    def to_dict(self, now: float) -> dict[str, object]:
        """Return the JSON form used by the headless snapshot."""
        age = None if self.updated_at is None else round(now - self.updated_at, 1)
        return {
            "source": self.source,
            "age_s": age,
            "stale": self.stale,
            "error": self.error,
        }


@dataclass(frozen=True)
class Loaded(Generic[T]):
    """A pane's last good data with its freshness."""

    data: T | None
    freshness: Freshness

    def succeeded(self, data: T, at: float) -> Loaded[T]:
        """Return the state after a successful load."""
        return Loaded(data, replace(self.freshness, updated_at=at, error=None))

    def failed(self, error: str) -> Loaded[T]:
        """Return the state after a failed load, keeping the old data."""
        return Loaded(self.data, replace(self.freshness, error=error))
