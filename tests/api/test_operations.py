"""``$everything``, ``$validate`` and ``/metadata`` over HTTP."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

LOINC = "http://loinc.org"


def put(api: Any, resource: dict[str, Any]) -> dict[str, Any]:
    r = api.put(f"/{resource['resourceType']}/{resource['id']}", json=resource)
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def keys(bundle: dict[str, Any], mode: str | None = None) -> list[str]:
    return [
        f"{e['resource']['resourceType']}/{e['resource']['id']}"
        for e in bundle.get("entry", [])
        if mode is None or e["search"]["mode"] == mode
    ]


def record(api: Any) -> dict[str, str]:
    """Two patients' records; returns lastUpdated of the resources written after the first three."""
    put(api, {"resourceType": "Organization", "id": "org", "name": "协和医院"})
    put(api, {"resourceType": "Practitioner", "id": "doc", "name": [{"family": "李"}]})
    put(api, {"resourceType": "Patient", "id": "pa", "managingOrganization": {"reference": "Organization/org"}})
    put(api, {"resourceType": "Patient", "id": "pb"})
    put(
        api,
        {
            "resourceType": "Encounter",
            "id": "e1",
            "status": "finished",
            "class": {"code": "AMB"},
            "subject": {"reference": "Patient/pa"},
            "participant": [{"individual": {"reference": "Practitioner/doc"}}],
        },
    )
    put(
        api,
        {"resourceType": "Condition", "id": "c1", "subject": {"reference": "Patient/pa"}, "code": {"text": "高血压"}},
    )
    mark = put(
        api,
        {
            "resourceType": "Observation",
            "id": "o1",
            "status": "final",
            "code": {"coding": [{"system": LOINC, "code": "8480-6"}]},
            "subject": {"reference": "Patient/pa"},
            "encounter": {"reference": "Encounter/e1"},
        },
    )["meta"]["lastUpdated"]
    put(
        api,
        {
            "resourceType": "Observation",
            "id": "o2",
            "status": "final",
            "code": {"text": "x"},
            "subject": {"reference": "Patient/pa"},
            "performer": [{"reference": "Practitioner/doc"}],
        },
    )
    put(
        api,
        {
            "resourceType": "MedicationRequest",
            "id": "m1",
            "status": "active",
            "intent": "order",
            "medicationCodeableConcept": {"text": "阿司匹林"},
            "subject": {"reference": "Patient/pa"},
        },
    )
    put(
        api,
        {
            "resourceType": "Observation",
            "id": "ob",
            "status": "final",
            "code": {"text": "x"},
            "subject": {"reference": "Patient/pb"},
        },
    )
    return {"since": mark}


def test_everything(api: Any) -> None:
    record(api)
    r = api.get("/Patient/pa/$everything")
    assert r.status_code == 200, r.text
    b = r.json()
    assert b["resourceType"] == "Bundle"
    assert b["type"] == "searchset"
    everything = keys(b)
    assert len(everything) == len(set(everything))
    assert set(keys(b, "match")) == {
        "Patient/pa",
        "Encounter/e1",
        "Condition/c1",
        "Observation/o1",
        "Observation/o2",
        "MedicationRequest/m1",
    }
    assert set(keys(b, "include")) == {"Organization/org", "Practitioner/doc"}
    assert "Observation/ob" not in everything
    assert "Patient/pb" not in everything
    assert everything[0] == "Patient/pa"
    assert b["total"] == len(everything)
    # POST works too.
    assert set(keys(api.post("/Patient/pa/$everything").json())) == set(everything)


def test_everything_type_since_count(api: Any) -> None:
    marks = record(api)
    b = api.get("/Patient/pa/$everything", params={"_type": "Observation,Condition"}).json()
    assert set(keys(b)) == {"Observation/o1", "Observation/o2", "Condition/c1"}
    b = api.get("/Patient/pa/$everything", params={"_type": "Observation,Practitioner"}).json()
    assert set(keys(b, "match")) == {"Observation/o1", "Observation/o2"}
    assert set(keys(b, "include")) == {"Practitioner/doc"}
    b = api.get(
        "/Patient/pa/$everything", params={"_since": marks["since"], "_type": "Observation,MedicationRequest,Condition"}
    ).json()
    assert set(keys(b)) == {"Observation/o1", "Observation/o2", "MedicationRequest/m1"}
    # _count pages through the compartment: every member once.
    seen: list[str] = []
    r = api.get("/Patient/pa/$everything", params={"_count": "2"})
    pages = 0
    while True:
        assert r.status_code == 200, r.text
        b = r.json()
        page = [k for k in keys(b, "match") if k != "Patient/pa"]
        assert len(page) <= 2
        seen += page
        pages += 1
        nxt = next((link["url"] for link in b["link"] if link["relation"] == "next"), None)
        if nxt is None:
            break
        assert pages < 10
        parts = urlsplit(nxt)
        assert "_count=2" in parts.query
        r = api.get(f"{parts.path}?{parts.query}")
    assert pages == 3
    b = api.get("/Patient/pa/$everything", params={"_count": "0"}).json()
    assert keys(b, "match") == ["Patient/pa"]
    assert keys(b, "include") == ["Organization/org"]
    assert [link["relation"] for link in b["link"]] == ["self"]
    assert len(seen) == len(set(seen)) == 5
    assert set(seen) == {"Encounter/e1", "Condition/c1", "Observation/o1", "Observation/o2", "MedicationRequest/m1"}


def test_everything_errors(api: Any) -> None:
    record(api)
    assert api.get("/Patient/nobody/$everything").status_code == 404
    assert api.get("/Patient/pa/$everything", params={"_type": "Nope"}).status_code == 400
    assert api.get("/Patient/pa/$everything", params={"_count": "x"}).status_code == 400
    assert api.get("/Patient/pa/$everything", params={"_since": "never"}).status_code == 400
    assert api.get("/Observation/o1/$everything").status_code == 404
    assert api.get("/Patient/pa/$nope").status_code == 404
    api.delete("/Patient/pa")
    assert api.get("/Patient/pa/$everything").status_code == 410


def test_validate(api: Any) -> None:
    ric = {"system": "urn:oid:2.16.156.10011.1.3", "value": "330523194504251214"}
    good = {"resourceType": "Patient", "identifier": [ric], "name": [{"family": "张"}], "gender": "male"}
    good["birthDate"] = "1945-04-25"
    r = api.post("/Patient/$validate", json=good)
    assert r.status_code == 200
    oo = r.json()
    assert oo["resourceType"] == "OperationOutcome"
    assert not [i for i in oo["issue"] if i["severity"] in ("error", "fatal")]
    # Structurally valid but without a person identifier: the China profile's error is reported.
    r = api.post("/Patient/$validate", json={k: v for k, v in good.items() if k != "identifier"})
    profile_errors = [i for i in r.json()["issue"] if i["severity"] == "error"]
    assert [i["expression"] for i in profile_errors] == [["Patient.identifier"]]
    bad = {"resourceType": "Patient", "gender": "mannish", "birthDate": "1980-13-45", "foo": 1}
    r = api.post("/Patient/$validate", json=bad)
    assert r.status_code == 200
    errors = [i for i in r.json()["issue"] if i["severity"] == "error"]
    assert len(errors) >= 3
    exprs = {e for i in errors for e in i.get("expression", [])}
    assert {"Patient.gender", "Patient.birthDate", "Patient.foo"} <= exprs
    # Wrapped in Parameters.
    r = api.post(
        "/Patient/$validate", json={"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": bad}]}
    )
    assert r.status_code == 200
    assert len([i for i in r.json()["issue"] if i["severity"] == "error"]) == len(errors)
    # Instance level, and mismatches.
    assert api.post("/Patient/x/$validate", json=good).status_code == 200
    assert api.post("/Observation/$validate", json=good).status_code == 400
    assert api.get("/Patient/$validate").status_code == 405
    assert (
        api.post("/Patient/$validate", content=b"{", headers={"Content-Type": "application/fhir+json"}).status_code
        == 400
    )
    # Nothing was stored.
    assert api.get("/Patient", params={"_summary": "count"}).json()["total"] == 0


def test_metadata(api: Any) -> None:
    r = api.client.get("/metadata")  # no token: public
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/fhir+json")
    cs = r.json()
    assert cs["resourceType"] == "CapabilityStatement"
    assert cs["fhirVersion"] == "4.0.1"
    assert cs["kind"] == "instance"
    assert cs["status"] == "active"
    assert "application/fhir+json" in cs["format"]
    (rest,) = cs["rest"]
    assert rest["mode"] == "server"
    by_type = {res["type"]: res for res in rest["resource"]}
    assert len(by_type) == 146
    assert {"Patient", "Observation", "Encounter", "Bundle", "Organization"} <= set(by_type)
    patient = by_type["Patient"]
    params = {p["name"]: p["type"] for p in patient["searchParam"]}
    assert params["name"] == "string"
    assert params["birthdate"] == "date"
    assert params["identifier"] == "token"
    assert params["general-practitioner"] == "reference"
    assert params["_id"] == "token"
    assert {i["code"] for i in patient["interaction"]} >= {"read", "vread", "update", "delete", "create", "search-type"}
    assert {op["name"] for op in patient["operation"]} == {
        "everything",
        "validate",
        "break-glass",
        *("match", "ihe-pix", "mpi-person", "merge", "unmerge", "link", "unlink", "mpi-review"),
    }
    obs = {p["name"]: p["type"] for p in by_type["Observation"]["searchParam"]}
    assert obs["code-value-quantity"] == "composite"
    assert obs["value-quantity"] == "quantity"
    assert {i["code"] for i in rest["interaction"]} >= {"transaction", "batch", "history-system", "search-system"}
    assert cs["implementation"]["url"] == "http://fhir.test"
    assert api.client.get("/metadata", params={"_format": "xml"}).status_code == 406
    assert api.client.get("/metadata", params={"_format": "json"}).json()["fhirVersion"] == "4.0.1"
