"""Tests for rhip.fhir.model: type queries agree with the R4 definitions and with the validator."""

from __future__ import annotations

import pytest

from rhip.fhir.model import (
    choice_types,
    element_type,
    is_resource_type,
    mandatory_elements,
    resource_types,
    summary_elements,
)
from rhip.fhir.validation import validate_resource

OBSERVATION_VALUE = (
    "Quantity", "CodeableConcept", "string", "boolean", "integer", "Range", "Ratio", "SampledData", "time",
    "dateTime", "Period",
)  # fmt: skip


def test_resource_types_are_the_concrete_r4_ones() -> None:
    types = resource_types()
    assert len(types) == 146
    assert {"Patient", "Observation", "Bundle", "Binary", "Parameters", "OperationOutcome"} <= types
    assert not {"Resource", "DomainResource", "MetadataResource", "SubscriptionStatus", "HumanName"} & types


@pytest.mark.parametrize(
    ("name", "expected"),
    [("Patient", True), ("Bundle", True), ("patient", False), ("Resource", False), ("HumanName", False), ("", False)],
)
def test_is_resource_type(name: str, expected: bool) -> None:
    assert is_resource_type(name) is expected


def test_summary_elements_expand_choices_and_always_keep_id_meta_type() -> None:
    patient = summary_elements("Patient")
    assert {
        "id",
        "meta",
        "resourceType",
        "name",
        "birthDate",
        "gender",
        "deceasedBoolean",
        "deceasedDateTime",
    } <= patient
    assert not {"deceased[x]", "contact", "photo", "text", "multipleBirthBoolean", "_birthDate"} & patient
    observation = summary_elements("Observation")
    assert {"valueQuantity", "valueString", "status", "code", "subject"} <= observation
    assert "note" not in observation
    assert {"id", "meta", "resourceType"} <= summary_elements("Binary")


def test_mandatory_elements() -> None:
    assert mandatory_elements("Observation") == {"status", "code"}
    assert mandatory_elements("MedicationRequest") == {"status", "intent", "medication[x]", "subject"}
    assert mandatory_elements("Patient") == frozenset()
    assert mandatory_elements("Bundle") == {"type"}


@pytest.mark.parametrize("bad", ["Resource", "HumanName", "Nope"])
def test_resource_queries_reject_non_resources(bad: str) -> None:
    with pytest.raises(KeyError):
        summary_elements(bad)
    with pytest.raises(KeyError):
        mandatory_elements(bad)


@pytest.mark.parametrize(
    ("owner", "path", "expected"),
    [
        ("Observation", "value", OBSERVATION_VALUE),
        ("Observation", "value[x]", OBSERVATION_VALUE),
        ("Observation", "component.value", OBSERVATION_VALUE),
        ("Patient", "deceased", ("boolean", "dateTime")),
        ("Extension", "value", None),  # checked below: 50 types
        ("Observation", "status", None),
        ("Observation", "valueQuantity", None),
        ("Observation", "nope", None),
        ("Nope", "value", None),
    ],
)
def test_choice_types(owner: str, path: str, expected: tuple[str, ...] | None) -> None:
    if owner == "Extension":
        types = choice_types(owner, path)
        assert types is not None
        assert len(types) == 50
        assert {"string", "Reference", "Meta"} <= set(types)
    else:
        assert choice_types(owner, path) == expected


@pytest.mark.parametrize(
    ("owner", "path", "expected"),
    [
        ("Patient", "id", ("id",)),
        ("Patient", "name", ("HumanName",)),
        ("Patient", "name.given", ("string",)),
        ("Patient", "contact", ("BackboneElement",)),
        ("Patient", "contact.name.family", ("string",)),
        ("Patient", "birthDate.extension.url", ("uri",)),
        ("Patient", "deceased", ("boolean", "dateTime")),
        ("Observation", "valueQuantity.code", ("code",)),
        ("Bundle", "entry.resource", ("Resource",)),
        ("Bundle", "entry.link.url", ("uri",)),  # content reference to Bundle.link
        ("Bundle", "entry.response.outcome", ("OperationOutcome",)),
        ("Questionnaire", "item.item.type", ("code",)),
        ("Timing", "repeat.dayOfWeek", ("code",)),
        ("HumanName", "given", ("string",)),
        ("Extension", "url", ("uri",)),
        ("Patient", "_birthDate", None),
        ("Patient", "nope", None),
        ("Patient", "", None),
        ("Patient", "gender.nope", None),
        ("Bundle", "entry.resource.id", None),
        ("Nope", "id", None),
    ],
)
def test_element_type(owner: str, path: str, expected: tuple[str, ...] | None) -> None:
    assert element_type(owner, path) == expected


@pytest.mark.parametrize("rtype", sorted(resource_types()))
def test_bare_resource_misses_exactly_its_mandatory_elements(rtype: str) -> None:
    """The model and the validator read the same tables: a bare resource lacks just the mandatory elements."""
    issues = validate_resource({"resourceType": rtype})
    assert {(i.expression, i.code) for i in issues} == {(f"{rtype}.{m}", "required") for m in mandatory_elements(rtype)}
