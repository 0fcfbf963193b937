"""Run blocking provider calls on daemon threads from async Textual workers.

Textual's thread workers use the event loop's default executor, which Python
joins at exit: one Redis call stuck on a dead peer would hold `q` for its whole
timeout. A daemon thread per call lets quit finish at once, and its late
result is dropped instead of calling back into a closed app.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def _settle(
    future: asyncio.Future[T], result: T | None, error: BaseException | None
) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)  # type: ignore[arg-type]


async def in_daemon_thread(fn: Callable[[], T], name: str = "amc-io") -> T:
    """Run `fn` on a new daemon thread and await its result.

    Cancelling the awaiting task abandons the thread: its result is discarded.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def runner() -> None:
        try:
            outcome: tuple[T | None, BaseException | None] = (fn(), None)
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting task
            outcome = (None, exc)
        # The loop may have closed while we worked: then nobody is waiting.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(_settle, future, *outcome)

    threading.Thread(target=runner, name=name, daemon=True).start()
    return await future
