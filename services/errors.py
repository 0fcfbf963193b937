"""The console's error hierarchy.

Every adapter translates the exceptions of its library into one of these at its
boundary, so callers handle one shape: a short title for a badge and a readable
message for the pane. Messages never carry secrets.
"""

from __future__ import annotations


class AmcTuiError(Exception):
    """Base of every error the console reports to a user.

    Args:
        title: A few words for a badge or a notification title.
        message: One or two sentences saying what failed and what to do.
    """

    title = "Error"

    def __init__(self, message: str, *, title: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if title is not None:
            self.title = title

    def __str__(self) -> str:
        return f"{self.title}: {self.message}"


class ConfigError(AmcTuiError):
    """The configuration is invalid or incomplete."""

    title = "Configuration"


class RedisUnavailable(AmcTuiError):
    """Redis could not be reached, timed out or answered with an error."""

    title = "Redis unreachable"


class QueueError(AmcTuiError):
    """An RQ read or action failed."""

    title = "Queue"


class ApiError(AmcTuiError):
    """The AMC API answered badly or not at all."""

    title = "AMC API"

    def __init__(
        self, message: str, *, title: str | None = None, status: int | None = None
    ) -> None:
        super().__init__(message, title=title)
        self.status = status


class PolygonError(AmcTuiError):
    """Polygon market data could not be fetched or was incomplete."""

    title = "Polygon"


class BrokerError(AmcTuiError):
    """The broker (Alpaca or the demo paper broker) refused or failed."""

    title = "Broker"


class DiscoveryError(AmcTuiError):
    """A discovery run could not start or complete."""

    title = "Discovery"
