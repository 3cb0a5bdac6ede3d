"""Every Synthea R4 fixture bundle loads as a transaction and is then found exactly by search."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit


def walk_ids(api: Any, url: str, params: dict[str, str]) -> tuple[list[str], int]:
    """Ids of every match of a search (following next links) and the first page's total."""
    r = api.get(url, params=params)
    assert r.status_code == 200, r.text
    b = r.json()
    first_total = b["total"]
    out: list[str] = []
    while True:
        out += [e["resource"]["id"] for e in b.get("entry", []) if e["search"]["mode"] == "match"]
        nxt = next((link["url"] for link in b["link"] if link["relation"] == "next"), None)
        if nxt is None:
            return out, first_total
        parts = urlsplit(nxt)
        r = api.get(f"{parts.path}?{parts.query}")
        assert r.status_code == 200, r.text
        b = r.json()


def subject_urn(resource: dict[str, Any]) -> str | None:
    for key in ("subject", "patient"):
        ref = resource.get(key)
        if isinstance(ref, dict) and isinstance(ref.get("reference"), str):
            return str(ref["reference"])
    return None


def test_every_synthea_bundle_loads_and_is_searchable(api: Any, synthea_files: list[Path]) -> None:
    files = synthea_files
    assert len(files) >= 10
    by_type: dict[str, set[str]] = defaultdict(set)
    # per patient id: {type: ids} of the resources whose subject/patient was that patient's urn:uuid
    by_patient: dict[str, dict[str, set[str]]] = {}
    n_entries = 0
    for path in files:
        bundle = json.loads(path.read_text())
        assert bundle["type"] == "transaction"
        r = api.post("/", content=path.read_bytes(), headers={"Content-Type": "application/fhir+json"})
        assert r.status_code == 200, (path.name, r.text[:2000])
        out = r.json()
        assert out["type"] == "transaction-response"
        assert len(out["entry"]) == len(bundle["entry"])
        urn_to_id: dict[str, tuple[str, str]] = {}
        for sent, got in zip(bundle["entry"], out["entry"], strict=True):
            rtype = sent["resource"]["resourceType"]
            assert got["response"]["status"] == "201", (path.name, got)
            loc_type, new_id, hist, version = got["response"]["location"].split("/")
            assert (loc_type, hist, version) == (rtype, "_history", "1")
            assert new_id not in by_type[rtype]
            by_type[rtype].add(new_id)
            urn_to_id[sent["fullUrl"]] = (rtype, new_id)
            n_entries += 1
        patients = [v[1] for v in urn_to_id.values() if v[0] == "Patient"]
        assert len(patients) == 1
        mine: dict[str, set[str]] = defaultdict(set)
        for sent in bundle["entry"]:
            urn = subject_urn(sent["resource"])
            if urn is not None and urn_to_id.get(urn, ("", ""))[0] == "Patient":
                assert urn_to_id[urn][1] == patients[0]
                mine[sent["resource"]["resourceType"]].add(urn_to_id[sent["fullUrl"]][1])
        by_patient[patients[0]] = mine

    assert n_entries == sum(len(v) for v in by_type.values())
    assert {"Patient", "Observation", "Encounter", "Condition", "Organization", "Practitioner"} <= set(by_type)
    for rtype, expected in sorted(by_type.items()):
        got, total = walk_ids(api, f"/{rtype}", {"_count": "1000", "_total": "accurate"})
        assert total == len(expected), rtype
        assert len(got) == len(set(got)) == len(expected), rtype
        assert set(got) == expected, rtype
    r = api.get("/", params={"_summary": "count"})
    assert r.json()["total"] == n_entries

    # Per patient: the observations and encounters that referred to that patient in the bundle.
    for pid, mine in by_patient.items():
        for rtype, param in (("Observation", "subject"), ("Encounter", "patient"), ("Condition", "subject")):
            got, total = walk_ids(api, f"/{rtype}", {param: f"Patient/{pid}", "_count": "1000", "_elements": "id"})
            assert set(got) == mine.get(rtype, set()), (pid, rtype)
            assert total == len(mine.get(rtype, set()))
    # References inside the stored resources point at the server ids (no urn:uuid left).
    pid, mine = next(iter(by_patient.items()))
    oid = sorted(mine["Observation"])[0]
    o = api.get(f"/Observation/{oid}").json()
    assert o["subject"]["reference"] == f"Patient/{pid}"
    assert o["encounter"]["reference"].split("/")[1] in by_type["Encounter"]
    assert "urn:uuid" not in api.get(f"/Patient/{pid}/$everything").text
