"""Table and label widgets that never pass control characters to the terminal.

Every pane shows text from outside (Redis, APIs, market data). These widgets
run it through `services.text.printable` on the way in, so no code path can
forget to.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import DataTable, Static

from services.text import printable


def clean(value: Any) -> Any:
    """Return a str or rich Text with control characters made visible."""
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, Text):
        plain = value.plain
        safe = printable(plain)
        if safe != plain:
            value = value.copy()
            value.plain = safe
        return value
    return value


class SafeTable(DataTable[Any]):
    """A DataTable whose cells are cleaned as they are added or updated."""

    def add_row(self, *cells: Any, **kwargs: Any) -> Any:
        return super().add_row(*(clean(c) for c in cells), **kwargs)

    def update_cell(self, row_key: Any, column_key: Any, value: Any, **kw: Any) -> None:
        super().update_cell(row_key, column_key, clean(value), **kw)


class SafeStatic(Static):
    """A Static whose content is cleaned on every update."""

    def update(self, content: Any = "", **kwargs: Any) -> None:
        super().update(clean(content), **kwargs)
