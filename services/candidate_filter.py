"""Filter expressions over candidates (`score > 70 and price < 20`) and saved filters.

A tiny recursive-descent parser over a whitelist of fields: nothing is ever
passed to eval or DataFrame.query, so a typed filter cannot run code. Saved
filters live in a small JSON file in the console's state directory.
"""

from __future__ import annotations

import json
import logging
import operator
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from services.discovery_view import Candidate
from services.settings import state_dir

log = logging.getLogger(__name__)

Predicate = Callable[[Candidate], bool]

FIELDS = {
    "score": "score", "price": "price", "change": "change_pct",
    "change_pct": "change_pct", "rel_vol": "rel_vol", "relvol": "rel_vol",
    "atr": "atr_pct", "atr_pct": "atr_pct", "dollar_volume": "dollar_volume",
    "dv": "dollar_volume", "short_interest": "short_interest", "si": "short_interest",
    "float": "float_shares", "float_shares": "float_shares", "action": "action",
    "symbol": "symbol", "confidence": "confidence",
}  # fmt: skip
OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le,
    "==": operator.eq, "=": operator.eq, "!=": operator.ne,
}  # fmt: skip
SUFFIX = {"k": 1e3, "m": 1e6, "b": 1e9}
_TOKEN = re.compile(
    r"\s*(?:(?P<num>\d+(?:\.\d+)?(?:e[+-]?\d+)?[kmb]?)(?![\w.])"
    r"|(?P<op>>=|<=|==|!=|[<>=()])"
    r"|(?P<str>'[^']*'|\"[^\"]*\")"
    r"|(?P<word>[A-Za-z_][A-Za-z0-9_.]*))",
    re.IGNORECASE,
)


class FilterError(ValueError):
    """The expression cannot be parsed; the message says where and why."""


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens, pos = [], 0
    text = text.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise FilterError(
                f"cannot read {text[pos : pos + 12]!r} at column {pos + 1}"
            )
        kind = match.lastgroup or "word"
        tokens.append((kind, match.group(kind)))
        pos = match.end()
    return tokens


def _number(text: str) -> float:
    scale = SUFFIX.get(text[-1].lower(), 1.0)
    return float(text[:-1] if scale != 1.0 else text) * scale


class _Parser:
    """expr := term ("or" term)* ; term := factor ("and" factor)* ;
    factor := "not" factor | "(" expr ")" | field op value."""

    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.pos = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise FilterError("the expression ends too early")
        self.pos += 1
        return token

    def keyword(self, word: str) -> bool:
        token = self.peek()
        if token and token[0] == "word" and token[1].lower() == word:
            self.pos += 1
            return True
        return False

    def parse(self) -> Predicate:
        predicate = self.expr()
        if self.peek() is not None:
            raise FilterError(f"unexpected {self.peek()[1]!r}")  # type: ignore[index]
        return predicate

    def expr(self) -> Predicate:
        parts = [self.term()]
        while self.keyword("or"):
            parts.append(self.term())
        return parts[0] if len(parts) == 1 else lambda c: any(p(c) for p in parts)

    def term(self) -> Predicate:
        parts = [self.factor()]
        while self.keyword("and"):
            parts.append(self.factor())
        return parts[0] if len(parts) == 1 else lambda c: all(p(c) for p in parts)

    def factor(self) -> Predicate:
        if self.keyword("not"):
            inner = self.factor()
            return lambda c: not inner(c)
        if self.peek() == ("op", "("):
            self.take()
            inner = self.expr()
            if self.take() != ("op", ")"):
                raise FilterError("missing ')'")
            return inner
        return self.comparison()

    def comparison(self) -> Predicate:
        kind, name = self.take()
        attr = FIELDS.get(name.lower()) if kind == "word" else None
        if attr is None:
            raise FilterError(f"unknown field {name!r}; use one of {', '.join(FIELDS)}")
        kind, op = self.take()
        if kind != "op" or op not in OPERATORS:
            raise FilterError(f"expected a comparison after {name!r}, got {op!r}")
        value = self.value(attr)
        compare = OPERATORS[op]
        return lambda c: _compare(getattr(c, attr), compare, value)

    def value(self, attr: str) -> Any:
        kind, text = self.take()
        if kind == "num" and attr not in ("action", "symbol", "confidence"):
            return _number(text)
        if kind == "str":
            return text[1:-1].upper()
        if kind in ("word", "num"):
            return text.upper()
        raise FilterError(f"expected a value, got {text!r}")


def _compare(actual: Any, compare: Callable[[Any, Any], bool], value: Any) -> bool:
    """Missing values never match; text compares case-insensitively."""
    if actual is None:
        return False
    if isinstance(value, str):
        return bool(compare(str(actual).upper(), value))
    if isinstance(actual, str):
        return False
    return bool(compare(actual, value))


def compile_filter(text: str) -> Predicate:
    """Compile an expression; an empty one keeps every candidate.

    Raises:
        FilterError: the expression is not valid.
    """
    if not text.strip():
        return lambda _c: True
    return _Parser(text).parse()


def default_filters_path() -> Path:
    """Where saved filters live: the console's state directory."""
    return state_dir() / "candidate_filters.json"


class SavedFilters:
    """Named filter expressions in a JSON file (invalid ones are refused).

    Args:
        path: The JSON file; created on the first save.
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_filters_path()

    def load(self) -> dict[str, str]:
        """Return name → expression; an unreadable file reads as empty."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("saved filters %s unreadable: %s", self.path, exc)
            return {}
        if not isinstance(data, dict):
            return {}
        return {str(k): str(v) for k, v in data.items()}

    def save(self, name: str, expression: str) -> None:
        """Store `expression` under `name` after checking it parses.

        Raises:
            FilterError: the expression is invalid or the name is empty.
        """
        if not name.strip():
            raise FilterError("a saved filter needs a name")
        compile_filter(expression)
        filters = {**self.load(), name.strip(): expression.strip()}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temp = self.path.with_suffix(".tmp")
        temp.write_text(json.dumps(filters, indent=2, sort_keys=True), encoding="utf-8")
        temp.replace(self.path)

    def delete(self, name: str) -> bool:
        """Remove `name`; False if it was not there."""
        filters = self.load()
        if filters.pop(name, None) is None:
            return False
        self.path.write_text(
            json.dumps(filters, indent=2, sort_keys=True), encoding="utf-8"
        )
        return True
