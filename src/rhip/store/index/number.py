"""Rows of ``idx_number``: ``(code, grp, value, low, high)`` as floats.

R4 search §number (http://hl7.org/fhir/R4/search.html#number): decimal and integer values with their
implicit precision range (``rhip.fhir.search.values.number_range``). A Range (RiskAssessment
``probability``) is one row from its low to its high bound (see ``quantity.range_bounds``).
``Location.near`` (the one R4 ``special`` parameter) is indexed here as ``near:latitude`` and
``near:longitude`` rows from ``Location.position``.
"""

from __future__ import annotations

from datetime import tzinfo
from typing import Any

from rhip.fhir.search.compile import Item
from rhip.fhir.search.values import number_range, to_decimal
from rhip.store.index.quantity import range_bounds

__all__ = ["build", "build_near"]

Rows = dict[str, list[tuple[Any, ...]]]
_NUMBERS = frozenset({"decimal", "integer", "positiveInt", "unsignedInt"})


def build(code: str, grp: int, items: list[Item], rows: Rows, base_url: str | None, tz: tzinfo) -> None:
    """Append the number rows of ``items`` to ``rows["number"]``."""
    out = rows["number"]
    for ftype, value in items:
        if ftype in _NUMBERS:
            try:
                out.append((code, grp, *number_range(to_decimal(value))))
            except ValueError:
                continue
        elif ftype == "Range" and isinstance(value, dict):
            bounds = range_bounds(value)
            if bounds is not None:
                out.append((code, grp, *bounds[0]))


def build_near(code: str, grp: int, items: list[Item], rows: Rows, base_url: str | None, tz: tzinfo) -> None:
    """``Location.near``: latitude and longitude of ``Location.position`` as number rows."""
    out = rows["number"]
    for _, value in items:
        if not isinstance(value, dict):
            continue
        for axis in ("latitude", "longitude"):
            try:
                out.append((f"{code}:{axis}", grp, *number_range(to_decimal(value.get(axis)))))
            except ValueError:
                continue
