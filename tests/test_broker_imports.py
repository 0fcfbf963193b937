"""The portfolio services import without Textual (RQ workers import services)."""

from __future__ import annotations

import subprocess
import sys

MODULES = (
    "services.broker",
    "services.orders",
    "services.alpaca_broker",
    "services.paper_broker",
    "services.amc_holdings",
    "services.portfolio",
)


def test_portfolio_services_do_not_import_textual() -> None:
    code = (
        f"import sys, {', '.join(MODULES)}\n"
        "leaked = [m for m in sys.modules if m.split('.')[0] == 'textual']\n"
        "assert not leaked, leaked"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
