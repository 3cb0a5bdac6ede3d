"""Tests for rhip.fhir.validation: Synthea bundles are valid; each rule rejects with exact location and code."""

from __future__ import annotations

import json
import re
import time
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rhip.fhir.definitions import structure
from rhip.fhir.validation import Issue, validate_resource
from rhip.fhir.validation._compiled import ValueSet
from rhip.fhir.validation._primitives import base64_ok, xsd_to_python
from rhip.fhir.validation._walk import _bind_coding

SYNTHEA = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "synthea-r4"
SYNTHEA_FILES = sorted(SYNTHEA.glob("*.json")) if SYNTHEA.is_dir() else []
needs_synthea = pytest.mark.skipif(
    not SYNTHEA_FILES, reason=f"Synthea fixtures not found at {SYNTHEA} (../shared is absent in a plain clone)"
)

LOINC_CODE = {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]}
CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"


def load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"), parse_float=Decimal)


def found(resource: Any) -> list[tuple[str, str]]:
    """(expression, code) of every issue, in order."""
    return [(i.expression, i.code) for i in validate_resource(resource)]


def patient(**elements: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", **elements}


def observation(**elements: Any) -> dict[str, Any]:
    return {"resourceType": "Observation", "status": "final", "code": LOINC_CODE, **elements}


# ---------------------------------------------------------------- known good


@needs_synthea
@pytest.mark.parametrize("path", SYNTHEA_FILES, ids=lambda p: p.name.split("_")[0])
def test_synthea_bundle_is_valid(path: Path) -> None:
    assert validate_resource(load(path)) == []


@needs_synthea
def test_synthea_bundles_validate_fast() -> None:
    """Guard against pathological slowdowns (e.g. a backtracking regex); the target is < 1 s."""
    bundles = [load(p) for p in SYNTHEA_FILES]
    validate_resource(bundles[0])  # warm: compile the tables
    start = time.perf_counter()
    for bundle in bundles:
        validate_resource(bundle)
    assert time.perf_counter() - start < 5.0


@pytest.mark.parametrize(
    "resource",
    [
        patient(),
        patient(id="abc-123.X", birthDate="2024-02-29", deceasedDateTime="2000-02-29T23:59:60+14:00"),
        patient(_birthDate={"extension": [{"url": "http://example.org/x", "valueString": "unknown"}]}),
        patient(name=[{"given": ["张", None, "三"], "_given": [None, {"id": "g1"}, None]}]),
        patient(name=[{"text": "张　三", "family": "欧阳\u00a0"}]),  # U+3000 and NBSP are string content
        patient(gender="female", multipleBirthInteger=2147483647, active=False),
        patient(_gender={"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason"}]}),
        patient(photo=[{"contentType": "not a listed type", "data": "aGVs bG8=\n", "size": 0}]),
        patient(contained=[{"resourceType": "Organization", "id": "o1", "name": "卫生院"}]),
        observation(
            valueQuantity={"value": Decimal("1.50E+3"), "comparator": "<", "system": "http://unitsofmeasure.org"}
        ),
        observation(valueQuantity={"value": 3}, effectiveInstant="2020-01-01T00:00:00.123Z"),
        observation(valueString="x", _valueString={"id": "v"}),
        observation(valueTime="23:59:59.5", issued="2021-12-31T23:59:59Z"),
        {"resourceType": "Condition", "subject": {"reference": "Patient/1"}, "clinicalStatus": {"text": "active"}},
        {
            "resourceType": "Condition",
            "subject": {"reference": "Patient/1"},
            "clinicalStatus": {
                "coding": [{"system": "http://snomed.info/sct", "code": "1"}, {"system": CLINICAL, "code": "active"}]
            },
        },
        {
            "resourceType": "Parameters",
            "parameter": [{"name": "p", "resource": patient(), "part": [{"name": "q", "valueInteger": -1}]}],
        },
        {
            "resourceType": "Bundle",
            "type": "batch-response",
            "entry": [
                {
                    "response": {
                        "status": "400",
                        "outcome": {
                            "resourceType": "OperationOutcome",
                            "issue": [{"severity": "error", "code": "invalid"}],
                        },
                    }
                }
            ],
        },
    ],
)
def test_valid_resources(resource: dict[str, Any]) -> None:
    assert validate_resource(resource) == []


# ---------------------------------------------------------------- resourceType


@pytest.mark.parametrize(
    ("resource", "expected"),
    [
        ({"id": "1"}, [("Resource.resourceType", "required")]),
        ({"resourceType": 7}, [("Resource.resourceType", "structure")]),
        ({"resourceType": "Patinet"}, [("Resource.resourceType", "invalid")]),
        ({"resourceType": "Resource"}, [("Resource.resourceType", "invalid")]),
        ({"resourceType": "DomainResource"}, [("Resource.resourceType", "invalid")]),
        ({"resourceType": "HumanName"}, [("Resource.resourceType", "invalid")]),
        ({"resourceType": "SubscriptionStatus"}, [("Resource.resourceType", "invalid")]),  # R4B, not 4.0.1
        (patient(contained=[{"id": "x"}]), [("Patient.contained[0].resourceType", "required")]),
        (patient(contained=[{"resourceType": "Foo"}]), [("Patient.contained[0].resourceType", "invalid")]),
        (
            {
                "resourceType": "Bundle",
                "type": "collection",
                "entry": [{"resource": {"resourceType": "DomainResource"}}],
            },
            [("Bundle.entry[0].resource.resourceType", "invalid")],
        ),
        (
            {
                "resourceType": "Bundle",
                "type": "batch-response",
                "entry": [{"response": {"status": "200", "outcome": patient()}}],
            },
            [("Bundle.entry[0].response.outcome.resourceType", "invalid")],
        ),
    ],
)
def test_resource_type(resource: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    assert found(resource) == expected


@pytest.mark.parametrize("value", ["Patient", [], None, 3, Decimal("1")])
def test_not_an_object(value: Any) -> None:
    assert found(value) == [("Resource", "structure")]


def test_abstract_and_unknown_messages() -> None:
    (abstract,) = validate_resource({"resourceType": "Resource"})
    assert "abstract" in abstract.diagnostics
    assert "抽象" in abstract.text_zh
    (unknown,) = validate_resource({"resourceType": "Patinet"})
    assert unknown.diagnostics == "Unknown resource type 'Patinet'"


# ---------------------------------------------------------------- unknown elements, _x siblings


@pytest.mark.parametrize(
    ("resource", "expected"),
    [
        (patient(foo=1), [("Patient.foo", "structure")]),
        (observation(valueFoo=1), [("Observation.valueFoo", "structure")]),
        (observation(valuestring="x"), [("Observation.valuestring", "structure")]),
        (patient(_name={"id": "x"}), [("Patient._name", "structure")]),  # name is not primitive
        (patient(_nope={"id": "x"}), [("Patient._nope", "structure")]),
        (patient(name=[{"resourceType": "Patient"}]), [("Patient.name[0].resourceType", "structure")]),
        (patient(name=[{"given": ["a"], "_given": [{"foo": 1}]}]), [("Patient.name[0].given[0].foo", "structure")]),
    ],
)
def test_unknown_elements(resource: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    assert found(resource) == expected


def test_misspelt_choice_names_the_choice() -> None:
    (i,) = validate_resource(observation(valueFoo=1))
    assert i.diagnostics == "Unknown element 'valueFoo': 'Foo' is not an allowed type for value[x]"
    (i,) = validate_resource(patient(deceased=True))
    assert (i.expression, i.code) == ("Patient.deceased", "structure")
    assert i.diagnostics == (
        "Unknown element 'deceased': deceased[x] needs its type in the name (deceasedBoolean, deceasedDateTime)"
    )


# ---------------------------------------------------------------- cardinality and choices


@pytest.mark.parametrize(
    ("resource", "expected"),
    [
        ({"resourceType": "Observation", "code": LOINC_CODE}, [("Observation.status", "required")]),
        ({"resourceType": "Observation"}, [("Observation.code", "required"), ("Observation.status", "required")]),
        (patient(link=[{"type": "seealso"}]), [("Patient.link[0].other", "required")]),
        (patient(extension=[{"valueString": "x"}]), [("Patient.extension[0].url", "required")]),
        (
            {
                "resourceType": "MedicationRequest",
                "status": "active",
                "intent": "order",
                "subject": {"reference": "Patient/1"},
            },
            [("MedicationRequest.medication[x]", "required")],
        ),
        (patient(gender=["male"]), [("Patient.gender", "structure")]),
        (patient(name={"family": "Li"}), [("Patient.name", "structure")]),
        (patient(name=[{"given": "Wei"}]), [("Patient.name[0].given", "structure")]),
        (patient(deceasedBoolean=True, deceasedDateTime="2020"), [("Patient.deceasedDateTime", "structure")]),
        (observation(valueString="x", _valueBoolean={"id": "b"}), [("Observation._valueBoolean", "structure")]),
        (
            patient(extension=[{"url": "http://x", "valueString": "a", "valueCode": "b"}]),
            [("Patient.extension[0].valueCode", "structure")],
        ),
    ],
)
def test_cardinality_and_choice(resource: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    assert found(resource) == expected


def test_required_satisfied_by_extension_only() -> None:
    absent = {
        "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason", "valueCode": "unknown"}]
    }
    assert found({"resourceType": "Observation", "_status": absent, "code": LOINC_CODE}) == []


# ---------------------------------------------------------------- primitives


@pytest.mark.parametrize(
    ("resource", "expected"),
    [
        (patient(birthDate="2023-02-30"), [("Patient.birthDate", "value")]),
        (patient(birthDate="1900-02-29"), [("Patient.birthDate", "value")]),
        (patient(birthDate="2023-04-31"), [("Patient.birthDate", "value")]),
        (patient(birthDate="1980-1-5"), [("Patient.birthDate", "value")]),
        (patient(birthDate=1980), [("Patient.birthDate", "value")]),
        (patient(birthDate={"value": "1980"}), [("Patient.birthDate", "structure")]),
        (patient(deceasedDateTime="2020-01-01T10:00:00"), [("Patient.deceasedDateTime", "value")]),  # no zone
        (patient(deceasedDateTime="2021-02-29T10:00:00Z"), [("Patient.deceasedDateTime", "value")]),
        (observation(issued="2020-01-01"), [("Observation.issued", "value")]),  # instant needs a time
        (observation(valueTime="24:00:00"), [("Observation.valueTime", "value")]),
        (patient(active="true"), [("Patient.active", "value")]),
        (patient(active=1), [("Patient.active", "value")]),
        (patient(multipleBirthInteger=True), [("Patient.multipleBirthInteger", "value")]),
        (patient(multipleBirthInteger=2**31), [("Patient.multipleBirthInteger", "value")]),
        (patient(multipleBirthInteger=-(2**31) - 1), [("Patient.multipleBirthInteger", "value")]),
        (patient(multipleBirthInteger=Decimal("2.0")), [("Patient.multipleBirthInteger", "value")]),
        (patient(multipleBirthInteger="2"), [("Patient.multipleBirthInteger", "value")]),
        (patient(telecom=[{"system": "phone", "value": "1", "rank": 0}]), [("Patient.telecom[0].rank", "value")]),
        (patient(photo=[{"size": -1}]), [("Patient.photo[0].size", "value")]),
        (observation(valueQuantity={"value": True}), [("Observation.valueQuantity.value", "value")]),
        (observation(valueQuantity={"value": "1.5"}), [("Observation.valueQuantity.value", "value")]),
        (observation(valueQuantity={"value": Decimal("NaN")}), [("Observation.valueQuantity.value", "value")]),
        (patient(id="a b"), [("Patient.id", "value")]),
        (patient(id="x" * 65), [("Patient.id", "value")]),
        (patient(id="a_b"), [("Patient.id", "value")]),
        (patient(implicitRules="http://a b"), [("Patient.implicitRules", "value")]),
        (patient(language="en  US"), [("Patient.language", "value")]),
        (patient(language=" en"), [("Patient.language", "value")]),
        (patient(photo=[{"data": "abc"}]), [("Patient.photo[0].data", "value")]),
        (patient(extension=[{"url": "http://x", "valueOid": "1.2.3"}]), [("Patient.extension[0].valueOid", "value")]),
        (
            patient(extension=[{"url": "http://x", "valueUuid": "urn:uuid:ABC"}]),
            [("Patient.extension[0].valueUuid", "value")],
        ),
        (patient(extension=[{"url": "a b"}]), [("Patient.extension[0].url", "value")]),
    ],
)
def test_primitive_values(resource: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    assert found(resource) == expected


def test_element_id_is_a_string_not_an_id() -> None:
    assert found(patient(name=[{"id": "not an id!", "family": "Li"}])) == []


def test_invalid_date_message_is_bilingual() -> None:
    (i,) = validate_resource(patient(birthDate="1980-13-45"))
    assert (i.severity, i.code, i.expression) == ("error", "value", "Patient.birthDate")
    assert i.diagnostics == "Invalid date '1980-13-45'"
    assert i.text_zh == "日期格式无效：'1980-13-45'"


def test_control_characters_are_a_warning() -> None:
    (i,) = validate_resource(patient(name=[{"text": "a\x07b"}]))
    assert (i.severity, i.code, i.expression) == ("warning", "value", "Patient.name[0].text")


# ---------------------------------------------------------------- null and empty


@pytest.mark.parametrize(
    ("resource", "expected"),
    [
        (patient(gender=None), [("Patient.gender", "structure")]),
        (patient(name=None), [("Patient.name", "structure")]),
        (patient(name=[]), [("Patient.name", "structure")]),
        (patient(name=[None]), [("Patient.name[0]", "structure")]),
        (patient(telecom=[{}]), [("Patient.telecom[0]", "structure")]),
        (patient(maritalStatus={}), [("Patient.maritalStatus", "structure")]),
        (patient(gender=""), [("Patient.gender", "structure")]),
        (patient(name=[{"given": ["a", ""]}]), [("Patient.name[0].given[1]", "structure")]),
        (patient(name=[{"given": ["a", None]}]), [("Patient.name[0].given[1]", "structure")]),
        (patient(name=[{"given": [None], "_given": [None]}]), [("Patient.name[0].given[0]", "structure")]),
        (patient(name=[{"given": ["a"], "_given": [None, {"id": "x"}]}]), [("Patient.name[0].given", "structure")]),
        (patient(name=[{"_given": [None]}]), [("Patient.name[0].given[0]", "structure")]),
        (patient(name=[{"given": ["a"], "_given": []}]), [("Patient.name[0].given", "structure")]),
        (patient(name=[{"given": ["a"], "_given": {"id": "x"}}]), [("Patient.name[0].given", "structure")]),
        (patient(birthDate="2000", _birthDate={}), [("Patient.birthDate", "structure")]),
        (patient(birthDate="2000", _birthDate=[{"id": "x"}]), [("Patient.birthDate", "structure")]),
        (
            patient(_birthDate={"extension": [{"valueString": "x"}]}),
            [("Patient.birthDate.extension[0].url", "required")],
        ),
        (patient(contained=[{}]), [("Patient.contained[0]", "structure")]),
    ],
)
def test_null_and_empty(resource: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    assert found(resource) == expected


# ---------------------------------------------------------------- required bindings


@pytest.mark.parametrize(
    ("resource", "expected"),
    [
        (patient(gender="yes"), [("Patient.gender", "code-invalid")]),
        (patient(gender="Male"), [("Patient.gender", "code-invalid")]),
        (observation(status="done"), [("Observation.status", "code-invalid")]),
        (
            observation(valueQuantity={"value": 1, "comparator": "="}),
            [("Observation.valueQuantity.comparator", "code-invalid")],
        ),
        (
            {
                "resourceType": "Condition",
                "subject": {"reference": "Patient/1"},
                "clinicalStatus": {"coding": [{"system": CLINICAL, "code": "nope"}]},
            },
            [("Condition.clinicalStatus", "code-invalid")],
        ),
        (
            {
                "resourceType": "Condition",
                "subject": {"reference": "Patient/1"},
                "clinicalStatus": {"coding": [{"system": "http://snomed.info/sct", "code": "55561003"}]},
            },
            [("Condition.clinicalStatus", "code-invalid")],
        ),
        (
            {
                "resourceType": "MedicationRequest",
                "status": "active",
                "intent": "order",
                "subject": {"reference": "Patient/1"},
                "medicationCodeableConcept": {"text": "aspirin"},
                "dosageInstruction": [{"timing": {"repeat": {"dayOfWeek": ["mon", "monday"]}}}],
            },
            [("MedicationRequest.dosageInstruction[0].timing.repeat.dayOfWeek[1]", "code-invalid")],
        ),
        (
            {
                "resourceType": "Bundle",
                "type": "transaction",
                "entry": [{}, {}, {}, {"resource": observation(status="done")}],
            },
            [
                ("Bundle.entry[0]", "structure"),
                ("Bundle.entry[1]", "structure"),
                ("Bundle.entry[2]", "structure"),
                ("Bundle.entry[3].resource.status", "code-invalid"),
            ],
        ),
    ],
)
def test_required_bindings(resource: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    assert found(resource) == expected


def test_gender_message_lists_allowed_codes() -> None:
    (i,) = validate_resource(patient(gender="yes"))
    assert "'yes'" in i.diagnostics
    assert "female, male, other, unknown" in i.diagnostics
    assert "'yes'" in i.text_zh
    assert "值集" in i.text_zh


def test_coding_and_quantity_bindings_check_system_and_code() -> None:
    vs = ValueSet("http://example.org/vs", {"http://s": ["a", "b"], "http://t": ["c"]})
    cases: list[tuple[dict[str, Any], int]] = [
        ({"system": "http://s", "code": "a"}, 0),
        ({"system": "http://t", "code": "a"}, 1),  # right code, wrong system
        ({"system": "http://u", "code": "a"}, 1),
        ({"code": "c"}, 0),  # no system: any system of the value set
        ({"code": "z"}, 1),
        ({"system": "http://s"}, 0),  # nothing coded
        ({"value": 1, "unit": "mg"}, 0),  # a Quantity without a code
    ]
    for coding, count in cases:
        issues: list[Issue] = []
        _bind_coding(coding, vs, "X.coding[0]", issues)
        assert [(i.expression, i.code) for i in issues] == [("X.coding[0]", "code-invalid")] * count, coding


# ---------------------------------------------------------------- recursion


def test_nested_extensions_inline_resources_and_content_references() -> None:
    resource = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {
                "resource": patient(
                    extension=[{"url": "http://x", "extension": [{"url": "http://y", "valueDate": "2020-13-01"}]}]
                )
            },
            {
                "resource": {
                    "resourceType": "Parameters",
                    "parameter": [{"name": "a", "part": [{"name": "b", "valueFoo": 1}]}],
                }
            },
            {"link": [{"relation": "self"}]},
            {"resource": patient(contained=[observation(status="done")])},
        ],
    }
    assert found(resource) == [
        ("Bundle.entry[0].resource.extension[0].extension[0].valueDate", "value"),
        ("Bundle.entry[1].resource.parameter[0].part[0].valueFoo", "structure"),
        ("Bundle.entry[2].link[0].url", "required"),
        ("Bundle.entry[3].resource.contained[0].status", "code-invalid"),
    ]


def test_deep_nesting_is_reported_not_raised() -> None:
    ext: dict[str, Any] = {"url": "http://x", "valueString": "leaf"}
    for _ in range(5000):
        ext = {"url": "http://x", "extension": [ext]}
    issues = validate_resource(patient(extension=[ext]))
    assert [(i.expression, i.code) for i in issues] == [("Patient", "structure")]


# ---------------------------------------------------------------- regex translation


def test_spec_regexes_translate_to_xml_schema_whitespace() -> None:
    assert xsd_to_python(r"[ \r\n\t\S]+") == r"[\s\S]+"
    assert xsd_to_python(r"\S*") == r"[^ \t\n\r]*"
    assert xsd_to_python(r"[^\s]+(\s[^\s]+)*") == r"[^ \t\n\r]+(?:[ \t\n\r][^ \t\n\r]+)*"
    for _name, spec in structure()["primitives"].items():
        if spec["regex"]:
            re.compile(xsd_to_python(spec["regex"]))  # every R4 primitive regex is supported
    with pytest.raises(ValueError, match="negated"):
        xsd_to_python(r"[^\S]")


_B64_SPEC = re.compile(xsd_to_python(structure()["primitives"]["base64Binary"]["regex"]))


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="aZ09+/=\t\n\r !é", max_size=20))
def test_base64_fast_path_equals_the_spec_regex(value: str) -> None:
    assert base64_ok(value) is (_B64_SPEC.fullmatch(value) is not None)


def test_long_base64_and_strings() -> None:
    data = "QUJD" * 1_000_000  # 4 MB, linear time
    assert found({"resourceType": "Binary", "contentType": "application/pdf", "data": data}) == []
    assert found({"resourceType": "Binary", "contentType": "application/pdf", "data": data + "Q"}) == [
        ("Binary.data", "value")
    ]
    assert found(patient(name=[{"text": "x" * (1024 * 1024 + 1)}])) == [("Patient.name[0].text", "value")]


def test_narrative_div_is_xhtml_without_extension_sibling() -> None:
    text = {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">x</div>'}
    assert found(patient(text=text)) == []
    assert found(patient(text={**text, "_div": {"id": "d"}})) == [("Patient.text._div", "structure")]
    assert found(patient(text={**text, "div": 1})) == [("Patient.text.div", "value")]


def test_issue_is_a_frozen_slotted_record() -> None:
    i = Issue("error", "value", "Patient.id", "d", "z")
    assert not hasattr(i, "__dict__")
    with pytest.raises(AttributeError):
        i.code = "x"  # type: ignore[misc]


# ---------------------------------------------------------------- robustness

_KEYS = st.sampled_from(
    [
        "resourceType",
        "id",
        "meta",
        "name",
        "given",
        "_given",
        "family",
        "gender",
        "_gender",
        "birthDate",
        "_birthDate",
        "deceasedBoolean",
        "deceasedDateTime",
        "extension",
        "url",
        "valueString",
        "valueDecimal",
        "valueInteger",
        "valueCodeableConcept",
        "coding",
        "system",
        "code",
        "status",
        "contained",
        "entry",
        "resource",
        "type",
        "value",
        "text",
        "link",
        "other",
        "parameter",
        "part",
        "clinicalStatus",
    ]
) | st.text(max_size=6)
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.decimals()
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from(["Patient", "Observation", "Bundle", "Condition", "Resource", "male", "final", "2020-02-30"])
)
_JSON = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEYS, inner, max_size=5),
    max_leaves=40,
)
_RESOURCES = st.builds(
    lambda rtype, body: {**body, "resourceType": rtype},
    st.sampled_from(["Patient", "Observation", "Bundle", "Parameters", "Condition", "Extension", "Resource"]),
    st.dictionaries(_KEYS, _JSON, max_size=8),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_JSON | _RESOURCES)
def test_never_raises_on_arbitrary_json(value: Any) -> None:
    issues = validate_resource(cast(dict[str, Any], value))
    assert isinstance(issues, list)
    for i in issues:
        assert isinstance(i, Issue)
        assert i.severity in ("error", "warning")
        assert i.code in ("structure", "required", "value", "code-invalid", "invalid")
        assert i.expression
        assert i.diagnostics
        assert i.text_zh
