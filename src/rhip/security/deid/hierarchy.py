"""Generalisation hierarchies of the Patient quasi-identifiers (one ``Dimension`` each).

Level 0 is the value as recorded (after the date shift for the birth date); the last level removes the
attribute. Values are strings (``None`` when the record has none, which stays a value of its own until
the attribute is removed), so the lattice search can treat all dimensions alike.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from rhip.terminology import divisions
from rhip.terminology.bundled import bundled
from rhip.terminology.codesystem import CodeSystem

__all__ = ["DIMENSIONS", "REMOVED", "Dimension", "prefecture", "province"]

REMOVED = "*"
"""The generalised value of every record at a dimension's top level (attribute not released)."""

Value = str | None


@dataclass(frozen=True, slots=True)
class Dimension:
    name: str
    levels: tuple[str, ...]
    """Level names, most precise first; the last one is ``removed``."""
    step: Callable[[str, int], str]
    """Generalise a present value to a level below the top."""

    @property
    def top(self) -> int:
        return len(self.levels) - 1

    def generalise(self, value: Value, level: int) -> Value:
        if level >= self.top:
            return REMOVED
        return None if value is None else self.step(value, level)


def _birth(value: str, level: int) -> str:
    if level == 0:
        return value
    if level == 1:
        return value[:7]
    if level == 2:
        return value[:4]
    width = 5 if level == 3 else 10
    year = int(value[:4])
    low = year - year % width
    return f"{low:04d}/{low + width - 1:04d}"


@cache
def _divisions() -> CodeSystem | None:
    return bundled().by_url.get(divisions.URL)


def province(code6: str) -> str:
    return code6[:2] + "0000"


@cache
def prefecture(code6: str) -> str:
    """The prefecture (地级) of a 6-digit code from the GB/T 2260 hierarchy; the province for county-level
    divisions directly under a province (e.g. 429004 仙桃市); digits only for codes not in the table."""
    table = _divisions()
    concept = table.find(code6) if table is not None else None
    if concept is None:
        return code6[:4] + "00"
    if dict(concept.properties).get("level") in ("prefecture", "province"):
        return code6
    for parent in concept.parents:
        found = table.find(parent) if table is not None else None
        if found is not None and dict(found.properties).get("level") == "prefecture":
            return parent
    return province(code6)


def _address(value: str, level: int) -> str:
    if level == 0:
        return value
    if level == 1:
        return value[:9]
    if level == 2:
        return value[:6]
    return prefecture(value[:6]) if level == 3 else province(value[:6])


def _ethnicity(value: str, level: int) -> str:
    return value if level == 0 else ("han" if value == "01" else "minority")


def _marital(value: str, level: int) -> str:
    return value if level == 0 else value[:1] + "0"


def _same(value: str, level: int) -> str:
    return value


DIMENSIONS: dict[str, Dimension] = {
    d.name: d
    for d in (
        Dimension("birth", ("day", "month", "year", "5-year band", "10-year band", "removed"), _birth),
        Dimension("gender", ("value", "removed"), _same),
        Dimension("address", ("village", "township", "county", "prefecture", "province", "removed"), _address),
        Dimension("ethnicity", ("GB 3304 code", "han or minority", "removed"), _ethnicity),
        Dimension("marital", ("GB/T 2261.2 code", "GB/T 2261.2 group", "removed"), _marital),
        Dimension("deceased", ("value", "removed"), _same),
    )
}
"""Every supported quasi-identifier, in lattice order."""
