"""Instance, type and system interactions over HTTP (FHIR R4 http.html), on SQLite and PostgreSQL."""

from __future__ import annotations

import copy
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

SYS = "urn:oid:2.16.156.10011.1.3"


def patient(ident: str = "A1", family: str = "张", **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "identifier": [{"system": SYS, "value": ident}],
        "name": [{"family": family, "given": ["三丰"]}],
        "gender": "male",
        "birthDate": "1980-01-02",
        **extra,
    }


def create(api: Any, resource: dict[str, Any]) -> dict[str, Any]:
    r = api.post(f"/{resource['resourceType']}", json=resource)
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def next_url(bundle: dict[str, Any]) -> str | None:
    return next((link["url"] for link in bundle.get("link", []) if link["relation"] == "next"), None)


def relative(url: str) -> str:
    """A link on the test base as a path + query for the TestClient."""
    parts = urlsplit(url)
    assert parts.netloc == "fhir.test", url
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def walk_history(api: Any, url: str, **params: Any) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    r = api.get(url, params=params)
    pages = 0
    while True:
        assert r.status_code == 200, r.text
        bundle = r.json()
        assert bundle["type"] == "history"
        entries += bundle.get("entry", [])
        pages += 1
        nxt = next_url(bundle)
        if nxt is None:
            break
        assert pages < 100
        r = api.get(relative(nxt))
    return entries


# -- create / read / vread -------------------------------------------------------------------


def test_create_assigns_server_id_and_ignores_client_id(api: Any) -> None:
    r = api.post("/Patient", json=patient(id="client-chosen"))
    assert r.status_code == 201
    body = r.json()
    assert body["id"] != "client-chosen"
    assert len(body["id"]) >= 8
    assert body["meta"]["versionId"] == "1"
    assert r.headers["location"] == f"http://fhir.test/Patient/{body['id']}/_history/1"
    assert r.headers["etag"] == 'W/"1"'
    assert api.get("/Patient/client-chosen").status_code == 404
    # Two creates give two different ids.
    assert create(api, patient())["id"] != body["id"]


def test_read_and_vread(api: Any) -> None:
    pid = create(api, patient())["id"]
    r = api.get(f"/Patient/{pid}")
    assert r.status_code == 200
    assert r.headers["etag"] == 'W/"1"'
    assert r.headers["content-type"].startswith("application/fhir+json")
    assert "last-modified" in r.headers
    assert r.json()["identifier"][0]["value"] == "A1"
    api.put(f"/Patient/{pid}", json={**r.json(), "gender": "female"})
    v1 = api.get(f"/Patient/{pid}/_history/1")
    v2 = api.get(f"/Patient/{pid}/_history/2")
    assert (v1.status_code, v2.status_code) == (200, 200)
    assert v1.json()["gender"] == "male"
    assert v2.json()["gender"] == "female"
    assert v1.headers["etag"] == 'W/"1"'
    assert v2.headers["etag"] == 'W/"2"'
    assert api.get(f"/Patient/{pid}/_history/3").status_code == 404
    assert api.get(f"/Patient/{pid}/_history/x").status_code == 404
    assert api.get("/Patient/does-not-exist").status_code == 404
    assert api.get("/NoSuchType/1").status_code == 404


def test_if_none_match_gives_304(api: Any) -> None:
    pid = create(api, patient())["id"]
    r = api.get(f"/Patient/{pid}", headers={"If-None-Match": 'W/"1"'})
    assert r.status_code == 304
    assert r.content == b""
    assert api.get(f"/Patient/{pid}", headers={"If-None-Match": 'W/"2"'}).status_code == 200


# -- update ----------------------------------------------------------------------------------


def test_update_and_update_as_create(api: Any) -> None:
    r = api.put("/Patient/my-own-id", json=patient(id="my-own-id"))
    assert r.status_code == 201
    assert r.headers["location"] == "http://fhir.test/Patient/my-own-id/_history/1"
    assert r.json()["id"] == "my-own-id"
    r = api.put("/Patient/my-own-id", json=patient(id="my-own-id", gender="female"))
    assert r.status_code == 200
    assert r.json()["meta"]["versionId"] == "2"
    assert r.headers["etag"] == 'W/"2"'
    assert api.get("/Patient/my-own-id").json()["gender"] == "female"
    # Meta supplied by the client is replaced by the server's version and time.
    body = patient(id="my-own-id", meta={"versionId": "77", "lastUpdated": "2001-01-01T00:00:00Z"})
    got = api.put("/Patient/my-own-id", json=body).json()
    assert got["meta"]["versionId"] == "3"
    assert got["meta"]["lastUpdated"] != "2001-01-01T00:00:00Z"


def test_if_match_precondition(api: Any) -> None:
    pid = create(api, patient())["id"]
    body = api.get(f"/Patient/{pid}").json()
    assert api.put(f"/Patient/{pid}", json=body, headers={"If-Match": 'W/"2"'}).status_code == 412
    assert api.put(f"/Patient/{pid}", json=body, headers={"If-Match": 'W/"1"'}).status_code == 200
    r = api.put(f"/Patient/{pid}", json=body, headers={"If-Match": 'W/"1"'})
    assert r.status_code == 412
    assert r.json()["resourceType"] == "OperationOutcome"
    assert api.get(f"/Patient/{pid}").json()["meta"]["versionId"] == "2"
    assert api.delete(f"/Patient/{pid}", headers={"If-Match": 'W/"1"'}).status_code == 412
    assert api.get(f"/Patient/{pid}").status_code == 200
    assert api.delete(f"/Patient/{pid}", headers={"If-Match": 'W/"2"'}).status_code == 204


# -- patch -----------------------------------------------------------------------------------


def test_json_patch(api: Any) -> None:
    pid = create(api, patient())["id"]
    ops = [
        {"op": "replace", "path": "/gender", "value": "female"},
        {"op": "add", "path": "/name/0/given/-", "value": "小"},
        {"op": "remove", "path": "/birthDate"},
    ]
    r = api.patch(f"/Patient/{pid}", json=ops, headers={"Content-Type": "application/json-patch+json"})
    assert r.status_code == 200, r.text
    got = api.get(f"/Patient/{pid}").json()
    assert got["gender"] == "female"
    assert got["name"][0]["given"] == ["三丰", "小"]
    assert "birthDate" not in got
    assert got["meta"]["versionId"] == "2"
    # A failing test op changes nothing.
    bad = [{"op": "test", "path": "/gender", "value": "male"}, {"op": "replace", "path": "/gender", "value": "other"}]
    r = api.patch(f"/Patient/{pid}", json=bad, headers={"Content-Type": "application/json-patch+json"})
    assert r.status_code == 422
    assert api.get(f"/Patient/{pid}").json()["meta"]["versionId"] == "2"
    # A patch may not change the id.
    r = api.patch(
        f"/Patient/{pid}",
        json=[{"op": "replace", "path": "/id", "value": "other"}],
        headers={"Content-Type": "application/json-patch+json"},
    )
    assert r.status_code == 422
    # A patch result that is not valid FHIR is rejected.
    r = api.patch(
        f"/Patient/{pid}",
        json=[{"op": "replace", "path": "/gender", "value": 5}],
        headers={"Content-Type": "application/json-patch+json"},
    )
    assert r.status_code == 400
    # If-Match applies to patches too.
    r = api.patch(
        f"/Patient/{pid}",
        json=[{"op": "replace", "path": "/gender", "value": "male"}],
        headers={"Content-Type": "application/json-patch+json", "If-Match": 'W/"1"'},
    )
    assert r.status_code == 412
    assert api.get(f"/Patient/{pid}").json()["gender"] == "female"
    assert (
        api.patch(
            "/Patient/missing",
            json=[{"op": "replace", "path": "/gender", "value": "male"}],
            headers={"Content-Type": "application/json-patch+json"},
        ).status_code
        == 404
    )


def test_conditional_patch(api: Any) -> None:
    pid = create(api, patient("P-1"))["id"]
    ops = [{"op": "replace", "path": "/gender", "value": "other"}]
    h = {"Content-Type": "application/json-patch+json"}
    r = api.patch("/Patient", params={"identifier": f"{SYS}|P-1"}, json=ops, headers=h)
    assert r.status_code == 200
    assert api.get(f"/Patient/{pid}").json()["gender"] == "other"
    assert api.patch("/Patient", params={"identifier": f"{SYS}|none"}, json=ops, headers=h).status_code == 404


# -- delete ----------------------------------------------------------------------------------


def test_soft_delete(api: Any) -> None:
    pid = create(api, patient())["id"]
    r = api.delete(f"/Patient/{pid}")
    assert r.status_code == 204
    assert r.headers["etag"] == 'W/"2"'
    r = api.get(f"/Patient/{pid}")
    assert r.status_code == 410
    assert r.json()["issue"][0]["code"] == "deleted"
    # Deleting again is idempotent; old versions stay readable; the deleted version is gone.
    assert api.delete(f"/Patient/{pid}").status_code == 204
    assert api.get(f"/Patient/{pid}/_history/1").status_code == 200
    assert api.get(f"/Patient/{pid}/_history/2").status_code == 410
    # Not in searches any more.
    assert api.get("/Patient", params={"_id": pid}).json()["total"] == 0
    # Update after delete brings it back (201: re-created).
    r = api.put(f"/Patient/{pid}", json=patient(id=pid))
    assert r.status_code == 201
    assert r.json()["meta"]["versionId"] == "3"
    assert api.get(f"/Patient/{pid}").status_code == 200
    assert api.delete("/Patient/never-existed").status_code == 404


# -- history ---------------------------------------------------------------------------------


def test_instance_history(api: Any) -> None:
    pid = create(api, patient())["id"]
    body = api.get(f"/Patient/{pid}").json()
    for g in ("female", "other", "unknown"):
        body = api.put(f"/Patient/{pid}", json={**body, "gender": g}).json()
    api.delete(f"/Patient/{pid}")
    entries = walk_history(api, f"/Patient/{pid}/_history")
    assert [e["response"]["etag"] for e in entries] == [f'W/"{v}"' for v in (5, 4, 3, 2, 1)]
    assert [e["request"]["method"] for e in entries] == ["DELETE", "PUT", "PUT", "PUT", "POST"]
    assert "resource" not in entries[0]
    assert entries[1]["resource"]["gender"] == "unknown"
    assert entries[4]["response"]["status"].startswith("201")
    # _count pages through the same entries.
    paged = walk_history(api, f"/Patient/{pid}/_history", _count=2)
    assert [e["response"]["etag"] for e in paged] == [e["response"]["etag"] for e in entries]
    # _since keeps versions at or after that instant.
    v3_time = entries[2]["response"]["lastModified"]
    since = walk_history(api, f"/Patient/{pid}/_history", _since=v3_time)
    assert [e["response"]["etag"] for e in since] == ['W/"5"', 'W/"4"', 'W/"3"']
    assert api.get("/Patient/nope/_history").status_code == 404


def test_type_and_system_history(api: Any) -> None:
    ids = [create(api, patient(f"H{i}"))["id"] for i in range(5)]
    obs = create(
        api,
        {"resourceType": "Observation", "status": "final", "code": {"text": "x"}},
    )["id"]
    api.delete(f"/Patient/{ids[0]}")
    r = api.get("/Patient/_history", params={"_count": 2})
    first = r.json()
    assert len(first["entry"]) == 2
    nxt = next_url(first)
    assert nxt is not None
    q = dict(parse_qsl(urlsplit(nxt).query))
    assert q["_count"] == "2"
    assert "_cursor" in q
    entries = walk_history(api, "/Patient/_history", _count=2)
    assert len(entries) == 6  # 5 creates + 1 delete
    assert {e["fullUrl"].rsplit("/", 1)[1] for e in entries} == set(ids)
    assert entries[0]["request"]["method"] == "DELETE"
    times = [e["response"]["lastModified"] for e in entries]
    assert times == sorted(times, reverse=True)

    system = walk_history(api, "/_history", _count=3)
    assert len(system) == 7
    assert {e["fullUrl"] for e in system} == {f"http://fhir.test/Patient/{i}" for i in ids} | {
        f"http://fhir.test/Observation/{obs}"
    }
    # _since at the Observation's time: the Observation and the later delete.
    since = system[1]["response"]["lastModified"]
    later = walk_history(api, "/_history", _since=since)
    assert [e["request"]["method"] for e in later] == ["DELETE", "POST"]
    assert later[1]["fullUrl"].endswith(f"/Observation/{obs}")
    assert api.get("/_history", params={"_count": "x"}).status_code == 400
    assert api.get("/_history", params={"_since": "yesterday"}).status_code == 400


# -- conditional create / update / delete -----------------------------------------------------


def test_conditional_create(api: Any) -> None:
    cond = {"If-None-Exist": f"identifier={SYS}|C-1"}
    r = api.post("/Patient", json=patient("C-1"), headers=cond)
    assert r.status_code == 201
    pid = r.json()["id"]
    r = api.post("/Patient", json=patient("C-1", gender="female"), headers=cond)
    assert r.status_code == 200
    assert r.json()["id"] == pid
    assert r.json()["gender"] == "male"
    assert api.get("/Patient", params={"identifier": f"{SYS}|C-1"}).json()["total"] == 1
    # A full URL form of the condition is accepted too.
    r = api.post("/Patient", json=patient("C-1"), headers={"If-None-Exist": f"Patient?identifier={SYS}|C-1"})
    assert r.status_code == 200
    assert r.json()["id"] == pid
    create(api, patient("C-1"))  # now there are two
    r = api.post("/Patient", json=patient("C-1"), headers=cond)
    assert r.status_code == 412
    assert api.get("/Patient", params={"identifier": f"{SYS}|C-1"}).json()["total"] == 2
    # An unknown parameter in a condition is an error, not "no criteria".
    r = api.post("/Patient", json=patient("C-2"), headers={"If-None-Exist": "nonsense=1"})
    assert r.status_code == 400
    assert api.get("/Patient", params={"identifier": f"{SYS}|C-2"}).json()["total"] == 0


def test_conditional_update(api: Any) -> None:
    url = "/Patient"
    params = {"identifier": f"{SYS}|U-1"}
    r = api.put(url, params=params, json=patient("U-1"))
    assert r.status_code == 201
    pid = r.json()["id"]
    r = api.put(url, params=params, json=patient("U-1", gender="female"))
    assert r.status_code == 200
    assert r.json()["id"] == pid
    assert r.json()["meta"]["versionId"] == "2"
    assert api.get(f"/Patient/{pid}").json()["gender"] == "female"
    # A body id that differs from the match is rejected.
    assert api.put(url, params=params, json=patient("U-1", id="other")).status_code == 400
    create(api, patient("U-1"))
    r = api.put(url, params=params, json=patient("U-1", gender="other"))
    assert r.status_code == 412
    assert api.get(f"/Patient/{pid}").json()["gender"] == "female"
    # No match and a body id: created under that id ...
    r = api.put(url, params={"identifier": f"{SYS}|U-2"}, json=patient("U-2", id="u2"))
    assert r.status_code == 201
    assert r.json()["id"] == "u2"
    # ... but an existing resource that does not match the criteria is not overwritten.
    r = api.put(url, params={"identifier": f"{SYS}|U-3"}, json=patient("U-3", id="u2"))
    assert r.status_code == 409
    assert api.get("/Patient/u2").json()["identifier"][0]["value"] == "U-2"


def test_conditional_delete(api: Any) -> None:
    a = create(api, patient("D-1"))["id"]
    b1 = create(api, patient("D-2"))["id"]
    b2 = create(api, patient("D-2"))["id"]
    assert api.delete("/Patient", params={"identifier": f"{SYS}|D-0"}).status_code == 204
    assert api.delete("/Patient", params={"identifier": f"{SYS}|D-1"}).status_code == 204
    assert api.get(f"/Patient/{a}").status_code == 410
    assert api.delete("/Patient", params={"identifier": f"{SYS}|D-2"}).status_code == 412
    assert api.get(f"/Patient/{b1}").status_code == 200
    assert api.get(f"/Patient/{b2}").status_code == 200
    # Without criteria a conditional delete would delete everything: refused.
    assert api.delete("/Patient").status_code == 400
    assert api.get(f"/Patient/{b1}").status_code == 200


# -- Prefer and content negotiation ----------------------------------------------------------


@pytest.mark.parametrize(
    ("prefer", "kind"),
    [("return=minimal", None), ("return=representation", "Patient"), ("return=OperationOutcome", "OperationOutcome")],
)
def test_prefer_return(api: Any, prefer: str, kind: str | None) -> None:
    r = api.post("/Patient", json=patient(), headers={"Prefer": prefer})
    assert r.status_code == 201
    assert r.headers["etag"] == 'W/"1"'
    loc = r.headers["location"]
    pid = loc.split("/Patient/")[1].split("/")[0]
    if kind is None:
        assert r.content == b""
    else:
        assert r.json()["resourceType"] == kind
    body = {**patient(), "id": pid, "gender": "female"}
    r = api.put(f"/Patient/{pid}", json=body, headers={"Prefer": prefer})
    assert r.status_code == 200
    assert r.headers["etag"] == 'W/"2"'
    if kind is None:
        assert r.content == b""
    else:
        assert r.json()["resourceType"] == kind
        if kind == "Patient":
            assert r.json()["gender"] == "female"


def test_format_negotiation(api: Any) -> None:
    pid = create(api, patient())["id"]
    for fmt in ("json", "application/fhir+json", "application/json"):
        r = api.get(f"/Patient/{pid}", params={"_format": fmt})
        assert r.status_code == 200
        assert r.json()["id"] == pid
    for fmt in ("xml", "application/fhir+xml", "turtle"):
        r = api.get(f"/Patient/{pid}", params={"_format": fmt})
        assert r.status_code == 406
        assert r.json()["resourceType"] == "OperationOutcome"
    assert api.get(f"/Patient/{pid}", headers={"Accept": "application/fhir+xml"}).status_code == 406
    assert api.get(f"/Patient/{pid}", headers={"Accept": "application/fhir+json"}).status_code == 200
    assert api.get(f"/Patient/{pid}", headers={"Accept": "*/*"}).status_code == 200
    pretty = api.get(f"/Patient/{pid}", params={"_pretty": "true"})
    assert pretty.status_code == 200
    assert "\n  " in pretty.text
    assert pretty.json()["id"] == pid


def test_summary_and_elements_on_read(api: Any) -> None:
    pid = create(
        api, patient(text={"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">x</div>'})
    )["id"]
    full = api.get(f"/Patient/{pid}").json()
    assert "text" in full
    data = api.get(f"/Patient/{pid}", params={"_summary": "data"}).json()
    assert "text" not in data
    assert data["gender"] == "male"
    assert {"code": "SUBSETTED"}.items() <= data["meta"]["tag"][0].items()
    el = api.get(f"/Patient/{pid}", params={"_elements": "gender"}).json()
    assert el["gender"] == "male"
    assert "name" not in el
    assert "birthDate" not in el
    assert el["id"] == pid


def test_stored_content_is_not_mutated_by_reads(api: Any) -> None:
    original = patient()
    sent = copy.deepcopy(original)
    pid = create(api, sent)["id"]
    assert sent == original
    got = api.get(f"/Patient/{pid}").json()
    assert {k: v for k, v in got.items() if k not in ("id", "meta")} == original


def test_conditional_interactions_need_criteria(api: Any) -> None:
    """Result parameters alone (``_count``, ``_sort``...) match everything: refused, nothing changes."""
    pid = create(api, patient("ONLY"))["id"]
    patch_headers = {"Content-Type": "application/json-patch+json"}
    assert api.delete("/Patient", params={"_count": "5"}).status_code == 400
    assert api.put("/Patient", params={"_total": "none"}, json=patient("ONLY", gender="female")).status_code == 400
    ops = [{"op": "replace", "path": "/gender", "value": "female"}]
    assert api.patch("/Patient", params={"_sort": "_id"}, json=ops, headers=patch_headers).status_code == 400
    r = api.post("/Patient", json=patient("OTHER"), headers={"If-None-Exist": "_sort=_id"})
    assert r.status_code == 400
    got = api.get(f"/Patient/{pid}").json()
    assert got["gender"] == "male"
    assert got["meta"]["versionId"] == "1"
    assert api.get("/Patient", params={"_summary": "count"}).json()["total"] == 1


def test_history_edge_cases(api: Any, settings: Any) -> None:
    ids = [create(api, patient(f"E{i}"))["id"] for i in range(4)]
    for url in ("/_history", "/Patient/_history", f"/Patient/{ids[0]}/_history"):
        b = api.get(url, params={"_count": "0"}).json()
        assert "entry" not in b, url
        assert next_url(b) is None, url
    first = api.get(f"/Patient/{ids[1]}").json()["meta"]["lastUpdated"]  # e.g. 2026-11-24T07:58:42.218Z
    # The same instant written in +08:00 selects the same versions.
    from datetime import datetime, timedelta, timezone

    t = datetime.fromisoformat(first.replace("Z", "+00:00")).astimezone(timezone(timedelta(hours=8)))
    local = t.isoformat(timespec="milliseconds")
    assert local.endswith("+08:00")
    got = walk_history(api, "/Patient/_history", _since=local)
    assert [e["fullUrl"].rsplit("/", 1)[1] for e in got] == [ids[3], ids[2], ids[1]]
    assert walk_history(api, "/Patient/_history", _since="2999-01-01") == []
    settings.max_count = 3
    b = api.get("/Patient/_history", params={"_count": "100"}).json()
    assert len(b["entry"]) == 3
    assert next_url(b) is not None


def test_history_paging_while_writing(api: Any) -> None:
    """New versions written while paging a history never repeat or hide the versions already there."""
    ids = [create(api, patient(f"W{i}"))["id"] for i in range(12)]
    before = {(e["fullUrl"], e["response"]["etag"]) for e in walk_history(api, "/Patient/_history")}
    assert len(before) == 12
    got: list[tuple[str, str]] = []
    r = api.get("/Patient/_history", params={"_count": "4"})
    pages = 0
    while True:
        b = r.json()
        got += [(e["fullUrl"], e["response"]["etag"]) for e in b.get("entry", [])]
        pages += 1
        # Meanwhile: a new patient, an update and a delete.
        create(api, patient(f"N{pages}"))
        body = api.get(f"/Patient/{ids[pages]}").json()
        api.put(f"/Patient/{ids[pages]}", json={**body, "gender": "female"})
        api.delete(f"/Patient/{ids[-pages]}")
        nxt = next_url(b)
        if nxt is None:
            break
        assert pages < 20
        r = api.get(relative(nxt))
    assert pages == 3
    assert len(got) == len(set(got)) == 12
    assert set(got) == before


def test_prefer_on_patch_and_conditional_create(api: Any) -> None:
    pid = create(api, patient("PR-1"))["id"]
    ops = [{"op": "replace", "path": "/gender", "value": "female"}]
    h = {"Content-Type": "application/json-patch+json", "Prefer": "return=minimal"}
    r = api.patch(f"/Patient/{pid}", json=ops, headers=h)
    assert r.status_code == 200
    assert r.content == b""
    assert r.headers["etag"] == 'W/"2"'
    h["Prefer"] = "return=OperationOutcome"
    r = api.patch(f"/Patient/{pid}", json=ops, headers=h)
    assert r.json()["resourceType"] == "OperationOutcome"
    assert r.headers["etag"] == 'W/"3"'
    r = api.post(
        "/Patient",
        json=patient("PR-1"),
        headers={"If-None-Exist": f"identifier={SYS}|PR-1", "Prefer": "return=minimal"},
    )
    assert r.status_code == 200
    assert r.content == b""
    assert r.headers["location"] == f"http://fhir.test/Patient/{pid}/_history/3"
