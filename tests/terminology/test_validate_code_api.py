"""``CodeSystem/$validate-code`` and ``ValueSet/$validate-code`` over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

ICD10 = "http://hl7.org/fhir/sid/icd-10"
DIV = "http://rhip.cn/fhir/CodeSystem/gb-t-2260"
SEX = "urn:oid:2.16.156.10011.2.3.3.4"
HTN_VS = "http://region.example.cn/fhir/ValueSet/chronic-dx"


def out(params: dict[str, Any], name: str) -> Any:
    for p in params["parameter"]:
        if p["name"] == name:
            return next(v for k, v in p.items() if k.startswith("value"))
    return None


def cs_check(api: Any, **params: str) -> dict[str, Any]:
    r = api.get("/CodeSystem/$validate-code", params=params)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def vs_check(api: Any, **params: str) -> dict[str, Any]:
    r = api.get("/ValueSet/$validate-code", params=params)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_good_and_bad_codes(api: Any) -> None:
    ok = cs_check(api, url=ICD10, code="I10")
    assert out(ok, "result") is True
    assert out(ok, "display") == "特发性（原发性）高血压"
    bad = cs_check(api, url=ICD10, code="I10.9")
    assert out(bad, "result") is False
    assert "I10.9" in out(bad, "message")
    assert "不在代码系统" in out(bad, "message")
    assert "Unknown code" in out(bad, "message")
    en = cs_check(api, url=ICD10, code="I10.9", displayLanguage="en")
    assert out(en, "message").startswith("Unknown code")
    assert cs_check(api, url=SEX, code="1")["parameter"][0]["valueBoolean"] is True


def test_display_check(api: Any) -> None:
    assert out(cs_check(api, url=ICD10, code="I10", display="特发性(原发性) 高血压"), "result") is True
    assert out(cs_check(api, url=ICD10, code="I10", display="essential (primary) hypertension"), "result") is True
    wrong = cs_check(api, url=ICD10, code="I10", display="糖尿病")
    assert out(wrong, "result") is False
    assert out(wrong, "display") == "特发性（原发性）高血压"
    assert "糖尿病" in out(wrong, "message")


def test_unknown_system_is_404(api: Any) -> None:
    r = api.get("/CodeSystem/$validate-code", params={"url": "http://nowhere.example/cs", "code": "1"})
    assert r.status_code == 404
    assert "http://nowhere.example/cs" in r.json()["issue"][0]["diagnostics"]


def test_national_extension_codes_and_groupings(api: Any) -> None:
    ext = cs_check(api, url=ICD10, code="E11.900x001")
    assert out(ext, "result") is True
    assert "E11.9" in out(ext, "message")
    assert out(cs_check(api, url=ICD10, code="E11.900x001", display="2型糖尿病"), "result") is True
    block = cs_check(api, url=ICD10, code="E10-E14")
    assert out(block, "result") is False
    assert "abstract" in out(block, "message")
    assert out(cs_check(api, url=ICD10, code="E10-E14", abstract="true"), "result") is True


def test_historical_division_codes_and_dates(api: Any) -> None:
    assert out(cs_check(api, url=DIV, code="110103"), "result") is True  # an ID number may carry it
    assert out(cs_check(api, url=DIV, code="110103", date="2005-03-01"), "result") is True
    late = cs_check(api, url=DIV, code="110103", date="2015")
    assert out(late, "result") is False
    assert "2015" in out(late, "message")
    assert out(cs_check(api, url=DIV, code="120110", display="东郊区"), "result") is True
    assert out(cs_check(api, url=DIV, code="999999"), "result") is False


def test_post_coding_and_codeable_concept(api: Any) -> None:
    body = {
        "resourceType": "Parameters",
        "parameter": [{"name": "coding", "valueCoding": {"system": ICD10, "code": "J18.9", "display": "肺炎，未特指"}}],
    }
    r = api.post("/CodeSystem/$validate-code", json=body)
    assert r.status_code == 200, r.text
    assert out(r.json(), "result") is True
    cc = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "url", "valueUri": ICD10},
            {
                "name": "codeableConcept",
                "valueCodeableConcept": {
                    "coding": [{"system": "http://local.example/dx", "code": "X"}, {"system": ICD10, "code": "I10"}]
                },
            },
        ],
    }
    r = api.post("/CodeSystem/$validate-code", json=cc)
    assert out(r.json(), "result") is True


def put_value_set(api: Any) -> None:
    vs = {
        "resourceType": "ValueSet",
        "id": "chronic-dx",
        "url": HTN_VS,
        "version": "1",
        "status": "active",
        "compose": {
            "include": [
                {"system": ICD10, "filter": [{"property": "concept", "op": "is-a", "value": "I10"}]},
                {"system": ICD10, "concept": [{"code": "E11.9"}, {"code": "E11.900x001"}]},
            ]
        },
    }
    r = api.put("/ValueSet/chronic-dx", json=vs)
    assert r.status_code == 201, r.text


def test_value_set_membership(api: Any) -> None:
    put_value_set(api)
    assert out(vs_check(api, url=HTN_VS, system=ICD10, code="I10"), "result") is True
    assert out(vs_check(api, url=HTN_VS, code="E11.900x001"), "result") is True  # system inferred
    outside = vs_check(api, url=HTN_VS, system=ICD10, code="I11.9")
    assert out(outside, "result") is False
    assert "不在值集" in out(outside, "message")
    assert out(vs_check(api, url=HTN_VS, system=ICD10, code="E11.9", display="高血压"), "result") is False
    r = api.get("/ValueSet/chronic-dx/$validate-code", params={"system": ICD10, "code": "I10"})
    assert out(r.json(), "result") is True


def test_implicit_value_sets(api: Any) -> None:
    assert out(vs_check(api, url=f"{ICD10}?fhir_vs", system=ICD10, code="A00.0"), "result") is True
    assert out(vs_check(api, url=f"{ICD10}?fhir_vs=isa/E11", system=ICD10, code="E11.900x001"), "result") is True
    assert out(vs_check(api, url=f"{ICD10}?fhir_vs=isa/E11", system=ICD10, code="E10.9"), "result") is False
    assert out(vs_check(api, url=f"{DIV}?fhir_vs", code="110103"), "result") is True


def test_value_set_errors(api: Any) -> None:
    r = api.get("/ValueSet/$validate-code", params={"url": "http://nowhere.example/vs", "code": "1", "system": ICD10})
    assert r.status_code == 404
    assert "http://nowhere.example/vs" in r.json()["issue"][0]["diagnostics"]
    r = api.get("/ValueSet/$validate-code", params={"url": f"{ICD10}?fhir_vs"})
    assert r.status_code == 400
    r = api.get("/ValueSet/$validate-code", params={"code": "I10"})
    assert r.status_code == 400
    put_value_set(api)
    r = api.get("/ValueSet/$validate-code", params={"url": HTN_VS, "valueSetVersion": "9", "code": "I10"})
    assert r.status_code == 404
    assert "|9" in r.json()["issue"][0]["diagnostics"]
