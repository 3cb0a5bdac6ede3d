"""Malformed, hostile and unauthenticated input: always a 4xx OperationOutcome, never a 5xx."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

import jwt
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

SYS = "urn:oid:2.16.156.10011.1.3"
PATIENT = {
    "resourceType": "Patient",
    "identifier": [{"system": SYS, "value": "110101198001021234"}],
    "name": [{"family": "张", "given": ["三丰"]}],
    "gender": "male",
    "birthDate": "1980-01-02",
}
FHIR_JSON = {"Content-Type": "application/fhir+json"}


def is_outcome(r: Any, status: int) -> bool:
    return bool(r.status_code == status and r.json()["resourceType"] == "OperationOutcome" and r.json()["issue"])


def count(api: Any, rtype: str = "Patient") -> int:
    r = api.get(f"/{rtype}", params={"_summary": "count"})
    assert r.status_code == 200
    return int(r.json()["total"])


# -- bodies ----------------------------------------------------------------------------------


def test_json_syntax_errors(api: Any) -> None:
    for raw in (b"{", b'{"resourceType": "Patient",}', b"[1, 2", b"NaN", b'{"a": NaN}', b"\xff\xfe{}", b"nul\x00l"):
        r = api.post("/Patient", content=raw, headers=FHIR_JSON)
        assert is_outcome(r, 400), (raw, r.status_code, r.text)
        assert r.json()["issue"][0]["severity"] in ("error", "fatal")
    assert is_outcome(api.post("/Patient", content=b"", headers=FHIR_JSON), 400)
    assert is_outcome(api.post("/Patient", content=b"[]", headers=FHIR_JSON), 400)
    assert is_outcome(api.post("/Patient", content=b'"Patient"', headers=FHIR_JSON), 400)
    deep = b'{"resourceType":"Patient","extension":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    assert api.post("/Patient", content=deep, headers=FHIR_JSON).status_code == 400
    r = api.post("/Patient", content=b"<Patient/>", headers={"Content-Type": "application/fhir+xml"})
    assert is_outcome(r, 415)
    r = api.put("/", content=b"{}", headers=FHIR_JSON)
    assert 400 <= r.status_code < 500
    assert count(api) == 0


def test_invalid_resources_are_rejected_with_details(api: Any) -> None:
    cases = [
        {**PATIENT, "gender": "mannish"},
        {**PATIENT, "birthDate": "1980-02-30"},
        {**PATIENT, "name": "张三"},
        {**PATIENT, "unknownElement": True},
        {**PATIENT, "name": [{"family": "a\u0000b"}]},
        {**PATIENT, "active": None},
        {"resourceType": "Observation", "status": "final"},  # code is required
    ]
    for body in cases:
        r = api.post(f"/{body['resourceType']}", json=body)
        assert is_outcome(r, 400), (body, r.text)
        issue = r.json()["issue"][0]
        assert issue["severity"] == "error"
        assert issue["diagnostics"]
        assert issue["details"]["text"]
    assert count(api) == 0
    assert count(api, "Observation") == 0


def test_resource_type_and_id_mismatches(api: Any) -> None:
    obs = {"resourceType": "Observation", "status": "final", "code": {"text": "x"}}
    assert is_outcome(api.post("/Patient", json=obs), 400)
    assert is_outcome(api.post("/Patient", json={k: v for k, v in PATIENT.items() if k != "resourceType"}), 400)
    assert is_outcome(api.put("/Patient/a", json={**obs, "id": "a"}), 400)
    assert is_outcome(api.put("/Patient/a", json={**PATIENT, "id": "b"}), 400)
    assert is_outcome(api.put("/Patient/a", json=PATIENT), 400)  # no id in the body
    assert api.get("/Patient/a").status_code == 404
    assert api.get("/Patient/b").status_code == 404
    assert is_outcome(api.put("/Patient/a", json={**PATIENT, "id": "a" * 65}), 400)
    assert is_outcome(api.put("/Patient/bad id!", json={**PATIENT, "id": "bad id!"}), 400)
    assert is_outcome(api.post("/Nope", json={"resourceType": "Nope"}), 404)
    assert is_outcome(api.post("/Resource", json={"resourceType": "Resource"}), 404)
    assert count(api) == 0


def test_body_over_the_limit(api: Any, settings: Any) -> None:
    settings.max_body_bytes = 2_000
    big = {**PATIENT, "name": [{"family": "x" * 3_000}]}
    r = api.post("/Patient", json=big)
    assert is_outcome(r, 413)
    r = api.post("/", json={"resourceType": "Bundle", "type": "batch", "entry": [{"resource": big}]})
    assert is_outcome(r, 413)

    def chunks() -> Any:  # no Content-Length: the limit still holds while streaming
        for _ in range(10):
            yield b" " * 500

    r = api.post("/Patient", content=chunks(), headers=FHIR_JSON)
    assert is_outcome(r, 413)
    assert api.post("/Patient", json=PATIENT).status_code == 201
    assert count(api) == 1


# -- search values ---------------------------------------------------------------------------


def test_malformed_search_values(api: Any) -> None:
    bad = [
        ("Patient", {"birthdate": "notadate"}),
        ("Patient", {"birthdate": "xx2020"}),
        ("Patient", {"birthdate": "2020-13-01"}),
        ("Patient", {"birthdate": "2020-02-30"}),
        ("Patient", {"birthdate": "0000"}),
        ("Patient", {"birthdate": "2020-01-01T25:00:00Z"}),
        ("Patient", {"birthdate": "eq"}),
        ("Patient", {"_count": "abc"}),
        ("Patient", {"_count": "-1"}),
        ("Patient", {"_count": "1e3"}),
        ("Patient", {"name:foo": "x"}),
        ("Patient", {"gender:exact": "male"}),
        ("Patient", {"birthdate:contains": "1980"}),
        ("Patient", {"gender:missing": "maybe"}),
        ("Patient", {"_lastUpdated": "yesterday"}),
        ("Patient", {"_sort": "nope"}),
        ("Patient", {"_total": "all"}),
        ("Patient", {"_summary": "yes"}),
        ("Patient", {"_include": "Patient"}),
        ("Patient", {"_include": "Patient:nope"}),
        ("Patient", {"_has:Observation": "x"}),
        ("Patient", {"name.family": "x"}),
        ("Patient", {"general-practitioner:Nope.name": "x"}),
        ("Patient", {"identifier": "a|b|c"}),
        ("Patient", {"identifier:of-type": "only|two"}),
        ("Patient", {"gender": ""}),
        ("Patient", {"bad name!": "x"}),
        ("Observation", {"value-quantity": "abc"}),
        ("Observation", {"value-quantity": "5|a"}),
        ("Observation", {"value-quantity": "gtx"}),
        ("Observation", {"code-value-quantity": "a$b$c"}),
        ("Observation", {"subject": "Patient/1/2/3/4"}),
        ("RiskAssessment", {"probability": "1.2.3"}),
        ("RiskAssessment", {"probability": "NaN"}),
        ("RiskAssessment", {"probability": "Infinity"}),
        ("Location", {"near": "abc"}),
        ("Location", {"near": "1e400|2|3"}),
        ("Location", {"near": "nan|0|1"}),
        ("Location", {"near": "91|0|1"}),
        ("Location", {"near": "0|181|1"}),
        ("Location", {"near": "0|0|-1"}),
        ("Patient", {"_cursor": "!!!"}),
        ("", {"_type": "Slot,GraphDefinition", "_sort": "start"}),  # a date on Slot, a token on GraphDefinition
        ("", {"_type": "Patient,Nope"}),
        ("Patient", [("name", "x")] * 101),
    ]
    for rtype, params in bad:
        r = api.get(f"/{rtype}", params=params)
        assert is_outcome(r, 400), (rtype, params, r.status_code, r.text[:300])


SQLI = [
    "' OR 1=1--",
    "x'; DROP TABLE resources;--",
    '" OR ""="',
    "1; DELETE FROM resource_versions",
    "') UNION SELECT rid, content FROM resource_versions--",
    "%' OR '%'='",
    "\\' OR 1=1 --",
    "张三' OR 'a'='a",
    "$1$2$3",
    "*/ OR /*",
    "',',',','",
    "|||",
]
PARAMS = [
    ("Patient", "name"),
    ("Patient", "name:exact"),
    ("Patient", "name:contains"),
    ("Patient", "family"),
    ("Patient", "identifier"),
    ("Patient", "identifier:text"),
    ("Patient", "identifier:not"),
    ("Patient", "identifier:of-type"),
    ("Patient", "gender"),
    ("Patient", "general-practitioner"),
    ("Patient", "general-practitioner:Practitioner"),
    ("Patient", "general-practitioner:identifier"),
    ("Patient", "general-practitioner:Practitioner.name"),
    ("Patient", "_has:Observation:patient:code"),
    ("Patient", "birthdate"),
    ("Patient", "_id"),
    ("Patient", "_lastUpdated"),
    ("Patient", "_tag"),
    ("Patient", "_profile"),
    ("Patient", "_security"),
    ("Patient", "_text"),
    ("Patient", "_content"),
    ("Patient", "_sort"),
    ("Patient", "_elements"),
    ("Patient", "_include"),
    ("Patient", "_revinclude"),
    ("Patient", "_count"),
    ("Patient", "_cursor"),
    ("Observation", "value-quantity"),
    ("Observation", "code-value-quantity"),
    ("Observation", "subject"),
    ("RiskAssessment", "probability"),
    ("ValueSet", "url"),
    ("ValueSet", "url:below"),
    ("ValueSet", "url:above"),
    ("Location", "near"),
]


def test_sql_injection_is_inert(api: Any) -> None:
    pid = api.post("/Patient", json=PATIENT).json()["id"]
    before = api.get(f"/Patient/{pid}").json()
    oks = 0
    for rtype, param in PARAMS:
        for value in SQLI:
            r = api.get(f"/{rtype}", params={param: value})
            assert r.status_code < 500, (rtype, param, value, r.text[:300])
            if r.status_code == 200:
                oks += 1
                matches = [e for e in r.json().get("entry", []) if e["search"]["mode"] == "match"]
                # Only _elements/_sort/_count-like parameters may return the stored patient.
                if param not in ("_elements", "_summary", "identifier:not"):
                    assert matches == [], (rtype, param, value)
            else:
                assert 400 <= r.status_code < 500
                assert r.json()["resourceType"] == "OperationOutcome"
    assert oks > 100  # most of them are valid (if odd) values that simply match nothing
    # The path, headers and form bodies too.
    for value in SQLI:
        assert api.get(f"/Patient/{value}").status_code in (400, 404)
        assert api.get(f"/Patient/{pid}/_history/{value}").status_code in (400, 404)
        r = api.post(
            "/Patient/_search", data={"name": value}, headers={"Content-Type": "application/x-www-form-urlencoded"}
        )
        assert r.status_code == 200
        assert "entry" not in r.json()
        r = api.post("/Patient", json=PATIENT, headers={"If-None-Exist": "identifier=" + quote(value)})
        assert r.status_code in (201, 400)
        if value.isascii():
            r = api.put(f"/Patient/{pid}", json={**before, "name": [{"family": value}]}, headers={"If-Match": value})
            assert r.status_code == 412
    # Still there, unchanged, and every table still answers.
    after = api.get(f"/Patient/{pid}")
    assert after.status_code == 200
    assert after.json() == before
    assert api.get("/_history").status_code == 200
    assert api.get("/Patient", params={"identifier": f"{SYS}|110101198001021234"}).json()["entry"][0]["resource"][
        "id"
    ] in ({pid} | {e["resource"]["id"] for e in api.get("/Patient", params={"_count": "100"}).json()["entry"]})


# -- authentication --------------------------------------------------------------------------


def test_authentication_required(api: Any) -> None:
    client = api.client
    r = client.get("/Patient")
    assert is_outcome(r, 401)
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert is_outcome(client.post("/Patient", json=PATIENT), 401)
    assert is_outcome(client.post("/", json={"resourceType": "Bundle", "type": "batch"}), 401)
    for header in (
        "Bearer not-a-jwt",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Bearer " + api.headers["Authorization"].split()[1][:-3] + "abc",  # forged signature
        "Bearer "
        + jwt.encode(
            {"sub": "x", "aud": "rhip-fhir", "iss": "rhip", "exp": int(time.time()) + 60, "scope": "system/*.*"},
            "another-secret-key-of-sufficient-length",
            algorithm="HS256",
        ),
        "Bearer "
        + jwt.encode(
            {"sub": "x", "aud": "rhip-fhir", "iss": "rhip", "exp": int(time.time()) - 60, "scope": "system/*.*"},
            "test-secret-key-of-sufficient-length-0123",
            algorithm="HS256",
        ),
        "Bearer "
        + jwt.encode(
            {"sub": "x", "aud": "rhip-fhir", "iss": "rhip", "exp": int(time.time()) + 60, "scope": "system/*.*"},
            "",
            algorithm="none",
        ),
    ):
        r = client.get("/Patient", headers={"Authorization": header})
        assert is_outcome(r, 401), header
    assert count(api) == 0


def test_scopes_are_enforced(api: Any) -> None:
    from rhip.security import tokens
    from rhip.security.context import RequestContext

    secret = b"test-secret-key-of-sufficient-length-0123"
    read_only = tokens.issue(secret, RequestContext("reader", "client", scopes=frozenset({"user/Patient.read"})), 60)
    h = {"Authorization": f"Bearer {read_only}"}
    pid = api.post("/Patient", json=PATIENT).json()["id"]
    assert api.client.get(f"/Patient/{pid}", headers=h).status_code == 200
    assert is_outcome(api.client.post("/Patient", json=PATIENT, headers=h), 403)
    assert is_outcome(api.client.delete(f"/Patient/{pid}", headers=h), 403)
    assert is_outcome(api.client.get("/Observation", headers=h), 403)
    assert api.get(f"/Patient/{pid}").status_code == 200


# -- methods and paths -----------------------------------------------------------------------


def test_unknown_paths_and_methods(api: Any) -> None:
    assert is_outcome(api.get("/Nope"), 404)
    assert is_outcome(api.get("/Patient/1/2/3/4/5"), 404)
    assert is_outcome(api.get("/Patient/1/_history/1/x"), 404)
    assert api.request("OPTIONS", "/Patient").status_code in (404, 405)
    assert api.request("HEAD", "/Patient").status_code in (200, 404, 405)
    assert is_outcome(api.delete("/Patient/1/_history"), 405)
    assert is_outcome(api.post("/Patient/1"), 405)


def test_non_ascii_digits(api: Any) -> None:
    """``"¹".isdigit()`` is True but ``int("¹")`` fails: such counts and versions are a 400/404, not a 500."""
    assert api.put("/Patient/1", json={**PATIENT, "id": "1"}).status_code == 201
    for digits in ("¹", "٣", "１２"):
        assert is_outcome(api.get("/Patient", params={"_count": digits}), 400)
        assert is_outcome(api.get("/", params={"_count": digits}), 400)
        assert is_outcome(api.get("/Patient/_history", params={"_count": digits}), 400)
        assert is_outcome(api.get("/Patient/1/$everything", params={"_count": digits}), 400)
        assert is_outcome(api.get(f"/Patient/1/_history/{digits}"), 404)


# -- fuzzing ---------------------------------------------------------------------------------

_SEGMENTS = st.sampled_from(
    [
        "Patient",
        "Observation",
        "_history",
        "_search",
        "$everything",
        "$validate",
        "1",
        "x",
        "",
        "..",
        "%00",
        "Patient?",
        "Bundle",
        "metadata",
        "' OR 1=1",
        "张三",
        "_history/1",
        "Nope",
    ]
)
_PATHS = st.one_of(
    st.sampled_from(
        [
            "/",
            "/Patient",
            "/Observation",
            "/Patient/1",
            "/Observation/1",
            "/Patient/_search",
            "/_history",
            "/Patient/1/_history",
            "/Patient/1/_history/1",
            "/Patient/1/$everything",
            "/Patient/$validate",
            "/Patient/_history",
            "/Encounter",
            "/RiskAssessment",
            "/ValueSet",
        ]
    ),
    st.lists(_SEGMENTS, min_size=0, max_size=4).map(lambda s: "/" + "/".join(s).lstrip("/")),
)
_KEYS = st.sampled_from(
    [
        "name",
        "_id",
        "_count",
        "_sort",
        "birthdate",
        "identifier",
        "subject",
        "subject:Patient.name",
        "_has:Observation:patient:code",
        "_include",
        "_revinclude:iterate",
        "_elements",
        "_summary",
        "_total",
        "value-quantity",
        "code-value-quantity",
        "_cursor",
        "_since",
        "_type",
        "_format",
        "name:exact",
        "gender:not",
        "x",
        "_lastUpdated",
        "near",
        "url:above",
        "_text",
        "probability",
        "date",
        "patient",
        "code",
        "_include:iterate",
    ]
)
_VALUES = st.one_of(
    st.sampled_from(
        [
            "1",
            "0",
            "-1",
            "x",
            "gt2020",
            "eq1980-01-02",
            "a|b",
            "|",
            "$",
            ",",
            "\\",
            "Patient/1",
            "Observation:subject",
            "*",
            "true",
            "json",
            "xml",
            "http://x/y",
            "5.4||mg",
            "a$b",
            "張",
            "-date",
            "Observation:patient",
            "Patient:link",
            "ap2020",
            "1980",
            "count",
            "gender,name",
        ]
    ),
    st.text(max_size=12),
)
_BODIES = st.one_of(
    st.none(),
    st.binary(max_size=40),
    st.sampled_from(
        [
            b"{}",
            b"[]",
            b"null",
            b'{"resourceType":"Patient"}',
            b'{"resourceType":"Bundle","type":"transaction","entry":[{}]}',
            b'{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET","url":"Patient?_id=1"}}]}',
            b'{"resourceType":"Bundle","type":"transaction","entry":[{"request":{"method":"DELETE","url":"Patient?name=x"}}]}',
            b'[{"op":"replace","path":"/x","value":1}]',
            b'[{"op":"add","path":"/active","value":true}]',
            b'{"resourceType":"Patient","id":"1"}',
            b'{"resourceType":"Patient","id":"1","name":[{"family":"\\u5f20"}]}',
            b"name=x&_count=1",
            b'{"resourceType":"Parameters","parameter":[{"name":"resource"}]}',
        ]
    ),
)


@pytest.fixture
def seeded(api: Any) -> Any:
    assert api.put("/Patient/1", json={**PATIENT, "id": "1"}).status_code == 201
    obs = {
        "resourceType": "Observation",
        "id": "1",
        "status": "final",
        "code": {"text": "x"},
        "subject": {"reference": "Patient/1"},
        "effectiveDateTime": "2020-01-01",
    }
    assert api.put("/Observation/1", json=obs).status_code == 201
    return api


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    method=st.sampled_from(["GET", "GET", "GET", "POST", "POST", "PUT", "PATCH", "DELETE"]),
    path=_PATHS,
    query=st.lists(st.tuples(_KEYS, _VALUES), max_size=4),
    body=_BODIES,
    ctype=st.sampled_from(
        ["application/fhir+json", "application/json-patch+json", "application/x-www-form-urlencoded", "text/plain"]
    ),
)
def test_fuzz_never_5xx(
    seeded: Any, method: str, path: str, query: list[tuple[str, str]], body: bytes | None, ctype: str
) -> None:
    r = seeded.request(method, path, params=query, content=body, headers={"Content-Type": ctype})
    event(f"HTTP {r.status_code}")
    assert r.status_code < 500, (method, path, query, body, r.text[:500])
    if r.status_code >= 400 and r.content:
        assert r.json()["resourceType"] == "OperationOutcome"


_TYPES = ["Patient", "Observation", "Encounter", "Condition", "Location", "ValueSet", "RiskAssessment", "Practitioner"]


@st.composite
def _search_term(draw: Any) -> tuple[str, str, str]:
    from rhip.fhir.search.params import registry

    rtype = draw(st.sampled_from(_TYPES))
    codes = sorted(registry().for_type(rtype))
    code = draw(st.sampled_from(codes))
    modifier = draw(
        st.sampled_from(
            [
                "",
                "",
                "",
                ":exact",
                ":contains",
                ":missing",
                ":not",
                ":text",
                ":of-type",
                ":identifier",
                ":below",
                ":above",
                ":Patient",
                ":Group",
                ":Practitioner.name",
                ".name",
                ":Patient.birthdate",
                ":iterate",
            ]
        )
    )
    prefix = draw(st.sampled_from(["", "", "eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap", "xx"]))
    body = draw(
        st.one_of(
            st.sampled_from(
                [
                    "1",
                    "2020",
                    "2020-01-01",
                    "2020-01-01T10:00:00Z",
                    "5.4|http://unitsofmeasure.org|mg",
                    "http://loinc.org|8480-6",
                    "|x",
                    "x|",
                    "Patient/1",
                    "http://fhir.test/Patient/1",
                    "true",
                    "http://loinc.org|8480-6$gt100",
                    "a$b",
                    "1|2|3|km",
                    "-0.5e-3",
                    "urn:oid:1.2",
                    "张三",
                ]
            ),
            st.text(max_size=10),
        )
    )
    return rtype, f"{code}{modifier}", prefix + body


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    terms=st.lists(_search_term(), min_size=1, max_size=3),
    sort=st.sampled_from(["", "_id", "-date", "name", "-_lastUpdated"]),
)
def test_fuzz_search_never_5xx(seeded: Any, terms: list[tuple[str, str, str]], sort: str) -> None:
    rtype = terms[0][0]
    params = [(name, value) for _, name, value in terms]
    if sort:
        params.append(("_sort", sort))
    r = seeded.get(f"/{rtype}", params=params)
    event(f"HTTP {r.status_code}")
    assert r.status_code < 500, (rtype, params, r.text[:500])
    assert r.status_code in (200, 400), (rtype, params, r.status_code)
    assert r.json()["resourceType"] == ("Bundle" if r.status_code == 200 else "OperationOutcome")
