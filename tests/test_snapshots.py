"""SVG snapshots of the dashboard at 80×24 and 160×48, on fixed data.

The demo environment is built at a frozen instant and loaded once; measured
latencies are replaced by fixed values, so the pictures only change when the
rendering does. Regenerate with `pytest tests/test_snapshots.py
--snapshot-update` and review the report before committing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from amc_tui.app import AmcTuiApp
from services.environment import Environment
from tests.support.dashboard import demo_env, frozen_states


@pytest.fixture
def frozen_app(tmp_path: Path) -> Iterator[AmcTuiApp]:
    env: Environment = demo_env(tmp_path)
    try:
        yield AmcTuiApp(env, initial=frozen_states(env))
    finally:
        env.close()


def test_dashboard_80x24(frozen_app: AmcTuiApp, snap_compare: Any) -> None:
    assert snap_compare(frozen_app, terminal_size=(80, 24))


def test_dashboard_160x48(frozen_app: AmcTuiApp, snap_compare: Any) -> None:
    assert snap_compare(frozen_app, terminal_size=(160, 48))


def test_queue_pane_80x24(frozen_app: AmcTuiApp, snap_compare: Any) -> None:
    assert snap_compare(frozen_app, terminal_size=(80, 24), press=["2"])


def test_help_screen_160x48(frozen_app: AmcTuiApp, snap_compare: Any) -> None:
    assert snap_compare(frozen_app, terminal_size=(160, 48), press=["question_mark"])
