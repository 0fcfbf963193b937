"""The command line as a user runs it: snapshots, exit codes, config, discover."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = json.loads((ROOT / "docs" / "snapshot.schema.json").read_text())


def amc_tui(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 90
) -> subprocess.CompletedProcess[str]:
    """Run `python -m amc_tui` with a clean environment and private state dirs."""
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AMC_", "REDIS_", "POLYGON_", "ALPACA_"))
    }
    base.update(
        {
            "XDG_CONFIG_HOME": str(tmp_path / "config"),
            "XDG_STATE_HOME": str(tmp_path / "state"),
            **(env or {}),
        }
    )
    return subprocess.run(
        [sys.executable, "-m", "amc_tui", *args],
        cwd=ROOT,
        env=base,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def demo_json(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("snap")
    result = amc_tui(tmp, "snapshot", "--demo", "--format", "json")
    return result.returncode, json.loads(result.stdout)


def test_demo_snapshot_is_degraded_and_lists_the_stuck_jobs(
    demo_json: tuple[int, dict[str, Any]],
) -> None:
    code, snapshot = demo_json
    assert code == 1
    assert snapshot["status"] == "degraded"
    assert snapshot["demo"] is True
    stuck = {job["job_id"] for job in snapshot["queue"]["stuck"]}
    assert any(j.startswith("discovery_") for j in stuck)
    assert any(j.startswith("manual_") for j in stuck)
    assert all(job["age_s"] > 600 for job in snapshot["queue"]["stuck"])
    assert snapshot["queue"]["amc"]["lock"]["holder"]


def test_demo_snapshot_follows_the_documented_schema(
    demo_json: tuple[int, dict[str, Any]],
) -> None:
    jsonschema.validate(demo_json[1], SCHEMA)
    items = demo_json[1]["candidates"]["items"]
    assert items and {"symbol", "score", "action", "component_scores"} <= set(items[0])


@pytest.mark.parametrize(
    ("fmt", "needle"),
    [
        ("text", "DEMO"),
        ("markdown", "# AMC-TRADER diagnostic report"),
        ("svg", "<svg"),
    ],
)
def test_every_format_renders_and_says_demo(
    tmp_path: Path, fmt: str, needle: str
) -> None:
    out = tmp_path / f"snapshot.{fmt}"
    result = amc_tui(
        tmp_path,
        "snapshot",
        "--demo",
        "--format",
        fmt,
        "--size",
        "100x30",
        "--output",
        str(out),
    )
    text = out.read_text(encoding="utf-8")
    assert result.returncode == 1, result.stderr
    assert needle in text
    assert "DEMO" in text


def test_unreachable_redis_reports_down_without_the_password(tmp_path: Path) -> None:
    env = {"REDIS_URL": "redis://:hunter2@127.0.0.1:1/0", "AMC_REQUEST_TIMEOUT": "1"}
    result = amc_tui(
        tmp_path, "snapshot", "--format", "json", "--timeout", "10", env=env
    )
    snapshot = json.loads(result.stdout)
    assert result.returncode == 2
    assert snapshot["status"] == "down"
    assert "hunter2" not in result.stdout + result.stderr


def test_bad_arguments_fail_with_one_line(tmp_path: Path) -> None:
    result = amc_tui(tmp_path, "snapshot", "--demo", "--format", "pdf")
    assert result.returncode == 2
    assert result.stderr.strip().startswith("amc-tui: --format must be one of")


def test_nothing_configured_points_to_the_demo(tmp_path: Path) -> None:
    result = amc_tui(tmp_path, "snapshot", "--format", "json")
    assert result.returncode == 3
    assert "amc-tui demo" in result.stderr


def test_config_shows_sources_and_redacts(tmp_path: Path) -> None:
    config = tmp_path / "config" / "amc-tui"
    config.mkdir(parents=True)
    (config / "config.toml").write_text('amc_api_url = "http://api.example"\n')
    env = {"REDIS_URL": "redis://u:hunter2@h:6379/0", "ALPACA_API_SECRET": "sk_abc"}
    result = amc_tui(tmp_path, "--queue", "other", "config", env=env)
    assert result.returncode == 0
    out = result.stdout
    assert "hunter2" not in out and "sk_abc" not in out
    assert "http://api.example" in out and "[config file]" in out
    assert "other   [flag]" in out
    assert "[env ALPACA_API_SECRET]" in out


def test_discover_json_items_carry_score_action_and_components(tmp_path: Path) -> None:
    result = amc_tui(
        tmp_path, "discover", "--demo", "--format", "json", "--strategy", "hybrid_v1"
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["mode"] == "demo" and data["strategy"] == "hybrid_v1"
    for item in data["items"]:
        assert 0 <= item["score"] <= 100
        assert item["action"]
        assert item["symbol"]


def test_discover_rejects_an_unknown_strategy(tmp_path: Path) -> None:
    result = amc_tui(tmp_path, "discover", "--demo", "--strategy", "bms_v1")
    assert result.returncode == 1
    assert "unknown strategy" in result.stderr
