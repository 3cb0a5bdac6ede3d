"""China profiles: definitions compile, known-good and known-bad data give the expected findings."""

from __future__ import annotations

import copy
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from rhip.fhir.validation import validate_resource
from rhip.identity import check_digit
from rhip.profiles import ProfileIssue, profiles, validate
from rhip.profiles.compiled import DATA, compile_profile, load

TODAY = date(2026, 11, 24)
RIC = "urn:oid:2.16.156.10011.1.3"
SEX = "http://rhip.cn/fhir/StructureDefinition/sex-gb2261"
ETH = "http://rhip.cn/fhir/StructureDefinition/ethnicity-gb3304"
DIV = "http://rhip.cn/fhir/StructureDefinition/address-division-code"
GB = "urn:oid:2.16.156.10011.2.3.3"


def ric(body17: str) -> str:
    return body17 + check_digit(body17)


def patient(**over: Any) -> dict[str, Any]:
    p: dict[str, Any] = {
        "resourceType": "Patient",
        "extension": [
            {
                "url": SEX,
                "valueCodeableConcept": {"coding": [{"system": "urn:oid:2.16.156.10011.2.3.3.4", "code": "1"}]},
            },
            {
                "url": ETH,
                "valueCodeableConcept": {"coding": [{"system": "urn:oid:2.16.156.10011.2.3.3.3", "code": "01"}]},
            },
        ],
        "identifier": [{"system": RIC, "value": ric("33052319450425121")}],
        "name": [{"text": "罗勇", "family": "罗", "given": ["勇"]}],
        "telecom": [{"system": "phone", "value": "17663848242"}],
        "gender": "male",
        "birthDate": "1945-04-25",
        "address": [
            {"extension": [{"url": DIV, "valueCode": "330523104001"}], "use": "home", "text": "浙江省湖州市安吉县"}
        ],
        "maritalStatus": {"coding": [{"system": "urn:oid:2.16.156.10011.2.3.3.5", "code": "21"}]},
    }
    p.update(over)
    return p


def findings(res: dict[str, Any]) -> list[ProfileIssue]:
    return validate(res, TODAY)


def errors(res: dict[str, Any]) -> list[tuple[str, str]]:
    return [(f.key, f.expression) for f in findings(res) if f.severity == "error"]


def warnings(res: dict[str, Any]) -> list[tuple[str, str]]:
    return [(f.key, f.expression) for f in findings(res) if f.severity == "warning"]


# -- definitions ---------------------------------------------------------------------------------


def test_eight_profiles_and_their_extensions_load() -> None:
    p = profiles()
    assert sorted(p.by_type) == sorted(
        [
            "Patient",
            "Organization",
            "Practitioner",
            "Encounter",
            "Condition",
            "Observation",
            "Immunization",
            "DocumentReference",
        ]
    )
    assert all(prof.rules for prof in p.by_type.values())
    assert len(p.definitions) == 12


@pytest.mark.parametrize("path", sorted(DATA.glob("StructureDefinition-*.json")), ids=lambda p: p.stem)
def test_every_definition_is_a_valid_r4_structure_definition(path: Path) -> None:
    sd = json.loads(path.read_text(encoding="utf-8"), parse_float=__import__("decimal").Decimal)
    assert [i for i in validate_resource(sd) if i.severity == "error"] == []
    assert sd["url"].endswith("/" + sd["id"])


def _patient_sd() -> dict[str, Any]:
    return json.loads((DATA / "StructureDefinition-cn-patient.json").read_text(encoding="utf-8"))


def test_an_unimplemented_constraint_key_fails_at_load() -> None:
    sd = _patient_sd()
    sd["differential"]["element"][0]["constraint"].append({"key": "cn-nope-1", "severity": "error", "human": "x"})
    with pytest.raises(ValueError, match="cn-nope-1"):
        compile_profile(sd, {})


def test_unsupported_differential_content_fails_at_load() -> None:
    sd = _patient_sd()
    sd["differential"]["element"].append({"id": "Patient.active", "path": "Patient.active", "fixedBoolean": True})
    with pytest.raises(ValueError, match="fixedBoolean"):
        compile_profile(sd, {})


def test_a_binding_rhip_cannot_check_offline_fails_at_load() -> None:
    sd = _patient_sd()
    sd["differential"]["element"].append(
        {
            "id": "Patient.language",
            "path": "Patient.language",
            "binding": {"strength": "required", "valueSet": "http://example.org/ValueSet/unknown"},
        }
    )
    with pytest.raises(ValueError, match="implicit value sets"):
        compile_profile(sd, {})


def test_load_refuses_two_profiles_for_one_type(tmp_path: Path) -> None:
    for name in ("a", "b"):
        sd = _patient_sd()
        sd["url"] = f"http://example.org/{name}"
        (tmp_path / f"StructureDefinition-{name}.json").write_text(json.dumps(sd), encoding="utf-8")
    with pytest.raises(ValueError, match="two profiles"):
        load(tmp_path)


# -- known good ----------------------------------------------------------------------------------


def test_a_complete_chinese_patient_conforms() -> None:
    assert findings(patient()) == []


def test_synthetic_region_without_noise_has_no_errors(tmp_path: Path) -> None:
    from rhip.synth.engine import generate

    generate(seed=7, residents=40, years=2, out=tmp_path, noise=0.0)
    seen: dict[str, int] = {}
    bad = []
    for f in sorted((tmp_path / "fhir").glob("*.ndjson")):
        for line in f.read_text(encoding="utf-8").splitlines():
            res = json.loads(line)
            seen[res["resourceType"]] = seen.get(res["resourceType"], 0) + 1
            bad += [(res["resourceType"], e) for e in errors(res)]
    assert bad == []
    assert {"Patient", "Organization", "Practitioner", "Encounter", "Condition", "Observation"} <= set(seen)


# -- identifiers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "birth", "gender"),
    [
        ("11010519491231002X", "1949-12-31", "female"),  # check character X
        (ric("33052319450425121"), "1945-04-25", "male"),
        ("330523450425121", "1945-04-25", "male"),  # legacy 15-digit number
        (ric("11010319800101001"), "1980-01-01", "male"),  # 110103 崇文区, abolished 2010: people keep it
    ],
)
def test_known_good_id_numbers(value: str, birth: str, gender: str) -> None:
    res = patient(identifier=[{"system": RIC, "value": value}], birthDate=birth, gender=gender)
    assert findings(res) == []


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("330523194504251219", "check character"),
        ("11010519491231002x"[:-1] + "9", "check character"),
        (ric("99052319450425121"), "province"),
        (ric("33052391690128121"), "future"),
        ("3305231945042512", "length"),
    ],
)
def test_known_bad_id_numbers_are_errors_at_the_value(value: str, why: str) -> None:
    found = [f for f in findings(patient(identifier=[{"system": RIC, "value": value}])) if f.key == "cn-ident-1"]
    assert [f.expression for f in found][:1] == ["Patient.identifier[0].value"]
    assert all(f.severity == "error" for f in found)


def test_birth_date_and_sex_that_contradict_the_id_number_are_warnings() -> None:
    res = patient(birthDate="1945-04-26", gender="female")
    assert errors(res) == []
    assert sorted(warnings(res)) == [("cn-pat-2", "Patient.birthDate"), ("cn-pat-2", "Patient.gender")]


def test_a_patient_needs_a_person_identifier_with_system_and_value() -> None:
    res = patient(identifier=[{"system": "http://example.org/ssn", "value": "999-99-9999"}])
    assert ("cn-pat-1", "Patient.identifier") in errors(res)
    res = patient(identifier=[{"value": "123"}])
    assert ("min", "Patient.identifier[0].system") in errors(res)
    no_ids = patient()
    del no_ids["identifier"]
    assert ("min", "Patient.identifier") in errors(no_ids)
    mrn = [{"system": "http://rhip.cn/fhir/sid/mrn/12330523KKDLKB8W3N", "value": "MZ0001"}]
    assert errors(patient(identifier=mrn)) == []


def test_organisation_codes_are_checked() -> None:
    org = {
        "resourceType": "Organization",
        "identifier": [{"system": "urn:oid:2.16.156.10011.1.5", "value": "11330500K6P2UPUF0X"}],
        "name": "湖州市卫生健康委员会",
    }
    assert errors(org) == []
    bad = copy.deepcopy(org)
    bad["identifier"][0]["value"] = "11330500K6P2UPUF0Y"
    assert errors(bad) == [("cn-ident-1", "Organization.identifier[0].value")]
    none = {"resourceType": "Organization", "identifier": [{"system": "http://x", "value": "1"}], "name": "x"}
    assert ("cn-org-1", "Organization.identifier") in errors(none)


# -- division codes ------------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["330523", "330523104", "330523104001", "110103"])
def test_valid_division_codes(code: str) -> None:
    res = patient(address=[{"extension": [{"url": DIV, "valueCode": code}], "use": "home"}])
    assert errors(res) == []


@pytest.mark.parametrize("code", ["990000", "33052", "33052310400", "3305231040AB", "330599"])
def test_invalid_division_codes(code: str) -> None:
    res = patient(address=[{"extension": [{"url": DIV, "valueCode": code}], "use": "home"}])
    assert errors(res) == [("cn-addr-1", "Patient.address[0].extension[0].valueCode")]


def test_an_address_without_division_code_is_a_warning() -> None:
    res = patient(address=[{"use": "home", "text": "浙江省湖州市"}, {"use": "old", "text": "上海"}])
    assert errors(res) == []
    assert warnings(res) == [("cn-addr-2", "Patient.address[0]")]


# -- bindings ------------------------------------------------------------------------------------


def test_codes_outside_bound_value_sets() -> None:
    marital = patient(maritalStatus={"coding": [{"system": "urn:oid:2.16.156.10011.2.3.3.5", "code": "99"}]})
    assert errors(marital) == [("binding", "Patient.maritalStatus.coding[0].code")]
    bad_sex = patient()
    bad_sex["extension"][0]["valueCodeableConcept"]["coding"][0]["code"] = "5"
    assert errors(bad_sex) == [("binding", "Patient.extension[0].valueCodeableConcept.coding[0].code")]
    # "81 穿青人族" is used by one seed but is not GB 3304 (standards.md §4.4)
    bad_eth = patient()
    bad_eth["extension"][1]["valueCodeableConcept"]["coding"][0]["code"] = "81"
    assert errors(bad_eth) == [("binding", "Patient.extension[1].valueCodeableConcept.coding[0].code")]
    # required binding: a sex extension with a local code only is an error, not a warning
    local = patient()
    local["extension"][0]["valueCodeableConcept"] = {"coding": [{"system": "http://local", "code": "M"}]}
    assert errors(local) == [("binding", "Patient.extension[0].valueCodeableConcept")]
    # extensible binding: v3 marital status alone is allowed, with a warning
    v3 = patient(
        maritalStatus={"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus", "code": "M"}]}
    )
    assert errors(v3) == []
    assert warnings(v3) == [("binding", "Patient.maritalStatus")]


def condition(code: str, system: str = "http://hl7.org/fhir/sid/icd-10") -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "subject": {"reference": "Patient/1"},
        "code": {"coding": [{"system": system, "code": code}]},
    }


@pytest.mark.parametrize("code", ["E11.9", "J44.9", "E11.900x001", "I10"])
def test_icd10_codes_accepted(code: str) -> None:
    assert findings(condition(code)) == []
    assert findings(condition(code, "urn:oid:2.16.156.10011.2.3.3.11")) == []


@pytest.mark.parametrize("code", ["X99.99", "E11.9x", "A00-A09", "IV", "e11.9"])
def test_icd10_codes_rejected(code: str) -> None:
    assert errors(condition(code)) == [("binding", "Condition.code.coding[0].code")]


def test_a_snomed_only_diagnosis_is_a_warning() -> None:
    res = condition("44054006", "http://snomed.info/sct")
    assert errors(res) == []
    assert warnings(res) == [("binding", "Condition.code")]


# -- absurd dates and required elements ------------------------------------------------------------


@pytest.mark.parametrize(
    ("res", "where"),
    [
        (patient(birthDate="1700-01-01"), "Patient.birthDate"),
        (patient(birthDate="2031-01-01"), "Patient.birthDate"),
        (
            {
                "resourceType": "Observation",
                "status": "final",
                "code": {"text": "x"},
                "subject": {"reference": "Patient/1"},
                "effectiveDateTime": "2099-01-01T08:00:00+08:00",
            },
            "Observation.effectiveDateTime",
        ),
        (
            {
                "resourceType": "Encounter",
                "status": "finished",
                "class": {"code": "AMB"},
                "subject": {"reference": "Patient/1"},
                "serviceProvider": {"reference": "Organization/1"},
                "period": {"start": "0199-05-01"},
            },
            "Encounter.period.start",
        ),
    ],
)
def test_absurd_dates_are_errors(res: dict[str, Any], where: str) -> None:
    assert ("cn-date-1", where) in errors(res)


def test_death_before_birth_is_an_error() -> None:
    assert ("cn-pat-3", "Patient.deceasedDateTime") in errors(patient(deceasedDateTime="1940-01-01"))


def test_required_elements_name_the_missing_element() -> None:
    obs = {"resourceType": "Observation", "status": "final", "code": {"text": "x"}}
    assert sorted(errors(obs)) == [("min", "Observation.effective[x]"), ("min", "Observation.subject")]
    imm = {
        "resourceType": "Immunization",
        "status": "completed",
        "vaccineCode": {"coding": [{"system": "http://rhip.cn/fhir/CodeSystem/nip-child-schedule", "code": "BCG"}]},
        "patient": {"reference": "Patient/1"},
        "occurrenceDateTime": "2025-01-01",
    }
    assert errors(imm) == [("min", "Immunization.lotNumber")]
    doc = {"resourceType": "DocumentReference", "status": "current", "content": [{"attachment": {"url": "x"}}]}
    assert sorted(errors(doc)) == [
        ("min", "DocumentReference.custodian"),
        ("min", "DocumentReference.date"),
        ("min", "DocumentReference.subject"),
        ("min", "DocumentReference.type"),
    ]


def test_types_without_a_profile_have_no_findings() -> None:
    assert findings({"resourceType": "Basic", "code": {"text": "x"}}) == []


def test_messages_are_bilingual() -> None:
    (f,) = [f for f in findings(patient(birthDate="1700-01-01")) if f.key == "cn-date-1"]
    assert "1880" in f.diagnostics
    assert "不合理" in f.text_zh
    assert f.profile == "http://rhip.cn/fhir/StructureDefinition/cn-patient"


def test_capability_statement_names_the_enforced_profiles() -> None:
    from rhip.fhir.capability import capability_statement

    rest = capability_statement("http://x/fhir", "http://x/auth/token")["rest"][0]["resource"]
    declared = {r["type"]: r["supportedProfile"] for r in rest if "supportedProfile" in r}
    assert declared == {t: [p.url] for t, p in profiles().by_type.items()}
