"""Identifier-system registry, FHIR Identifier classification and the 统一社会信用代码 check."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rhip.identity import IdentifierSystems, SystemInfo, uscc_check
from rhip.identity.systems import NATIONAL_SYSTEMS, RHIP_SYSTEMS, org_code_check
from rhip.synth import ids as synth_ids
from rhip.synth import systems as synth_systems

OID = "urn:oid:2.16.156.10011.1."


def test_national_systems_use_the_standards_md_oids() -> None:
    names = {s.oid: s.name_zh for s in NATIONAL_SYSTEMS}
    assert names == {
        "2.16.156.10011.1.1": "文档流水号",
        "2.16.156.10011.1.2": "城乡居民健康档案编号",
        "2.16.156.10011.1.3": "居民身份证号",
        "2.16.156.10011.1.4": "医务人员工号",
        "2.16.156.10011.1.5": "医疗卫生机构代码",
        "2.16.156.10011.1.7": "作者/建档者标识",
        "2.16.156.10011.1.11": "门(急)诊号",
        "2.16.156.10011.1.12": "住院号",
        "2.16.156.10011.1.19": "居民健康卡号",
        "2.16.156.10011.1.22": "病床号",
        "2.16.156.10011.1.24": "电子申请单编号",
    }
    assert all(not s.verified and "§3.5" in s.source for s in NATIONAL_SYSTEMS)  # [V-impl] only
    assert all(s.uri.startswith("http://rhip.cn/fhir/sid/") for s in RHIP_SYSTEMS)


def test_synthetic_data_systems_are_all_known() -> None:
    registry = IdentifierSystems()
    for uri in (
        synth_systems.SID_HEALTH_RECORD,
        synth_systems.SID_ID_CARD,
        synth_systems.SID_STAFF,
        synth_systems.SID_ORG,
        synth_systems.SID_OUTPATIENT_NO,
        synth_systems.SID_INPATIENT_NO,
        synth_systems.SID_HEALTH_CARD,
        synth_systems.SID_ORDER_NO,
        synth_systems.SID_PHYSICIAN_LICENCE,
        synth_systems.SID_NURSE_LICENCE,
        synth_systems.SID_VILLAGE_DOCTOR_LICENCE,
    ):
        assert uri in registry, uri
    mrn = registry.classify({"system": synth_systems.sid_mrn("12330100MB0000000X"), "value": "H0001"})
    assert mrn is not None
    assert mrn.org_id == "12330100MB0000000X"
    assert not mrn.master


def test_lookup_accepts_bare_and_prefixed_oids() -> None:
    registry = IdentifierSystems()
    by_urn = registry.get(OID + "3")
    assert by_urn is not None
    assert by_urn.name_en.startswith("Resident ID")
    assert registry.get("2.16.156.10011.1.3") is by_urn
    assert registry.get("URN:OID:2.16.156.10011.1.3") is by_urn
    assert registry.get(" urn:oid:2.16.156.10011.1.3 ") is by_urn
    assert registry.get("urn:oid:2.16.156.10011.1.99") is None
    assert len(registry) == len(NATIONAL_SYSTEMS) + len(RHIP_SYSTEMS)


def test_master_identifiers() -> None:
    registry = IdentifierSystems()
    master = {s.uri for s in registry.master_systems()}
    assert {OID + "3", OID + "2", OID + "19", "http://rhip.cn/fhir/sid/medical-insurance-card"} <= master
    assert not {OID + "11", OID + "12", OID + "5", OID + "4"} & master


def test_classify_fhir_identifiers() -> None:
    registry = IdentifierSystems()
    info = registry.classify({"system": OID + "3", "value": "11010519491231002X"})
    assert info is not None
    assert info.kind == "person"
    assert info.master
    assert info.check("11010519491231002X") is True
    assert info.check("110105194912310021") is False
    assert registry.classify({"value": "11010519491231002X"}) is None
    assert registry.classify({"system": "", "value": "x"}) is None
    assert registry.classify({"system": 42, "value": "x"}) is None
    assert registry.classify({"system": "http://example.org/mrn", "value": "x"}) is None
    staff = registry.classify({"system": OID + "4", "value": "A-17"})
    assert staff is not None
    assert staff.kind == "practitioner"
    assert staff.check("A-17") is None


def test_validators_of_national_systems() -> None:
    registry = IdentifierSystems()

    def check(n: str, value: str) -> bool | None:
        info = registry.get(OID + n)
        assert info is not None
        return info.check(value)

    assert check("2", "33010600100200001")
    assert not check("2", "3301060010020000")
    assert check("19", "330106000001234546")
    assert check("19", "HC2024ABC")
    assert not check("19", "x" * 19)
    assert check("11", "MZ-2024-0001")
    assert not check("11", "MZ 2024")
    assert check("5", "91350100M000100Y43")
    assert check("5", "M000100Y4")
    assert not check("5", "91350100M000100Y44")


def test_document_systems() -> None:
    registry = IdentifierSystems()
    fpr = registry.get("http://rhip.cn/fhir/sid/foreign-permanent-resident")
    assert fpr is not None
    assert fpr.check("931840199001010011")
    assert fpr.check("USA123456789012")
    assert not fpr.check("free text")
    permit = registry.get("http://rhip.cn/fhir/sid/hmt-residence-permit")
    assert permit is not None
    assert permit.check("810000199001010019")
    assert not permit.check("11010519491231002X")
    passport = registry.get("http://rhip.cn/fhir/sid/id-document/03")
    assert passport is not None
    assert passport.check("E12345678")


def test_register_mrn_per_organisation() -> None:
    registry = IdentifierSystems()
    org = "12330100470000000A"
    info = registry.register_mrn(org, "http://hospital.example.cn/patient-id", "浙一医院就诊卡号")
    assert registry.classify({"system": "http://hospital.example.cn/patient-id", "value": "0001"}) == info
    assert info.org_id == org
    assert info.kind == "person"
    assert not info.master
    assert info.verified
    registry.register_mrn(org, "urn:oid:1.2.156.112604.1.2.3", "病案号")
    assert [s.name_zh for s in registry.mrn_systems(org)] == ["浙一医院就诊卡号", "病案号"]
    assert registry.get("1.2.156.112604.1.2.3") is not None
    assert registry.register_mrn(org, "http://hospital.example.cn/patient-id", "浙一医院就诊卡号") == info
    with pytest.raises(ValueError, match="already registered"):
        registry.register_mrn("other-org", "http://hospital.example.cn/patient-id", "别的医院")
    with pytest.raises(ValueError, match="already registered"):
        registry.register(SystemInfo(OID + "3", "x", "x", "person", True))


def test_registry_is_iterable_and_independent() -> None:
    first, second = IdentifierSystems(), IdentifierSystems([])
    first.register_mrn("org", "http://a.example/mrn", "A")
    assert "http://a.example/mrn" not in IdentifierSystems()
    assert len(second) == 0
    assert list(second) == []
    assert any(s.org_id == "org" for s in first)


@pytest.mark.parametrize(
    "code",
    ["91350100M000100Y43", "91110000600037341L", "91350100m000100y43", "9135 0100 M000 100Y 43"],
)
def test_uscc_good(code: str) -> None:
    assert uscc_check(code)


@pytest.mark.parametrize(
    "code",
    [
        "91350100M000100Y44",  # final check
        "91350100M000100Y4",  # length
        "91350100M000100Y4IO",
        "9135010OM000100Y43",  # O is not in the alphabet
        "",
    ],
)
def test_uscc_bad(code: str) -> None:
    assert not uscc_check(code)


def test_uscc_embedded_organisation_code() -> None:
    first17 = "91350100M000100Y5"  # embedded 组织机构代码 M000100Y-5 is wrong (expected 4)
    code = first17 + synth_ids.uscc_check(first17)
    assert uscc_check(code, org_code=False)
    assert not uscc_check(code)
    assert org_code_check("M000100Y-4")
    assert not org_code_check("M000100Y5")


ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


@given(
    st.sampled_from(["11", "12", "51", "52", "91", "92", "93", "Y1"]),
    st.from_regex(r"\A[1-6][0-9]{5}\Z"),
    st.from_regex(r"\A[0-9A-HJ-NP-RTUW-Y]{8}\Z"),
    st.integers(0, 17),
    st.sampled_from(ALPHABET),
)
def test_property_uscc_agrees_with_the_generator_and_detects_substitutions(
    prefix: str, division: str, body: str, position: int, replacement: str
) -> None:
    code = synth_ids.make_uscc(prefix, division, body)
    assert uscc_check(code)
    changed = code[:position] + replacement + code[position + 1 :]
    if changed != code:
        assert not uscc_check(changed, org_code=False)  # prime modulus 31, non-zero weights
