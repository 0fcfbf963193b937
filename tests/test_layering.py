"""The headless core must import without Textual: RQ workers load it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SERVICE_MODULES = sorted(
    f"services.{path.stem}"
    for path in (ROOT / "services").glob("*.py")
    if path.stem != "__init__"
)


def test_there_are_service_modules_to_check() -> None:
    assert len(SERVICE_MODULES) >= 10


@pytest.mark.parametrize("module", SERVICE_MODULES)
def test_service_module_imports_without_textual(module: str) -> None:
    code = (
        "import importlib, sys\n"
        f"importlib.import_module({module!r})\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] == 'textual')\n"
        "assert not bad, bad\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-2000:]


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    marker = "# run the whole test suite"
    block = readme.split(marker, 1)[1].split("```", 1)[0].strip()
    assert block and block in ci
