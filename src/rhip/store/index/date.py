"""Rows of ``idx_date``: ``(code, grp, low_ms, high_ms)``, an inclusive range in ms since the epoch.

R4 search §date (http://hl7.org/fhir/R4/search.html#date): date, dateTime and instant values are
ranges at their precision (see ``rhip.fhir.search.values.date_range``); a Period is
``[start, end]`` with a missing start/end open (``MIN_MS``/``MAX_MS``); a Timing spans its events
and ``repeat.boundsPeriod``. Values of other types reachable from date parameters (Age, Range,
string onset descriptions) and unparseable values are not indexed.
"""

from __future__ import annotations

from datetime import tzinfo
from typing import Any

from rhip.fhir.search.compile import Item
from rhip.fhir.search.values import MAX_MS, MIN_MS, date_range

__all__ = ["build", "period_range", "timing_range"]

Rows = dict[str, list[tuple[Any, ...]]]


def _range(s: Any, tz: tzinfo) -> tuple[int, int] | None:
    if not isinstance(s, str):
        return None
    try:
        return date_range(s, tz)
    except ValueError:
        return None


def period_range(period: dict[str, Any], tz: tzinfo) -> tuple[int, int] | None:
    """``[start.low, end.high]`` of a Period (open ends → MIN_MS/MAX_MS); None if it has neither."""
    start, end = _range(period.get("start"), tz), _range(period.get("end"), tz)
    if start is None and end is None:
        return None
    return (start[0] if start else MIN_MS), (end[1] if end else MAX_MS)


def timing_range(timing: dict[str, Any], tz: tzinfo) -> tuple[int, int] | None:
    """The smallest range covering a Timing's events and ``repeat.boundsPeriod``."""
    spans = [r for r in (_range(e, tz) for e in timing.get("event") or ()) if r is not None]
    repeat = timing.get("repeat")
    if isinstance(repeat, dict) and isinstance(repeat.get("boundsPeriod"), dict):
        bounds = period_range(repeat["boundsPeriod"], tz)
        if bounds is not None:
            spans.append(bounds)
    if not spans:
        return None
    return min(s[0] for s in spans), max(s[1] for s in spans)


def build(code: str, grp: int, items: list[Item], rows: Rows, base_url: str | None, tz: tzinfo) -> None:
    """Append the date rows of ``items`` to ``rows["date"]``."""
    out = rows["date"]
    for ftype, value in items:
        if ftype in ("date", "dateTime", "instant"):
            span = _range(value, tz)
        elif ftype == "Period":
            span = period_range(value, tz)
        elif ftype == "Timing":
            span = timing_range(value, tz)
        else:
            continue
        if span is not None:
            out.append((code, grp, span[0], span[1]))
