"""Market data for discovery: the `MarketSource` protocol and the frame layout.

The Polygon adapter lives here too; it is blocking (the Polygon SDK is built on
urllib3), so callers run it from thread workers or RQ jobs.
"""

from __future__ import annotations

from datetime import date
from typing import Protocol, runtime_checkable

import pandas as pd
from pandas.tseries.holiday import (
    AbstractHolidayCalendar,
    GoodFriday,
    Holiday,
    USLaborDay,
    USMartinLutherKingJr,
    USMemorialDay,
    USPresidentsDay,
    USThanksgivingDay,
    nearest_workday,
    sunday_to_monday,
)
from pandas.tseries.offsets import CustomBusinessDay

BAR_COLUMNS = ("symbol", "date", "open", "high", "low", "close", "volume")
REFERENCE_COLUMNS = (
    "name",
    "type",
    "float_shares",
    "float_is_proxy",
    "shares_outstanding",
    "short_interest",
    "days_to_cover",
    "borrow_fee",
    "utilization",
)


@runtime_checkable
class MarketSource(Protocol):
    """Where discovery gets its market frames (see the shared frame conventions).

    Attributes:
        source: "demo" or "live".
    """

    source: str

    def daily_bars(self, days: int) -> pd.DataFrame:
        """Return the last `days` trading days of bars for the whole market."""
        ...

    def reference(self) -> pd.DataFrame:
        """Return reference data indexed by symbol; NaN means unknown."""
        ...

    def last_price(self, symbol: str) -> float | None:
        """Return the latest known price of `symbol`, or None when unknown."""
        ...


class NyseHolidays(AbstractHolidayCalendar):
    """Full-day NYSE closures (early closes are trading days)."""

    rules = [
        Holiday("New Year's Day", month=1, day=1, observance=sunday_to_monday),
        USMartinLutherKingJr,
        USPresidentsDay,
        GoodFriday,
        USMemorialDay,
        Holiday(
            "Juneteenth",
            month=6,
            day=19,
            start_date="2022-01-01",
            observance=nearest_workday,
        ),
        Holiday("Independence Day", month=7, day=4, observance=nearest_workday),
        USLaborDay,
        USThanksgivingDay,
        Holiday("Christmas", month=12, day=25, observance=nearest_workday),
    ]


_TRADING_DAY = CustomBusinessDay(calendar=NyseHolidays())


def last_trading_day(on_or_before: date) -> date:
    """Return the last NYSE trading day on or before `on_or_before`."""
    stamp = pd.Timestamp(on_or_before)
    return (stamp + _TRADING_DAY - _TRADING_DAY).date()


def trading_days(end: date, count: int) -> list[date]:
    """Return the `count` NYSE trading days ending on or before `end`, oldest first."""
    if count <= 0:
        return []
    stamps = pd.date_range(end=last_trading_day(end), periods=count, freq=_TRADING_DAY)
    return [stamp.date() for stamp in stamps]
