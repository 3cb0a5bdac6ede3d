"""Rows of ``idx_quantity``: ``(code, grp, system | None, unit | None, value, low, high)``.

R4 search §quantity (http://hl7.org/fhir/R4/search.html#quantity): Quantity and its profiles (Age,
Duration, Distance, Count, SimpleQuantity) give ``system|code`` (the unit text when there is no
code) with the value and its implicit precision range (§number). As ``[parameter]=5.4||mg`` matches
``Quantity.unit`` *or* ``Quantity.code``, a unit text that differs from the code gets a second row
``(None, unit, ...)``. A comparator widens the range (``<5`` → ``[-inf, 5.x)``). Money is
``urn:iso:std:iso:4217|currency``. A Range is one row from ``low`` to ``high`` (a missing end is
infinite; value = low, else high; system/unit of the bound(s), both must agree). SampledData is not
indexed (no single value).
"""

from __future__ import annotations

import math
from datetime import tzinfo
from typing import Any

from rhip.fhir.search.compile import Item
from rhip.fhir.search.values import number_range, to_decimal

__all__ = ["build", "quantity_range", "range_bounds"]

Rows = dict[str, list[tuple[Any, ...]]]
ISO4217 = "urn:iso:std:iso:4217"
_QUANTITIES = frozenset(
    {
        "Quantity",
        "Age",
        "Duration",
        "Distance",
        "Count",
        "SimpleQuantity",
        "MoneyQuantity",
    }
)


def quantity_range(q: dict[str, Any]) -> tuple[float, float, float] | None:
    """``(value, low, high)`` of a Quantity (comparator-widened), or None without a valid value."""
    try:
        value, low, high = number_range(to_decimal(q.get("value")))
    except ValueError:
        return None
    comparator = q.get("comparator")
    if comparator in ("<", "<="):
        low = -math.inf
    elif comparator in (">", ">="):
        high = math.inf
    return value, low, high


def range_bounds(
    r: dict[str, Any],
) -> tuple[tuple[float, float, float], dict[str, Any]] | None:
    """``((value, low, high), unit_source)`` of a Range, or None if it has no bound or mixed units."""
    lo_q, hi_q = r.get("low"), r.get("high")
    lo = quantity_range(lo_q) if isinstance(lo_q, dict) else None
    hi = quantity_range(hi_q) if isinstance(hi_q, dict) else None
    if lo is None and hi is None:
        return None
    if isinstance(lo_q, dict) and isinstance(hi_q, dict) and lo is not None and hi is not None:
        keys = ("system", "code", "unit")
        if any(lo_q.get(k) != hi_q.get(k) for k in keys):
            return None
    unit = lo_q if lo is not None else hi_q
    assert isinstance(unit, dict)
    value = lo[0] if lo is not None else hi[0]  # type: ignore[index]
    return (value, lo[1] if lo else -math.inf, hi[2] if hi else math.inf), unit


def _emit(
    code: str,
    grp: int,
    q: dict[str, Any],
    span: tuple[float, float, float],
    out: list[Any],
) -> None:
    system, unit_code, unit = q.get("system"), q.get("code"), q.get("unit")
    out.append((code, grp, system, unit_code if unit_code is not None else unit, *span))
    if unit is not None and unit_code is not None and unit != unit_code:
        out.append((code, grp, None, unit, *span))


def build(code: str, grp: int, items: list[Item], rows: Rows, base_url: str | None, tz: tzinfo) -> None:
    """Append the quantity rows of ``items`` to ``rows["quantity"]``."""
    out = rows["quantity"]
    for ftype, value in items:
        if not isinstance(value, dict):
            continue
        if ftype in _QUANTITIES:
            span = quantity_range(value)
            if span is not None:
                _emit(code, grp, value, span, out)
        elif ftype == "Money":
            span = quantity_range(value)
            if span is not None:
                out.append((code, grp, ISO4217, value.get("currency"), *span))
        elif ftype == "Range":
            bounds = range_bounds(value)
            if bounds is not None:
                _emit(code, grp, bounds[1], bounds[0], out)
