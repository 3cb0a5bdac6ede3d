"""Dates of the terminology service: the ``date`` parameter and effective periods of definitions.

A ``date`` parameter (FHIR ``dateTime``, any precision) is taken at its first day: ``2015`` means
2015-01-01. A stored CodeSystem/ValueSet/ConceptMap version is *effective* on a day when the day lies in
its effective period, read in this order (R4 has no ``effectivePeriod`` element; R5 added it):

1. the R5 element carried as an extension, ``http://hl7.org/fhir/StructureDefinition/resource-effectivePeriod``
   or the cross-version form ``http://hl7.org/fhir/5.0/StructureDefinition/extension-<Type>.effectivePeriod``
   (``valuePeriod``; start and end inclusive at their precision);
2. else the R4 extensions ``valueset-effectiveDate`` / ``codesystem-effectiveDate`` (start) and
   ``valueset-expirationDate`` / ``codesystem-expirationDate`` (the first day it is no longer in force);
3. else the resource's ``date`` as the start, open-ended.
A version with none of these is effective on every day.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from rhip.fhir.errors import FhirError

_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?(?:T.*)?$")
EXT = "http://hl7.org/fhir/StructureDefinition/"
PERIOD_URLS = (f"{EXT}resource-effectivePeriod",)
START_URLS = (f"{EXT}valueset-effectiveDate", f"{EXT}codesystem-effectiveDate")
END_URLS = (f"{EXT}valueset-expirationDate", f"{EXT}codesystem-expirationDate")


@dataclass(frozen=True, slots=True)
class Period:
    """Inclusive first and last day; None is open."""

    start: date | None = None
    end: date | None = None

    def contains(self, day: date) -> bool:
        return (self.start is None or self.start <= day) and (self.end is None or day <= self.end)


ALWAYS = Period()


def _parts(text: str) -> tuple[int, int | None, int | None] | None:
    m = _DATE.match(text.strip())
    if not m:
        return None
    year, month, day = m.groups()
    return int(year), int(month) if month else None, int(day) if day else None


def first_day(text: str) -> date | None:
    """The first day of a FHIR date/dateTime (None if it is not one)."""
    parts = _parts(text)
    if parts is None:
        return None
    year, month, day = parts
    try:
        return date(year, month or 1, day or 1)
    except ValueError:
        return None


def last_day(text: str) -> date | None:
    """The last day a FHIR date/dateTime covers at its precision (``2024`` → 2024-12-31)."""
    parts = _parts(text)
    if parts is None:
        return None
    year, month, day = parts
    try:
        if day is not None and month is not None:
            return date(year, month, day)
        if month is not None:
            nxt = date(year + (month == 12), month % 12 + 1, 1)
            return nxt - timedelta(days=1)
        return date(year, 12, 31)
    except ValueError:
        return None


def parse_param(text: str | None, name: str = "date") -> date | None:
    """The ``date`` operation parameter; 400 when malformed."""
    if text is None or text == "":
        return None
    day = first_day(text)
    if day is None:
        raise FhirError.bad_request(
            f"parameter '{name}' is not a FHIR date or dateTime: {text!r}", f"参数 {name} 不是有效的日期", name
        )
    return day


def effective_period(resource: dict[str, Any]) -> Period:
    """The period in which a stored definition version is in force (rules in the module docstring)."""
    rtype = str(resource.get("resourceType") or "")
    period_urls = (*PERIOD_URLS, f"http://hl7.org/fhir/5.0/StructureDefinition/extension-{rtype}.effectivePeriod")
    start: date | None = None
    end: date | None = None
    for ext in resource.get("extension") or []:
        if not isinstance(ext, dict):
            continue
        url = ext.get("url")
        if url in period_urls and isinstance(ext.get("valuePeriod"), dict):
            p = ext["valuePeriod"]
            s = first_day(str(p.get("start") or ""))
            e = last_day(str(p.get("end") or ""))
            return Period(s, e)
        value = ext.get("valueDate") or ext.get("valueDateTime")
        if not isinstance(value, str):
            continue
        if url in START_URLS:
            start = first_day(value)
        elif url in END_URLS:
            stop = first_day(value)
            end = stop - timedelta(days=1) if stop else None
    if start is None and end is None and isinstance(resource.get("date"), str):
        start = first_day(resource["date"])
    return Period(start, end)
