"""Normalisation never fails on odd input and keeps only what matching can use."""

from __future__ import annotations

from datetime import date

from factories import patient
from hypothesis import given, settings
from hypothesis import strategies as st

from rhip.mpi.names import name_key
from rhip.mpi.records import birth_key, patient_record, phone_key

TODAY = date(2026, 11, 24)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=12), st.one_of(st.none(), st.text(max_size=4)), st.one_of(st.none(), st.text(max_size=6)))
def test_any_name_text_gives_a_key_or_none(text: str, family: str | None, given_: str | None) -> None:
    key = name_key(text, family, given_)
    assert key is None or key.pinyin in key.alternatives or key.chars is None


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=14))
def test_any_birth_text_is_a_plausible_date_or_none(text: str) -> None:
    key = birth_key(text, today=TODAY)
    assert key is None or ("19000101" <= key <= "20261124" and len(key) == 8)


def test_absurd_birth_dates_are_missing() -> None:
    assert [birth_key(t, today=TODAY) for t in ("1066-10-14", "2099-01-01", "1980-02-30", "1980")] == [None] * 4


def test_phone_keeps_digits_without_country_code() -> None:
    assert [phone_key("+86 138 0013 8000"), phone_key("0086-0572-1234567"), phone_key("12")] == [
        "13800138000",
        "05721234567",
        None,
    ]


def test_patient_without_identifier_or_name_has_no_keys() -> None:
    rec = patient_record({"resourceType": "Patient", "id": "x"})
    assert {k: v for k, v in rec.items() if v not in (None, False)} == {"id": "Patient/x"}


def test_fifteen_digit_number_is_upgraded_and_flagged() -> None:
    rec = patient_record(patient("a", ric="110105491231002"))
    assert (rec["ric"], rec["ric_valid"], rec["ric_legacy"]) == ("11010519491231002X", "11010519491231002X", True)


def test_bad_check_digit_is_kept_for_comparison_but_not_valid() -> None:
    rec = patient_record(patient("a", ric="110105194912310021"))
    assert (rec["ric"], rec["ric_valid"]) == ("110105194912310021", None)
