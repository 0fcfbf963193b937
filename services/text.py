"""Make text from outside safe to put on a terminal.

Job ids, tracebacks, tickers and server replies may hold control characters;
written raw, ESC and friends would move the cursor, retitle the window or set
the clipboard (OSC 52) on the operator's terminal. Each becomes one visible
placeholder character, so lengths, and any styling spans over them, hold.
"""

from __future__ import annotations

import re

# C0 except tab and newline, DEL, and the C1 range.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# Bidirectional overrides can make text read differently from what it is.
_BIDI = re.compile(r"[\u202a-\u202e\u2066-\u2069]")


def _picture(match: re.Match[str]) -> str:
    code = ord(match.group())
    # U+2400.. are the Unicode "control pictures" (␛ for ESC); others get U+FFFD.
    return chr(0x2400 + code) if code < 0x20 else "\ufffd"


def printable(text: str) -> str:
    """Replace control and bidi-override characters by visible ones."""
    return _BIDI.sub("\ufffd", _CONTROL.sub(_picture, text))


def one_line(text: str) -> str:
    """`printable`, with line breaks shown too: for fields that must stay one line."""
    return printable(text.replace("\r", "␍").replace("\n", "␤"))
