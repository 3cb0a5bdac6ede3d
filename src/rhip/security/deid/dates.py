"""Shift FHIR ``date``, ``dateTime`` and ``instant`` values by whole days, keeping their precision.

A day-precise value moves by exactly ``days``; the time of day and the zone (or ``Z``) are kept as
written, so the interval between any two values of one person is unchanged to the second. A year or
a year-month has no single day to move: its midpoint is shifted and the result truncated back to the
same precision (a year stays a year), which keeps the order of values and is unbiased (shifting the
first day would move every year-only value backwards for any negative offset).
"""

from __future__ import annotations

import re
from datetime import date, timedelta

__all__ = ["shift_date"]

_VALUE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2})(T.*)?)?)?$")


def _moved(day: date, days: int) -> date:
    try:
        return day + timedelta(days=days)
    except OverflowError:
        return date.max if days > 0 else date.min


def shift_date(value: str, days: int) -> str:
    """``value`` moved by ``days``; ValueError for anything that is not a FHIR date/dateTime/instant."""
    m = _VALUE.match(value)
    if m is None:
        raise ValueError(f"not a FHIR date: {value!r}")
    year, month, day, rest = m.group(1), m.group(2), m.group(3), m.group(4)
    if month is None:
        mid = date(int(year), 7, 2)  # day 183 of 365
        return f"{_moved(mid, days).year:04d}"
    if day is None:
        moved = _moved(date(int(year), int(month), 15), days)
        return f"{moved.year:04d}-{moved.month:02d}"
    return _moved(date(int(year), int(month), int(day)), days).isoformat() + (rest or "")
