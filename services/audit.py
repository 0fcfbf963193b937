"""Append-only audit log of every mutation and order attempt.

One JSON object per line: when, who (user@host), action, ids and outcome. The
log never holds secrets; callers pass ids and counts, not payloads.
"""

from __future__ import annotations

import getpass
import json
import logging
import os
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services.clock import Clock

log = logging.getLogger(__name__)


def operator() -> str:
    """Return "user@host" for the person running the console."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"


@dataclass
class AuditLog:
    """Appends records to a JSON-lines file; safe to call from several threads."""

    path: Path
    clock: Clock = field(default_factory=Clock)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, action: str, outcome: str, **details: Any) -> dict[str, Any]:
        """Append one record and return it.

        Args:
            action: What was attempted, e.g. "requeue" or "order.submit".
            outcome: What happened, e.g. "4 requeued, 1 missing" or "refused".
            details: Job ids, symbols, counts; never secrets.
        """
        entry = {
            "at": self.clock.now(),
            "who": operator(),
            "action": action,
            "outcome": outcome,
            **details,
        }
        line = json.dumps(entry, default=str, sort_keys=True)
        with self._lock:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with self.path.open("a", encoding="utf-8") as handle:
                    handle.write(line + "\n")
            except OSError as exc:
                log.warning("audit log %s not writable: %s", self.path, exc)
        return entry

    def read(self) -> list[dict[str, Any]]:
        """Return every record, oldest first; unreadable lines are skipped."""
        if not self.path.exists():
            return []
        records = []
        for line in self.path.read_text(
            encoding="utf-8", errors="replace"
        ).splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return records
