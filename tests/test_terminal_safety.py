"""Text from outside never drives the operator's terminal."""

from __future__ import annotations

from pathlib import Path

import redis

from amc_tui.app import AmcTuiApp
from services.text import one_line, printable
from tests.support.dashboard import demo_env, wait_until

HOSTILE = "job\x1b]0;PWNED\x1b\\\x1b[1;1H\x1b[2KFAKE\x07\x9b2J\u202eevil"


def test_printable_shows_every_control_character() -> None:
    shown = printable(HOSTILE)
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in shown)
    assert "\u202e" not in shown
    assert "␛]0;PWNED" in shown
    assert len(shown) == len(HOSTILE)
    assert one_line("a\nb\r") == "a␤b␍"
    assert printable("tab\tand\nnewline") == "tab\tand\nnewline"


async def test_hostile_job_id_reaches_the_screen_as_visible_text(
    tmp_path: Path,
) -> None:
    env = demo_env(tmp_path)
    try:
        url = env.services["queue"]._url
        client = redis.Redis.from_url(url)
        # rq refuses such ids; another producer, or an attacker, may not.
        client.rpush("rq:queue:amc_discovery", HOSTILE)
        client.hset(
            f"rq:job:{HOSTILE}",
            mapping={
                "status": "queued",
                "origin": "amc_discovery",
                "enqueued_at": "2025-09-12T18:00:00.000000Z",
            },
        )
        app = AmcTuiApp(env)
        async with app.run_test(size=(200, 50)) as pilot:
            await wait_until(pilot, app.all_loaded)
            await pilot.press("2", "z")
            await pilot.pause(0.3)
            svg = app.export_screenshot()
        assert "\x1b" not in svg and "\x07" not in svg
        assert "␛]0;PWNED" in svg.replace("&#160;", " ")
        client.close()
    finally:
        env.close()
