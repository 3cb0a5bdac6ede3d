"""Search-index rows of concrete resources (R4 search §string, §token, §reference, §date, ...)."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from rhip.fhir.search.values import MAX_MS, MIN_MS
from rhip.security.fields import blind
from rhip.store.index import INDEX_TYPES, index_rows
from rhip.store.schema import INDEX_TABLES

BASE = "https://fhir.example.cn/r4"
SYNTHEA = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "synthea-r4"
CST = timezone(timedelta(hours=8))
Rows = dict[str, list[tuple[Any, ...]]]


def ms(text: str) -> int:
    return int((datetime.fromisoformat(text) - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(milliseconds=1))


def of(rows: Rows, table: str, code: str) -> set[tuple[Any, ...]]:
    """The rows of ``code`` in ``table`` without the code column."""
    return {r[1:] for r in rows[table] if r[0] == code}


def codes(rows: Rows, table: str) -> set[str]:
    return {r[0] for r in rows[table]}


PATIENT: dict[str, Any] = {
    "resourceType": "Patient",
    "id": "p1",
    "meta": {
        "lastUpdated": "2024-01-01T00:00:00Z",
        "profile": ["http://example.org/fhir/StructureDefinition/cn-patient|1.0"],
        "tag": [{"system": "http://x/tags", "code": "vip", "display": "VIP"}],
        "source": "http://hospital.example/his",
    },
    "identifier": [
        {
            "type": {
                "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "NNCHN"}],
                "text": "居民身份证",
            },
            "system": "urn:oid:2.16.156.10011.1.1",
            "value": "110101199003071234",
        }
    ],
    "name": [{"family": "张", "given": ["三丰"]}, {"family": "Zhang", "given": ["San  Feng"]}, {"family": "张"}],
    "telecom": [{"system": "phone", "value": "13800138000"}, {"system": "email", "value": "ZSF@example.cn"}],
    "gender": "male",
    "birthDate": "1990-03-07",
    "address": [
        {"line": ["建国路88号"], "city": "北京市", "district": "朝阳区", "postalCode": "100022", "country": "CN"}
    ],
    "managingOrganization": {"reference": f"{BASE}/Organization/org1"},
    "generalPractitioner": [
        {"reference": "http://other.example/fhir/Practitioner/dr1/_history/3"},
        {"identifier": {"system": "urn:gp", "value": "G1"}},
        {"reference": "urn:uuid:5e1a"},
        {"reference": "#c1"},
    ],
}


def test_patient_rows() -> None:
    rows = index_rows(PATIENT, base_url=BASE + "/", tz=CST)
    assert set(rows) == set(INDEX_TYPES)
    # string: parts of HumanName/Address, the CJK whole name, normalised and as written.
    assert of(rows, "string", "name") == {
        (0, "张", "张"),
        (0, "三丰", "三丰"),
        (0, "张三丰", "张三丰"),
        (0, "zhang", "Zhang"),
        (0, "san feng", "San  Feng"),
    }
    assert of(rows, "string", "family") == {(0, "张", "张"), (0, "zhang", "Zhang")}
    assert of(rows, "string", "address") == {
        (0, "建国路88号", "建国路88号"),
        (0, "北京市", "北京市"),
        (0, "朝阳区", "朝阳区"),
        (0, "100022", "100022"),
        (0, "cn", "CN"),
    }
    assert of(rows, "string", "address-city") == {(0, "北京市", "北京市")}
    # token: identifier with its type text, and the of-type row; telecom; code; boolean.
    assert of(rows, "token", "identifier") == {(0, "urn:oid:2.16.156.10011.1.1", "110101199003071234", "居民身份证")}
    assert of(rows, "token", "identifier:of-type") == {
        (0, "http://terminology.hl7.org/CodeSystem/v2-0203|NNCHN", "110101199003071234", None)
    }
    # phones are indexed as their keyed blind index (decision 0019), never as written
    phone = blind("13800138000")
    assert phone != "13800138000"
    assert of(rows, "token", "telecom") == {(0, "phone", phone, None), (0, "email", "ZSF@example.cn", None)}
    assert of(rows, "token", "phone") == {(0, "phone", phone, None)}
    assert of(rows, "token", "email") == {(0, "email", "ZSF@example.cn", None)}
    assert of(rows, "token", "gender") == {(0, None, "male", None)}
    assert of(rows, "token", "deceased") == {(0, None, "false", None)}
    assert of(rows, "token", "_tag") == {(0, "http://x/tags", "vip", "vip")}
    assert of(rows, "token", "general-practitioner:identifier") == {(0, "urn:gp", "G1", None)}
    # reference: local absolute URL, foreign versioned URL, urn; "#c1" is not indexed.
    assert of(rows, "reference", "organization") == {(0, "Organization", "org1", None)}
    assert of(rows, "reference", "general-practitioner") == {
        (0, "Practitioner", None, "http://other.example/fhir/Practitioner/dr1"),
        (0, None, None, "urn:uuid:5e1a"),
    }
    # date: the birth day in the default time zone (+08:00).
    assert of(rows, "date", "birthdate") == {(0, ms("1990-03-07T00:00:00+08:00"), ms("1990-03-08T00:00:00+08:00") - 1)}
    # uri: a versioned canonical is indexed as written and without its version.
    assert of(rows, "uri", "_profile") == {
        (0, "http://example.org/fhir/StructureDefinition/cn-patient|1.0"),
        (0, "http://example.org/fhir/StructureDefinition/cn-patient"),
    }
    assert of(rows, "uri", "_source") == {(0, "http://hospital.example/his")}
    # _id and _lastUpdated are columns of ``resources``, not index rows.
    assert not {"_id", "_lastUpdated"} & {r[0] for t in INDEX_TYPES for r in rows[t]}
    # identical rows are deduplicated (the second "张" name).
    assert len(rows["string"]) == len(set(rows["string"]))


def test_reference_without_base_url_stays_absolute() -> None:
    rows = index_rows(PATIENT)
    assert of(rows, "reference", "organization") == {(0, "Organization", None, f"{BASE}/Organization/org1")}


BP: dict[str, Any] = {
    "resourceType": "Observation",
    "id": "bp",
    "status": "final",
    "code": {
        "coding": [{"system": "http://loinc.org", "code": "85354-9", "display": "Blood pressure panel"}],
        "text": "血压",
    },
    "subject": {"reference": "Patient/p1/_history/2"},
    "effectivePeriod": {"start": "2024-05-01T08:00:00+08:00", "end": "2024-05-01T08:05:00+08:00"},
    "component": [
        {
            "code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
            "valueQuantity": {"value": 120, "unit": "mmHg", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"},
        },
        {
            "code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]},
            "valueQuantity": {"value": 80.0, "system": "http://unitsofmeasure.org", "code": "mm[Hg]"},
        },
        {"code": {"coding": [{"system": "http://loinc.org", "code": "8478-0"}]}, "dataAbsentReason": {"text": "x"}},
    ],
}


def test_blood_pressure_panel_composites() -> None:
    rows = index_rows(BP)
    ucum = "http://unitsofmeasure.org"
    code, value = "component-code-value-quantity$0", "component-code-value-quantity$1"
    assert of(rows, "token", code) == {(1, "http://loinc.org", "8480-6", None), (2, "http://loinc.org", "8462-4", None)}
    assert of(rows, "quantity", value) == {
        (1, ucum, "mm[Hg]", 120.0, 119.5, 120.5),
        (1, None, "mmHg", 120.0, 119.5, 120.5),  # unit text differing from the code: ``||mmHg``
        (2, ucum, "mm[Hg]", 80.0, 79.95, 80.05),
    }
    # The Observation itself has no value: code-value-quantity has no group at all.
    assert not {"code-value-quantity$0", "code-value-quantity$1"} & (codes(rows, "token") | codes(rows, "quantity"))
    # "code-value-quantity=LOINC|8480-6$gt100" is answered by rows of one (rid, grp).
    systolic = {g for g, s, c, _ in of(rows, "token", code) if c == "8480-6"}
    assert {g for g, *_, v, _lo, _hi in of(rows, "quantity", value) if v > 100} == systolic == {1}
    assert of(rows, "quantity", "component-value-quantity") == {
        (0, ucum, "mm[Hg]", 120.0, 119.5, 120.5),
        (0, None, "mmHg", 120.0, 119.5, 120.5),
        (0, ucum, "mm[Hg]", 80.0, 79.95, 80.05),
    }
    # CodeableConcept: coding row (its display) and the text row; version-specific local reference.
    assert of(rows, "token", "code") == {
        (0, "http://loinc.org", "85354-9", "blood pressure panel"),
        (0, None, None, "血压"),
    }
    assert of(rows, "reference", "subject") == {(0, "Patient", "p1", None)}
    # Period at second precision.
    assert of(rows, "date", "date") == {(0, ms("2024-05-01T08:00:00+08:00"), ms("2024-05-01T08:05:00+08:00") + 999)}


def test_observation_code_value_concept_groups_the_observation() -> None:
    obs = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "883-9"}]},
        "valueCodeableConcept": {"coding": [{"system": "http://snomed.info/sct", "code": "278149003"}]},
    }
    rows = index_rows(obs)
    assert of(rows, "token", "code-value-concept$0") == {(1, "http://loinc.org", "883-9", None)}
    assert of(rows, "token", "code-value-concept$1") == {(1, "http://snomed.info/sct", "278149003", None)}
    assert of(rows, "token", "combo-code-value-concept$1") == {(1, "http://snomed.info/sct", "278149003", None)}


def test_periods_timings_and_open_ends() -> None:
    enc = {"resourceType": "Encounter", "status": "in-progress", "period": {"start": "2024-05-01"}}
    assert of(index_rows(enc, tz=UTC), "date", "date") == {(0, ms("2024-05-01T00:00:00+00:00"), MAX_MS)}
    enc["period"] = {"end": "2024-05"}
    assert of(index_rows(enc, tz=UTC), "date", "date") == {(0, MIN_MS, ms("2024-06-01T00:00:00+00:00") - 1)}
    plan = {
        "resourceType": "CarePlan",
        "activity": [
            {
                "detail": {
                    "status": "scheduled",
                    "scheduledTiming": {
                        "event": ["2024-05-03T10:00:00Z", "2024-05-01T10:00:00Z"],
                        "repeat": {"boundsPeriod": {"start": "2024-04-30T00:00:00Z", "end": "2024-05-02T00:00:00Z"}},
                    },
                }
            },
            {"detail": {"status": "scheduled", "scheduledString": "daily"}},
        ],
    }
    assert of(index_rows(plan), "date", "activity-date") == {
        (0, ms("2024-04-30T00:00:00+00:00"), ms("2024-05-03T10:00:00+00:00") + 999)
    }


def test_canonical_and_uri_references() -> None:
    qr = {
        "resourceType": "QuestionnaireResponse",
        "status": "completed",
        "questionnaire": "http://x/Questionnaire/q|2.0",
    }
    assert of(index_rows(qr), "reference", "questionnaire") == {(0, None, None, "http://x/Questionnaire/q")}
    vs = {"resourceType": "ValueSet", "status": "active", "url": "http://x/ValueSet/v", "version": "1"}
    rows = index_rows(vs)
    assert of(rows, "uri", "url") == {(0, "http://x/ValueSet/v")}
    assert of(rows, "token", "version") == {(0, None, "1", None)}


def test_quantities_money_ranges_and_near() -> None:
    cond = {"resourceType": "Condition", "subject": {"reference": "Patient/1"}, "onsetRange": {
        "low": {"value": 5, "unit": "a", "system": "http://unitsofmeasure.org", "code": "a"},
        "high": {"value": 10, "unit": "a", "system": "http://unitsofmeasure.org", "code": "a"}}}  # fmt: skip
    assert of(index_rows(cond), "quantity", "onset-age") == {(0, "http://unitsofmeasure.org", "a", 5.0, 4.5, 10.5)}
    cond["onsetAge"] = cond.pop("onsetRange")["low"] | {"comparator": "<"}
    ((grp, _s, _u, value, low, high),) = of(index_rows(cond), "quantity", "onset-age")
    assert (grp, value, low, high) == (0, 5.0, -math.inf, 5.5)
    item = {"resourceType": "ChargeItem", "status": "billed", "subject": {"reference": "Patient/1"},
            "code": {"text": "x"}, "priceOverride": {"value": 12.5, "currency": "CNY"}}  # fmt: skip
    assert of(index_rows(item), "quantity", "price-override") == {
        (0, "urn:iso:std:iso:4217", "CNY", 12.5, 12.45, 12.55)
    }
    loc = {"resourceType": "Location", "position": {"latitude": 39.9042, "longitude": 116.4074}}
    rows = index_rows(loc)
    assert of(rows, "number", "near:latitude") == {(0, 39.9042, 39.90415, 39.90425)}
    assert of(rows, "number", "near:longitude") == {(0, 116.4074, 116.40735, 116.40745)}
    risk = {"resourceType": "RiskAssessment", "status": "final", "subject": {"reference": "Patient/1"},
            "prediction": [{"probabilityDecimal": 0.25}, {"probabilityRange": {"low": {"value": 0.1}}}]}  # fmt: skip
    assert of(index_rows(risk), "number", "probability") == {(0, 0.25, 0.245, 0.255), (0, 0.1, 0.05, math.inf)}


def test_malformed_values_are_skipped_not_raised() -> None:
    obs = {"resourceType": "Observation", "status": "final", "code": {"text": "x"}, "effectiveDateTime": "yesterday",
           "valueQuantity": {"value": "many"}, "subject": "Patient/1"}  # fmt: skip
    rows = index_rows(obs)
    assert rows["date"] == []
    assert rows["quantity"] == []
    assert rows["reference"] == []
    assert index_rows({"no": "type"}) == {t: [] for t in INDEX_TYPES}


def test_rows_fit_the_schema_on_synthea() -> None:
    if not SYNTHEA.is_dir():
        pytest.skip(f"Synthea fixtures not present at {SYNTHEA} (a user's clone has no ../shared)")
    arity = {t: len(table.columns) - 2 for t, table in INDEX_TABLES.items()}
    counted = 0
    for path in sorted(SYNTHEA.glob("*.json"))[:4]:
        for entry in json.loads(path.read_bytes())["entry"]:
            rows = index_rows(entry["resource"])
            for table, table_rows in rows.items():
                assert len(table_rows) == len(set(table_rows))
                for row in table_rows:
                    assert len(row) == arity[table], (table, row)
                    assert isinstance(row[0], str)
                    assert len(row[0]) <= 64
                    assert isinstance(row[1], int)
                    if table == "date":
                        assert MIN_MS <= row[2] <= row[3] <= MAX_MS
                    if table in ("number", "quantity"):
                        assert all(isinstance(x, float) for x in row[-3:])
                        assert row[-2] <= row[-3] <= row[-1]
                    counted += 1
    assert counted > 1000
