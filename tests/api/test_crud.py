"""Create, read, update, delete and version reads through the real HTTP app on both engines."""

from __future__ import annotations

from typing import Any

PATIENT: dict[str, Any] = {
    "resourceType": "Patient",
    "identifier": [{"system": "urn:oid:2.16.156.10011.1.3", "value": "11010119800102123X"}],
    "name": [{"family": "张", "given": ["三丰"]}],
    "gender": "male",
    "birthDate": "1980-01-02",
}


def test_create_read_update_delete(api: Any) -> None:
    r = api.post("/Patient", json=PATIENT)
    assert r.status_code == 201
    pid = r.json()["id"]
    assert r.headers["location"].endswith(f"/Patient/{pid}/_history/1")
    assert r.headers["etag"] == 'W/"1"'
    got = api.get(f"/Patient/{pid}").json()
    assert got["name"] == PATIENT["name"]
    assert got["meta"]["versionId"] == "1"

    body = {**got, "gender": "female"}
    r = api.put(f"/Patient/{pid}", json=body, headers={"If-Match": 'W/"1"'})
    assert r.status_code == 200
    assert r.json()["meta"]["versionId"] == "2"
    r = api.put(f"/Patient/{pid}", json=body, headers={"If-Match": 'W/"1"'})
    assert r.status_code == 412
    assert api.get(f"/Patient/{pid}/_history/1").json()["gender"] == "male"

    assert api.delete(f"/Patient/{pid}").status_code == 204
    assert api.get(f"/Patient/{pid}").status_code == 410
    hist = api.get(f"/Patient/{pid}/_history").json()
    assert [e["request"]["method"] for e in hist["entry"]] == ["DELETE", "PUT", "POST"]


def test_decimal_precision_is_kept(api: Any) -> None:
    obs = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7"}]},
        "valueQuantity": {"value": 5.50, "unit": "mmol/L"},
    }
    raw = '{"resourceType":"Observation","status":"final","code":{"text":"glucose"},"valueQuantity":{"value":5.50}}'
    r = api.post("/Observation", content=raw, headers={"Content-Type": "application/fhir+json"})
    assert r.status_code == 201
    assert '"value":5.50' in api.get(f"/Observation/{r.json()['id']}").text
    assert obs["status"] == "final"
