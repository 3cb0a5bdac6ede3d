"""``ConceptMap/$translate`` with ConceptMaps uploaded through the API, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

ICD10 = "http://hl7.org/fhir/sid/icd-10"
LOCAL = "http://hospital-a.example.cn/CodeSystem/his-diagnosis"
MAP = "http://hospital-a.example.cn/ConceptMap/his-to-icd10"


def concept_map(version: str = "1", **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "ConceptMap",
        "id": f"his-icd10-{version}",
        "url": MAP,
        "version": version,
        "status": "active",
        "sourceUri": "http://hospital-a.example.cn/ValueSet/his-diagnosis",
        "targetUri": f"{ICD10}?fhir_vs",
        **extra,
        "group": [
            {
                "source": LOCAL,
                "target": ICD10,
                "element": [
                    {
                        "code": "GXY01",
                        "display": "原发性高血压",
                        "target": [{"code": "I10", "equivalence": "equivalent"}],
                    },
                    {
                        "code": "TNB02",
                        "display": "2型糖尿病",
                        "target": [
                            {"code": "E11.9", "equivalence": "wider"},
                            {"code": "E11.900x001", "equivalence": "equivalent"},
                        ],
                    },
                    {"code": "QT99", "display": "其他", "target": [{"equivalence": "unmatched"}]},
                ],
            }
        ],
    }


def translate(api: Any, **params: str) -> dict[str, Any]:
    r = api.get("/ConceptMap/$translate", params=params)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def result(body: dict[str, Any]) -> bool:
    return bool(next(p["valueBoolean"] for p in body["parameter"] if p["name"] == "result"))


def matches(body: dict[str, Any]) -> list[tuple[str, str | None]]:
    out = []
    for p in body["parameter"]:
        if p["name"] == "match":
            parts = {x["name"]: x for x in p["part"]}
            concept = parts.get("concept", {}).get("valueCoding", {})
            out.append((parts["equivalence"]["valueCode"], concept.get("code")))
    return out


def test_translate_local_codes_to_icd10(api: Any) -> None:
    r = api.put("/ConceptMap/his-icd10-1", json=concept_map())
    assert r.status_code == 201, r.text
    body = translate(api, system=LOCAL, code="GXY01")
    assert result(body)
    assert matches(body) == [("equivalent", "I10")]
    match = next(p for p in body["parameter"] if p["name"] == "match")
    parts = {x["name"]: x for x in match["part"]}
    assert parts["concept"]["valueCoding"] == {"system": ICD10, "code": "I10", "display": "特发性（原发性）高血压"}
    assert parts["source"]["valueUri"] == MAP
    two = translate(api, system=LOCAL, code="TNB02", url=MAP)
    assert matches(two) == [("wider", "E11.9"), ("equivalent", "E11.900x001")]
    assert matches(translate(api, system=LOCAL, code="TNB02", targetsystem="http://other.example/cs")) == []


def test_no_match_unmatched_and_reverse(api: Any) -> None:
    assert api.put("/ConceptMap/his-icd10-1", json=concept_map()).status_code == 201
    none = translate(api, system=LOCAL, code="NOPE")
    assert not result(none)
    message = next(p["valueString"] for p in none["parameter"] if p["name"] == "message")
    assert "NOPE" in message
    assert "未找到" in message
    unmatched = translate(api, system=LOCAL, code="QT99", url=MAP)
    assert not result(unmatched)
    assert matches(unmatched) == [("unmatched", None)]
    back = translate(api, system=ICD10, code="I10", reverse="true")
    assert result(back)
    assert matches(back) == [("equivalent", "GXY01")]


def test_post_coding_instance_level_and_newest_version(api: Any) -> None:
    assert api.put("/ConceptMap/his-icd10-1", json=concept_map("1")).status_code == 201
    v2 = concept_map("2")
    v2["group"][0]["element"][0]["target"] = [{"code": "I15.9", "equivalence": "narrower"}]
    v2["group"][0]["unmapped"] = {"mode": "fixed", "code": "R69", "display": "疾病，未知和未特指原因"}
    assert api.put("/ConceptMap/his-icd10-2", json=v2).status_code == 201
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "url", "valueUri": MAP},
            {"name": "coding", "valueCoding": {"system": LOCAL, "code": "GXY01"}},
        ],
    }
    r = api.post("/ConceptMap/$translate", json=body)
    assert r.status_code == 200, r.text
    assert matches(r.json()) == [("narrower", "I15.9")]  # version 2 is the newest
    old = translate(api, system=LOCAL, code="GXY01", url=MAP, conceptMapVersion="1")
    assert matches(old) == [("equivalent", "I10")]
    assert matches(translate(api, system=LOCAL, code="XYZ", url=MAP)) == [("inexact", "R69")]
    r = api.get("/ConceptMap/his-icd10-1/$translate", params={"system": LOCAL, "code": "GXY01"})
    assert matches(r.json()) == [("equivalent", "I10")]
    # without url: every stored map holding the code, newest version per url
    assert matches(translate(api, system=LOCAL, code="GXY01")) == [("narrower", "I15.9")]


def test_translate_errors(api: Any) -> None:
    r = api.get("/ConceptMap/$translate", params={"system": LOCAL})
    assert r.status_code == 400
    r = api.get("/ConceptMap/$translate", params={"code": "GXY01"})
    assert r.status_code == 400
    r = api.get("/ConceptMap/$translate", params={"url": "http://nowhere.example/cm", "system": LOCAL, "code": "x"})
    assert r.status_code == 404
    assert "http://nowhere.example/cm" in r.json()["issue"][0]["diagnostics"]
    r = api.get("/ConceptMap/missing/$translate", params={"system": LOCAL, "code": "x"})
    assert r.status_code == 404
    bad_map = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "conceptMap", "resource": {"resourceType": "ConceptMap"}},  # no status: invalid R4
            {"name": "system", "valueUri": LOCAL},
            {"name": "code", "valueCode": "GXY01"},
        ],
    }
    r = api.post("/ConceptMap/$translate", json=bad_map)
    assert r.status_code == 400
