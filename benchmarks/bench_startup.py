"""Cold start to first full paint of `amc-tui demo`, in a real terminal (tmux).

Each run starts the demo in a fresh tmux window of the given size, polls the
screen every 20 ms until all five panes show their data, then quits with `q`
and checks that no Redis server or temporary directory is left behind.

    python benchmarks/bench_startup.py [--runs 7] [--size 160x48]

Prints each run and the median; the goal is ≤ 1.5 s on a 2-core machine.
"""

from __future__ import annotations

import argparse
import glob
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# One marker per pane, all from loaded data (not from placeholders).
MARKERS = {
    "health": "DEGRADED",
    "queue": "queued",
    "candidates": "TRADE_READY",
    "squeeze": "EXTREME",
    "portfolio": "local paper broker",
}
SESSION = "amc-tui-bench"


def tmux(*args: str) -> str:
    """Run a tmux command and return its output."""
    done = subprocess.run(["tmux", *args], capture_output=True, text=True, check=False)
    return done.stdout


def session_alive() -> bool:
    """True while the demo (and so its tmux session) is still running."""
    probe = ["tmux", "has-session", "-t", SESSION]
    return subprocess.run(probe, capture_output=True, check=False).returncode == 0


def screen() -> str:
    """Return the visible screen of the benchmark session."""
    return tmux("capture-pane", "-p", "-t", SESSION)


def leftovers() -> list[str]:
    """Return redis-server processes and demo temp dirs still present."""
    procs = subprocess.run(
        ["pgrep", "-f", "redis-server 127.0.0.1"], capture_output=True, text=True
    ).stdout.split()
    dirs = glob.glob(str(Path(tempfile.gettempdir()) / "amc-tui-redis-*"))
    return procs + dirs


def one_run(size: tuple[int, int], panes: list[str], timeout_s: float) -> float:
    """Start the demo, wait for every marker, quit; return seconds to paint."""
    exe = str(Path(sys.executable).with_name("amc-tui"))
    width, height = size
    tmux("kill-session", "-t", SESSION)
    started = time.perf_counter()
    tmux(
        "new-session",
        "-d",
        "-s",
        SESSION,
        "-x",
        str(width),
        "-y",
        str(height),
        "-c",
        str(ROOT),
        exe,
        "demo",
    )
    needed = [MARKERS[p] for p in panes]
    painted = None
    while time.perf_counter() - started < timeout_s:
        text = screen()
        if all(marker in text for marker in needed):
            painted = time.perf_counter() - started
            break
        time.sleep(0.02)
    tmux("send-keys", "-t", SESSION, "q")
    deadline = time.time() + 10
    while session_alive() and time.time() < deadline:
        time.sleep(0.05)
    if painted is None:
        raise SystemExit(f"not painted within {timeout_s}s:\n{screen()}")
    return painted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--size", default="160x48")
    parser.add_argument("--timeout", type=float, default=20.0)
    args = parser.parse_args()
    if shutil.which("tmux") is None:
        raise SystemExit("tmux is required (apt-get install tmux)")
    width, height = (int(v) for v in args.size.split("x"))
    # At 80x24 one pane shows at a time: the first one, Health, is what paints.
    panes = list(MARKERS) if width >= 140 and height >= 40 else ["health"]
    before = set(leftovers())
    times = []
    for run in range(args.runs):
        seconds = one_run((width, height), panes, args.timeout)
        times.append(seconds)
        print(f"run {run + 1}: first full paint {seconds:.2f}s")
    left = sorted(set(leftovers()) - before)
    print(f"size {args.size}, panes {', '.join(panes)}")
    print(
        f"median {statistics.median(times):.2f}s  min {min(times):.2f}s  "
        f"max {max(times):.2f}s  (goal <= 1.5s)"
    )
    print(f"left behind after quitting: {left or 'nothing'}")


if __name__ == "__main__":
    main()
