"""Property tests of the search value normalisers (R4 search §string, §date, §number)."""

from __future__ import annotations

import unicodedata
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rhip.fhir.search.values import MAX_MS, MIN_MS, date_range, normalize_string, number_range, to_decimal

CST = timezone(timedelta(hours=8))
zones = st.sampled_from([UTC, CST, timezone(timedelta(hours=-14)), timezone(timedelta(hours=14)),
                         timezone(timedelta(hours=5, minutes=45)), ZoneInfo("America/New_York")])  # fmt: skip
days = st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31))
offsets = st.sampled_from(["", "Z", "+08:00", "-05:00", "+14:00", "-14:00", "+05:45"])


def ms(dt: datetime) -> int:
    return int((dt - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(milliseconds=1))


# ---------------------------------------------------------------- date_range


@given(days, zones)
def test_precisions_nest_day_month_year(d: date, tz: timezone) -> None:
    year = date_range(f"{d.year:04d}", tz)
    month = date_range(f"{d.year:04d}-{d.month:02d}", tz)
    day = date_range(d.isoformat(), tz)
    for low, high in (year, month, day):
        assert MIN_MS <= low <= high <= MAX_MS
    assert year[0] <= month[0] <= day[0] <= day[1] <= month[1] <= year[1]


@given(days, st.integers(0, 23), st.integers(0, 59), st.integers(0, 59), st.integers(0, 999), offsets, zones)
def test_precisions_nest_within_a_day(d: date, h: int, mi: int, s: int, frac: int, off: str, tz: timezone) -> None:
    stem = f"{d.isoformat()}T{h:02d}:{mi:02d}"
    minute = date_range(stem + off, tz)
    second = date_range(f"{stem}:{s:02d}{off}", tz)
    milli = date_range(f"{stem}:{s:02d}.{frac:03d}{off}", tz)
    tenth = date_range(f"{stem}:{s:02d}.{frac // 100}{off}", tz)
    assert minute[0] <= second[0] <= tenth[0] <= milli[0] == milli[1] <= tenth[1] <= second[1] <= minute[1]
    assert second[1] - second[0] == 999
    assert minute[1] - minute[0] == 59_999
    assert tenth[1] - tenth[0] == 99
    if off == "":  # no offset: the time is in the default zone, inside that day
        day = date_range(d.isoformat(), tz)
        assert day[0] <= minute[0] <= minute[1] <= day[1]


@given(st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1)), zones)
def test_instant_is_its_millisecond(dt: datetime, tz: timezone) -> None:
    dt = dt.replace(microsecond=dt.microsecond // 1000 * 1000, tzinfo=UTC)
    text = dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"
    assert date_range(text, tz) == (ms(dt), ms(dt))


def test_known_ranges() -> None:
    utc_2020 = (ms(datetime(2020, 1, 1, tzinfo=UTC)), ms(datetime(2021, 1, 1, tzinfo=UTC)) - 1)
    assert date_range("2020", UTC) == utc_2020
    assert date_range("2020", CST) == (utc_2020[0] - 8 * 3_600_000, utc_2020[1] - 8 * 3_600_000)
    assert date_range("2020-02", UTC)[1] - date_range("2020-02", UTC)[0] == 29 * 86_400_000 - 1
    assert date_range("2020-03-05T10:00:00+02:00", CST) == date_range("2020-03-05T08:00:00Z", UTC)
    assert date_range("2016-12-31T23:59:60Z", UTC)[0] == ms(datetime(2017, 1, 1, tzinfo=UTC)) - 1
    # A DST day in New York has 23 hours.
    ny = date_range("2021-03-14", ZoneInfo("America/New_York"))
    assert ny[1] - ny[0] == 23 * 3_600_000 - 1


@pytest.mark.parametrize(
    "text",
    ["", "20", "2020-1", "2020-13", "2020-02-30", "2020-03-05T24:00:00Z", "2020-03-05T10:61:00Z",
     "2020-03-05T10:00:00+15:00", "2020-03-05 10:00:00", "0000", "2020-03-05T10", "abc", "2020-03-05Z"],
)  # fmt: skip
def test_invalid_dates_raise(text: str) -> None:
    with pytest.raises(ValueError, match="not a FHIR date"):
        date_range(text, UTC)


# ---------------------------------------------------------------- normalize_string


@given(st.text())
def test_normalize_is_idempotent(s: str) -> None:
    once = normalize_string(s)
    assert normalize_string(once) == once
    assert once == once.strip()
    assert "  " not in once


@given(st.text(alphabet=st.characters(categories=["Lo"], min_codepoint=0x3040, max_codepoint=0x9FFF)))
def test_cjk_characters_are_kept(s: str) -> None:
    assert normalize_string(s) == unicodedata.normalize("NFKC", s)


def test_normalize_examples() -> None:
    assert normalize_string("  Zoë   Ærøskøbing\tCAFÉ ") == "zoe ærøskøbing cafe"
    assert normalize_string("张三丰") == "张三丰"
    assert normalize_string("がくせい ガクセイ ｶﾞｸｾｲ") == "がくせい ガクセイ ガクセイ"
    assert normalize_string("한국어") == "한국어"
    assert normalize_string("Ｚｈａｎｇ") == "zhang"  # full-width Latin
    assert normalize_string("Straße") == "strasse"


# ---------------------------------------------------------------- number_range


@given(st.decimals(allow_nan=False, allow_infinity=False, min_value=-(10**8), max_value=10**8, places=4))
def test_number_range_brackets_the_value(d: Decimal) -> None:
    """``[low, high)`` is one unit of the last significant digit wide, centred on the value."""
    value, low, high = number_range(d)
    assert low < value < high
    exponent = d.as_tuple().exponent
    assert isinstance(exponent, int)
    ulp = abs(value) * 4e-16  # the bounds are floats (the idx_number columns)
    assert high - low == pytest.approx(10.0**exponent, abs=2 * ulp + 1e-12)
    assert value - low == pytest.approx(high - value, abs=2 * ulp + 1e-12)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("100", (100.0, 99.5, 100.5)), ("1.00", (1.0, 0.995, 1.005)), ("100.00", (100.0, 99.995, 100.005)),
     ("1e2", (100.0, 50.0, 150.0)), ("-2.5", (-2.5, -2.55, -2.45)), ("0", (0.0, -0.5, 0.5))],
)  # fmt: skip
def test_number_range_examples(text: str, expected: tuple[float, float, float]) -> None:
    assert number_range(Decimal(text)) == pytest.approx(expected)


def test_to_decimal() -> None:
    assert to_decimal(1.5) == Decimal("1.5")
    assert to_decimal(3) == Decimal(3)
    assert to_decimal("2.0") == Decimal("2.0")
    for bad in (True, None, "x", [1]):
        with pytest.raises(ValueError, match="number"):
            to_decimal(bad)
