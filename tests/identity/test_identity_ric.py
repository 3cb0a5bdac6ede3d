"""公民身份号码 rules (GB 11643-1999): examples, legacy numbers, divisions, error detection, properties."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rhip.identity import (
    check_digit,
    division_table,
    mask,
    one_digit_error,
    same_person_number,
    transposition,
    upgrade15,
    validate_ric,
)
from rhip.identity.ric import PROVINCE_CODES, normalize

TODAY = date(2026, 11, 24)


def codes(number: str) -> list[str]:
    return [p.code for p in validate_ric(number, today=TODAY).problems]


@pytest.mark.parametrize(
    ("number", "birth", "sex", "division"),
    [
        ("11010519491231002X", date(1949, 12, 31), "female", "110105"),  # the classic GB 11643 example
        ("360426199101010071", date(1991, 1, 1), "male", "360426"),  # python-stdnum doctest
        ("33010619880808008X", date(1988, 8, 8), "female", "330106"),  # computed here: check digit X
        ("330501199001019522", date(1990, 1, 1), "female", "330501"),
        ("440304198507150017", date(1985, 7, 15), "male", "440304"),
    ],
)
def test_known_good_numbers(number: str, birth: date, sex: str, division: str) -> None:
    result = validate_ric(number, today=TODAY)
    assert result.valid, result.problems
    assert (result.normalized, result.birth_date, result.sex, result.division) == (number, birth, sex, division)
    assert result.problems == ()


def test_check_digit_examples() -> None:
    assert check_digit("11010519491231002") == "X"
    assert check_digit("36042619910101007") == "1"
    with pytest.raises(ValueError, match="17 ASCII digits"):
        check_digit("1101051949123100")
    with pytest.raises(ValueError, match="17 ASCII digits"):
        check_digit("1101051949123100X")


def test_lower_case_x_blanks_and_full_width_digits_are_normalised() -> None:
    assert validate_ric("11010519491231002x", today=TODAY).normalized == "11010519491231002X"
    assert validate_ric(" 110105 19491231 002X ", today=TODAY).valid
    assert validate_ric("１１０１０５１９４９１２３１００２Ｘ", today=TODAY).normalized == "11010519491231002X"


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        ("11010519491231002", ["length"]),
        ("1101051949123100201", ["length"]),
        ("", ["length"]),
        ("11010519491231002Y", ["characters"]),
        ("1101051949123X002X", ["characters"]),
        ("11010519491231002A", ["characters"]),
        ("110105194912310021", ["check-digit"]),
        ("11010519491231003X", ["check-digit"]),
    ],
)
def test_known_bad_numbers(number: str, expected: list[str]) -> None:
    assert codes(number) == expected
    assert not validate_ric(number, today=TODAY).valid


def with_check(body: str) -> str:
    return body + check_digit(body)


@pytest.mark.parametrize(
    "body",
    [
        "11010519490230002",  # 30 February
        "11010519491301002",  # month 13
        "11010519490000002",  # day 0
        "11010520230229002",  # not a leap year
        "11010518991231002",  # before 1900-01-01
        "11010520261125002",  # after TODAY
        "11010530000101002",  # far future
    ],
)
def test_impossible_early_and_future_birth_dates(body: str) -> None:
    number = with_check(body)
    assert codes(number) == ["birth-date"]
    assert not validate_ric(number, today=TODAY).valid


def test_leap_day_and_today_are_accepted() -> None:
    assert validate_ric(with_check("11010520000229002"), today=TODAY).valid
    assert validate_ric(with_check("11010520261124002"), today=TODAY).valid
    assert validate_ric(with_check("11010519000101002"), today=TODAY).valid


def test_messages_are_bilingual() -> None:
    (problem,) = validate_ric("110105194912310021", today=TODAY).problems
    assert problem.severity == "error"
    assert "expected X" in problem.message_en
    assert "校验码" in problem.message_zh


def test_legacy_15_digit_number() -> None:
    result = validate_ric("110105491231002", today=TODAY)
    assert result.valid
    assert result.legacy
    assert result.normalized == "11010519491231002X" == upgrade15("110105491231002")
    assert (result.birth_date, result.sex, result.division) == (date(1949, 12, 31), "female", "110105")
    assert [(p.code, p.severity) for p in result.problems] == [("legacy", "warning")]
    assert codes("110105491331002") == ["legacy", "birth-date"]  # month 13
    assert codes("11010549123100X") == ["characters"]  # no check character in a 15-digit number
    with pytest.raises(ValueError, match="15-digit"):
        upgrade15("11010519491231002X")


def test_division_without_table_checks_the_province_prefix() -> None:
    assert validate_ric(with_check("11010319800101001"), today=TODAY).valid  # 110103 崇文区, abolished 2010
    for prefix in (f"{i:02d}" for i in range(100) if f"{i:02d}" not in PROVINCE_CODES):
        number = with_check(prefix + "010519800101001")
        result = validate_ric(number, today=TODAY)
        assert codes(number) == ["division"]
        assert not result.valid
    assert validate_ric(with_check("71000019800101001"), today=TODAY).valid  # 台湾
    assert validate_ric(with_check("82000019800101001"), today=TODAY).valid  # 澳门


def test_division_province_codes_are_the_gb11643_list() -> None:
    expected = {*range(11, 16), *range(21, 24), *range(31, 38), *range(41, 47), *range(50, 55), *range(61, 66)}
    assert {int(c) for c in PROVINCE_CODES} == expected | {71, 81, 82}


TABLE = division_table(
    [
        ("110103", None, 2010),  # 崇文区, abolished 2010
        ("110105", None, None),  # 朝阳区
        ("120110", None, 1991),  # 东郊区 …
        ("120110", 1992, None),  # … renamed 东丽区, same code
        ("500105", None, 2025),  # 江北区
    ]
)


def test_division_with_a_table_accepts_historical_codes() -> None:
    chongwen_1980 = with_check("11010319800101001")
    assert validate_ric(chongwen_1980, today=TODAY, divisions=TABLE).problems == ()
    assert validate_ric(with_check("11010320100101001"), today=TODAY, divisions=TABLE).problems == ()
    assert validate_ric(with_check("12011019500101001"), today=TODAY, divisions=TABLE).problems == ()
    assert validate_ric(with_check("11010519800101001"), today=TODAY, divisions={"110105"}).problems == ()


def test_division_unknown_to_the_table_is_a_warning() -> None:
    after_abolition = validate_ric(with_check("11010320120101001"), today=TODAY, divisions=TABLE)
    unknown = validate_ric(with_check("11019919800101001"), today=TODAY, divisions=TABLE)
    as_set = validate_ric(with_check("11010319800101001"), today=TODAY, divisions={"110105"})
    for result in (after_abolition, unknown, as_set):
        assert [(p.code, p.severity) for p in result.problems] == [("division", "warning")]
        assert result.valid
    callable_table = validate_ric(with_check("11010319800101001"), today=TODAY, divisions=lambda code, _b: False)
    assert callable_table.has("division")


def test_division_table_periods() -> None:
    assert TABLE("110103", date(2010, 12, 31))
    assert not TABLE("110103", date(2011, 1, 1))
    assert TABLE("110103", None)
    assert TABLE("120110", date(2020, 1, 1))
    assert not TABLE("999999", None)
    reopened = division_table([("130000", None, 1990), ("130000", 1995, 2000), ("130000", 2005, None)])
    assert reopened("130000", date(2020, 1, 1))


def test_mask() -> None:
    assert mask("330501199001019523") == "3305**********9523"
    assert mask("11010519491231002x") == "1101**********002X"
    assert mask("110105491231002") == "1101*******1002"
    assert mask("1234") == "****"


def test_same_person_number() -> None:
    assert same_person_number("110105491231002", "11010519491231002X")
    assert same_person_number("11010519491231002x", " 11010519491231002X")
    assert not same_person_number("110105491231002", "110105194912310021")
    assert not same_person_number("11010519491231002X", "11010519491231004X")


def test_one_digit_error() -> None:
    good = "11010519491231002X"
    assert one_digit_error(good, "11010519491231003X")  # typo copied with the old check
    assert one_digit_error(good, with_check("11010519491231003"))  # check recomputed by a system
    assert one_digit_error(good, "110105194912310021")  # check character alone
    assert one_digit_error("110105491231002", "11010519491231002Y") is True
    assert not one_digit_error(good, good)
    assert not one_digit_error(good, "11010519491231013X")  # two body digits
    assert not one_digit_error(good, "21010519491231003X")
    assert not one_digit_error(good, "1101051949123100X")


def test_transposition() -> None:
    good = "11010519491231002X"
    assert transposition(good, "10110519491231002X")
    assert transposition(good, with_check("11010519492131002"))
    assert transposition("360426199101010071", "360426199101010017")  # last digit <-> check
    assert not transposition(good, good)
    assert not transposition(good, "11010549191231002X")  # not adjacent (positions 7 and 9)
    assert not transposition(good, "11010519491231003X")


# --- properties ------------------------------------------------------------------------------

provinces = st.sampled_from(sorted(PROVINCE_CODES))
births = st.dates(min_value=date(1900, 1, 1), max_value=TODAY)


@st.composite
def numbers(draw: st.DrawFn) -> tuple[str, date, int]:
    division = draw(provinces) + draw(st.from_regex(r"\A[0-9]{4}\Z"))
    birth = draw(births)
    seq = draw(st.integers(0, 999))
    body = f"{division}{birth:%Y%m%d}{seq:03d}"
    return body + check_digit(body), birth, seq


@given(numbers())
def test_property_valid_parts_validate_and_round_trip(case: tuple[str, date, int]) -> None:
    number, birth, seq = case
    result = validate_ric(number, today=TODAY)
    assert result.valid
    assert result.problems == ()
    assert result.birth_date == birth
    assert result.sex == ("male" if seq % 2 else "female")
    assert result.normalized == number
    assert result.division == number[:6]


@given(numbers(), st.integers(0, 17), st.sampled_from("0123456789X"))
def test_property_every_single_character_change_is_detected(
    case: tuple[str, date, int], position: int, replacement: str
) -> None:
    number = case[0]
    if position < 17 and replacement == "X":
        replacement = "0"
    if number[position] == replacement:
        return
    changed = number[:position] + replacement + number[position + 1 :]
    assert check_digit(changed[:17]) != changed[17]  # MOD 11-2 detects every single substitution
    assert validate_ric(changed, today=TODAY).has("check-digit")
    assert one_digit_error(number, changed)


@given(numbers(), st.integers(0, 16))
def test_property_every_adjacent_transposition_is_detected(case: tuple[str, date, int], position: int) -> None:
    number = case[0]
    a, b = number[position], number[position + 1]
    if a == b or b == "X":
        return
    swapped = number[:position] + b + a + number[position + 2 :]
    assert validate_ric(swapped, today=TODAY).has("check-digit")
    assert transposition(number, swapped)


@given(
    provinces,
    st.from_regex(r"\A[0-9]{4}\Z"),
    st.dates(min_value=date(1900, 1, 1), max_value=date(1999, 12, 31)),
    st.integers(0, 999),
)
def test_property_upgrade15_is_consistent(province: str, county: str, birth: date, seq: int) -> None:
    legacy = f"{province}{county}{birth:%y%m%d}{seq:03d}"
    upgraded = upgrade15(legacy)
    assert upgraded == f"{province}{county}{birth:%Y%m%d}{seq:03d}" + check_digit(upgraded[:17])
    old, new = validate_ric(legacy, today=TODAY), validate_ric(upgraded, today=TODAY)
    assert old.valid
    assert new.valid
    assert old.legacy
    assert not new.legacy
    assert old.normalized == upgraded
    assert (
        (old.birth_date, old.sex, old.division)
        == (new.birth_date, new.sex, new.division)
        == (
            birth,
            "male" if seq % 2 else "female",
            province + county,
        )
    )
    assert same_person_number(legacy, upgraded)
    assert normalize(upgraded) == upgraded


DIVISIONS_TSV = Path(__file__).resolve().parents[2] / "src" / "rhip" / "terminology" / "data" / "divisions.tsv"


def test_division_table_from_the_terminology_data_when_present() -> None:
    if not DIVISIONS_TSV.is_file():
        pytest.skip("terminology data not present in this tree")
    with DIVISIONS_TSV.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))

    def year(text: str | None) -> int | None:
        return int(text) if text else None

    table = division_table((r["code"], year(r["valid_from"]), year(r["valid_to"])) for r in rows)
    assert validate_ric(with_check("11010319800101001"), today=TODAY, divisions=table).problems == ()
    assert validate_ric(with_check("11010520200101001"), today=TODAY, divisions=table).problems == ()
    late = validate_ric(with_check("11010320150101001"), today=TODAY, divisions=table)
    assert [p.code for p in late.problems] == ["division"]
