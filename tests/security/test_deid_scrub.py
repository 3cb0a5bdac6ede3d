"""Scrubbing one resource: free text and identifiers out, references and dates rewritten everywhere."""

from __future__ import annotations

import json
from typing import Any

from rhip.security.deid.keys import Keys
from rhip.security.deid.scrub import Scrubber, patient_refs

KEYS = Keys(b"0123456789abcdef")
EXPORTED = {"Patient/p1", "Encounter/e1"}

OBSERVATION: dict[str, Any] = {
    "resourceType": "Observation",
    "id": "o1",
    "meta": {"versionId": "3", "lastUpdated": "2025-03-01T02:00:00.000Z", "source": "his", "profile": ["http://x/p"]},
    "text": {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">张三 血压</div>'},
    "contained": [{"resourceType": "Practitioner", "id": "doc", "name": [{"text": "李医生"}], "gender": "male"}],
    "extension": [
        {"url": "http://x/free", "valueString": "住址 杭州市某路1号"},
        {"url": "http://x/who", "valueReference": {"reference": "Patient/p1", "display": "张三"}},
        {"url": "http://x/when", "valueDateTime": "2025-02-28T10:00:00+08:00"},
    ],
    "identifier": [{"system": "http://x/lab", "value": "LAB-778899"}],
    "status": "final",
    "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9", "display": "BP"}], "text": "血压"},
    "subject": {"reference": "Patient/p1", "display": "张三"},
    "encounter": {"reference": "http://fhir.test/Encounter/e1"},
    "focus": [{"reference": "Condition/gone"}, {"reference": "urn:uuid:7f0c"}, {"identifier": {"value": "1"}}],
    "performer": [{"reference": "#doc"}, {"reference": "https://other.example/Practitioner/9"}],
    "effectivePeriod": {"start": "2025-02-28T10:00:00+08:00", "end": "2025-03"},
    "issued": "2025-02-28T02:05:00.123Z",
    "note": [{"authorString": "王护士", "text": "患者自述 2025-02-20 起头痛"}],
    "component": [{"code": {"text": "x"}, "valueDateTime": "2025-02-27"}],
}


def scrubbed() -> dict[str, Any]:
    scrubber = Scrubber(KEYS, lambda t, i: f"{t}/{i}" in EXPORTED, "http://fhir.test")
    return scrubber.resource(json.loads(json.dumps(OBSERVATION)), 10)


def test_free_text_names_and_identifiers_are_removed() -> None:
    text = json.dumps(scrubbed(), ensure_ascii=False)
    for secret in ("张三", "李医生", "王护士", "杭州市", "LAB-778899", "头痛", "xhtml"):
        assert secret not in text


def test_ids_and_references_are_pseudonymised_consistently() -> None:
    out = scrubbed()
    patient = f"Patient/{KEYS.resource_id('Patient', 'p1')}"
    assert out["id"] == KEYS.resource_id("Observation", "o1")
    assert out["subject"] == {"reference": patient}
    assert out["extension"][0]["valueReference"] == {"reference": patient}
    assert out["encounter"] == {"reference": f"Encounter/{KEYS.resource_id('Encounter', 'e1')}"}


def test_references_to_unexported_or_foreign_targets_are_dropped_and_local_ones_kept() -> None:
    out = scrubbed()
    assert out["focus"] == [{"reference": "urn:uuid:7f0c"}]
    assert out["performer"] == [{"reference": "#doc"}]
    assert out["contained"] == [{"resourceType": "Practitioner", "id": "doc", "gender": "male"}]


def test_dates_move_by_the_offset_with_their_precision() -> None:
    out = scrubbed()
    assert out["effectivePeriod"] == {"start": "2025-03-10T10:00:00+08:00", "end": "2025-03"}
    assert out["issued"] == "2025-03-10T02:05:00.123Z"
    assert out["component"][0]["valueDateTime"] == "2025-03-09"
    assert out["extension"][1]["valueDateTime"] == "2025-03-10T10:00:00+08:00"
    assert out["meta"] == {"profile": ["http://x/p"], "lastUpdated": "2025-03-11T02:00:00.000Z"}


def test_patient_references_are_found_in_the_json_text() -> None:
    text = json.dumps(OBSERVATION)
    assert patient_refs(text, "http://fhir.test") == {"p1"}
    assert patient_refs('{"subject":{"reference":"http:\\/\\/fhir.test\\/Patient\\/p2"}}', "http://fhir.test") == {"p2"}


def test_another_key_gives_unrelated_pseudonyms_and_offsets() -> None:
    other = Keys(b"fedcba9876543210")
    ids = [f"id{i}" for i in range(500)]
    assert {KEYS.resource_id("Patient", i) for i in ids}.isdisjoint({other.resource_id("Patient", i) for i in ids})
    assert {KEYS.person(i) for i in ids}.isdisjoint({other.person(i) for i in ids})
    assert [KEYS.offset_days(i, 180) for i in ids] != [other.offset_days(i, 180) for i in ids]
    assert KEYS.fingerprint() != other.fingerprint()


def test_the_same_key_gives_the_same_pseudonyms() -> None:
    again = Keys(b"0123456789abcdef")
    assert again.resource_id("Encounter", "e1") == KEYS.resource_id("Encounter", "e1")
    assert again.resource_id("Encounter", "e1") != KEYS.resource_id("Condition", "e1")
