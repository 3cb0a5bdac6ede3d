"""Chains, reverse chains, sorting, totals, summaries, includes and paging (FHIR R4 search.html)."""

from __future__ import annotations

import random
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

LOINC = "http://loinc.org"
SYS = "urn:oid:2.16.156.10011.1.3"


def put(api: Any, resource: dict[str, Any]) -> str:
    r = api.put(f"/{resource['resourceType']}/{resource['id']}", json=resource)
    assert r.status_code == 201, r.text
    return str(resource["id"])


def entries(bundle: dict[str, Any], mode: str = "match") -> list[str]:
    return [
        f"{e['resource']['resourceType']}/{e['resource']['id']}"
        for e in bundle.get("entry", [])
        if e["search"]["mode"] == mode
    ]


def ids(bundle: dict[str, Any], mode: str = "match") -> list[str]:
    return [e["resource"]["id"] for e in bundle.get("entry", []) if e["search"]["mode"] == mode]


def get(api: Any, url: str, params: Any = None, **kw: Any) -> dict[str, Any]:
    r = api.get(url, params=params, **kw)
    assert r.status_code == 200, (url, params, r.text)
    body: dict[str, Any] = r.json()
    return body


def next_url(bundle: dict[str, Any]) -> str | None:
    return next((link["url"] for link in bundle.get("link", []) if link["relation"] == "next"), None)


def relative(url: str) -> str:
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc) == ("http", "fhir.test"), url
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def world(api: Any) -> None:
    """Organisations (a partOf cycle), practitioners, patients (a link cycle), observations, encounters."""
    put(
        api,
        {
            "resourceType": "Organization",
            "id": "org1",
            "name": "协和医院",
            "partOf": {"reference": "Organization/org2"},
        },
    )
    put(
        api,
        {
            "resourceType": "Organization",
            "id": "org2",
            "name": "Other Hospital",
            "partOf": {"reference": "Organization/org1"},
        },
    )
    put(api, {"resourceType": "Practitioner", "id": "pr1", "name": [{"family": "李", "given": ["四"]}]})
    put(api, {"resourceType": "Practitioner", "id": "pr2", "name": [{"family": "Jones"}]})
    put(
        api,
        {
            "resourceType": "Patient",
            "id": "pa",
            "name": [{"family": "张", "given": ["三丰"]}],
            "birthDate": "1980-01-02",
            "generalPractitioner": [{"reference": "Practitioner/pr1"}],
            "managingOrganization": {"reference": "Organization/org1"},
            "link": [{"other": {"reference": "Patient/pb"}, "type": "seealso"}],
        },
    )
    put(
        api,
        {
            "resourceType": "Patient",
            "id": "pb",
            "name": [{"family": "Smith", "given": ["John"]}],
            "birthDate": "1990-05-05",
            "generalPractitioner": [{"reference": "Practitioner/pr2"}],
            "managingOrganization": {"reference": "Organization/org2"},
            "link": [{"other": {"reference": "Patient/pa"}, "type": "seealso"}],
        },
    )
    put(
        api,
        {
            "resourceType": "Patient",
            "id": "pc",
            "name": [{"family": "王", "given": ["五"]}],
            "birthDate": "1970-07-07",
            "generalPractitioner": [{"reference": "Organization/org2"}],
        },
    )

    def obs(oid: str, subject: str, code: str, date: str, performer: str | None = None) -> None:
        body: dict[str, Any] = {
            "resourceType": "Observation",
            "id": oid,
            "status": "final",
            "code": {"coding": [{"system": LOINC, "code": code}]},
            "subject": {"reference": f"Patient/{subject}"},
            "effectiveDateTime": date,
        }
        if performer:
            body["performer"] = [{"reference": f"Practitioner/{performer}"}]
        put(api, body)

    obs("o1", "pa", "8480-6", "2021-01-01", "pr1")
    obs("o2", "pa", "8867-4", "2021-02-01")
    obs("o3", "pb", "8480-6", "2020-05-05", "pr2")
    obs("o4", "pc", "8867-4", "2022-01-01")
    for eid, pid in (("e1", "pa"), ("e2", "pb"), ("e3", "pc")):
        put(
            api,
            {
                "resourceType": "Encounter",
                "id": eid,
                "status": "finished",
                "class": {"code": "AMB"},
                "subject": {"reference": f"Patient/{pid}"},
            },
        )


# -- chains and reverse chains ---------------------------------------------------------------


def test_chains(api: Any) -> None:
    world(api)
    cases: list[tuple[str, dict[str, str] | list[tuple[str, str]], set[str]]] = [
        ("Observation", {"subject:Patient.name": "张"}, {"o1", "o2"}),
        ("Observation", {"subject.name": "smith"}, {"o3"}),
        ("Observation", {"patient.birthdate": "lt1975"}, {"o4"}),
        ("Observation", {"subject:Patient.name": "nobody"}, set()),
        ("Observation", {"subject:Patient.name": "smith,王"}, {"o3", "o4"}),
        ("Observation", [("subject:Patient.name", "张"), ("code", f"{LOINC}|8867-4")], {"o2"}),
        ("Observation", {"performer:Practitioner.name": "李四"}, {"o1"}),
        # two levels
        ("Observation", {"subject:Patient.organization.name": "协和"}, {"o1", "o2"}),
        ("Observation", {"subject:Patient.organization.name": "other"}, {"o3"}),
        ("Encounter", {"subject:Patient.general-practitioner.name": "李"}, {"e1"}),
        ("Encounter", {"subject:Patient.general-practitioner.name": "other hosp"}, {"e3"}),
        ("Encounter", {"subject:Patient.general-practitioner:Practitioner.name": "Jones"}, {"e2"}),
        ("Encounter", {"subject:Patient.general-practitioner:Practitioner.name": "other"}, set()),
        # three levels
        ("Encounter", {"subject:Patient.organization.partof.name": "协和"}, {"e2"}),
        # reverse chains
        ("Patient", {"_has:Observation:patient:code": f"{LOINC}|8480-6"}, {"pa", "pb"}),
        ("Patient", {"_has:Observation:subject:date": "2022"}, {"pc"}),
        ("Patient", {"_has:Observation:patient:code": "nothing"}, set()),
        ("Patient", {"_has:Encounter:subject:_id": "e2,e3"}, {"pb", "pc"}),
        ("Practitioner", {"_has:Observation:performer:code": "8480-6"}, {"pr1", "pr2"}),
        ("Practitioner", {"_has:Patient:general-practitioner:_has:Observation:patient:code": "8867-4"}, {"pr1"}),
        ("Organization", {"_has:Patient:general-practitioner:name": "王"}, {"org2"}),
        (
            "Patient",
            [("_has:Observation:patient:code", "8480-6"), ("_has:Observation:patient:date", "2021")],
            {"pa"},
        ),
    ]
    failures = []
    for rtype, params, expected in cases:
        b = get(api, f"/{rtype}", params)
        if set(ids(b)) != expected or b["total"] != len(expected):
            failures.append(f"{rtype}?{params}: got {sorted(ids(b))}, want {sorted(expected)}")
    assert not failures, "\n".join(failures)
    # A chain on a non-reference parameter and an unknown chained parameter are client errors.
    assert api.get("/Observation", params={"code.name": "x"}).status_code == 400
    assert api.get("/Patient", params={"_has:Observation:nope:code": "x"}).status_code == 400
    assert api.get("/Patient", params={"_has:Nope:patient:code": "x"}).status_code == 400


def test_chains_ignore_deleted_targets(api: Any) -> None:
    world(api)
    assert api.delete("/Patient/pa").status_code == 204
    for params, expected in (
        ({"subject:Patient._id": "pa"}, set()),
        ({"subject:Patient._lastUpdated": "gt2000"}, {"o3", "o4"}),
        ({"subject:Patient.name": "张"}, set()),
        ({"subject:Patient.organization.name": "协和"}, set()),
    ):
        assert set(ids(get(api, "/Observation", params))) == expected, params
    # The references themselves are still there.
    assert set(ids(get(api, "/Observation", {"subject": "Patient/pa"}))) == {"o1", "o2"}
    assert get(api, "/Observation", {"subject:Patient._id": "pb"})["total"] == 1
    # _include does not bring back the deleted patient.
    b = get(api, "/Observation", {"subject": "pa", "_include": "Observation:subject"})
    assert entries(b, "include") == []


# -- _sort -----------------------------------------------------------------------------------


def test_sort(api: Any) -> None:
    world(api)
    put(api, {"resourceType": "Patient", "id": "pn"})  # no name, no birthDate: sorts last
    assert ids(get(api, "/Observation", {"_sort": "-date"})) == ["o4", "o2", "o1", "o3"]
    assert ids(get(api, "/Observation", {"_sort": "date"})) == ["o3", "o1", "o2", "o4"]
    assert ids(get(api, "/Observation", {"_sort": "code,-date"})) == ["o1", "o3", "o4", "o2"]
    assert ids(get(api, "/Observation", {"_sort": "-code,date"})) == ["o2", "o4", "o3", "o1"]
    assert ids(get(api, "/Observation", {"_sort": "subject,-date"})) == ["o2", "o1", "o3", "o4"]
    assert ids(get(api, "/Patient", {"_sort": "birthdate"})) == ["pc", "pa", "pb", "pn"]
    assert ids(get(api, "/Patient", {"_sort": "-birthdate"})) == ["pb", "pa", "pc", "pn"]
    assert ids(get(api, "/Patient", {"_sort": "family"})) == ["pb", "pa", "pc", "pn"]  # smith < 张 < 王 (code points)
    assert ids(get(api, "/Patient", {"_sort": "-_id"})) == ["pn", "pc", "pb", "pa"]
    assert ids(get(api, "/Patient", {"_sort": "_lastUpdated"})) == ["pa", "pb", "pc", "pn"]
    assert ids(get(api, "/Patient", {"_sort": "-_lastUpdated"})) == ["pn", "pc", "pb", "pa"]
    assert api.get("/Patient", params={"_sort": "nonsense"}).status_code == 400


# -- _count, _total, _summary, _elements -----------------------------------------------------


def test_count_and_total(api: Any) -> None:
    world(api)
    b = get(api, "/Observation", {"_count": "2"})
    assert len(ids(b)) == 2
    assert b["total"] == 4
    assert next_url(b) is not None
    b = get(api, "/Observation", {"_count": "4"})
    assert len(ids(b)) == 4
    assert next_url(b) is None
    b = get(api, "/Observation", {"_count": "0"})
    assert "entry" not in b
    assert b["total"] == 4
    b = get(api, "/Observation", {"_total": "none"})
    assert "total" not in b
    assert len(ids(b)) == 4
    b = get(api, "/Observation", {"_total": "estimate", "code": "8480-6"})
    assert b["total"] == 2
    b = get(api, "/Observation", {"_total": "accurate", "code": "8480-6", "_count": "1"})
    assert b["total"] == 2
    assert len(ids(b)) == 1
    assert api.get("/Observation", params={"_total": "maybe"}).status_code == 400


def test_summary_and_elements(api: Any) -> None:
    world(api)
    put(
        api,
        {
            "resourceType": "Patient",
            "id": "pt",
            "text": {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">张三</div>'},
            "name": [{"family": "张"}],
            "gender": "male",
            "photo": [{"contentType": "image/png", "data": "iVBORw0KGgo="}],
            "maritalStatus": {"text": "married"},
        },
    )
    b = get(api, "/Patient", {"_summary": "count"})
    assert b["total"] == 4
    assert "entry" not in b
    b = get(api, "/Patient", {"_id": "pt", "_summary": "true"})
    (res,) = [e["resource"] for e in b["entry"]]
    assert res["name"] == [{"family": "张"}]
    assert res["gender"] == "male"
    assert "photo" not in res
    assert "maritalStatus" not in res
    assert "text" not in res
    assert any(t.get("code") == "SUBSETTED" for t in res["meta"]["tag"])
    b = get(api, "/Patient", {"_id": "pt", "_summary": "data"})
    (res,) = [e["resource"] for e in b["entry"]]
    assert "text" not in res
    assert res["photo"][0]["contentType"] == "image/png"
    b = get(api, "/Patient", {"_id": "pt", "_summary": "text"})
    (res,) = [e["resource"] for e in b["entry"]]
    assert "text" in res
    assert "photo" not in res
    assert "name" not in res
    b = get(api, "/Patient", {"_id": "pt", "_elements": "gender,maritalStatus"})
    (res,) = [e["resource"] for e in b["entry"]]
    assert set(res) == {"resourceType", "id", "meta", "gender", "maritalStatus"}
    b = get(api, "/Observation", {"_id": "o1", "_elements": "value,subject"})
    (res,) = [e["resource"] for e in b["entry"]]
    assert res["subject"] == {"reference": "Patient/pa"}
    assert "code" in res
    assert "status" in res
    assert "effectiveDateTime" not in res
    assert api.get("/Patient", params={"_summary": "everything"}).status_code == 400


# -- _include / _revinclude ------------------------------------------------------------------


def test_include(api: Any) -> None:
    world(api)
    b = get(api, "/Observation", {"code": "8480-6", "_include": "Observation:subject"})
    assert set(entries(b)) == {"Observation/o1", "Observation/o3"}
    assert set(entries(b, "include")) == {"Patient/pa", "Patient/pb"}
    assert b["total"] == 2  # includes are not counted
    b = get(
        api, "/Observation", [("_id", "o1"), ("_include", "Observation:subject"), ("_include", "Observation:performer")]
    )
    assert set(entries(b, "include")) == {"Patient/pa", "Practitioner/pr1"}
    b = get(api, "/Observation", {"_id": "o1", "_include": "Observation:*"})
    assert set(entries(b, "include")) == {"Patient/pa", "Practitioner/pr1"}
    b = get(api, "/Observation", {"_id": "o1", "_include": "Observation:subject:Group"})
    assert entries(b, "include") == []
    b = get(api, "/Patient", {"_id": "pa", "_revinclude": "Observation:subject"})
    assert entries(b) == ["Patient/pa"]
    assert set(entries(b, "include")) == {"Observation/o1", "Observation/o2"}
    b = get(
        api,
        "/Patient",
        [("_id", "pa,pc"), ("_revinclude", "Observation:patient"), ("_revinclude", "Encounter:subject")],
    )
    assert set(entries(b, "include")) == {
        "Observation/o1",
        "Observation/o2",
        "Observation/o4",
        "Encounter/e1",
        "Encounter/e3",
    }
    # Without :iterate, includes of includes are not followed.
    b = get(
        api, "/Observation", [("_id", "o1"), ("_include", "Observation:subject"), ("_include", "Patient:organization")]
    )
    assert set(entries(b, "include")) == {"Patient/pa"}
    # Included resources appear once even if several matches refer to them.
    b = get(api, "/Observation", {"subject": "pa", "_include": "Observation:subject"})
    assert entries(b, "include") == ["Patient/pa"]
    for bad in ("Observation", "Observation:nope", "Nope:subject", "Observation:code"):
        assert api.get("/Observation", params={"_include": bad}).status_code == 400, bad


def test_include_limit(api: Any, settings: Any) -> None:
    world(api)
    settings.max_include = 1
    r = api.get("/Patient", params={"_id": "pa", "_revinclude": "Observation:subject"})
    assert r.status_code == 400
    assert r.json()["issue"][0]["code"] == "too-costly"
    b = get(api, "/Patient", {"_id": "pb", "_revinclude": "Observation:subject"})
    assert entries(b, "include") == ["Observation/o3"]


def test_include_iterate_with_cycles(api: Any) -> None:
    world(api)
    # Patient.link: pa -> pb -> pa (cycle); must terminate and contain each once.
    b = get(api, "/Patient", {"_id": "pa", "_include:iterate": "Patient:link"})
    assert entries(b) == ["Patient/pa"]
    assert entries(b, "include") == ["Patient/pb"]
    # Organization.partOf: org1 -> org2 -> org1.
    b = get(
        api,
        "/Observation",
        [
            ("_id", "o1"),
            ("_include", "Observation:subject"),
            ("_include:iterate", "Patient:organization"),
            ("_include:iterate", "Organization:partof"),
        ],
    )
    assert set(entries(b, "include")) == {"Patient/pa", "Organization/org1", "Organization/org2"}
    # Forward and reverse, iterating: Patient pa -> its Observations -> their performers.
    b = get(
        api,
        "/Patient",
        [("_id", "pa"), ("_revinclude", "Observation:subject"), ("_include:iterate", "Observation:performer")],
    )
    assert set(entries(b, "include")) == {"Observation/o1", "Observation/o2", "Practitioner/pr1"}
    # Reverse iterate across the cycle: Patients linking to Patients linking back.
    b = get(api, "/Patient", {"_id": "pb", "_revinclude:iterate": "Patient:link"})
    assert entries(b, "include") == ["Patient/pa"]
    b = get(api, "/Organization", {"_id": "org1", "_revinclude:iterate": "Organization:partof"})
    assert entries(b) == ["Organization/org1"]
    assert entries(b, "include") == ["Organization/org2"]


# -- paging ----------------------------------------------------------------------------------


def walk(api: Any, url: str, params: Any, between: Any = None) -> list[dict[str, Any]]:
    """All match entries of a search, following next links; ``between(page_no)`` runs after each page."""
    out: list[dict[str, Any]] = []
    b = get(api, url, params)
    pages = 0
    while True:
        out += [e for e in b.get("entry", []) if e["search"]["mode"] == "match"]
        pages += 1
        assert pages <= 200
        if between is not None:
            between(pages)
        nxt = next_url(b)
        if nxt is None:
            return out
        b = get(api, relative(nxt))


def many_patients(api: Any, n: int) -> dict[str, dict[str, Any]]:
    rng = random.Random(20261124)
    order = list(range(n))
    rng.shuffle(order)
    bundle_entries = []
    made: dict[str, dict[str, Any]] = {}
    for i in order:
        pid = f"pp{i:03d}"
        res = {
            "resourceType": "Patient",
            "id": pid,
            "name": [{"family": f"F{i % 7}", "given": [f"G{i:03d}"]}],
            "gender": ("male", "female")[i % 2],
        }
        if i % 5:
            res["birthDate"] = f"19{50 + i % 40:02d}-0{1 + i % 9}-1{i % 10}"
        made[pid] = res
        bundle_entries.append({"resource": res, "request": {"method": "PUT", "url": f"Patient/{pid}"}})
    r = api.post("/", json={"resourceType": "Bundle", "type": "transaction", "entry": bundle_entries})
    assert r.status_code == 200, r.text
    return made


@pytest.mark.parametrize("sort", [None, "family", "-birthdate", "gender,-family,_id", "-_lastUpdated", "given"])
def test_paging_walks_every_result_once(api: Any, sort: str | None) -> None:
    made = many_patients(api, 47)
    params: dict[str, str] = {"_count": "6"}
    if sort:
        params["_sort"] = sort
    seen = [e["resource"]["id"] for e in walk(api, "/Patient", params)]
    assert len(seen) == len(set(seen)) == 47
    assert set(seen) == set(made)
    unpaged = ids(get(api, "/Patient", {**params, "_count": "100"}))
    assert seen == unpaged  # paging keeps the order of the one-page result
    # Filters survive in the next links.
    males = [e["resource"]["id"] for e in walk(api, "/Patient", {**params, "gender": "male"})]
    assert set(males) == {k for k, v in made.items() if v["gender"] == "male"}
    assert len(males) == len(set(males))


@pytest.mark.parametrize("sort", [None, "family,_id", "-birthdate", "given", "-_id"])
def test_paging_while_writing(api: Any, sort: str | None) -> None:
    """Between pages, insert, delete and update other resources: no duplicates, no skipped survivor."""
    made = many_patients(api, 40)
    params: dict[str, str] = {"_count": "5"}
    if sort:
        params["_sort"] = sort
    full_order = ids(get(api, "/Patient", {**params, "_count": "100"}))
    got: list[str] = []
    deleted: set[str] = set()
    inserted: set[str] = set()
    n_new = 0

    def meddle(page: int) -> None:
        nonlocal n_new
        # Insert resources sorting before, among and after the rest ...
        for family, birth, given in (
            ("A", "1900-01-01", "A000"),
            ("F3", "1970-01-01", "G5xx"),
            ("Z", "2020-01-01", "Z999"),
        ):
            pid = f"new{n_new:03d}"
            n_new += 1
            body = {
                "resourceType": "Patient",
                "id": pid,
                "name": [{"family": family, "given": [given]}],
                "birthDate": birth,
            }
            assert api.put(f"/Patient/{pid}", json=body).status_code == 201
            inserted.add(pid)
        # ... delete one already returned and one not yet returned ...
        done = [x for x in full_order if x in got and x not in deleted]
        todo = [x for x in full_order if x not in got and x not in deleted]
        for victim in done[:1] + todo[-1:]:
            assert api.delete(f"/Patient/{victim}").status_code == 204
            deleted.add(victim)
        # ... and update one not yet returned without changing its sort values.
        if len(todo) > 2:
            cur = api.get(f"/Patient/{todo[0]}").json()
            cur["telecom"] = [{"system": "phone", "value": str(page)}]
            assert api.put(f"/Patient/{todo[0]}", json=cur).status_code == 200

    b = get(api, "/Patient", params)
    pages = 0
    while True:
        got += [e["resource"]["id"] for e in b.get("entry", []) if e["search"]["mode"] == "match"]
        pages += 1
        assert pages < 100
        meddle(pages)
        nxt = next_url(b)
        if nxt is None:
            break
        b = get(api, relative(nxt))

    assert pages >= 6
    assert len(got) == len(set(got)), "a resource was returned twice"
    survivors = set(made) - deleted
    assert not survivors - set(got), f"skipped unchanged resources: {sorted(survivors - set(got))}"
    assert set(got) <= set(made) | inserted
    # The original relative order of the original resources is kept.
    assert [x for x in got if x in made] == [x for x in full_order if x in got]
    # Resources inserted before the cursor position are never returned out of order: every inserted
    # resource that was returned sorts after the page it came on in the final order.
    final_order = ids(get(api, "/Patient", {**params, "_count": "1000"}))
    positions = [final_order.index(x) for x in got if x in final_order]
    assert positions == sorted(positions)


def test_bad_cursor(api: Any) -> None:
    many_patients(api, 5)
    b = get(api, "/Patient", {"_count": "2", "_sort": "family"})
    nxt = next_url(b)
    assert nxt is not None
    q = dict(parse_qsl(urlsplit(nxt).query))
    assert q["_sort"] == "family"
    assert q["_count"] == "2"
    for cursor in ("garbage", "W10", "e30", "WzEsMiwzLDRd"):
        r = api.get("/Patient", params={"_count": "2", "_sort": "family", "_cursor": cursor})
        assert r.status_code == 400, (cursor, r.text)


# -- unknown parameters, POST _search, system search -----------------------------------------


def test_unknown_parameter_handling(api: Any) -> None:
    world(api)
    b = get(api, "/Patient", {"foo": "bar", "name": "smith"})
    assert ids(b) == ["pb"]
    outcomes = [e["resource"] for e in b["entry"] if e["search"]["mode"] == "outcome"]
    assert len(outcomes) == 1
    issue = outcomes[0]["issue"][0]
    assert outcomes[0]["resourceType"] == "OperationOutcome"
    assert issue["severity"] == "warning"
    assert "foo" in issue["diagnostics"]
    self_link = next(link["url"] for link in b["link"] if link["relation"] == "self")
    assert "foo" not in self_link
    assert "name=smith" in self_link
    r = api.get("/Patient", params={"foo": "bar"}, headers={"Prefer": "handling=strict"})
    assert r.status_code == 400
    assert r.json()["resourceType"] == "OperationOutcome"
    b = get(api, "/Patient", {"foo": "bar"}, headers={"Prefer": "handling=lenient"})
    assert len(ids(b)) == 3


def test_post_search(api: Any) -> None:
    world(api)
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    r = api.post("/Patient/_search", data={"name": "张"}, headers=form)
    assert r.status_code == 200
    assert ids(r.json()) == ["pa"]
    r = api.post("/Observation/_search", params={"code": "8480-6"}, data={"subject": "Patient/pb"}, headers=form)
    assert ids(r.json()) == ["o3"]
    r = api.post("/Observation/_search", data={"_count": "1", "_sort": "-date"}, headers=form)
    b = r.json()
    assert ids(b) == ["o4"]
    nxt = next_url(b)
    assert nxt is not None
    assert "/Observation?" in nxt
    assert "_search" not in nxt
    assert ids(get(api, relative(nxt))) == ["o2"]
    r = api.post("/Patient/_search", content=b'{"name": "x"}', headers={"Content-Type": "application/json"})
    assert r.status_code == 415
    r = api.post("/Patient/_search", data={"birthdate": "notadate"}, headers=form)
    assert r.status_code == 400


def test_system_search(api: Any) -> None:
    world(api)
    b = get(api, "/", {"_type": "Patient,Practitioner", "_count": "100"})
    assert set(entries(b)) == {"Patient/pa", "Patient/pb", "Patient/pc", "Practitioner/pr1", "Practitioner/pr2"}
    assert b["total"] == 5
    b = get(api, "/", {"_id": "o1,e1"})
    assert set(entries(b)) == {"Observation/o1", "Encounter/e1"}
    assert api.get("/", params={"_type": "Nope"}).status_code == 400
    # A parameter common to all listed types filters each of them.
    b = get(api, "/", {"_type": "Patient,Practitioner", "name": "李,smith"})
    assert set(entries(b)) == {"Practitioner/pr1", "Patient/pb"}
    assert b["total"] == 2
    b = get(api, "/", {"_type": "Patient,Practitioner", "name:exact": "张三丰"})
    assert entries(b) == ["Patient/pa"]
    b = get(api, "/", {"_type": "Patient,Observation", "_id": "pa,o1,e1"})
    assert set(entries(b)) == {"Patient/pa", "Observation/o1"}
    b = get(api, "/", {"_type": "Patient,Practitioner", "_sort": "-_id", "_count": "2"})
    assert entries(b) == ["Practitioner/pr2", "Practitioner/pr1"]
    assert ids(get(api, relative(next_url(b) or ""))) == ["pc", "pb"]
    # Sorting by a parameter the types share (lowest name part, code-point order): john, jones, 三, 五, 四.
    b = get(api, "/", {"_type": "Patient,Practitioner", "_sort": "name"})
    assert entries(b) == ["Patient/pb", "Practitioner/pr2", "Patient/pa", "Patient/pc", "Practitioner/pr1"]
    # A parameter that one of the types lacks is not silently applied to the others.
    r = api.get(
        "/", params={"_type": "Patient,Observation", "birthdate": "1980"}, headers={"Prefer": "handling=strict"}
    )
    assert r.status_code == 400
    # POST [base]/_search (form body).
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    r = api.post("/_search", data={"_type": "Patient,Practitioner", "name": "李", "_count": "10"}, headers=form)
    assert r.status_code == 200, r.text
    assert entries(r.json()) == ["Practitioner/pr1"]
    self_link = next(link["url"] for link in r.json()["link"] if link["relation"] == "self")
    assert "_search" not in self_link


def test_count_is_capped(api: Any, settings: Any) -> None:
    many_patients(api, 12)
    settings.max_count = 5
    b = get(api, "/Patient", {"_count": "1000"})
    assert len(ids(b)) == 5
    assert b["total"] == 12
    seen = [e["resource"]["id"] for e in walk(api, "/Patient", {"_count": "1000"})]
    assert len(seen) == len(set(seen)) == 12
    settings.default_count = 4
    assert len(ids(get(api, "/Patient"))) == 4


def test_count_above_the_cap_is_reported_as_applied(api: Any, settings: Any) -> None:
    for i in range(3):
        assert (
            api.post("/Patient", json={"resourceType": "Patient", "gender": "male", "birthDate": f"200{i}"}).status_code
            == 201
        )
    settings.max_count = 2
    bundle = api.get("/Patient?_count=500").json()
    assert len(bundle["entry"]) == 2
    links = {link["relation"]: link["url"] for link in bundle["link"]}
    assert "_count=2" in links["self"]
    assert "_count=2" in links["next"]
