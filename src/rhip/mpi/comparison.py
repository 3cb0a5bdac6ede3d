"""Splink-style comparisons: an ordered list of labelled levels, the first that holds wins.

A :class:`Comparison` reads one or more record fields; level 0 is always the null level (a value is
missing on either side: no evidence, weight 0), the last level is "else". Levels are predicates over
two records, so a level may look at several derived fields (a name compares characters, then pinyin).
Generic builders for any data set live here (exact, Jaro-Winkler and Damerau-Levenshtein thresholds
from rapidfuzz, dates); the Chinese person comparisons are in :mod:`rhip.mpi.comparators`.
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


def exact_match(field: str) -> Comparison:
    """null / exact / else."""
    return Comparison(field, (field,), (exact(field),))


def string_at_thresholds(
    field: str, *, jaro_winkler_thresholds: Sequence[float] = (), dl_thresholds: Sequence[int] = ()
) -> Comparison:
    """null / exact / Damerau-Levenshtein ≤ k … / Jaro-Winkler ≥ t … / else (for names, codes, numbers)."""
    levels = [exact(field)]
    levels += [damerau_levenshtein(field, k) for k in dl_thresholds]
    levels += [jaro_winkler(field, t) for t in jaro_winkler_thresholds]
    return Comparison(field, (field,), tuple(levels))


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
