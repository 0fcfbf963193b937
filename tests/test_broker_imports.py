"""The portfolio services import without Textual (RQ workers import services)."""

from __future__ import annotations

import subprocess
import sys

import pytest

MODULES = [
    "services.broker",
    "services.orders",
    "services.alpaca_broker",
    "services.paper_broker",
    "services.amc_holdings",
    "services.portfolio",
]


@pytest.mark.parametrize("module", MODULES)
def test_service_module_does_not_import_textual(module: str) -> None:
    code = f"import sys, {module}; assert 'textual' not in sys.modules, sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
