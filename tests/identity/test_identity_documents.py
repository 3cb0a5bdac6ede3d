"""身份证件类别 (CV02.01.101) value domain and per-type number formats."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rhip.identity import DOCUMENT_KINDS, validate_document
from rhip.identity.documents import CODE_SYSTEM

VALUE_DOMAINS = Path(__file__).resolve().parents[2] / "src" / "rhip" / "terminology" / "data" / "value_domains.json"


def test_value_domain_is_the_standards_md_list() -> None:
    assert {k: v.name_zh for k, v in DOCUMENT_KINDS.items()} == {
        "01": "居民身份证",
        "02": "居民户口簿",
        "03": "护照",
        "04": "军官证",
        "05": "驾驶证",
        "06": "港澳居民来往内地通行证",
        "07": "台湾居民来往内地通行证",
        "99": "其他法定有效证件",
    }
    assert all(k.verified == "V-impl" for k in DOCUMENT_KINDS.values())


def test_value_domain_agrees_with_the_terminology_table_when_present() -> None:
    if not VALUE_DOMAINS.is_file():
        pytest.skip("terminology data not present in this tree")
    table = json.loads(VALUE_DOMAINS.read_text(encoding="utf-8"))["id-document-type"]
    assert table["url"] == CODE_SYSTEM
    assert {c["code"]: c["display_zh"] for c in table["concepts"]} == {k: v.name_zh for k, v in DOCUMENT_KINDS.items()}


@pytest.mark.parametrize(
    ("kind", "number", "variant", "checked"),
    [
        ("01", "11010519491231002X", "ric", True),
        ("01", "110105491231002", "ric", True),
        ("02", "11010519491231002X", "ric", True),
        ("03", "E12345678", "cn-passport", True),
        ("03", "EA1234567", "cn-passport", True),
        ("03", "G12345678", "cn-passport", True),
        ("03", "e 1234 5678", "cn-passport", True),
        ("03", "X1234567", "passport", False),  # a foreign passport: shape only
        ("04", "南字第12345678号", "free-form", False),
        ("05", "11010519491231002X", "ric", True),
        ("05", "DL-998877", "free-form", False),
        ("06", "H12345678", "hk-macao-permit", True),
        ("06", "M1234567801", "hk-macao-permit", True),
        ("07", "12345678", "taiwan-permit", True),
        ("99", "USA123456789012", "foreign-permanent-resident-2017", True),
        ("99", "931840199001010011", "foreign-permanent-resident-2023", True),
        ("99", "810000199001010019", "hmt-residence-permit", True),
        ("99", "830000198512310020", "hmt-residence-permit", True),
        ("99", "82000020000229003x", "hmt-residence-permit", True),
        ("99", "出生医学证明 O123456789", "free-form", False),
    ],
)
def test_valid_documents(kind: str, number: str, variant: str, checked: bool) -> None:
    result = validate_document(kind, number)
    assert result.valid, result.problems
    assert (result.variant, result.checked) == (variant, checked)
    assert result.kind is DOCUMENT_KINDS[kind]
    assert all(p.severity == "warning" for p in result.problems)


@pytest.mark.parametrize(
    ("kind", "number", "code"),
    [
        ("01", "110105194912310021", "check-digit"),
        ("02", "11010519490230002X", "birth-date"),
        ("03", "E12", "format"),
        ("03", "护照E12345678", "format"),
        ("04", "", "format"),
        ("04", "x" * 33, "format"),
        ("05", "110105194912310021", "check-digit"),
        ("06", "H1234567", "format"),
        ("06", "X12345678", "format"),
        ("06", "H123456789", "format"),
        ("07", "1234567", "format"),
        ("07", "T12345678", "format"),
        ("99", "931840199001010012", "check-digit"),
        ("99", "810000199001010010", "check-digit"),
        ("99", "", "format"),
        ("00", "11010519491231002X", "kind"),
    ],
)
def test_invalid_documents(kind: str, number: str, code: str) -> None:
    result = validate_document(kind, number)
    assert not result.valid
    assert code in [p.code for p in result.problems if p.severity == "error"]
    assert all(p.message_en and p.message_zh for p in result.problems)


def test_ric_based_documents_carry_the_decoded_number() -> None:
    result = validate_document("01", "110105491231002")
    assert result.ric is not None
    assert result.ric.legacy
    assert result.normalized == "11010519491231002X"
    permit = validate_document("99", "830000198512310020")
    assert permit.ric is not None
    assert permit.ric.sex == "female"
    assert permit.ric.division == "830000"


def test_residence_permit_must_use_the_hmt_address_codes() -> None:
    forced = validate_document("99", "11010519491231002X", variant="hmt-residence-permit")
    assert not forced.valid
    assert [p.code for p in forced.problems] == ["division"]


def test_forced_variants_under_99() -> None:
    assert not validate_document("99", "USA123456789012", variant="foreign-permanent-resident-2023").valid
    assert not validate_document("99", "931840199001010011", variant="foreign-permanent-resident-2017").valid
    assert validate_document("99", "931840199001010011", variant="free-form").checked is False
    with pytest.raises(ValueError, match="does not belong"):
        validate_document("99", "E12345678", variant="cn-passport")


def test_hk_macao_permit_lifetime_number_ignores_the_renewal_count() -> None:
    assert validate_document("06", "H1234567801").lifetime_number == "H12345678"
    assert validate_document("06", "H12345678").lifetime_number == "H12345678"


def test_unknown_kind() -> None:
    result = validate_document("08", "123")
    assert result.kind is None
    assert not result.valid
    assert result.problems[0].code == "kind"
