"""Batch and transaction Bundles (FHIR R4 http.html §3.1.0.11) over HTTP, on both engines."""

from __future__ import annotations

from typing import Any

SYS = "urn:oid:2.16.156.10011.1.3"


def patient(ident: str, family: str = "张", **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "identifier": [{"system": SYS, "value": ident}],
        "name": [{"family": family}],
        **extra,
    }


def obs(subject: str, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "subject": {"reference": subject},
        **extra,
    }


def bundle(kind: str, *entries: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": kind, "entry": list(entries)}


def post(resource: dict[str, Any], full_url: str | None = None, **request: Any) -> dict[str, Any]:
    e: dict[str, Any] = {
        "resource": resource,
        "request": {"method": "POST", "url": resource["resourceType"], **request},
    }
    if full_url:
        e["fullUrl"] = full_url
    return e


def put(url: str, resource: dict[str, Any], full_url: str | None = None, **request: Any) -> dict[str, Any]:
    e: dict[str, Any] = {"resource": resource, "request": {"method": "PUT", "url": url, **request}}
    if full_url:
        e["fullUrl"] = full_url
    return e


def req(method: str, url: str, **request: Any) -> dict[str, Any]:
    return {"request": {"method": method, "url": url, **request}}


def stored_count(api: Any) -> int:
    """Number of versions in the system history (every write leaves one)."""
    r = api.get("/_history", params={"_count": "1000"})
    assert r.status_code == 200
    return len(r.json().get("entry", []))


def total(api: Any, url: str, **params: str) -> int:
    r = api.get(url, params={**params, "_total": "accurate"})
    assert r.status_code == 200, r.text
    return int(r.json()["total"])


# -- transaction -----------------------------------------------------------------------------


def test_transaction_resolves_urn_uuid_references(api: Any) -> None:
    pat = "urn:uuid:7f1b3b0e-1111-4c3a-9b1e-000000000001"
    enc = "urn:uuid:7f1b3b0e-1111-4c3a-9b1e-000000000002"
    b = bundle(
        "transaction",
        post(obs(pat, encounter={"reference": enc}), "urn:uuid:7f1b3b0e-1111-4c3a-9b1e-000000000003"),
        post(
            {
                "resourceType": "Encounter",
                "status": "finished",
                "class": {"code": "AMB"},
                "subject": {"reference": pat},
            },
            enc,
        ),
        post(patient("T-1"), pat),
    )
    r = api.post("/", json=b)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["type"] == "transaction-response"
    assert [e["response"]["status"] for e in out["entry"]] == ["201", "201", "201"]
    locs = [e["response"]["location"] for e in out["entry"]]
    assert [loc.split("/")[0] for loc in locs] == ["Observation", "Encounter", "Patient"]
    assert all(loc.endswith("/_history/1") for loc in locs)
    assert all(e["response"]["etag"] == 'W/"1"' for e in out["entry"])
    assert all("resource" not in e for e in out["entry"])  # no Prefer: minimal by default
    oid, eid, pid = (loc.split("/")[1] for loc in locs)
    o = api.get(f"/Observation/{oid}").json()
    assert o["subject"] == {"reference": f"Patient/{pid}"}
    assert o["encounter"] == {"reference": f"Encounter/{eid}"}
    assert api.get(f"/Encounter/{eid}").json()["subject"] == {"reference": f"Patient/{pid}"}
    # The rewritten references are searchable.
    r = api.get("/Observation", params={"subject": f"Patient/{pid}", "encounter": eid})
    assert [e["resource"]["id"] for e in r.json()["entry"]] == [oid]


def test_transaction_is_atomic(api: Any) -> None:
    existing = api.post("/Patient", json=patient("KEEP")).json()
    before = stored_count(api)
    pat = "urn:uuid:0a000000-0000-4000-8000-000000000001"
    failing_bundles = [
        # an invalid resource in the last entry
        bundle(
            "transaction", post(patient("T-A"), pat), post(obs(pat)), post({"resourceType": "Patient", "gender": 5})
        ),
        # an If-Match that does not hold
        bundle(
            "transaction",
            post(patient("T-B"), pat),
            put(f"Patient/{existing['id']}", {**existing, "gender": "male"}, ifMatch='W/"9"'),
        ),
        # a conditional reference with no match
        bundle("transaction", post(patient("T-C")), post(obs(f"Patient?identifier={SYS}|NOBODY"))),
        # a GET of something that does not exist
        bundle("transaction", post(patient("T-D")), req("GET", "Patient/does-not-exist")),
        # a delete with a failing precondition
        bundle("transaction", post(patient("T-E")), req("DELETE", f"Patient/{existing['id']}", ifMatch='W/"7"')),
        # an unknown resource type
        bundle("transaction", post(patient("T-F")), put("Nope/1", {"resourceType": "Nope", "id": "1"})),
    ]
    for i, b in enumerate(failing_bundles):
        r = api.post("/", json=b)
        assert 400 <= r.status_code < 500, (i, r.status_code, r.text)
        oo = r.json()
        assert oo["resourceType"] == "OperationOutcome"
        assert "Bundle.entry[" in oo["issue"][0]["diagnostics"], oo
        assert stored_count(api) == before, f"bundle {i} left writes behind"
    assert total(api, "/Patient") == 1
    assert total(api, "/Observation") == 0
    got = api.get(f"/Patient/{existing['id']}").json()
    assert got == existing


def test_transaction_conditional_references_and_creates(api: Any) -> None:
    pid = api.post("/Patient", json=patient("COND-1")).json()["id"]
    api.post("/Patient", json=patient("TWICE"))
    api.post("/Patient", json=patient("TWICE"))
    pat = "urn:uuid:0b000000-0000-4000-8000-000000000001"
    b = bundle(
        "transaction",
        post(obs(f"Patient?identifier={SYS}|COND-1")),
        post(patient("COND-1"), pat, ifNoneExist=f"identifier={SYS}|COND-1"),
        post(obs(pat)),
    )
    r = api.post("/", json=b)
    assert r.status_code == 200, r.text
    out = r.json()["entry"]
    assert [e["response"]["status"] for e in out] == ["201", "200", "201"]
    assert out[1]["response"]["location"].startswith(f"Patient/{pid}/")
    for e in (out[0], out[2]):
        oid = e["response"]["location"].split("/")[1]
        assert api.get(f"/Observation/{oid}").json()["subject"] == {"reference": f"Patient/{pid}"}
    assert total(api, "/Patient", identifier=f"{SYS}|COND-1") == 1
    # A conditional reference matching two resources fails the whole transaction.
    r = api.post("/", json=bundle("transaction", post(obs(f"Patient?identifier={SYS}|TWICE"))))
    assert r.status_code == 412
    assert total(api, "/Observation") == 2


def test_transaction_processing_order(api: Any) -> None:
    old = api.put("/Patient/old", json=patient("OLD", id="old")).json()
    api.put("/Patient/upd", json=patient("UPD", id="upd"))
    # Listed in reverse of the prescribed order: GET, PUT, POST, DELETE.
    b = bundle(
        "transaction",
        req("GET", f"Patient?identifier={SYS}|NEW,{SYS}|OLD,{SYS}|UPD2"),
        put("Patient/upd", patient("UPD2", id="upd")),
        post(patient("NEW")),
        req("DELETE", "Patient/old"),
    )
    r = api.post("/", json=b)
    assert r.status_code == 200, r.text
    out = r.json()["entry"]
    assert [e["response"]["status"] for e in out] == ["200", "200", "201", "204"]
    found = out[0]["resource"]
    assert found["resourceType"] == "Bundle"
    assert found["type"] == "searchset"
    # The GET ran last: it sees the created and updated patients and not the deleted one.
    got = {e["resource"]["identifier"][0]["value"] for e in found["entry"] if e["search"]["mode"] == "match"}
    assert got == {"NEW", "UPD2"}
    assert out[1]["response"]["etag"] == 'W/"2"'
    assert out[1]["response"]["location"] == "Patient/upd/_history/2"
    assert out[3]["response"]["etag"] == 'W/"2"'
    assert api.get("/Patient/old").status_code == 410
    assert old["meta"]["versionId"] == "1"


def test_transaction_prefer_representation_and_put_urn(api: Any) -> None:
    pat = "urn:uuid:0c000000-0000-4000-8000-000000000001"
    b = bundle(
        "transaction",
        put("Patient/fixed-id", patient("PUT-1", id="fixed-id"), pat),
        post(obs(pat)),
    )
    r = api.post("/", json=b, headers={"Prefer": "return=representation"})
    assert r.status_code == 200, r.text
    out = r.json()["entry"]
    assert out[0]["response"]["status"] == "201"
    assert out[0]["resource"]["id"] == "fixed-id"
    assert out[1]["resource"]["subject"] == {"reference": "Patient/fixed-id"}
    assert out[1]["resource"]["meta"]["versionId"] == "1"


def test_transaction_patch_entry(api: Any) -> None:
    import base64
    import json

    pid = api.post("/Patient", json=patient("PATCH-1")).json()["id"]
    ops = [{"op": "add", "path": "/gender", "value": "female"}]
    b = bundle(
        "transaction",
        {
            "resource": {
                "resourceType": "Binary",
                "contentType": "application/json-patch+json",
                "data": base64.b64encode(json.dumps(ops).encode()).decode(),
            },
            "request": {"method": "PATCH", "url": f"Patient/{pid}"},
        },
    )
    r = api.post("/", json=b)
    assert r.status_code == 200, r.text
    assert r.json()["entry"][0]["response"]["status"] == "200"
    assert api.get(f"/Patient/{pid}").json()["gender"] == "female"


def test_transaction_rejects_same_resource_twice(api: Any) -> None:
    b = bundle(
        "transaction",
        put("Patient/dup", patient("D1", id="dup")),
        put("Patient/dup", patient("D2", id="dup")),
    )
    r = api.post("/", json=b)
    assert r.status_code == 400, r.text
    assert api.get("/Patient/dup").status_code == 404


def test_transaction_conditional_update_delete_and_absolute_urls(api: Any) -> None:
    a = api.post("/Patient", json=patient("CU-A")).json()["id"]
    api.put("/Patient/gone", json=patient("CD-1", id="gone"))
    b = bundle(
        "transaction",
        put(f"Patient?identifier={SYS}|CU-A", patient("CU-A", gender="male")),
        put(f"Patient?identifier={SYS}|CU-B", patient("CU-B", gender="female")),
        req("DELETE", f"Patient?identifier={SYS}|CD-1"),
        put("http://fhir.test/Patient/abs", patient("ABS", id="abs")),
        req("GET", f"http://fhir.test/Patient/{a}"),
    )
    r = api.post("/", json=b)
    assert r.status_code == 200, r.text
    out = r.json()["entry"]
    assert [e["response"]["status"] for e in out] == ["200", "201", "204", "201", "200"]
    assert out[0]["response"]["location"] == f"Patient/{a}/_history/2"
    assert out[4]["resource"]["gender"] == "male"
    assert api.get("/Patient/gone").status_code == 410
    assert api.get("/Patient/abs").status_code == 200
    assert total(api, "/Patient", identifier=f"{SYS}|CU-B", gender="female") == 1


def test_transaction_post_url_must_match_the_resource(api: Any) -> None:
    before = stored_count(api)
    r = api.post(
        "/",
        json=bundle(
            "transaction",
            post(patient("OK")),
            {**post(patient("X")), "request": {"method": "POST", "url": "Observation"}},
        ),
    )
    assert r.status_code == 400
    assert "Bundle.entry[1]" in r.json()["issue"][0]["diagnostics"]
    assert stored_count(api) == before
    # An operation posted inside a transaction runs the operation; it does not create anything.
    r = api.post(
        "/",
        json=bundle("transaction", {**post(patient("V")), "request": {"method": "POST", "url": "Patient/$validate"}}),
    )
    assert r.status_code == 200, r.text
    assert r.json()["entry"][0]["response"]["status"] == "200"
    assert total(api, "/Patient") == 0


# -- batch -----------------------------------------------------------------------------------


def test_batch_entries_succeed_or_fail_independently(api: Any) -> None:
    keep = api.put("/Patient/keep", json=patient("KEEP", id="keep")).json()
    b = bundle(
        "batch",
        post(patient("B-1")),
        post({"resourceType": "Patient", "gender": 5}),
        req("GET", "Patient/keep"),
        req("GET", "Patient/missing"),
        put("Patient/keep", {**keep, "gender": "female"}, ifMatch='W/"1"'),
        put("Patient/keep", {**keep, "gender": "male"}, ifMatch='W/"1"'),
        req("DELETE", "Patient/missing"),
        req("GET", "Patient?identifier=" + SYS + "|B-1"),
    )
    r = api.post("/", json=b)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["type"] == "batch-response"
    statuses = [e["response"]["status"] for e in out["entry"]]
    assert statuses == ["201", "400", "200", "404", "200", "412", "404", "200"]
    assert out["entry"][1]["response"]["outcome"]["resourceType"] == "OperationOutcome"
    assert out["entry"][2]["resource"]["id"] == "keep"
    assert out["entry"][4]["response"]["etag"] == 'W/"2"'
    new_id = out["entry"][0]["response"]["location"].split("/")[1]
    assert api.get(f"/Patient/{new_id}").status_code == 200
    assert api.get("/Patient/keep").json()["gender"] == "female"
    found = out["entry"][7]["resource"]
    assert [e["resource"]["id"] for e in found["entry"]] == [new_id]
    assert total(api, "/Patient") == 2


def test_bundle_shape_errors(api: Any) -> None:
    assert api.post("/", json={"resourceType": "Patient"}).status_code == 400
    assert api.post("/", json={"resourceType": "Bundle", "type": "collection"}).status_code == 400
    assert api.post("/", json={"resourceType": "Bundle", "type": "batch", "entry": {}}).status_code == 400
    assert api.post("/", json=bundle("transaction", {"resource": patient("X")})).status_code == 400
    assert api.post("/", json=bundle("transaction", req("POST", "Patient"))).status_code == 400
    assert api.post("/", json=bundle("batch", req("TRACE", "Patient"))).status_code == 400
    # An empty transaction is fine and does nothing.
    r = api.post("/", json=bundle("transaction"))
    assert r.status_code == 200
    assert r.json()["type"] == "transaction-response"
    assert total(api, "/Patient") == 0


def test_bundle_over_entry_limit(api: Any, settings: Any) -> None:
    settings.max_bundle_entries = 3
    for kind in ("transaction", "batch"):
        r = api.post("/", json=bundle(kind, *(post(patient(f"L-{i}")) for i in range(4))))
        assert r.status_code == 413
        assert r.json()["resourceType"] == "OperationOutcome"
    assert total(api, "/Patient") == 0
    r = api.post("/", json=bundle("transaction", *(post(patient(f"L-{i}")) for i in range(3))))
    assert r.status_code == 200
    assert total(api, "/Patient") == 3
