"""Which widget shows which pane, and binding each to its service."""

from __future__ import annotations

from services.environment import Environment
from widgets.candidates_pane import CandidatesPane
from widgets.health_pane import HealthPane
from widgets.pane import Pane
from widgets.portfolio_pane import PortfolioPane
from widgets.queue_pane import QueuePane
from widgets.squeeze_pane import SqueezePane

PANE_CLASSES: tuple[type[Pane], ...] = (
    HealthPane,
    QueuePane,
    CandidatesPane,
    SqueezePane,
    PortfolioPane,
)


def build_panes(env: Environment) -> list[Pane]:
    """Create the five panes and hand each the service behind its actions."""
    panes = []
    for pane_class in PANE_CLASSES:
        pane = pane_class()
        service = env.services.get(pane.pane_id)
        if service is not None:
            pane.bind_service(service)  # type: ignore[attr-defined]
        panes.append(pane)
    return panes
