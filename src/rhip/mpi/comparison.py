"""Splink-style comparisons: an ordered list of labelled levels, the first that holds wins.

A :class:`Comparison` reads one or more record fields; level 0 is always the null level (a value is
missing on either side: no evidence, weight 0), the last level is "else". Levels are predicates over
two records, so a level may look at several derived fields (a name compares characters, then pinyin).
A comparison may carry a term-frequency field (Splink's ``term_frequency_adjustments``): an exact
agreement on a rare value (a rare name) is stronger evidence than on a common one; see
:mod:`rhip.mpi.frequencies`. Generic builders for any data set live here (exact, Jaro-Winkler and
Damerau-Levenshtein thresholds from rapidfuzz, dates); the Chinese person comparisons are in
:mod:`rhip.mpi.comparators`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rapidfuzz.distance import DamerauLevenshtein, JaroWinkler

Record = Mapping[str, Any]
Test = Callable[[Record, Record], bool]


@dataclass(frozen=True)
class Level:
    """One comparison level: a label a clerk can read and the test that decides it."""

    label: str
    test: Test


@dataclass(frozen=True)
class Comparison:
    """An ordered list of levels over ``fields``; :meth:`level` returns the index of the first that holds."""

    name: str
    fields: tuple[str, ...]
    levels: tuple[Level, ...]  # without the null and else levels
    tf_field: str | None = None  # term-frequency adjustment of the first (exact) level on this field

    @property
    def labels(self) -> tuple[str, ...]:
        """Level labels in order: ``null``, the declared levels, ``else``."""
        return ("null", *(lv.label for lv in self.levels), "else")

    def is_null(self, a: Record, b: Record) -> bool:
        """No evidence: the first field is missing on either side."""
        key = self.fields[0]
        return a.get(key) is None or b.get(key) is None

    def level(self, a: Record, b: Record) -> int:
        """Index into :attr:`labels` of the level this pair falls in."""
        if self.is_null(a, b):
            return 0
        for i, lv in enumerate(self.levels, start=1):
            if lv.test(a, b):
                return i
        return len(self.levels) + 1


def exact(field: str, label: str = "exact") -> Level:
    """Values equal."""
    return Level(label, lambda a, b: bool(a[field] == b[field]))


def jaro_winkler(field: str, threshold: float) -> Level:
    """Jaro-Winkler similarity (rapidfuzz) at or above ``threshold``."""
    return Level(
        f"jaro-winkler>={threshold}",
        lambda a, b: JaroWinkler.similarity(a[field], b[field], score_cutoff=threshold) >= threshold,
    )


def damerau_levenshtein(field: str, distance: int) -> Level:
    """Damerau-Levenshtein distance (rapidfuzz) at most ``distance``."""
    return Level(
        f"damerau-levenshtein<={distance}",
        lambda a, b: DamerauLevenshtein.distance(a[field], b[field], score_cutoff=distance) <= distance,
    )


def swapped(field: str, other: str) -> Level:
    """The two fields exchanged between the records (given name entered as surname and vice versa)."""

    def test(a: Record, b: Record) -> bool:
        x = a.get(other)
        return x is not None and a[field] == b.get(other) and x == b[field]

    return Level(f"swapped-with-{other}", test)


def exact_match(field: str, *, tf: bool = False) -> Comparison:
    """null / exact / else (``tf``: the exact level's weight depends on how common the value is)."""
    return Comparison(field, (field,), (exact(field),), field if tf else None)


def string_at_thresholds(
    field: str,
    *,
    jaro_winkler_thresholds: Sequence[float] = (),
    dl_thresholds: Sequence[int] = (),
    tf: bool = False,
    swapped_with: str | None = None,
) -> Comparison:
    """null / exact / [swapped] / Damerau-Levenshtein ≤ k … / Jaro-Winkler ≥ t … / else (names, codes, numbers)."""
    levels = [exact(field)]
    if swapped_with:
        levels.append(swapped(field, swapped_with))
    levels += [damerau_levenshtein(field, k) for k in dl_thresholds]
    levels += [jaro_winkler(field, t) for t in jaro_winkler_thresholds]
    return Comparison(field, (field,), tuple(levels), field if tf else None)


def date_swap(field: str) -> Level:
    """``YYYYMMDD`` strings equal once day and month of one side are swapped."""

    def test(a: Record, b: Record) -> bool:
        x, y = a[field], b[field]
        return len(x) == 8 and len(y) == 8 and x[:4] == y[:4] and x[4:6] == y[6:8] and x[6:8] == y[4:6]

    return Level("day-month-swap", test)


def date_one_component(field: str) -> Level:
    """Exactly one of year, month, day differs (a typo in one component)."""

    def test(a: Record, b: Record) -> bool:
        x, y = a[field], b[field]
        if len(x) != 8 or len(y) != 8:
            return False
        same = int(x[:4] == y[:4]) + int(x[4:6] == y[4:6]) + int(x[6:8] == y[6:8])
        return same == 2

    return Level("one-component", test)


def date_comparison(field: str) -> Comparison:
    """Birth dates as ``YYYYMMDD``: exact / day-month swap / one character / one component / else."""
    return Comparison(
        field,
        (field,),
        (exact(field), date_swap(field), damerau_levenshtein(field, 1), date_one_component(field)),
    )
