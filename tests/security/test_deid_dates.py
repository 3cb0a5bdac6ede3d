"""The per-person date shift keeps every FHIR date precision and every interval within a person."""

from __future__ import annotations

import re
from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from rhip.security.deid.dates import shift_date
from rhip.security.deid.keys import Keys

DAYS = st.integers(-400, 400)
DATES = st.dates(min_value=date(1000, 1, 1), max_value=date(9000, 12, 31))
ZONES = st.sampled_from(["Z", "+08:00", "-05:30", "+00:00", "+14:00"])
TIMES = st.tuples(st.integers(0, 23), st.integers(0, 59), st.integers(0, 59), st.sampled_from(["", ".5", ".123"]))


def shape(value: str) -> str:
    return re.sub(r"\d", "9", value)


@settings(max_examples=40, deadline=None)
@given(DATES, DAYS)
def test_a_year_stays_a_year_within_one_year(day: date, days: int) -> None:
    out = shift_date(f"{day.year:04d}", days)
    assert re.fullmatch(r"\d{4}", out)
    assert abs(int(out) - day.year) <= 2


@settings(max_examples=40, deadline=None)
@given(DATES, DAYS)
def test_a_month_stays_a_month_near_the_shifted_midpoint(day: date, days: int) -> None:
    out = shift_date(f"{day.year:04d}-{day.month:02d}", days)
    moved = date(day.year, day.month, 15) + timedelta(days=days)
    assert out == f"{moved.year:04d}-{moved.month:02d}"


@settings(max_examples=40, deadline=None)
@given(DATES, DAYS)
def test_a_date_moves_by_exactly_the_offset(day: date, days: int) -> None:
    out = shift_date(day.isoformat(), days)
    assert date.fromisoformat(out) - day == timedelta(days=days)


@settings(max_examples=40, deadline=None)
@given(DATES, TIMES, ZONES, DAYS)
def test_a_date_time_keeps_its_time_and_zone(day: date, t: tuple[int, int, int, str], zone: str, days: int) -> None:
    suffix = f"T{t[0]:02d}:{t[1]:02d}:{t[2]:02d}{t[3]}{zone}"
    out = shift_date(day.isoformat() + suffix, days)
    assert out == (day + timedelta(days=days)).isoformat() + suffix


@settings(max_examples=40, deadline=None)
@given(DATES, TIMES, DAYS)
def test_an_instant_keeps_its_precision(day: date, t: tuple[int, int, int, str], days: int) -> None:
    value = f"{day.isoformat()}T{t[0]:02d}:{t[1]:02d}:{t[2]:02d}.{t[2]:03d}Z"
    assert shape(shift_date(value, days)) == shape(value)


@settings(max_examples=40, deadline=None)
@given(DATES, DATES, DAYS)
def test_intervals_between_dates_are_preserved(a: date, b: date, days: int) -> None:
    sa, sb = (date.fromisoformat(shift_date(d.isoformat(), days)) for d in (a, b))
    assert sb - sa == b - a


@settings(max_examples=40, deadline=None)
@given(DATES, DATES, DAYS, st.sampled_from([4, 7, 10]))
def test_order_is_kept_at_every_precision(a: date, b: date, days: int, width: int) -> None:
    low, high = sorted([a.isoformat()[:width], b.isoformat()[:width]])
    assert shift_date(low, days) <= shift_date(high, days)


@settings(max_examples=40, deadline=None)
@given(DATES, DAYS)
def test_shifting_back_restores_a_day_precise_value(day: date, days: int) -> None:
    value = day.isoformat() + "T08:30:00+08:00"
    assert shift_date(shift_date(value, days), -days) == value


def test_values_that_are_not_dates_are_refused() -> None:
    for bad in ("", "2025/01/01", "20250101", "T10:00", "abcd"):
        try:
            shift_date(bad, 3)
        except ValueError:
            continue
        raise AssertionError(bad)


@settings(max_examples=40, deadline=None)
@given(st.text(min_size=1, max_size=30), st.integers(1, 400))
def test_offsets_are_never_zero_and_within_the_range(person: str, max_days: int) -> None:
    offset = Keys(b"0123456789abcdef").offset_days(person, max_days)
    assert offset != 0
    assert -max_days <= offset <= max_days


def test_offsets_cover_both_directions() -> None:
    keys = Keys(b"0123456789abcdef")
    offsets = {keys.offset_days(f"p{i}", 180) for i in range(400)}
    assert min(offsets) < -150
    assert max(offsets) > 150
