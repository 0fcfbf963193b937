"""Candidate filter expressions (no eval) and the saved-filters file."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.candidate_filter import FilterError, SavedFilters, compile_filter
from services.discovery_view import Candidate

ROWS = (
    Candidate("AAA", 75.0, "TRADE_READY", price=12.0, dollar_volume=3e7),
    Candidate("BBB", 55.0, "MONITOR", price=4.0, float_shares=8e6),
    Candidate("CCC", None, "MONITOR", price=None),
    Candidate("DDD", 91.0, "TRADE_READY", price=45.0, short_interest=2e6),
)


def kept(expression: str) -> list[str]:
    predicate = compile_filter(expression)
    return [c.symbol for c in ROWS if predicate(c)]


@pytest.mark.parametrize(
    "expression, expected",
    [
        ("score > 70 and price < 20", ["AAA"]),
        ("score>70 or price<5", ["AAA", "BBB", "DDD"]),
        ("not score > 70", ["BBB", "CCC"]),
        ("(price < 5 or price > 40) and score >= 55", ["BBB", "DDD"]),
        ("dv >= 20m", ["AAA"]),
        ("float < 10M", ["BBB"]),
        ("action == trade_ready", ["AAA", "DDD"]),
        ("action != 'MONITOR'", ["AAA", "DDD"]),
        ("symbol = ccc", ["CCC"]),
        ("si > 1.5e6", ["DDD"]),
        ("", ["AAA", "BBB", "CCC", "DDD"]),
    ],
)
def test_expressions(expression: str, expected: list[str]) -> None:
    assert kept(expression) == expected


def test_missing_values_never_match_either_way() -> None:
    assert "CCC" not in kept("price > 0")
    assert "CCC" not in kept("price <= 0")


@pytest.mark.parametrize(
    "expression, message",
    [
        ("score >", "ends too early"),
        ("foo > 1", "unknown field 'foo'"),
        ("__import__('os').system('x')", "cannot read"),
        ("price.__class__ > 1", "unknown field"),
        ("score > 1 1", "unexpected"),
        ("(score > 1", "ends too early"),
        ("score ~ 3", "cannot read"),
        ("score price", "expected a comparison"),
    ],
)
def test_invalid_expressions_are_refused(expression: str, message: str) -> None:
    with pytest.raises(FilterError, match=message):
        compile_filter(expression)


def test_saved_filters_round_trip_and_refuse_bad_ones(tmp_path: Path) -> None:
    saved = SavedFilters(tmp_path / "sub" / "filters.json")

    saved.save("cheap", "price < 5")
    saved.save("strong", "score > 80")
    with pytest.raises(FilterError):
        saved.save("broken", "score >")

    assert saved.load() == {"cheap": "price < 5", "strong": "score > 80"}
    assert saved.delete("cheap") and not saved.delete("cheap")
    assert saved.load() == {"strong": "score > 80"}


def test_unreadable_saved_filters_read_as_empty(tmp_path: Path) -> None:
    path = tmp_path / "filters.json"
    path.write_bytes(b"\xff{not json")

    assert SavedFilters(path).load() == {}
