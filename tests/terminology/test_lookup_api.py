"""``CodeSystem/$lookup`` and ``$subsumes`` over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

ICD10 = "http://hl7.org/fhir/sid/icd-10"
DIV = "http://rhip.cn/fhir/CodeSystem/gb-t-2260"


def out(params: dict[str, Any], name: str) -> Any:
    """The value of the first output parameter called ``name``."""
    for p in params["parameter"]:
        if p["name"] == name:
            return next(v for k, v in p.items() if k.startswith("value"))
    raise KeyError(name)


def props(params: dict[str, Any]) -> dict[str, list[Any]]:
    """Lookup properties as code → values."""
    found: dict[str, list[Any]] = {}
    for p in params["parameter"]:
        if p["name"] == "property":
            parts = {x["name"]: next(v for k, v in x.items() if k.startswith("value")) for x in p["part"]}
            found.setdefault(parts["code"], []).append(parts["value"])
    return found


def test_lookup_icd10_in_chinese_and_english(api: Any) -> None:
    r = api.get("/CodeSystem/$lookup", params={"system": ICD10, "code": "I10"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["resourceType"] == "Parameters"
    assert out(body, "display") == "特发性（原发性）高血压"
    assert out(body, "version") == "2019-zh"
    assert props(body)["parent"] == ["I10-I15"]
    assert props(body)["kind"] == ["category"]
    designations = [
        {x["name"]: x.get("valueCode") or x.get("valueString") for x in p["part"]}
        for p in body["parameter"]
        if p["name"] == "designation"
    ]
    assert {"language": "en", "value": "Essential (primary) hypertension"} in designations
    en = api.get("/CodeSystem/$lookup", params={"system": ICD10, "code": "I10", "displayLanguage": "en"}).json()
    assert out(en, "display") == "Essential (primary) hypertension"
    chapter = api.get("/CodeSystem/$lookup", params={"system": ICD10, "code": "E11"}).json()
    assert out(chapter, "display") == "2型糖尿病"
    assert "E11.9" in props(chapter)["child"]


def test_lookup_national_extension_code_reports_its_who_parent(api: Any) -> None:
    body = api.get("/CodeSystem/$lookup", params={"system": ICD10, "code": "E11.900x001"}).json()
    assert out(body, "display") == "2型糖尿病"
    p = props(body)
    assert p["parent"] == ["E11.9"]
    assert p["kind"] == ["national-extension"]
    assert p["edition"] == ["clinical-2.0"]
    assert p["insurance-code"] == ["E11.900"]
    # an unlisted code of the same shape is recognised by the rule, with the WHO title as display
    other = api.get("/CodeSystem/$lookup", params={"system": ICD10, "code": "J18.900x999"}).json()
    assert props(other)["parent"] == ["J18.9"]
    assert (
        out(other, "display")
        == api.get("/CodeSystem/$lookup", params={"system": ICD10, "code": "J18.9"}).json()["parameter"][2][
            "valueString"
        ]
    )


def test_lookup_historical_division_code(api: Any) -> None:
    body = api.get("/CodeSystem/$lookup", params={"system": DIV, "code": "110103"}).json()
    assert out(body, "display") == "崇文区"
    p = props(body)
    assert p["status"] == ["historical"]
    assert p["valid_to"] == ["2010"]
    assert p["inactive"] == [True]
    assert p["parent"] == ["110000"]
    renamed = api.get("/CodeSystem/$lookup", params={"system": DIV, "code": "120110", "date": "1990"}).json()
    assert out(renamed, "display") == "东郊区"
    assert props(renamed)["valid_to"] == ["1991"]
    now = api.get("/CodeSystem/$lookup", params={"system": DIV, "code": "120110"}).json()
    assert out(now, "display") == "东丽区"
    assert props(now)["status"] == ["current"]
    assert props(now)["valid_from"] == ["1992"]


def test_lookup_by_post_with_a_coding_and_selected_properties(api: Any) -> None:
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "coding", "valueCoding": {"system": "urn:oid:2.16.156.10011.2.3.3.4", "code": "2"}},
            {"name": "property", "valueCode": "parent"},
        ],
    }
    r = api.post("/CodeSystem/$lookup", json=body)
    assert r.status_code == 200, r.text
    assert out(r.json(), "display") == "女性"
    assert not any(p["name"] == "designation" for p in r.json()["parameter"])


def test_lookup_of_a_stored_code_system(api: Any) -> None:
    cs = {
        "resourceType": "CodeSystem",
        "id": "his-dx",
        "url": "http://hospital.example.cn/CodeSystem/dx",
        "version": "1",
        "status": "active",
        "content": "complete",
        "concept": [{"code": "XB", "display": "心血管病", "concept": [{"code": "GXY", "display": "高血压"}]}],
    }
    assert api.put("/CodeSystem/his-dx", json=cs).status_code == 201
    body = api.get("/CodeSystem/$lookup", params={"system": cs["url"], "code": "GXY"}).json()
    assert out(body, "display") == "高血压"
    assert props(body)["parent"] == ["XB"]
    r = api.get("/CodeSystem/$subsumes", params={"system": cs["url"], "codeA": "XB", "codeB": "GXY"})
    assert out(r.json(), "outcome") == "subsumes"
    r = api.get("/CodeSystem/his-dx/$subsumes", params={"codeA": "GXY", "codeB": "XB"})
    assert out(r.json(), "outcome") == "subsumed-by"


def test_subsumes_icd10_and_divisions(api: Any) -> None:
    def outcome(system: str, a: str, b: str) -> str:
        r = api.get("/CodeSystem/$subsumes", params={"system": system, "codeA": a, "codeB": b})
        assert r.status_code == 200, r.text
        return str(out(r.json(), "outcome"))

    assert outcome(ICD10, "E11", "E11.9") == "subsumes"
    assert outcome(ICD10, "E11.900x001", "E10-E14") == "subsumed-by"
    assert outcome(ICD10, "I10", "I10") == "equivalent"
    assert outcome(ICD10, "I10", "E11") == "not-subsumed"
    assert outcome(DIV, "110000", "110103") == "subsumes"
    assert outcome(DIV, "110101", "120000") == "not-subsumed"
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "codingA", "valueCoding": {"system": ICD10, "code": "IV"}},
            {"name": "codingB", "valueCoding": {"system": ICD10, "code": "E11.900"}},
        ],
    }
    assert out(api.post("/CodeSystem/$subsumes", json=body).json(), "outcome") == "subsumes"


def test_lookup_and_subsumes_errors(api: Any) -> None:
    r = api.get("/CodeSystem/$lookup", params={"system": "http://nowhere.example/cs", "code": "x"})
    assert r.status_code == 404
    assert "http://nowhere.example/cs" in r.json()["issue"][0]["diagnostics"]
    r = api.get("/CodeSystem/$lookup", params={"system": ICD10})
    assert r.status_code == 400
    assert r.json()["issue"][0]["expression"] == ["code"]
    r = api.get("/CodeSystem/$lookup", params={"code": "I10"})
    assert r.status_code == 400
    r = api.get("/CodeSystem/$lookup", params={"system": ICD10, "code": "i10"})
    assert r.status_code == 404
    assert "I10" in r.json()["issue"][0]["diagnostics"]
    r = api.get("/CodeSystem/$lookup", params={"system": ICD10, "code": "I10", "version": "2016"})
    assert r.status_code == 404
    assert "icd-10|2016" in r.json()["issue"][0]["diagnostics"]
    r = api.get("/CodeSystem/$subsumes", params={"system": ICD10, "codeA": "E11", "codeB": "NOPE"})
    assert r.status_code == 404
    r = api.get("/CodeSystem/$subsumes", params={"system": ICD10, "codeA": "E11"})
    assert r.status_code == 400
    r = api.get("/CodeSystem/$lookup", params={"system": ICD10, "code": "I10", "date": "yesterday"})
    assert r.status_code == 400
    r = api.post("/CodeSystem/$lookup", json={"resourceType": "Patient"})
    assert r.status_code == 400
    r = api.get("/CodeSystem/missing/$subsumes", params={"codeA": "a", "codeB": "b"})
    assert r.status_code == 404


def test_stored_code_system_versions_and_bundled_first(api: Any) -> None:
    def cs(version: str, display: str, **extra: Any) -> dict[str, Any]:
        return {
            "resourceType": "CodeSystem",
            "id": f"local-{version}",
            "url": "http://hospital.example.cn/CodeSystem/visit",
            "version": version,
            "status": "active",
            "content": "complete",
            **extra,
            "concept": [{"code": "1", "display": display}],
        }

    assert api.put("/CodeSystem/local-2", json=cs("2", "门诊（新）", date="2024-01-01")).status_code == 201
    assert api.put("/CodeSystem/local-1", json=cs("1", "门诊", date="2020-01-01")).status_code == 201
    url = "http://hospital.example.cn/CodeSystem/visit"

    def display(**params: str) -> Any:
        r = api.get("/CodeSystem/$lookup", params={"system": url, "code": "1", **params})
        assert r.status_code == 200, r.text
        return out(r.json(), "display")

    assert display() == "门诊（新）"  # newest version by default
    assert display(version="1") == "门诊"
    assert display(date="2022-06-01") == "门诊"  # the version in force that day (its date starts it)
    r = api.get("/CodeSystem/$lookup", params={"system": url, "code": "1", "date": "2019-01-01"})
    assert r.status_code == 404
    # a stored edition under the ICD-10 URL answers only when its version is asked for
    other = {
        "resourceType": "CodeSystem",
        "id": "gbt14396",
        "url": ICD10,
        "version": "GB/T 14396-2016",
        "status": "active",
        "content": "fragment",
        "concept": [{"code": "K35.9", "display": "急性阑尾炎"}],
    }
    assert api.put("/CodeSystem/gbt14396", json=other).status_code == 201
    r = api.get("/CodeSystem/$lookup", params={"system": ICD10, "code": "K35.9", "version": "GB/T 14396-2016"})
    assert out(r.json(), "display") == "急性阑尾炎"
    assert api.get("/CodeSystem/$lookup", params={"system": ICD10, "code": "K35.9"}).status_code == 404
