"""Every search-parameter type with its modifiers and prefixes (FHIR R4 search.html), over HTTP.

Each test loads a small data set, then checks a table of queries against the exact set of ids each
must return (and ``Bundle.total``), collecting every mismatch before failing.
"""

from __future__ import annotations

from typing import Any

SYS = "urn:oid:2.16.156.10011.1.3"
MRN = "http://hospital.example/mrn"
V2 = "http://terminology.hl7.org/CodeSystem/v2-0203"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
Cases = list[tuple[str, dict[str, Any] | list[tuple[str, str]], set[str]]]


def put(api: Any, resource: dict[str, Any]) -> str:
    """Store ``resource`` under its own id (update-as-create) and return the id."""
    rid = resource["id"]
    r = api.put(f"/{resource['resourceType']}/{rid}", json=resource)
    assert r.status_code == 201, r.text
    return str(rid)


def search_ids(api: Any, rtype: str, params: Any) -> tuple[int, set[str], dict[str, Any]]:
    r = api.get(f"/{rtype}", params=params)
    assert r.status_code == 200, (params, r.text)
    bundle = r.json()
    assert bundle["type"] == "searchset"
    matches = [e["resource"]["id"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]
    assert len(matches) == len(set(matches)), f"duplicates for {params}"
    return r.status_code, set(matches), bundle


def check(api: Any, rtype: str, cases: Cases) -> None:
    failures = []
    for label, params, expected in cases:
        _, got, bundle = search_ids(api, rtype, params)
        if got != expected or bundle.get("total") != len(expected):
            failures.append(f"{label}: {params} -> {sorted(got)} total={bundle.get('total')}, want {sorted(expected)}")
    assert not failures, "\n".join(failures)


def patients(api: Any) -> None:
    put(
        api,
        {
            "resourceType": "Patient",
            "id": "p1",
            "meta": {
                "tag": [{"system": "http://example.org/tags", "code": "vip"}],
                "profile": ["http://fhir.example.cn/StructureDefinition/cn-patient"],
                "security": [{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R"}],
            },
            "identifier": [
                {"system": SYS, "value": "11010119800102123X"},
                {
                    "system": MRN,
                    "value": "MRN-001",
                    "type": {"coding": [{"system": V2, "code": "MR"}], "text": "Medical record number"},
                },
            ],
            "name": [{"family": "张", "given": ["三丰"]}],
            "gender": "male",
            "birthDate": "1980-01-02",
            "telecom": [{"system": "phone", "value": "13800000000"}],
            "address": [{"city": "北京", "district": "海淀区"}],
        },
    )
    put(
        api,
        {
            "resourceType": "Patient",
            "id": "p2",
            "meta": {"tag": [{"system": "http://example.org/tags", "code": "test"}]},
            "identifier": [{"system": MRN, "value": "MRN-002", "type": {"coding": [{"system": V2, "code": "PI"}]}}],
            "name": [{"family": "Müller", "given": ["José"]}],
            "gender": "female",
            "birthDate": "1980-03-15",
            "address": [{"city": "Shanghai"}],
        },
    )
    put(
        api,
        {
            "resourceType": "Patient",
            "id": "p3",
            "identifier": [{"value": "NOSYS-1"}],
            "name": [{"family": "Smith", "given": ["John"]}],
            "birthDate": "1950-06-30",
        },
    )
    put(
        api,
        {
            "resourceType": "Patient",
            "id": "p4",
            "identifier": [{"system": SYS, "value": "NOSYS-1"}],
            "name": [{"family": "张", "given": ["三"]}],
            "gender": "male",
        },
    )


# -- string ----------------------------------------------------------------------------------


def test_string(api: Any) -> None:
    patients(api)
    check(
        api,
        "Patient",
        [
            ("starts-with on family", {"name": "Smi"}, {"p3"}),
            ("case-insensitive", {"name": "smith"}, {"p3"}),
            ("accent-insensitive", {"name": "muller"}, {"p2"}),
            ("accent-insensitive upper", {"name": "MÜLLER"}, {"p2"}),
            ("given name", {"given": "jos"}, {"p2"}),
            ("family", {"family": "张"}, {"p1", "p4"}),
            ("chinese whole name prefix", {"name": "张三"}, {"p1", "p4"}),
            ("chinese whole name", {"name": "张三丰"}, {"p1"}),
            ("no infix by default", {"name": "三丰"}, {"p1"}),
            ("no infix by default latin", {"name": "ith"}, set()),
            (":exact", {"name:exact": "张三"}, {"p4"}),
            (":exact is case-sensitive", {"name:exact": "smith"}, set()),
            (":exact latin", {"name:exact": "Smith"}, {"p3"}),
            (":exact keeps accents", {"name:exact": "Muller"}, set()),
            (":contains", {"name:contains": "ll"}, {"p2"}),
            (":contains chinese", {"name:contains": "三"}, {"p1", "p4"}),
            (":contains middle", {"name:contains": "MIT"}, {"p3"}),
            ("address city", {"address-city": "北京"}, {"p1"}),
            ("address any part", {"address": "海淀"}, {"p1"}),
            ("OR", {"name": "smith,muller"}, {"p2", "p3"}),
            ("AND", [("name", "张"), ("name", "三丰")], {"p1"}),
            ("AND nothing", [("name", "smith"), ("name", "muller")], set()),
            ("escaped comma is literal", {"name": "smith\\,x"}, set()),
            (":missing=true", {"address:missing": "true"}, {"p3", "p4"}),
            (":missing=false", {"address:missing": "false"}, {"p1", "p2"}),
            ("wildcards are literal", {"name": "%"}, set()),
            ("underscore is literal", {"name": "S_ith"}, set()),
        ],
    )


# -- token -----------------------------------------------------------------------------------


def test_token(api: Any) -> None:
    patients(api)
    check(
        api,
        "Patient",
        [
            ("system|code", {"identifier": f"{SYS}|11010119800102123X"}, {"p1"}),
            ("code only", {"identifier": "NOSYS-1"}, {"p3", "p4"}),
            ("|code means no system", {"identifier": "|NOSYS-1"}, {"p3"}),
            ("system| means any code", {"identifier": f"{MRN}|"}, {"p1", "p2"}),
            ("wrong system", {"identifier": f"{MRN}|NOSYS-1"}, set()),
            ("token is case-sensitive", {"identifier": "mrn-001"}, set()),
            ("code", {"gender": "male"}, {"p1", "p4"}),
            ("OR", {"gender": "male,female"}, {"p1", "p2", "p4"}),
            (":not includes missing", {"gender:not": "male"}, {"p2", "p3"}),
            (":not OR", {"gender:not": "male,female"}, {"p3"}),
            (":text on identifier type", {"identifier:text": "medical rec"}, {"p1"}),
            (":of-type", {"identifier:of-type": f"{V2}|MR|MRN-001"}, {"p1"}),
            (":of-type wrong type", {"identifier:of-type": f"{V2}|PI|MRN-001"}, set()),
            (":of-type other", {"identifier:of-type": f"{V2}|PI|MRN-002"}, {"p2"}),
            ("phone", {"phone": "13800000000"}, {"p1"}),
            (":missing=true", {"gender:missing": "true"}, {"p3"}),
            (":missing=false", {"gender:missing": "false"}, {"p1", "p2", "p4"}),
            ("AND", [("identifier", f"{MRN}|"), ("gender", "female")], {"p2"}),
            ("_id", {"_id": "p1,p3"}, {"p1", "p3"}),
            ("_id none", {"_id": "nope"}, set()),
            ("_tag system|code", {"_tag": "http://example.org/tags|vip"}, {"p1"}),
            ("_tag code", {"_tag": "test"}, {"p2"}),
            ("_tag :not", {"_tag:not": "vip"}, {"p2", "p3", "p4"}),
            ("_security", {"_security": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality|R"}, {"p1"}),
            ("_profile", {"_profile": "http://fhir.example.cn/StructureDefinition/cn-patient"}, {"p1"}),
            ("_profile other", {"_profile": "http://fhir.example.cn/StructureDefinition/other"}, set()),
        ],
    )


def test_token_text_on_codeable_concept(api: Any) -> None:
    for oid, display, text in (("o1", "Blood pressure panel", None), ("o2", "Body weight", "体重 weight")):
        code: dict[str, Any] = {"coding": [{"system": LOINC, "code": f"{oid}-code", "display": display}]}
        if text:
            code["text"] = text
        put(api, {"resourceType": "Observation", "id": oid, "status": "final", "code": code})
    check(
        api,
        "Observation",
        [
            (":text display", {"code:text": "blood"}, {"o1"}),
            (":text CodeableConcept.text", {"code:text": "体重"}, {"o2"}),
            ("system|code", {"code": f"{LOINC}|o2-code"}, {"o2"}),
            ("system|", {"code": f"{LOINC}|"}, {"o1", "o2"}),
            (":not", {"code:not": f"{LOINC}|o2-code"}, {"o1"}),
            ("status", {"status": "final"}, {"o1", "o2"}),
            ("status none", {"status": "amended"}, set()),
        ],
    )


# -- reference -------------------------------------------------------------------------------


def test_reference(api: Any) -> None:
    patients(api)
    put(api, {"resourceType": "Group", "id": "g1", "type": "person", "actual": True})
    obs = {"resourceType": "Observation", "status": "final", "code": {"text": "x"}}
    put(api, {**obs, "id": "o1", "subject": {"reference": "Patient/p1"}})
    put(api, {**obs, "id": "o2", "subject": {"reference": "Patient/p2"}})
    put(api, {**obs, "id": "o3", "subject": {"reference": "Group/g1"}})
    put(api, {**obs, "id": "o4", "subject": {"reference": "http://fhir.test/Patient/p1"}})
    put(api, {**obs, "id": "o5", "subject": {"reference": "http://other.example/fhir/Patient/p1"}})
    put(api, {**obs, "id": "o6", "subject": {"identifier": {"system": SYS, "value": "11010119800102123X"}}})
    put(api, {**obs, "id": "o7"})
    check(
        api,
        "Observation",
        [
            ("by id", {"subject": "p1"}, {"o1", "o4"}),
            ("Type/id", {"subject": "Patient/p1"}, {"o1", "o4"}),
            ("absolute URL on this server", {"subject": "http://fhir.test/Patient/p1"}, {"o1", "o4"}),
            ("absolute URL elsewhere", {"subject": "http://other.example/fhir/Patient/p1"}, {"o5"}),
            ("type modifier", {"subject:Patient": "p1"}, {"o1", "o4"}),
            ("type modifier other type", {"subject:Group": "g1"}, {"o3"}),
            ("type modifier mismatch", {"subject:Patient": "g1"}, set()),
            ("type modifier vs Type/id", {"subject:Group": "Patient/p1"}, set()),
            ("patient param", {"patient": "Patient/p2"}, {"o2"}),
            ("patient param excludes groups", {"patient": "g1"}, set()),
            ("OR", {"subject": "Patient/p1,Group/g1"}, {"o1", "o3", "o4"}),
            (":identifier", {"subject:identifier": f"{SYS}|11010119800102123X"}, {"o6"}),
            (":missing=true", {"subject:missing": "true"}, {"o7"}),
            (":missing=false", {"subject:missing": "false"}, {"o1", "o2", "o3", "o4", "o5", "o6"}),
            ("unknown id", {"subject": "Patient/zzz"}, set()),
        ],
    )


# -- date ------------------------------------------------------------------------------------


def test_date_on_dates(api: Any) -> None:
    patients(api)  # birthDates: p1 1980-01-02, p2 1980-03-15, p3 1950-06-30, p4 none
    check(
        api,
        "Patient",
        [
            ("year", {"birthdate": "1980"}, {"p1", "p2"}),
            ("month", {"birthdate": "1980-01"}, {"p1"}),
            ("day", {"birthdate": "1980-01-02"}, {"p1"}),
            ("eq", {"birthdate": "eq1980-03-15"}, {"p2"}),
            ("ne", {"birthdate": "ne1980"}, {"p3"}),
            ("lt", {"birthdate": "lt1980-01-02"}, {"p3"}),
            ("gt", {"birthdate": "gt1980-01-02"}, {"p2"}),
            ("le", {"birthdate": "le1980-01-02"}, {"p1", "p3"}),
            ("ge", {"birthdate": "ge1980-01-02"}, {"p1", "p2"}),
            ("sa", {"birthdate": "sa1979"}, {"p1", "p2"}),
            ("eb", {"birthdate": "eb1980"}, {"p3"}),
            ("ap", {"birthdate": "ap1980-02-01"}, {"p1", "p2"}),
            ("dateTime value on a date", {"birthdate": "1980-01-02T12:00:00+08:00"}, set()),
            ("day range contains time-less date", {"birthdate": "ge1980-01-02T00:00:00+08:00"}, {"p1", "p2"}),
            ("OR", {"birthdate": "1950,1980-03"}, {"p2", "p3"}),
            ("AND range", [("birthdate", "ge1980-01-01"), ("birthdate", "lt1980-02-01")], {"p1"}),
            (":missing", {"birthdate:missing": "true"}, {"p4"}),
        ],
    )


def test_date_on_periods_and_datetimes(api: Any) -> None:
    enc = {"resourceType": "Encounter", "status": "finished", "class": {"code": "AMB"}}
    put(api, {**enc, "id": "e1", "period": {"start": "2020-01-01T10:00:00+08:00", "end": "2020-01-03T12:00:00+08:00"}})
    put(api, {**enc, "id": "e2", "period": {"start": "2020-02-01"}})  # open-ended
    put(api, {**enc, "id": "e3", "period": {"end": "2019-06-01"}})  # open start
    check(
        api,
        "Encounter",
        [
            ("day inside period is not eq", {"date": "2020-01-02"}, set()),
            ("month contains the period", {"date": "2020-01"}, {"e1"}),
            ("ge overlaps", {"date": "ge2020-01-02"}, {"e1", "e2"}),
            ("lt overlaps", {"date": "lt2020-01-02"}, {"e1", "e3"}),
            ("gt open end", {"date": "gt2030-01-01"}, {"e2"}),
            ("lt open start", {"date": "lt1900-01-01"}, {"e3"}),
            ("sa", {"date": "sa2019-12-31"}, {"e1", "e2"}),
            ("eb", {"date": "eb2020-01-04"}, {"e1", "e3"}),
            ("ne", {"date": "ne2020-01"}, {"e2", "e3"}),
            ("ap overlaps the open end", {"date": "ap2200-01-01"}, {"e2"}),
            ("ap overlaps the open start", {"date": "ap1800-01-01"}, {"e3"}),
        ],
    )
    obs = {"resourceType": "Observation", "status": "final", "code": {"text": "x"}}
    put(api, {**obs, "id": "o1", "effectiveDateTime": "2021-05-01T23:30:00+08:00"})
    put(api, {**obs, "id": "o2", "effectiveDateTime": "2021-05-01T23:30:00Z"})  # 2021-05-02 07:30 in +08:00
    put(api, {**obs, "id": "o3", "effectiveInstant": "2021-05-02T00:00:00.000+08:00"})
    check(
        api,
        "Observation",
        [
            ("day in local (+08:00) time", {"date": "2021-05-01"}, {"o1"}),
            ("next day", {"date": "2021-05-02"}, {"o2", "o3"}),
            ("explicit UTC day", {"date": "ge2021-05-01T16:00:00Z"}, {"o2", "o3"}),
            ("minute precision", {"date": "2021-05-01T23:30+08:00"}, {"o1"}),
            ("second precision", {"date": "2021-05-01T15:30:00Z"}, {"o1"}),
            ("lt", {"date": "lt2021-05-02T00:00:00+08:00"}, {"o1"}),
        ],
    )


# -- number and quantity ---------------------------------------------------------------------


def test_number(api: Any) -> None:
    def risk(rid: str, probability: str) -> None:
        body = (
            '{"resourceType":"RiskAssessment","id":"' + rid + '","status":"final",'
            '"subject":{"reference":"Patient/p1"},"prediction":[{"probabilityDecimal":' + probability + "}]}"
        )
        r = api.put(f"/RiskAssessment/{rid}", content=body, headers={"Content-Type": "application/fhir+json"})
        assert r.status_code == 201, r.text

    risk("r1", "0.8")
    risk("r2", "0.82")
    risk("r3", "0.25")
    risk("r4", "100")
    check(
        api,
        "RiskAssessment",
        [
            ("implicit precision 0.8 = [0.75, 0.85)", {"probability": "0.8"}, {"r1", "r2"}),
            ("more digits", {"probability": "0.80"}, {"r1"}),
            ("eq prefix", {"probability": "eq0.82"}, {"r2"}),
            ("integer precision", {"probability": "100"}, {"r4"}),
            ("integer precision 99.6", {"probability": "1e2"}, {"r4"}),
            ("gt", {"probability": "gt0.8"}, {"r2", "r4"}),
            ("ge", {"probability": "ge0.8"}, {"r1", "r2", "r4"}),
            ("lt", {"probability": "lt0.8"}, {"r3"}),
            ("le", {"probability": "le0.8"}, {"r1", "r3"}),
            ("ne", {"probability": "ne0.8"}, {"r3", "r4"}),
            ("ap", {"probability": "ap0.25"}, {"r3"}),
            ("sa", {"probability": "sa0.82"}, {"r4"}),
            ("eb", {"probability": "eb0.26"}, {"r3"}),
            ("negative", {"probability": "gt-1"}, {"r1", "r2", "r3", "r4"}),
            ("OR", {"probability": "0.25,100"}, {"r3", "r4"}),
            ("AND", [("probability", "gt0.1"), ("probability", "lt0.81")], {"r1", "r3"}),
        ],
    )


def test_quantity(api: Any) -> None:
    def obs(oid: str, value: str, unit: str, code: str | None, system: str | None = UCUM) -> None:
        q = f'"value":{value},"unit":"{unit}"'
        if system:
            q += f',"system":"{system}"'
        if code:
            q += f',"code":"{code}"'
        body = (
            '{"resourceType":"Observation","id":"' + oid + '","status":"final","code":{"text":"x"},'
            '"valueQuantity":{' + q + "}}"
        )
        r = api.put(f"/Observation/{oid}", content=body, headers={"Content-Type": "application/fhir+json"})
        assert r.status_code == 201, r.text

    obs("q1", "5.4", "mg", "mg")
    obs("q2", "5.40", "milligram", "mg")
    obs("q3", "120", "mmHg", "mm[Hg]")
    obs("q4", "5.4", "mg", None, None)  # unit text only
    check(
        api,
        "Observation",
        [
            ("value only", {"value-quantity": "5.4"}, {"q1", "q2", "q4"}),
            ("value|system|code", {"value-quantity": f"5.4|{UCUM}|mg"}, {"q1", "q2"}),
            ("value||code matches code or unit", {"value-quantity": "5.4||mg"}, {"q1", "q2", "q4"}),
            ("value||unit text", {"value-quantity": "5.4||milligram"}, {"q2"}),
            ("wrong unit", {"value-quantity": f"5.4|{UCUM}|g"}, set()),
            ("gt with unit", {"value-quantity": f"gt100|{UCUM}|mm[Hg]"}, {"q3"}),
            ("lt", {"value-quantity": "lt6"}, {"q1", "q2", "q4"}),
            ("le precision", {"value-quantity": "le5.4"}, {"q1", "q2", "q4"}),
            ("ge", {"value-quantity": "ge120"}, {"q3"}),
            ("ne", {"value-quantity": "ne5.4"}, {"q3"}),
            ("ap", {"value-quantity": "ap125"}, {"q3"}),
            ("implicit precision 5 = [4.5, 5.5)", {"value-quantity": "5"}, {"q1", "q2", "q4"}),
            ("OR", {"value-quantity": f"5.4|{UCUM}|mg,120"}, {"q1", "q2", "q3"}),
            (":missing", {"value-quantity:missing": "false"}, {"q1", "q2", "q3", "q4"}),
        ],
    )


# -- uri -------------------------------------------------------------------------------------


def test_uri(api: Any) -> None:
    vs = {"resourceType": "ValueSet", "status": "active"}
    put(api, {**vs, "id": "v1", "url": "http://acme.org/fhir/ValueSet/123"})
    put(api, {**vs, "id": "v2", "url": "http://acme.org/fhir/ValueSet/123/sub"})
    put(api, {**vs, "id": "v3", "url": "http://acme.org/other/ValueSet/9"})
    put(api, {**vs, "id": "v4", "url": "urn:oid:1.2.3.4"})
    put(api, {**vs, "id": "v5"})
    check(
        api,
        "ValueSet",
        [
            ("exact", {"url": "http://acme.org/fhir/ValueSet/123"}, {"v1"}),
            ("exact is not prefix", {"url": "http://acme.org/fhir"}, set()),
            ("urn", {"url": "urn:oid:1.2.3.4"}, {"v4"}),
            (":below", {"url:below": "http://acme.org/fhir/"}, {"v1", "v2"}),
            (":below whole", {"url:below": "http://acme.org/"}, {"v1", "v2", "v3"}),
            (":below literal wildcard", {"url:below": "http://acme.org/%"}, set()),
            (":above", {"url:above": "http://acme.org/fhir/ValueSet/123/_history/5"}, {"v1"}),
            (":above deeper", {"url:above": "http://acme.org/fhir/ValueSet/123/sub/x"}, {"v1", "v2"}),
            (":missing", {"url:missing": "true"}, {"v5"}),
            ("OR", {"url": "urn:oid:1.2.3.4,http://acme.org/other/ValueSet/9"}, {"v3", "v4"}),
        ],
    )


# -- composite -------------------------------------------------------------------------------


def test_composite(api: Any) -> None:
    def q(value: int, unit: str = "mm[Hg]") -> dict[str, Any]:
        return {"value": value, "unit": unit, "system": UCUM, "code": unit}

    def cc(code: str) -> dict[str, Any]:
        return {"coding": [{"system": LOINC, "code": code}]}

    base = {"resourceType": "Observation", "status": "final"}
    put(
        api,
        {
            **base,
            "id": "bp",
            "code": cc("85354-9"),
            "component": [
                {"code": cc("8480-6"), "valueQuantity": q(125)},
                {"code": cc("8462-4"), "valueQuantity": q(82)},
            ],
        },
    )
    put(
        api,
        {
            **base,
            "id": "bp-low",
            "code": cc("85354-9"),
            "component": [
                {"code": cc("8480-6"), "valueQuantity": q(95)},
                {"code": cc("8462-4"), "valueQuantity": q(105)},
            ],
        },
    )
    put(api, {**base, "id": "sys", "code": cc("8480-6"), "valueQuantity": q(140)})
    put(api, {**base, "id": "sys-low", "code": cc("8480-6"), "valueQuantity": q(90)})
    put(api, {**base, "id": "hr", "code": cc("8867-4"), "valueQuantity": q(150, "/min")})
    put(
        api,
        {**base, "id": "smoker", "code": cc("72166-2"), "valueCodeableConcept": cc("LA18976-3")},
    )
    check(
        api,
        "Observation",
        [
            ("code-value-quantity", {"code-value-quantity": f"{LOINC}|8480-6$gt100"}, {"sys"}),
            ("code-value-quantity eq", {"code-value-quantity": f"{LOINC}|8480-6$90"}, {"sys-low"}),
            ("code-value-quantity other code", {"code-value-quantity": f"{LOINC}|8867-4$gt100"}, {"hr"}),
            (
                "component pairs code and value of the same component",
                {"component-code-value-quantity": f"{LOINC}|8480-6$gt100"},
                {"bp"},
            ),
            ("component diastolic", {"component-code-value-quantity": f"{LOINC}|8462-4$gt100"}, {"bp-low"}),
            ("component none", {"component-code-value-quantity": f"{LOINC}|8480-6$gt130"}, set()),
            (
                "component with units",
                {"component-code-value-quantity": f"{LOINC}|8480-6$lt100|{UCUM}|mm[Hg]"},
                {"bp-low"},
            ),
            (
                "combo covers both",
                {"combo-code-value-quantity": f"{LOINC}|8480-6$gt100"},
                {"bp", "sys"},
            ),
            (
                "OR of composites",
                {"code-value-quantity": f"{LOINC}|8480-6$gt100,{LOINC}|8867-4$gt100"},
                {"sys", "hr"},
            ),
            (
                "AND of composites",
                [
                    ("component-code-value-quantity", f"{LOINC}|8480-6$gt100"),
                    ("component-code-value-quantity", f"{LOINC}|8462-4$lt90"),
                ],
                {"bp"},
            ),
            ("code-value-concept", {"code-value-concept": f"{LOINC}|72166-2${LOINC}|LA18976-3"}, {"smoker"}),
        ],
    )
    r = api.get("/Observation", params={"code-value-quantity": f"{LOINC}|8480-6"})
    assert r.status_code == 400


# -- _lastUpdated ----------------------------------------------------------------------------


def test_last_updated(api: Any) -> None:
    patients(api)
    times = {}
    for pid in ("p1", "p2", "p3", "p4"):
        times[pid] = api.get(f"/Patient/{pid}").json()["meta"]["lastUpdated"]
    assert len(set(times.values())) == 4
    check(
        api,
        "Patient",
        [
            ("eq instant", {"_lastUpdated": times["p2"]}, {"p2"}),
            ("gt", {"_lastUpdated": f"gt{times['p2']}"}, {"p3", "p4"}),
            ("ge", {"_lastUpdated": f"ge{times['p2']}"}, {"p2", "p3", "p4"}),
            ("lt", {"_lastUpdated": f"lt{times['p2']}"}, {"p1"}),
            ("le", {"_lastUpdated": f"le{times['p2']}"}, {"p1", "p2"}),
            ("ne", {"_lastUpdated": f"ne{times['p2']}"}, {"p1", "p3", "p4"}),
            ("AND", [("_lastUpdated", f"gt{times['p1']}"), ("_lastUpdated", f"lt{times['p4']}")], {"p2", "p3"}),
            ("year", {"_lastUpdated": times["p1"][:4]}, {"p1", "p2", "p3", "p4"}),
            ("past", {"_lastUpdated": "lt2000"}, set()),
        ],
    )


# -- special: near ---------------------------------------------------------------------------


def test_near(api: Any) -> None:
    loc = {"resourceType": "Location", "status": "active"}
    put(api, {**loc, "id": "bj", "name": "北京", "position": {"latitude": 39.9042, "longitude": 116.4074}})
    put(api, {**loc, "id": "sh", "name": "上海", "position": {"latitude": 31.2304, "longitude": 121.4737}})
    put(api, {**loc, "id": "none", "name": "无坐标"})
    check(
        api,
        "Location",
        [
            ("within 10 km", {"near": "39.9|116.4|10|km"}, {"bj"}),
            ("default unit km", {"near": "39.9|116.4|10"}, {"bj"}),
            ("metres", {"near": "39.9042|116.4074|500|m"}, {"bj"}),
            ("too far from both", {"near": "0|0|100|km"}, set()),
            ("both within 1500 km", {"near": "39.9|116.4|1500|km"}, {"bj", "sh"}),
            (":missing", {"near:missing": "true"}, {"none"}),
        ],
    )
