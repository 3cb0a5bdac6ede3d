"""FHIR surface of the index: $match grades, PIX cross-references, merge/unmerge reachability, link/unlink, review."""

from __future__ import annotations

from typing import Any

from factories import patient


def create(api: Any, body: dict[str, Any]) -> str:
    body = {k: v for k, v in body.items() if k != "id" and v != []}
    r = api.post("/Patient", json=body)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def params(**kw: Any) -> dict[str, Any]:
    out = []
    for name, v in kw.items():
        name = name.replace("_", "-")
        if isinstance(v, dict):
            out.append({"name": name, "resource": v})
        elif isinstance(v, bool):
            out.append({"name": name, "valueBoolean": v})
        elif isinstance(v, int):
            out.append({"name": name, "valueInteger": v})
        else:
            out.append({"name": name, "valueReference": {"reference": v}})
    return {"resourceType": "Parameters", "parameter": out}


def test_match_returns_scored_masters_with_grades(api: Any) -> None:
    create(api, patient("a"))
    create(api, patient("b", name="刘洋", ric="110105198505050011", birth="1985-05-05", phone="13600000000"))
    probe = {k: v for k, v in patient("x", phone=None).items() if k != "id"}
    r = api.post("/Patient/$match", json=params(resource=probe, count=5))
    assert r.status_code == 200, r.text
    entries = r.json()["entry"]
    top = entries[0]
    assert top["search"]["extension"][0] == {
        "url": "http://hl7.org/fhir/StructureDefinition/match-grade",
        "valueCode": "certain",
    }
    assert top["search"]["score"] > 0.99
    assert top["resource"]["id"].startswith("mpi-")
    assert all(e["resource"]["name"][0]["text"] != "刘洋" for e in entries)
    only = api.post("/Patient/$match", json=params(resource=probe, onlyCertainMatches=True))
    assert {e["search"]["extension"][0]["valueCode"] for e in only.json()["entry"]} == {"certain"}


def test_match_bad_input_is_explained(api: Any) -> None:
    r = api.post("/Patient/$match", json=params(resource={"resourceType": "Patient", "birthDate": "1066-10-14"}))
    assert r.status_code == 200
    assert r.json()["entry"][0]["resource"]["resourceType"] == "OperationOutcome"
    bad = api.post("/Patient/$match", json=params(resource={"resourceType": "Observation"}))
    assert bad.status_code == 400
    assert bad.json()["issue"][0]["details"]["text"]


def test_pix_from_any_identifier_returns_master_and_cross_references(api: Any) -> None:
    a = create(api, patient("a", identifiers=[("urn:oid:1.2.156.1.hospital-a", "MRN-1")]))
    b = create(api, patient("b", identifiers=[("urn:oid:1.2.156.1.hospital-b", "B-77")], phone="13900000000"))
    r = api.get("/Patient/$ihe-pix", params={"sourceIdentifier": "urn:oid:1.2.156.1.hospital-b|B-77"})
    assert r.status_code == 200, r.text
    parts = r.json()["parameter"]
    ids = {p["valueReference"]["reference"] for p in parts if p["name"] == "targetId"}
    values = {p["valueIdentifier"]["value"] for p in parts if p["name"] == "targetIdentifier"}
    assert ids == {f"Patient/{a}", f"Patient/{b}"}
    assert {"MRN-1", "B-77", "11010519491231002X"} <= values
    master = next(p["resource"] for p in parts if p["name"] == "master")
    assert {lk["type"] for lk in master["link"]} == {"seealso"}
    assert api.get("/Patient/$ihe-pix", params={"sourceIdentifier": "urn:x|nobody"}).status_code == 404


def test_merge_and_unmerge_keep_clinical_resources_reachable(api: Any) -> None:
    a = create(api, patient("a"))
    c = create(api, patient("c", name="李娜", ric="110105198001010013", birth="1980-01-01", phone="13700000000"))
    obs = {"resourceType": "Observation", "status": "final", "code": {"text": "bp"}}
    oa = api.post("/Observation", json={**obs, "subject": {"reference": f"Patient/{a}"}}).json()["id"]
    oc = api.post("/Observation", json={**obs, "subject": {"reference": f"Patient/{c}"}}).json()["id"]

    def reach(pid: str) -> set[str]:
        r = api.get(f"/Patient/{pid}/$mpi-person")
        assert r.status_code == 200, r.text
        return {e["resource"]["id"] for e in r.json()["entry"] if e["resource"]["resourceType"] == "Observation"}

    assert (reach(a), reach(c)) == ({oa}, {oc})
    r = api.post("/Patient/$merge", json=params(source_patient=f"Patient/{c}", target_patient=f"Patient/{a}"))
    assert r.status_code == 200, r.text
    assert reach(a) == reach(c) == {oa, oc}
    stored = api.get(f"/Observation/{oc}").json()
    assert stored["subject"]["reference"] == f"Patient/{c}"  # not rewritten
    r = api.post("/Patient/$unmerge", json=params(source_patient=f"Patient/{c}"))
    assert r.status_code == 200, r.text
    assert (reach(a), reach(c)) == ({oa}, {oc})
    again = api.post("/Patient/$unmerge", json=params(source_patient=f"Patient/{c}"))
    assert again.status_code == 409


def test_merge_of_two_valid_id_numbers_is_refused(api: Any) -> None:
    a = create(api, patient("a"))
    b = create(api, patient("b", ric="110105194912310038"))
    r = api.post("/Patient/$merge", json=params(source_patient=f"Patient/{b}", target_patient=f"Patient/{a}"))
    assert r.status_code == 422
    assert r.json()["issue"][0]["details"]["text"].startswith("两个居民")


def test_link_unlink_and_review_queue(api: Any) -> None:
    a = create(api, patient("a"))
    # a newborn placeholder name, no ID number: birth date, phone and address agree, no personal evidence
    b = create(api, patient("b", ric=None, name="王芳之女"))
    queue = api.get("/Patient/$mpi-review").json()["parameter"]
    assert len(queue) == 1
    parts = {p["name"]: p for p in queue[0]["part"]}
    assert parts["rule"]["valueString"].startswith("no-personal-evidence")
    assert any(p["name"] == "field" and p["valueString"].startswith("birth_date: exact") for p in queue[0]["part"])
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "task", "valueInteger": parts["id"]["valueInteger"]},
            {"name": "resolution", "valueCode": "no-link"},
        ],
    }
    assert api.post("/Patient/$mpi-review", json=body).status_code == 200
    assert api.get("/Patient/$mpi-review").json().get("parameter", []) == []
    assert api.post("/Patient/$mpi-review", json=body).status_code == 409
    r = api.post("/Patient/$link", json=params(source_patient=f"Patient/{b}", target_patient=f"Patient/{a}"))
    assert r.status_code == 200, r.text
    master = r.json()["parameter"][0]["resource"]
    assert {lk["other"]["reference"] for lk in master["link"]} == {f"Patient/{a}", f"Patient/{b}"}
    r = api.post("/Patient/$unlink", json=params(source_patient=f"Patient/{b}"))
    assert {lk["other"]["reference"] for lk in r.json()["parameter"][0]["resource"]["link"]} == {f"Patient/{b}"}
