"""Chinese-aware comparisons of person records built by :func:`rhip.mpi.records.patient_record`.

- 身份证号 (GB 11643): exact / 15↔18 upgrade / one-digit error / adjacent transposition (the
  detectors of :mod:`rhip.identity`) / else.
- Names: exact as written / same simplified characters (traditional ↔ simplified) / same pinyin
  (homophones 伟/玮, romanised "Zhang Wei", polyphones) / pinyin Jaro-Winkler ≥ 0.92 / else.
- Birth date (swap, one component), sex, phone, county → city → province division codes, health card,
  other identifiers (share a ``system|value``; or the same system with different values only).
"""

from __future__ import annotations

from rapidfuzz.distance import DamerauLevenshtein, Hamming, JaroWinkler

from rhip.identity import one_digit_error, transposition
from rhip.mpi.comparison import (
    Comparison,
    Level,
    Record,
    damerau_levenshtein,
    date_comparison,
    exact,
)


def _ric_near(x: str, y: str) -> bool:
    """False when two 18-character numbers differ in more than 3 positions: then neither a one-digit
    error (≤ 2 differences, check character included) nor a transposition (≤ 3) holds. A Hamming
    distance in C instead of the detectors' per-character comparison for most candidate pairs."""
    return len(x) != 18 or len(y) != 18 or Hamming.distance(x, y, score_cutoff=3) <= 3


def ric_comparison() -> Comparison:
    """身份证号 levels (numbers already upgraded to 18 characters by the normaliser)."""
    return Comparison(
        "id_number",
        ("ric", "ric14", "ric_valid"),
        (
            Level("exact", lambda a, b: a["ric"] == b["ric"] and a["ric_legacy"] == b["ric_legacy"]),
            Level("15-18-upgrade", lambda a, b: a["ric"] == b["ric"]),
            Level(
                "one-digit-error", lambda a, b: _ric_near(a["ric"], b["ric"]) and one_digit_error(a["ric"], b["ric"])
            ),
            Level("transposition", lambda a, b: _ric_near(a["ric"], b["ric"]) and transposition(a["ric"], b["ric"])),
        ),
    )


def _pinyin_equal(a: Record, b: Record) -> bool:
    return a["name_py"] == b["name_py"] or not a["name_alts"].isdisjoint(b["name_alts"])


def _pinyin_close(a: Record, b: Record) -> bool:
    return bool(JaroWinkler.similarity(a["name_py"], b["name_py"], score_cutoff=0.92))


def _chars_one_edit(a: Record, b: Record) -> bool:
    x, y = a["name_chars"], b["name_chars"]
    if x is None or y is None or len(x) < 2 or x[0] != y[0]:
        return False
    return DamerauLevenshtein.distance(x, y, score_cutoff=1) <= 1


def name_comparison() -> Comparison:
    """Person names: exact / traditional-simplified / pinyin / one character or pinyin Jaro-Winkler / else.

    The exact level is adjusted by the name's frequency (张伟 agrees by chance far more often than 欧阳娜娜).
    """
    return Comparison(
        "name",
        ("name", "name_chars", "name_py", "name_alts", "family_py"),
        (
            exact("name"),
            Level("simplified", lambda a, b: a["name_chars"] is not None and a["name_chars"] == b["name_chars"]),
            Level("pinyin", _pinyin_equal),
            Level("similar", lambda a, b: _chars_one_edit(a, b) or _pinyin_close(a, b)),
        ),
        tf_field="name",
    )


def birth_date_comparison() -> Comparison:
    """Birth dates: exact / day-month swap / one character / one component / else."""
    return Comparison("birth_date", ("birth_date", "birth_year"), date_comparison("birth_date").levels)


def sex_comparison() -> Comparison:
    """Administrative sex: exact / else."""
    return Comparison("sex", ("sex",), (exact("sex"),))


def phone_comparison() -> Comparison:
    """Phone digits: exact / same last 8 digits (area code or prefix differs) / one edit / else."""
    return Comparison(
        "phone",
        ("phone",),
        (
            exact("phone"),
            Level("last-8", lambda a, b: len(a["phone"]) >= 8 and a["phone"][-8:] == b["phone"][-8:]),
            damerau_levenshtein("phone", 1),
        ),
    )


def division_comparison() -> Comparison:
    """GB/T 2260 residence division: same county / same city / same province / else."""
    return Comparison(
        "division",
        ("division",),
        (
            Level("county", lambda a, b: a["division"] == b["division"]),
            Level("city", lambda a, b: a["division"][:4] == b["division"][:4]),
            Level("province", lambda a, b: a["division"][:2] == b["division"][:2]),
        ),
    )


def health_card_comparison() -> Comparison:
    """居民健康卡号: exact / one edit / else."""
    return Comparison("health_card", ("health_card",), (exact("health_card"), damerau_levenshtein("health_card", 1)))


def _systems(ids: frozenset[str]) -> set[str]:
    return {i.split("|", 1)[0] for i in ids}


class _IdentifierOverlap(Comparison):
    """Other identifiers: null unless both sides carry an identifier of a common system."""

    def is_null(self, a: Record, b: Record) -> bool:
        x, y = a.get("identifiers"), b.get("identifiers")
        return x is None or y is None or (x.isdisjoint(y) and _systems(x).isdisjoint(_systems(y)))


def identifier_comparison() -> Comparison:
    """Shared ``system|value`` / same system, different values / else (no common system = null)."""
    return _IdentifierOverlap(
        "identifiers",
        ("identifiers",),
        (Level("shared", lambda a, b: not a["identifiers"].isdisjoint(b["identifiers"])),),
    )


def person_comparisons() -> tuple[Comparison, ...]:
    """The comparisons of the default Chinese person model, in explanation order."""
    return (
        ric_comparison(),
        name_comparison(),
        birth_date_comparison(),
        sex_comparison(),
        phone_comparison(),
        division_comparison(),
        health_card_comparison(),
        identifier_comparison(),
    )
