"""Malformed input to the terminology operations is a 4xx OperationOutcome, never a crash (property-based)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rhip.fhir.errors import FhirError
from rhip.fhir.rest import FhirRequest, dispatch
from rhip.security.context import RequestContext
from rhip.store.repository import Repository

ICD10 = "http://hl7.org/fhir/sid/icd-10"
PATHS = [
    "CodeSystem/$lookup",
    "CodeSystem/$validate-code",
    "CodeSystem/$subsumes",
    "ValueSet/$validate-code",
    "ValueSet/$expand",
    "ConceptMap/$translate",
]
NAMES = [
    "system", "code", "version", "url", "display", "date", "filter", "offset", "count", "codeA", "codeB",
    "valueSetVersion", "displayLanguage", "activeOnly", "abstract", "property", "reverse", "targetsystem",
    "conceptMapVersion", "system-version", "source", "target", "excludeNotForUI",
]  # fmt: skip
VALUES = st.one_of(
    st.sampled_from(
        ["", "I10", "E11.900x001", ICD10, f"{ICD10}?fhir_vs", "110103", "true", "2015", "-1", "--1", "1,2", "|", "\\"]
    ),
    st.text(max_size=30),
)
KEYS = st.sampled_from(["system", "code", "coding", "resourceType", "compose", "include", "filter"])
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=3),
    max_leaves=8,
)


def run(repo: Repository, req: FhirRequest) -> int:
    try:
        with repo.unit(RequestContext.system("fuzz"), write=req.method != "GET") as unit:
            return int(dispatch(unit, req).status)
    except FhirError as err:
        outcome, status = err.outcome(), int(err.status)
    assert outcome["resourceType"] == "OperationOutcome"
    return status


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(PATHS), query=st.lists(st.tuples(st.sampled_from(NAMES), VALUES), max_size=6))
def test_query_parameters_never_crash(repo: Repository, path: str, query: list[tuple[str, str]]) -> None:
    status = run(repo, FhirRequest("GET", path, query))
    assert status in (200, 400, 404, 422), status


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    path=st.sampled_from(PATHS),
    params=st.lists(
        st.fixed_dictionaries(
            {"name": st.sampled_from([*NAMES, "coding", "codeableConcept", "valueSet", "conceptMap", "codingA"])},
            optional={
                "valueString": VALUES,
                "valueInteger": st.integers(-3, 3),
                "valueBoolean": st.booleans(),
                "valueCoding": JSON_VALUES,
                "valueCodeableConcept": JSON_VALUES,
                "resource": JSON_VALUES,
                "part": JSON_VALUES,
            },
        ),
        max_size=5,
    ),
)
def test_parameters_bodies_never_crash(repo: Repository, path: str, params: list[dict[str, Any]]) -> None:
    body = json.dumps({"resourceType": "Parameters", "parameter": params}).encode()
    req = FhirRequest("POST", path, [], {"content-type": "application/fhir+json"}, body)
    status = run(repo, req)
    assert status in (200, 400, 404, 422), status


def test_examples_that_once_looked_risky(repo: Repository) -> None:
    cases: list[tuple[str, list[tuple[str, str]]]] = [
        ("ValueSet/$expand", [("url", f"{ICD10}?fhir_vs=isa/"), ("count", "1")]),
        ("ValueSet/$expand", [("url", f"{ICD10}?fhir_vs=isa/NOPE"), ("count", "1")]),
        ("ValueSet/$expand", [("url", "|"), ("count", "1")]),
        ("ValueSet/$expand", [("url", f"{ICD10}?fhir_vs"), ("count", "999999999")]),
        ("ValueSet/$expand", [("url", f"{ICD10}?fhir_vs"), ("filter", "   "), ("count", "1")]),
        ("ValueSet/$expand", [("url", f"{ICD10}?fhir_vs"), ("system-version", "x")]),
        ("CodeSystem/$lookup", [("system", ICD10), ("code", "E11.900x001"), ("date", "2024-02-30")]),
        ("CodeSystem/$lookup", [("system", f"{ICD10}|2019-zh"), ("code", "I10"), ("version", "x")]),
        ("ConceptMap/$translate", [("system", "a,b"), ("code", "c|d")]),
    ]
    for path, query in cases:
        assert run(repo, FhirRequest("GET", path, query)) in (200, 400, 404), (path, query)
