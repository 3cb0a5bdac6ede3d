"""公民身份号码 (GB 11643-1999): check character, validation, legacy numbers, masking, error detection.

Structure (standards.md §6.3 [V]): ``AAAAAA YYYYMMDD SSS C`` — a GB/T 2260 address code, the birth
date, a sequence whose last digit is odd for men and even for women, and an ISO 7064:1983 MOD 11-2
check character (weights ``2^(18-i) mod 11``, value 10 written ``X``). First-generation numbers have
15 digits (``AAAAAA YYMMDD SSS``, century 19, no check); they are upgraded by inserting "19" and
appending the check (standards.md §6.3, rule [K]).

Division plausibility: a number keeps the address code of the year it was *issued*, so abolished codes
(110103 崇文区, gone in 2010) are legitimate (standards.md §6.4; ecosystem.md item 4). Without a table
only the province prefix is checked; with a table (see :func:`division_table`) an unknown code is a
warning, never an error, because no available table is authoritative.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Literal

Severity = Literal["error", "warning"]
Sex = Literal["male", "female"]
DivisionCheck = Callable[[str, date | None], bool]
"""``(six_digit_code, birth_date) -> known``: True if the code can appear in a number of a person born then."""

_WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))  # 7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2
_CHECK = "10X98765432"
_EARLIEST = date(1900, 1, 1)
_CST = timezone(timedelta(hours=8))  # docs/decisions/0004: rhip nodes serve China (UTC+08:00)

# GB 11643 / GB/T 2260 province-level codes (standards.md §6.4, list partly [K]).
PROVINCE_CODES: frozenset[str] = frozenset(
    [str(c) for c in (*range(11, 16), *range(21, 24), *range(31, 38), *range(41, 47), *range(50, 55))]
    + [str(c) for c in (*range(61, 66), 71, 81, 82)]
)


@dataclass(frozen=True)
class Problem:
    """One finding about an identifier: a machine code, a severity and messages in English and Chinese."""

    code: str
    severity: Severity
    message_en: str
    message_zh: str

    @property
    def is_error(self) -> bool:
        """True when the finding makes the identifier invalid."""
        return self.severity == "error"


@dataclass(frozen=True)
class RicResult:
    """Outcome of :func:`validate`. ``valid`` means no error-level problem (warnings are allowed)."""

    valid: bool
    normalized: str
    birth_date: date | None
    sex: Sex | None
    division: str | None
    problems: tuple[Problem, ...]
    legacy: bool = False

    def has(self, code: str) -> bool:
        """True if a problem with this machine code was reported."""
        return any(p.code == code for p in self.problems)


def _problem(code: str, en: str, zh: str, severity: Severity = "error") -> Problem:
    return Problem(code, severity, en, zh)


def normalize(number: str) -> str:
    """Canonical text: NFKC (full-width digits from Chinese input methods), no blanks or hyphens, upper case."""
    if number.isascii() and number.isalnum():  # the usual case, on the MPI's comparison path: no NFKC
        return number.upper()
    text = unicodedata.normalize("NFKC", number)
    return "".join(ch for ch in text if not ch.isspace() and ch != "-").upper()


def check_digit(first17: str) -> str:
    """ISO 7064 MOD 11-2 check character of the 17-digit body (GB 11643-1999 §6; 10 is written ``X``)."""
    if len(first17) != 17 or not (first17.isascii() and first17.isdigit()):
        raise ValueError(f"expected 17 ASCII digits, got {first17!r}")
    return _CHECK[sum(int(c) * w for c, w in zip(first17, _WEIGHTS, strict=True)) % 11]


def upgrade15(number: str) -> str:
    """18-character form of a first-generation 15-digit number (insert century "19", append the check)."""
    text = normalize(number)
    if len(text) != 15 or not (text.isascii() and text.isdigit()):
        raise ValueError(f"expected a 15-digit first-generation ID number, got {number!r}")
    body = text[:6] + "19" + text[6:]
    return body + check_digit(body)


def _today_cst() -> date:
    return datetime.now(UTC).astimezone(_CST).date()


def division_table(rows: Iterable[tuple[str, int | None, int | None]]) -> DivisionCheck:
    """Build a :data:`DivisionCheck` from ``(code, valid_from_year, valid_to_year)`` rows (None = open).

    A code is accepted when one of its periods lasts until the person's birth year or later: a number is
    never assigned before birth, and it keeps the code of the year it was issued even after the code is
    abolished. ``valid_from`` is ignored for that reason (a person born in 1980 may carry a code created
    in 1999, when the 18-digit number was issued). With no birth date, any listed code is accepted.
    """
    last_year: dict[str, int | None] = {}
    for code, _valid_from, valid_to in rows:
        if code not in last_year:
            last_year[code] = valid_to
        elif last_year[code] is not None:
            previous = last_year[code]
            last_year[code] = None if valid_to is None or previous is None else max(previous, valid_to)

    def check(code: str, birth: date | None) -> bool:
        if code not in last_year:
            return False
        end = last_year[code]
        return birth is None or end is None or end >= birth.year

    return check


def _as_check(divisions: DivisionCheck | Collection[str]) -> DivisionCheck:
    if callable(divisions):
        return divisions
    codes = divisions
    return lambda code, _birth: code in codes


def _birth(text: str) -> date | None:
    try:
        return date(int(text[0:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        return None


def _check(
    number: str,
    *,
    divisions: DivisionCheck | Collection[str] | None,
    today: date | None,
    province_ok: Callable[[str], bool],
    label: str = "ID number",
) -> RicResult:
    """Shared body of :func:`validate` (also used for RIC-shaped documents such as 港澳台居民居住证)."""
    text = normalize(number)
    problems: list[Problem] = []
    legacy = len(text) == 15
    if len(text) not in (15, 18):
        problems.append(
            _problem(
                "length",
                f"{label} must have 18 characters (or 15 for a first-generation number), got {len(text)}",
                f"证件号码应为18位（一代证为15位），实际为{len(text)}位",
            )
        )
        return RicResult(False, text, None, None, None, tuple(problems))
    body = text if legacy else text[:17]
    if not (body.isascii() and body.isdigit()) or (not legacy and text[17] not in "0123456789X"):
        problems.append(
            _problem(
                "characters",
                f"{label} may contain only digits (and X as the last character of an 18-character number)",
                "证件号码只能由数字组成（18位号码的最后一位可以是X）",
            )
        )
        return RicResult(False, text, None, None, None, tuple(problems), legacy)

    if legacy:
        normalized = upgrade15(text)
        problems.append(
            _problem(
                "legacy",
                "first-generation 15-digit number; upgraded to 18 characters (century 19 assumed)",
                "一代15位身份证号码，已按19xx年出生升位为18位",
                "warning",
            )
        )
    else:
        normalized = text
        expected = check_digit(body)
        if text[17] != expected:
            problems.append(
                _problem(
                    "check-digit",
                    f"check character is {text[17]}, expected {expected} (ISO 7064 MOD 11-2)",
                    f"校验码错误：为{text[17]}，按ISO 7064 MOD 11-2应为{expected}",
                )
            )

    birth = _birth(normalized[6:14])
    today = today or _today_cst()
    if birth is None:
        problems.append(
            _problem(
                "birth-date",
                f"birth date {normalized[6:14]} is not a calendar date",
                f"出生日期{normalized[6:14]}不是有效日期",
            )
        )
    elif birth < _EARLIEST:
        problems.append(
            _problem("birth-date", f"birth date {birth} is before 1900-01-01", f"出生日期{birth}早于1900年1月1日")
        )
    elif birth > today:
        problems.append(_problem("birth-date", f"birth date {birth} is in the future", f"出生日期{birth}晚于当前日期"))

    division = normalized[:6]
    if not province_ok(division):
        problems.append(
            _problem(
                "division",
                f"address code {division} does not start with a province-level code",
                f"地址码{division}的前两位不是有效的省级行政区划代码",
            )
        )
    elif divisions is not None and not _as_check(divisions)(division, birth if birth and birth >= _EARLIEST else None):
        problems.append(
            _problem(
                "division",
                f"address code {division} is not in the division table (or was abolished before the birth year)",
                f"地址码{division}不在行政区划代码表中（或在出生年份之前已撤销）",
                "warning",
            )
        )

    sex: Sex = "male" if int(normalized[16]) % 2 else "female"
    valid = not any(p.is_error for p in problems)
    return RicResult(valid, normalized, birth, sex, division, tuple(problems), legacy)


def validate(
    number: str,
    *,
    divisions: DivisionCheck | Collection[str] | None = None,
    today: date | None = None,
) -> RicResult:
    """Validate a 公民身份号码 (18 characters, or 15 for first-generation numbers) and decode it.

    ``divisions`` is a set of 6-digit codes or a :data:`DivisionCheck` (for example from
    :func:`division_table` over the GB/T 2260 table with historical codes). ``today`` defaults to the
    current date in China Standard Time.
    """
    return _check(number, divisions=divisions, today=today, province_ok=lambda code: code[:2] in PROVINCE_CODES)


def mask(number: str) -> str:
    """Display form hiding the birth date and more: ``3305**********9523`` (first 4 and last 4 kept)."""
    text = normalize(number)
    if len(text) <= 8:
        return "*" * len(text)
    return text[:4] + "*" * (len(text) - 8) + text[-4:]


def _as18(number: str) -> str:
    text = normalize(number)
    if len(text) == 15 and text.isascii() and text.isdigit():
        return upgrade15(text)
    return text


def same_person_number(a: str, b: str) -> bool:
    """True if both are the same number once normalised and 15-digit numbers upgraded to 18."""
    return _as18(a) == _as18(b)


def _diff(a: str, b: str) -> list[int]:
    return [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]


def one_digit_error(a: str, b: str) -> bool:
    """True if the numbers differ in exactly one character of the 17-digit body.

    The check characters may be equal (the typo was copied with the old check) or differ (a system
    recomputed it); a difference in the check character alone also counts.
    """
    x, y = _as18(a), _as18(b)
    if len(x) != 18 or len(y) != 18:
        return False
    full = _diff(x, y)
    return len(full) == 1 or (len(full) == 2 and full[1] == 17 and full[0] < 17)


def transposition(a: str, b: str) -> bool:
    """True if one number is the other with two different adjacent characters swapped.

    The swap may be inside the 17-digit body (check characters equal or recomputed) or between the
    last body digit and the check character.
    """
    x, y = _as18(a), _as18(b)
    if len(x) != 18 or len(y) != 18:
        return False

    def swapped(d: list[int]) -> bool:
        return len(d) == 2 and d[1] == d[0] + 1 and x[d[0]] == y[d[1]] and x[d[1]] == y[d[0]]

    full = _diff(x, y)
    return swapped(full) or (len(full) == 3 and full[2] == 17 and swapped(full[:2]))
