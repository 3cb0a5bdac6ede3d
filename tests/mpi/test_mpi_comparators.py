"""Comparison levels of the person spec on known pairs (ID errors, dates, names, divisions)."""

from __future__ import annotations

from typing import Any

from factories import patient
from hypothesis import given
from hypothesis import strategies as st

from rhip.identity import check_digit
from rhip.mpi.comparators import (
    birth_date_comparison,
    division_comparison,
    identifier_comparison,
    name_comparison,
    phone_comparison,
    ric_comparison,
)
from rhip.mpi.comparison import Comparison
from rhip.mpi.records import patient_record

RIC = "11010519491231002X"
LEGACY = "110105491231002"


def level(comparison: Comparison, a: dict[str, Any], b: dict[str, Any]) -> str:
    return comparison.labels[comparison.level(patient_record(a), patient_record(b))]


def with_body(body17: str) -> str:
    return body17 + check_digit(body17)


def test_same_id_number_is_exact() -> None:
    assert level(ric_comparison(), patient("a"), patient("b")) == "exact"


def test_fifteen_digit_number_matches_its_upgrade() -> None:
    assert level(ric_comparison(), patient("a"), patient("b", ric=LEGACY)) == "15-18-upgrade"


def test_check_digit_recomputed_after_a_typo_is_one_digit_error() -> None:
    typo = with_body("11010519491231003")
    assert level(ric_comparison(), patient("a"), patient("b", ric=typo)) == "one-digit-error"


def test_swapped_sequence_digits_are_a_transposition() -> None:
    swapped = RIC[:14] + "020" + RIC[17]
    assert level(ric_comparison(), patient("a"), patient("b", ric=swapped)) == "transposition"


def test_unrelated_numbers_are_else() -> None:
    other = with_body("33052219800101123")
    assert level(ric_comparison(), patient("a"), patient("b", ric=other, birth="1980-01-01")) == "else"


def test_missing_number_is_null() -> None:
    assert level(ric_comparison(), patient("a"), patient("b", ric=None)) == "null"


def test_guardian_number_on_a_child_is_not_compared() -> None:
    child = patient_record(patient("c", ric=RIC, birth="2015-06-01"))
    assert (child["ric"], child["ric_conflict"]) == (None, RIC)


@given(st.integers(0, 16), st.integers(1, 9))
def test_any_single_substitution_is_a_one_digit_error(pos: int, delta: int) -> None:
    body = RIC[:17]
    typo = body[:pos] + str((int(body[pos]) + delta) % 10) + body[pos + 1 :] + RIC[17]
    assert (
        ric_comparison().labels[
            ric_comparison().level({"ric": RIC, "ric_legacy": False}, {"ric": typo, "ric_legacy": False})
        ]
        == "one-digit-error"
    )


@given(st.integers(0, 15))
def test_any_adjacent_swap_is_a_transposition(pos: int) -> None:
    body = RIC[:17]
    if body[pos] == body[pos + 1]:
        return
    swapped = body[:pos] + body[pos + 1] + body[pos] + body[pos + 2 :] + RIC[17]
    c = ric_comparison()
    assert (
        c.labels[c.level({"ric": RIC, "ric_legacy": False}, {"ric": swapped, "ric_legacy": False})] == "transposition"
    )


def test_name_levels() -> None:
    c = name_comparison()
    assert [
        level(c, patient("a"), patient("b")),
        level(c, patient("a"), patient("b", name="張偉")),
        level(c, patient("a"), patient("b", name="张玮")),
        level(c, patient("a"), patient("b", name="Zhang Wei")),
        level(c, patient("a", name="张伟明"), patient("b", name="张伟民")),
        level(c, patient("a"), patient("b", name="李娜")),
        level(c, patient("a"), patient("b", name="王芳之女")),
    ] == ["exact", "simplified", "pinyin", "pinyin", "similar", "else", "null"]


def test_zeng_and_shan_romanised_by_either_reading_are_pinyin_equal() -> None:
    c = name_comparison()
    assert [
        level(c, patient("a", name="曾伟"), patient("b", name="Zeng Wei")),
        level(c, patient("a", name="单丽"), patient("b", name="Shan Li")),
        level(c, patient("a", name="单丽"), patient("b", name="Dan Li")),
    ] == ["pinyin", "pinyin", "pinyin"]


def test_birth_date_levels() -> None:
    c = birth_date_comparison()
    base = patient("a", ric=None, birth="1980-03-05")
    assert [
        level(c, base, patient("b", ric=None, birth="1980-03-05")),
        level(c, base, patient("b", ric=None, birth="1980-05-03")),
        level(c, base, patient("b", ric=None, birth="1980-03-06")),
        level(c, base, patient("b", ric=None, birth="1980-03-28")),
        level(c, base, patient("b", ric=None, birth="1990-07-15")),
        level(c, base, patient("b", ric=None, birth="1800-01-01")),
    ] == ["exact", "day-month-swap", "damerau-levenshtein<=1", "one-component", "else", "null"]


def test_division_levels() -> None:
    c = division_comparison()
    base = patient("a", division="330522107201")
    assert [
        level(c, base, patient("b", division="330522001001")),
        level(c, base, patient("b", division="330521001001")),
        level(c, base, patient("b", division="330101001001")),
        level(c, base, patient("b", division="110105001001")),
    ] == ["county", "city", "province", "else"]


def test_division_from_address_names() -> None:
    rec = patient_record(
        {"resourceType": "Patient", "address": [{"state": "浙江省", "city": "湖州市", "district": "长兴县"}]}
    )
    assert rec["division"] == "330522"


def test_phone_with_country_code_is_exact() -> None:
    assert level(phone_comparison(), patient("a"), patient("b", phone="+86 138-0013-8000")) == "exact"


def test_identifier_levels() -> None:
    c = identifier_comparison()
    mrn = [("http://h/mrn", "1")]
    assert [
        level(c, patient("a", identifiers=mrn), patient("b", identifiers=mrn)),
        level(c, patient("a", identifiers=mrn), patient("b", identifiers=[("http://h/mrn", "2")])),
        level(c, patient("a", identifiers=mrn), patient("b", identifiers=[("http://other", "1")])),
    ] == ["shared", "else", "null"]
