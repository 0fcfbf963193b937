"""Decoding of RQ's stored bytes (job payloads, tracebacks, timestamps) without trust.

Owns the safe reading of what rq 1.15 to 3.x write under `rq:`: a restricted
unpickler that never imports or runs code named in a payload, JSON payloads, zlib
texts and rq's timestamp format. It must not talk to Redis.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import pickle
import re
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from services.settings import redact_url

UNDECODABLE = "<undecodable>"
REDACTED = "********"

# Only plain data types may be rebuilt from a payload: a job hash is outside
# input, and unpickling anything else would import and run code it names.
_SAFE_GLOBALS = frozenset(
    {
        ("builtins", "set"),
        ("builtins", "frozenset"),
        ("builtins", "complex"),
        ("builtins", "bytearray"),
        ("builtins", "slice"),
        ("datetime", "datetime"),
        ("datetime", "date"),
        ("datetime", "time"),
        ("datetime", "timedelta"),
        ("datetime", "timezone"),
        ("decimal", "Decimal"),
        ("collections", "OrderedDict"),
    }
)
_SECRET_NAME = re.compile(r"key|secret|token|passw|auth|credential|cookie", re.I)
_URL_WITH_AUTH = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s/@]+@[^\s'\"]+", re.I)
_EXC_LINE = re.compile(
    r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Warning|"
    r"Timeout|Failure|Abort)\w*)(?::|$)"
)


class PayloadError(ValueError):
    """A job payload could not be decoded; the message says why."""


@dataclass(frozen=True)
class Payload:
    """The decoded call of a job: function path and arguments.

    Attributes:
        function: Dotted function path, or "<undecodable>".
        args: Positional arguments (plain data only).
        kwargs: Keyword arguments (plain data only).
        error: Why the payload could not be decoded, or None.
    """

    function: str
    args: tuple[Any, ...] = ()
    kwargs: tuple[tuple[str, Any], ...] = ()
    error: str | None = None

    @property
    def call_key(self) -> str:
        """A stable text form of function and arguments, for duplicate detection."""
        return f"{self.function}{self.args!r}{self.kwargs!r}"


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _SAFE_GLOBALS:
            raise PayloadError(
                f"pickle references {module}.{name}, which the console never loads"
            )
        return super().find_class(module, name)


# A job payload or traceback larger than this when inflated is not shown: a small
# compressed field could otherwise expand to gigabytes (a zip bomb).
MAX_INFLATED = 1 << 20


class PayloadTooLarge(ValueError):
    """A compressed field inflates past `MAX_INFLATED`."""


def _inflate(raw: bytes) -> bytes:
    inflater = zlib.decompressobj()
    try:
        data = inflater.decompress(raw, MAX_INFLATED)
    except zlib.error:
        return raw
    if inflater.unconsumed_tail:
        raise PayloadTooLarge(f"inflates past {MAX_INFLATED // 1024} KiB; not shown")
    return data


def _loads(raw: bytes, serializer: str) -> Any:
    if serializer == "json":
        try:
            return json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise PayloadError(f"not JSON: {exc}") from None
    try:
        return _SafeUnpickler(io.BytesIO(raw)).load()
    except PayloadError:
        raise
    except Exception as exc:  # noqa: BLE001 - any corrupt pickle is "undecodable"
        raise PayloadError(f"not a readable pickle: {type(exc).__name__}") from None


@lru_cache(maxsize=4096)
def decode_payload(raw: bytes | None, serializer: str = "pickle") -> Payload:
    """Decode a job's `data` field into its call; never raises.

    Cached by payload bytes: a duplicate storm repeats the same payload.

    Args:
        raw: The `data` bytes from the job hash (zlib of the serialized tuple).
        serializer: "pickle" (rq's default) or "json".
    """
    if not raw:
        return Payload(UNDECODABLE, error="the job hash has no data field")
    try:
        value = _loads(_inflate(raw), serializer)
        func, _instance, args, kwargs = value
    except (PayloadError, PayloadTooLarge) as exc:
        return Payload(UNDECODABLE, error=str(exc))
    except (TypeError, ValueError):
        return Payload(UNDECODABLE, error="payload is not rq's (function, args) tuple")
    if not isinstance(func, str):
        return Payload(UNDECODABLE, error="function name is not text")
    kw = tuple(sorted((str(k), v) for k, v in dict(kwargs or {}).items()))
    return Payload(func, tuple(args or ()), kw)


def result_preview(encoded: bytes | None, serializer: str = "pickle") -> str:
    """Return a short, redacted preview of a result stream's `return_value`."""
    if not encoded:
        return ""
    try:
        raw = base64.b64decode(encoded)
        value = _loads(raw, serializer)
    except (binascii.Error, ValueError) as exc:
        return f"{UNDECODABLE} ({exc})"
    return redact_value("", value)


def redact_value(name: str, value: Any) -> str:
    """Return `value` as short text, hiding it when `name` looks like a secret."""
    if _SECRET_NAME.search(name):
        return REDACTED
    text = repr(value)
    text = _URL_WITH_AUTH.sub(lambda m: redact_url(m.group(0)), text)
    return text if len(text) <= 200 else text[:199] + "…"


def describe_call(payload: Payload) -> str:
    """Return "fn(300, limit=5)" with secret-looking arguments redacted."""
    if payload.error:
        return f"{UNDECODABLE} ({payload.error})"
    parts = [redact_value("", arg) for arg in payload.args]
    parts += [f"{k}={redact_value(k, v)}" for k, v in payload.kwargs]
    return f"{payload.function}({', '.join(parts)})"


def text(raw: Any) -> str:
    """Decode a Redis value (bytes, text or None) as text, replacing bad bytes."""
    if raw is None:
        return ""
    if isinstance(raw, bytes):
        return raw.decode("utf-8", errors="replace")
    return str(raw)


def inflate_text(raw: bytes | None) -> str:
    """Decode a zlib-compressed text field (rq's `exc_info`), or plain text."""
    if not raw:
        return ""
    try:
        return text(_inflate(raw))
    except PayloadTooLarge as exc:
        return f"<{exc}>"


def result_exc_text(encoded: bytes | None) -> str:
    """Decode `exc_string` of an `rq:results:<id>` stream entry (base64 of zlib)."""
    if not encoded:
        return ""
    try:
        return inflate_text(base64.b64decode(encoded))
    except (binascii.Error, ValueError):
        return text(encoded)


def exception_type(traceback: str) -> str:
    """Return the exception class named by a traceback's last matching line."""
    for line in reversed(traceback.strip().splitlines()):
        match = _EXC_LINE.match(line.strip())
        if match:
            return match.group(1).rsplit(".", 1)[-1]
    if "AbandonedJobError" in traceback:
        return "AbandonedJobError"
    if "intermediate queue" in traceback:
        return "StuckInIntermediateQueue"
    return "Unknown" if traceback else "(no traceback)"


def parse_time(raw: bytes | None) -> float | None:
    """Parse rq's timestamp text ("2025-09-12T09:01:02.123456Z") to epoch seconds."""
    value = text(raw).strip()
    if not value:
        return None
    try:
        fast = datetime.fromisoformat(value)
    except ValueError:
        fast = None
    if fast is not None:
        return (fast if fast.tzinfo else fast.replace(tzinfo=UTC)).timestamp()
    for fmt in ("%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%f"):
        try:
            return datetime.strptime(value, fmt).replace(tzinfo=UTC).timestamp()
        except ValueError:
            continue
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def format_time(epoch: float) -> str:
    """Format epoch seconds the way rq stores timestamps."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
