"""A `LocalServer` that stops in milliseconds instead of half a second.

`LocalServer` runs `serve_forever` with the default 0.5 s poll interval, so
every test paid 0.5 s at teardown; the health tests start dozens of servers.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from tests.support.http_server import LocalServer


@contextmanager
def quick_server() -> Iterator[LocalServer]:
    """Yield a started `LocalServer` whose shutdown returns at once."""
    server = LocalServer()
    # TODO: give LocalServer a poll_interval argument and drop this module.
    server._thread = threading.Thread(
        target=server._httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
    )
    with server:
        yield server
