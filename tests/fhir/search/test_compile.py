"""The FHIRPath compiler against the R4 SearchParameter expressions, with fhirpathpy as the oracle.

fhirpathpy has no ``resolve()``: the oracle evaluates a ``.where(resolve() is T)`` branch without
the filter and then applies our documented write-time rule (``reference_type``), so only the
interpretation of ``resolve()`` is taken on trust. ``(x as T)`` is given to the oracle as
``x.select($this as T)`` (fhirpathpy rejects ``as`` on a collection of several items) and
``Resource.x``/``DomainResource.x`` as ``<type>.x`` (fhirpathpy does not match a root by supertype).
"""

from __future__ import annotations

import copy
import json
import logging
import re
import time
from decimal import Decimal
from typing import Any

import fhirpathpy
import pytest
from fhirpathpy.models import models

from rhip.fhir.definitions import search_parameters, structure
from rhip.fhir.search import compile as fp
from rhip.fhir.search.compile import compile_expression, compile_typed, reference_type
from rhip.fhir.search.params import SearchRegistry, registry, union_branches

RESOLVE = re.compile(r"\.where\(resolve\(\) is ([A-Za-z]+)\)$")
AS = re.compile(r"\(([A-Za-z.]+) as ([A-Za-z]+)\)")


def canon(v: Any) -> str:
    return json.dumps(v, sort_keys=True, default=str)


def oracle(rtype: str, expr: str, resource: dict[str, Any]) -> set[str]:
    out: list[Any] = []
    for _, branch in union_branches(expr):
        m = RESOLVE.search(branch)
        b = AS.sub(lambda a: f"{a.group(1)}.select($this as {a.group(2)})", RESOLVE.sub("", branch))
        b = re.sub(r"^(Domain)?Resource\.", rtype + ".", b)
        got = fhirpathpy.evaluate(copy.deepcopy(resource), b, None, models["r4"])
        if m:
            got = [g for g in got if reference_type(g, resource) in (None, m.group(1))]
        out += got
    return {canon(v) for v in out}


def ours(extractor: Any, resource: dict[str, Any]) -> set[str]:
    return {canon(v) for _, v in extractor(resource)}


# ---------------------------------------------------------------- every expression compiles


def test_every_r4_expression_compiles_without_fallback() -> None:
    exprs = 0
    for sp in search_parameters():
        for base in sp["base"]:
            if sp.get("expression"):
                exprs += 1
                assert not compile_typed(sp["expression"], base).fallback, (sp["id"], base)
    assert exprs >= 1375
    assert registry().fallbacks() == []


def test_every_composite_component_compiles_against_its_items() -> None:
    reg = registry()
    checked = 0
    for rtype in reg.types():
        for param in reg.for_type(rtype).values():
            if param.type != "composite":
                continue
            for definition, expr in param.components:
                target = reg.by_url(definition)
                assert target is not None, definition
                compiled = compile_typed(expr, param.result_types)
                assert not compiled.fallback, (rtype, param.code, expr)
                assert compiled.types, (rtype, param.code, expr)
                checked += 1
    assert checked > 100


def test_registry_startup_under_one_second() -> None:
    compile_typed.cache_clear()
    fp._children.cache_clear()
    start = time.perf_counter()
    SearchRegistry(search_parameters())
    assert time.perf_counter() - start < 1.0


def test_unsupported_expression_falls_back_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="rhip.fhir.search.compile"):
        compiled = compile_typed("Patient.name.first()")
    assert compiled.fallback
    assert "fallback" in caplog.text
    assert compiled({"resourceType": "Patient", "name": [{"family": "A"}, {"family": "B"}]}) == [
        ("Element", {"family": "A"})
    ]


# ---------------------------------------------------------------- same values as fhirpathpy


def test_matches_fhirpathpy_on_synthea(synthea_by_type: dict[str, list[dict[str, Any]]]) -> None:
    reg = registry()
    pairs = nonempty = 0
    for rtype, resources in synthea_by_type.items():
        for code, param in reg.for_type(rtype).items():
            if not param.expression:
                continue
            for resource in resources[:6]:
                got = ours(param.extractor, resource)
                assert got == oracle(rtype, param.expression, resource), (rtype, code, resource["id"])
                pairs += 1
                nonempty += bool(got)
    assert pairs >= 200
    assert nonempty >= 200


_PRIMITIVES: dict[str, list[Any]] = {
    "boolean": [True, False],
    "integer": [3, 7],
    "positiveInt": [2],
    "unsignedInt": [0],
    "decimal": [Decimal("1.50"), Decimal("20")],
    "date": ["2020-03-05", "2021"],
    "dateTime": ["2020-03-05T10:00:00+08:00", "2019-07"],
    "instant": ["2020-03-05T10:00:00.123Z"],
    "time": ["10:00:00"],
    "canonical": ["http://example.org/fhir/ValueSet/vs|1.0", "http://example.org/c"],
    "oid": ["urn:oid:1.2.3"],
    "uuid": ["urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0"],
    "base64Binary": ["AAAA"],
}
_REFS = ["Patient/p1", "Practitioner/d1", "http://other.org/fhir/Location/l1", "urn:uuid:1", "RelatedPerson/r1"]
_LITERALS = sorted({m for sp in search_parameters() for m in re.findall(r"'([^']*)'", sp.get("expression") or "")})


def _value(code: str, path: str, k: int, depth: int) -> Any:
    if code in _PRIMITIVES:
        return _PRIMITIVES[code][k % len(_PRIMITIVES[code])]
    if code in ("string", "code", "uri", "url", "id", "markdown"):
        # ``type``/``system`` take the literals of ``where(type='...')`` in turn.
        return _LITERALS[k % len(_LITERALS)] if path.rsplit(".", 1)[-1] in ("type", "system") else f"{path}{k}"
    if code == "Reference":
        return {"reference": _REFS[k % len(_REFS)], "identifier": {"system": "urn:s", "value": f"v{k}"}}
    if code == "Resource":
        return {"resourceType": "Composition", "id": f"c{k}"}
    return _element(code, "", k, depth + 1) if depth < 3 and code in structure()["types"] else None


def _element(owner: str, prefix: str, k: int, depth: int) -> dict[str, Any]:
    """A sample of ``owner`` (or its backbone element at ``prefix``), choice variant ``k``."""
    out: dict[str, Any] = {}
    for rel, (_, card, codes, _s, _v, ref) in structure()["types"][owner]["elements"].items():
        name = rel[len(prefix) :]
        if not rel.startswith(prefix) or "." in name or ref or not codes:
            continue
        if name in ("extension", "modifierExtension", "contained", "text", "id", "xhtml"):
            continue
        code = codes[k % len(codes)]
        key = name[:-3] + code[0].upper() + code[1:] if name.endswith("[x]") else name

        def one(i: int, code: str = code, rel: str = rel) -> Any:
            if code in ("BackboneElement", "Element"):
                return _element(owner, rel + ".", k + i, depth) if depth < 4 else None
            return _value(code, f"{owner}.{rel}", k + i, depth)

        values = [v for v in ([one(0), one(1)] if card == "*" else [one(0)]) if v not in (None, {})]
        if values:
            out[key] = values if card == "*" else values[0]
    return out


def test_matches_fhirpathpy_on_generated_resources_of_every_type() -> None:
    """Every parameter of every type, on generated resources that fill every element."""
    reg = registry()
    pairs, hit, total = 0, set(), set()
    for rtype in sorted(reg.types()):
        samples = [{**_element(rtype, "", k, 0), "resourceType": rtype, "id": f"x{k}"} for k in range(3)]
        for code, param in reg.for_type(rtype).items():
            if not param.expression:
                continue
            total.add((rtype, code))
            for resource in samples:
                got = ours(param.extractor, resource)
                assert got == oracle(rtype, param.expression, resource), (rtype, code, param.expression)
                pairs += 1
                if got:
                    hit.add((rtype, code))
    assert pairs > 7000
    assert len(hit) / len(total) > 0.97  # the samples do exercise the expressions


# ---------------------------------------------------------------- constructs, one by one


def test_where_on_a_code() -> None:
    ad = {
        "resourceType": "ActivityDefinition",
        "relatedArtifact": [
            {"type": "composed-of", "resource": "http://x/Library/a"},
            {"type": "depends-on", "resource": "http://x/Library/b"},
        ],
    }
    param = registry().get("ActivityDefinition", "composed-of")
    assert param is not None
    assert param.extractor(ad) == [("canonical", "http://x/Library/a")]


def test_resolve_is_reads_the_reference_type() -> None:
    param = registry().get("Encounter", "practitioner")
    assert param is not None
    enc = {
        "resourceType": "Encounter",
        "contained": [{"resourceType": "Practitioner", "id": "c1"}, {"resourceType": "Patient", "id": "c2"}],
        "participant": [
            {"individual": {"reference": "Practitioner/1"}},
            {"individual": {"reference": "RelatedPerson/2"}},
            {"individual": {"reference": "https://other.org/fhir/Practitioner/3/_history/1"}},
            {"individual": {"reference": "#c1"}},
            {"individual": {"reference": "#c2"}},
            {"individual": {"reference": "urn:uuid:9"}},
            {"individual": {"reference": "urn:uuid:10", "type": "RelatedPerson"}},
            {"individual": {"identifier": {"value": "x"}, "type": "Practitioner"}},
        ],
    }
    refs = [v.get("reference", v.get("identifier")) for _, v in param.extractor(enc)]
    assert refs == [
        "Practitioner/1",
        "https://other.org/fhir/Practitioner/3/_history/1",
        "#c1",
        "urn:uuid:9",
        {"value": "x"},
    ]


def test_deceased_boolean_expression() -> None:
    param = registry().get("Patient", "deceased")
    assert param is not None
    run = param.extractor
    assert run({"resourceType": "Patient"}) == [("boolean", False)]
    assert run({"resourceType": "Patient", "deceasedBoolean": False}) == [("boolean", False)]
    assert run({"resourceType": "Patient", "deceasedBoolean": True}) == [("boolean", True)]
    assert run({"resourceType": "Patient", "deceasedDateTime": "2020-01-01"}) == [("boolean", True)]


def test_choice_types_and_as() -> None:
    obs = {"resourceType": "Observation", "valueQuantity": {"value": 1}, "effectivePeriod": {"start": "2020"}}
    assert compile_expression("Observation.value")(obs) == [("Quantity", {"value": 1})]
    assert compile_expression("(Observation.value as CodeableConcept)")(obs) == []
    assert compile_expression("Observation.value.as(Quantity)")(obs) == [("Quantity", {"value": 1})]
    assert compile_expression("Observation.effective")(obs) == [("Period", {"start": "2020"})]
    cond = {"resourceType": "Condition", "onsetAge": {"value": 3, "unit": "a"}}
    assert compile_expression("Condition.onset.as(Age) | Condition.onset.as(Range)")(cond) == [
        ("Age", {"value": 3, "unit": "a"})
    ]
    # ``DateTime`` (a System type) is read as FHIR dateTime, as R4 Observation-code-value-date means.
    assert compile_typed("value.as(DateTime)", "Observation")(
        {"resourceType": "Observation", "valueDateTime": "2020"}
    ) == [("dateTime", "2020")]


def test_indexer_resource_and_type_filter() -> None:
    bundle = {"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "Composition", "id": "1"}}, {}]}
    assert compile_expression("Bundle.entry[0].resource")(bundle) == [
        ("Resource", {"resourceType": "Composition", "id": "1"})
    ]
    assert compile_expression("Patient.name")(bundle) == []
    assert compile_expression("Resource.id")({**bundle, "id": "b"}) == [("string", "b")]
    assert compile_expression("DomainResource.text")({"resourceType": "Patient", "text": {"div": "x"}}) == [
        ("Narrative", {"div": "x"})
    ]


def test_primitive_arrays_skip_nulls_of_extension_only_entries() -> None:
    patient = {"resourceType": "Patient", "name": [{"given": [None, "B"], "_given": [{"extension": []}, None]}]}
    assert compile_expression("Patient.name.given")(patient) == [("string", "B")]


def test_backbone_paths_and_percent_resource() -> None:
    seq = {
        "resourceType": "MolecularSequence",
        "referenceSeq": {"chromosome": {"text": "1"}},
        "variant": [{"start": 1, "end": 2}],
    }
    items = compile_expression("MolecularSequence.variant")(seq)
    assert items == [("MolecularSequence.variant", {"start": 1, "end": 2})]
    comp = compile_typed("%resource.referenceSeq.chromosome", frozenset({"MolecularSequence.variant"}))
    assert comp.run(items, seq) == [("CodeableConcept", {"text": "1"})]
    assert compile_typed("start", "MolecularSequence.variant").run(items, seq) == [("integer", 1)]


def test_union_is_split_per_base_type() -> None:
    reg = registry()
    obs, cond = reg.get("Observation", "patient"), reg.get("Condition", "patient")
    assert obs is not None
    assert cond is not None
    assert obs.expression == "Observation.subject.where(resolve() is Patient)"
    assert cond.expression == "Condition.subject.where(resolve() is Patient)"
    assert obs.url == cond.url == "http://hl7.org/fhir/SearchParameter/clinical-patient"
    # R4 writes InsurancePlan-name relative to its base.
    plan = reg.get("InsurancePlan", "name")
    assert plan is not None
    assert plan.expression == "name | alias"
    assert plan.extractor({"resourceType": "InsurancePlan", "name": "A", "alias": ["B"]}) == [
        ("string", "A"),
        ("string", "B"),
    ]


def test_registry_api() -> None:
    reg = registry()
    assert registry() is reg
    patient = reg.for_type("Patient")
    for code in ("_id", "_lastUpdated", "_tag", "_profile", "_security", "_source", "_text", "name", "birthdate"):
        assert code in patient
    assert "_text" not in reg.for_type("Bundle")
    assert "_tag" in reg.for_type("Bundle")
    assert reg.get("Patient", "nope") is None
    assert reg.get("Nope", "name") is None
    by_url = reg.by_url("http://hl7.org/fhir/SearchParameter/Observation-code-value-quantity")
    assert by_url is not None
    assert by_url.type == "composite"
    assert len(by_url.components) == 2
    assert "Observation" in reg.types()
    assert "Resource" not in reg.types()
    assert len(reg.types()) >= 145
