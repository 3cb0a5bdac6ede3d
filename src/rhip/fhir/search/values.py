"""Value normalisers shared by the index writer and the query side of FHIR search.

- ``normalize_string``: the R4 string-search comparison form (http://hl7.org/fhir/R4/search.html#string:
  "case-insensitive and accent-insensitive"): NFKD, Latin-style combining accents removed, casefold,
  NFC, whitespace collapsed. Only combining *diacritics* are removed, not every combining mark: the
  Japanese voicing marks (U+3099/U+309A) and Hangul jamo are recomposed, so CJK text stays intact.
- ``date_range``: a date/dateTime/instant at its precision → inclusive ``[low, high]`` in integer ms
  since the epoch (UTC) (R4 search §date: "the value is an implicit range"). Values without an offset
  (dates, and dateTimes without a time zone) are read in the given default time zone.
- ``number_range``: a decimal with its implicit precision (R4 search §number: ``100`` means
  [99.5, 100.5), ``100.00`` means [99.995, 100.005), ``1e2`` means 1 significant figure).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from decimal import Decimal, InvalidOperation

__all__ = [
    "MAX_MS",
    "MIN_MS",
    "date_range",
    "normalize_string",
    "number_range",
    "to_decimal",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MIN_MS = -62135647200000
"""0001-01-01T00:00:00+14:00, below any date's low: the low end of a period without a start."""
MAX_MS = 253402351199999
"""9999-12-31T23:59:59.999-14:00, above any date's high: the high end of a period without an end."""

_DIACRITICS = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
_DATE = re.compile(
    r"(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?"
    r"(Z|[+-]\d{2}:\d{2})?)?)?)?"
)


def normalize_string(s: str) -> str:
    """Accent- and case-insensitive, whitespace-collapsed form of ``s`` (CJK characters kept)."""
    if s.isascii():
        return " ".join(s.lower().split())
    s = _DIACRITICS.sub("", unicodedata.normalize("NFKD", s))
    s = _DIACRITICS.sub("", unicodedata.normalize("NFKD", s.casefold()))
    return " ".join(unicodedata.normalize("NFC", s).split())


def _ms(dt: datetime) -> int:
    d = dt - _EPOCH
    return (d.days * 86400 + d.seconds) * 1000 + d.microseconds // 1000


def date_range(s: str, tz: tzinfo) -> tuple[int, int]:
    """Inclusive ``[low, high]`` ms range of a FHIR date, dateTime or instant at its precision.

    ``2020`` is the whole year, ``2020-03`` the month, ``2020-03-05`` the day (in ``tz``),
    ``2020-03-05T10:00`` the minute, ``...:00`` the second, ``...:00.5`` the 100 ms. A time without
    an offset is in ``tz``; a leap second (``:60``) is read as the last ms of its minute.
    Raises ValueError for anything else.
    """
    m = _DATE.fullmatch(s)
    if not m or m.group(1) == "0000":
        raise ValueError(f"not a FHIR date/dateTime/instant: {s!r}")
    try:
        return _range(m.groups(), tz)
    except ValueError as exc:  # month 13, day 30 of February, hour 24, offset +15:00, ...
        raise ValueError(f"not a FHIR date/dateTime/instant: {s!r} ({exc})") from None


def _range(groups: tuple[str | None, ...], tz: tzinfo) -> tuple[int, int]:
    year, month, day, hour, minute, sec, frac, offset = groups
    y = int(year or 0)
    zone = tz
    if offset is not None:
        zone = UTC if offset == "Z" else _offset(offset)
    if month is None:
        low = datetime(y, 1, 1, tzinfo=zone)
        high = datetime(y + 1, 1, 1, tzinfo=zone) if y < 9999 else None
    elif day is None:
        mo = int(month)
        low = datetime(y, mo, 1, tzinfo=zone)
        high = datetime(y + mo // 12, mo % 12 + 1, 1, tzinfo=zone) if (y, mo) != (9999, 12) else None
    elif hour is None:
        low = datetime(y, int(month), int(day), tzinfo=zone)
        high = low + timedelta(days=1) if (y, low.month, low.day) != (9999, 12, 31) else None
    else:
        leap = sec == "60"
        second = 59 if leap else int(sec or 0)
        low = datetime(y, int(month), int(day), int(hour), int(minute or 0), second, tzinfo=zone)
        base = _ms(low)
        if leap:
            return base + 999, base + 999
        if sec is None:
            return base, base + 59_999
        if not frac:
            return base, base + 999
        digits = frac[:3]
        step = 10 ** (3 - len(digits))
        start = base + int(digits) * step
        return start, start + step - 1
    lo = _ms(low)
    return lo, (_ms(high) - 1 if high is not None else _ms(datetime(y, 12, 31, 23, 59, 59, 999000, tzinfo=zone)))


def _offset(text: str) -> tzinfo:
    hours, minutes = int(text[1:3]), int(text[4:6])
    if hours > 14 or minutes > 59:
        raise ValueError(f"invalid time-zone offset {text!r}")
    delta = timedelta(hours=hours, minutes=minutes)
    return timezone(-delta if text[0] == "-" else delta)


def to_decimal(v: object) -> Decimal:
    """A JSON number (int, Decimal, or float read by a JSON parser) as a Decimal (ValueError if none)."""
    if isinstance(v, bool):
        raise ValueError("boolean is not a number")
    if isinstance(v, Decimal):
        return v
    if isinstance(v, int):
        return Decimal(v)
    if isinstance(v, float):
        return Decimal(repr(v))  # shortest repr: the digits as written, as far as a float kept them
    if isinstance(v, str):
        try:
            return Decimal(v)
        except InvalidOperation as exc:
            raise ValueError(f"not a number: {v!r}") from exc
    raise ValueError(f"not a number: {v!r}")


def number_range(d: Decimal) -> tuple[float, float, float]:
    """``(value, low, high)``: ``d`` ± half a unit of its last significant digit (R4 search §number)."""
    if not d.is_finite():
        raise ValueError(f"not a finite number: {d}")
    exponent = d.as_tuple().exponent
    assert isinstance(exponent, int)
    half = Decimal((0, (5,), exponent - 1))
    return float(d), float(d - half), float(d + half)
