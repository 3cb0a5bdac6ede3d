"""ID numbers and phones sealed at rest (decision 0019), on both engines.

Every test reads the database *raw* (bypassing the decrypting column types) to prove what an attacker
with a copy of the database sees, and reads through the API to prove nothing changed for clients.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, Text, select, type_coerce

from rhip import cli, platform
from rhip.fhir.search.parse import parse_query
from rhip.identity.ric import check_digit
from rhip.mpi.sealing import index_keys_in_use, reseal_index
from rhip.mpi.tables import mpi_keys, mpi_persons, mpi_registrations
from rhip.security import fields
from rhip.security.context import RequestContext
from rhip.security.crypto import KeyRing
from rhip.settings import Settings
from rhip.store import audit_log, bulk
from rhip.store.audit_tables import audit_events, audit_staging
from rhip.store.quality_tables import validation_issues
from rhip.store.repository import Repository
from rhip.store.reseal import keys_in_use, reseal
from rhip.store.schema import idx_string, idx_token, resource_versions

ID_SYSTEM = "urn:oid:2.16.156.10011.1.3"
MRN_SYSTEM = "http://rhip.cn/fhir/sid/mrn/h1"
RIC = "11010519491231002" + check_digit("11010519491231002")
PHONE = "13912345678"
CONTACT_PHONE = "13800000001"
SECRETS = (RIC, PHONE, CONTACT_PHONE)


def patient(pid: str | None = None, ric: str = RIC, phone: str = PHONE) -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "Patient",
        "identifier": [
            {
                "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "NNCHN"}]},
                "system": ID_SYSTEM,
                "value": ric,
            },
            {"system": MRN_SYSTEM, "value": "MRN-0001"},
        ],
        "name": [{"text": "王秀英"}],
        "gender": "female",
        "birthDate": "1949-12-31",
        "telecom": [{"system": "phone", "value": phone}, {"system": "email", "value": "wxy@example.cn"}],
        "contact": [{"telecom": [{"system": "phone", "value": CONTACT_PHONE}]}],
    }
    if pid:
        res["id"] = pid
    return res


def raw_text(engine: Engine) -> str:
    """Everything stored that could hold an identifier, as the database holds it."""
    cols = [
        type_coerce(resource_versions.c.content, Text),
        idx_token.c.value,
        idx_string.c.exact,
        type_coerce(mpi_registrations.c.record, Text),
        type_coerce(mpi_persons.c.golden, Text),
        type_coerce(mpi_persons.c.ric_valid, Text),
        mpi_keys.c.sort,
        validation_issues.c.diagnostics,
        audit_events.c.content,
        audit_staging.c.data,
    ]
    parts = []
    with engine.connect() as conn:
        for col in cols:
            parts += [str(v) for (v,) in conn.execute(select(col)) if v is not None]
    return "\n".join(parts)


def assert_sealed(engine: Engine) -> str:
    text = raw_text(engine)
    for secret in SECRETS:
        assert secret not in text, f"{secret} stored in clear"
    assert "sm4g1." in text
    return text


def test_stored_sealed_and_read_back_exactly(api: Any, engine: Engine) -> None:
    created = api.post("/Patient", json=patient())
    assert created.status_code == 201, created.text
    pid = created.json()["id"]
    text = assert_sealed(engine)
    assert "MRN-0001" in text
    assert "wxy@example.cn" in text
    read = api.get(f"/Patient/{pid}")
    assert read.content == created.content  # the JSON as received, byte for byte
    assert api.get(f"/Patient/{pid}/_history/1").content == created.content
    updated = api.put(f"/Patient/{pid}", json={**created.json(), "gender": "male"})
    assert updated.status_code == 200
    assert api.get(f"/Patient/{pid}/_history/1").json()["telecom"][0]["value"] == PHONE
    assert_sealed(engine)


def search_ids(api: Any, query: str) -> list[str]:
    got = api.get(query)
    assert got.status_code == 200, got.text
    return [e["resource"]["id"] for e in got.json().get("entry", []) if e["search"]["mode"] == "match"]


def test_exact_search_on_sealed_values(api: Any, engine: Engine) -> None:
    pid = api.post("/Patient", json=patient()).json()["id"]
    other = api.post(
        "/Patient", json=patient(ric="11010119800101001" + check_digit("11010119800101001"), phone="13700000000")
    )
    assert other.status_code == 201
    obs = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "血压"},
        "subject": {"identifier": {"system": ID_SYSTEM, "value": RIC}},
    }
    oid = api.post("/Observation", json=obs).json()["id"]
    assert search_ids(api, f"/Patient?identifier={ID_SYSTEM}|{RIC}") == [pid]
    assert search_ids(api, f"/Patient?identifier={RIC}") == [pid]
    assert search_ids(api, f"/Patient?identifier={RIC.lower()}") == [pid]  # check character x/X
    assert search_ids(api, f"/Patient?phone={PHONE}") == [pid]
    assert search_ids(api, f"/Patient?telecom=phone|{PHONE}") == [pid]
    assert search_ids(
        api, f"/Patient?identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|NNCHN|{RIC}"
    ) == [pid]
    assert search_ids(api, f"/Observation?subject:identifier={ID_SYSTEM}|{RIC}") == [oid]
    assert sorted(search_ids(api, f"/Patient?identifier={MRN_SYSTEM}|MRN-0001")) == sorted([pid, other.json()["id"]])
    assert search_ids(api, f"/Patient?identifier={ID_SYSTEM}|{RIC[:-1]}0") == []
    assert search_ids(api, f"/Patient?phone={PHONE[:-1]}") == []
    count = api.get(f"/Patient?identifier={RIC}&_summary=count").json()
    assert count["total"] == 1
    assert RIC not in raw_text(engine)


def test_mrn_search_unchanged(api: Any) -> None:
    a = api.post("/Patient", json=patient()).json()["id"]
    assert search_ids(api, f"/Patient?identifier={MRN_SYSTEM}|MRN-0001") == [a]
    assert search_ids(api, "/Patient?email=wxy@example.cn") == [a]


def test_audit_trail_masks_searched_numbers(api: Any, engine: Engine) -> None:
    api.post("/Patient", json=patient())
    api.get(f"/Patient?identifier={ID_SYSTEM}|{RIC}&phone={PHONE}")
    api.get(f"/Patient?identifier={RIC.lower()}")  # without a system: masked by the parameter's name
    stored = raw_text(engine)  # the event staged (PostgreSQL) or chained (SQLite)
    assert RIC not in stored
    assert PHONE not in stored
    audit_log.settle(engine)
    with engine.connect() as conn:
        trail = "\n".join(str(c) for (c,) in conn.execute(select(audit_events.c.content)))
    assert RIC not in trail
    assert PHONE not in trail
    queries = [e["query"] for ev in map(json.loads, trail.splitlines()) for e in ev.get("entity", []) if "query" in e]
    decoded = [base64.b64decode(q).decode() for q in queries]
    assert any(f"{RIC[:6]}********{RIC[-4:]}" in q and "139****5678" in q for q in decoded), decoded
    assert f"Patient?identifier={RIC[:6]}********{RIC[-4:].lower()}" in decoded
    assert not any(RIC in q.upper() for q in decoded)


def test_findings_mask_invalid_numbers(api: Any, engine: Engine) -> None:
    bad = RIC[:-1] + ("0" if RIC[-1] != "0" else "1")
    res = api.post("/Patient", json=patient(ric=bad, phone="12345"))
    assert res.status_code == 201
    with engine.connect() as conn:
        stored = " ".join(str(d) for (d,) in conn.execute(select(validation_issues.c.diagnostics)))
    assert bad not in stored
    assert "12345" not in stored
    assert bad not in raw_text(engine)


def test_lookalike_strings_are_kept(api: Any) -> None:
    res = patient()
    res["name"] = [{"text": "sm4g1.t1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}]
    created = api.post("/Patient", json=res)
    assert created.status_code == 201
    assert api.get(f"/Patient/{created.json()['id']}").json()["name"] == res["name"]


def test_bulk_import_seals(engine: Engine, settings: Settings, tmp_path: Path) -> None:
    repo = Repository(engine, settings)
    lines = [("t.ndjson", 1, json.dumps(patient("bulk-1"), ensure_ascii=False))]
    report = bulk.load(repo, lines, RequestContext.system("test"), workers=1)
    assert report.loaded == 1
    assert_sealed(engine)
    with repo.unit(RequestContext.system("test")) as unit:
        assert unit.read("Patient", "bulk-1").resource()["identifier"][0]["value"] == RIC


def test_mpi_matches_on_sealed_values(engine: Engine, settings: Settings) -> None:
    repo = platform.repository(engine, settings)
    ids = []
    for source in ("h1", "h2"):
        with repo.unit(RequestContext.system(source)) as unit:
            ids.append(unit.create(patient()).stored.id)
    with engine.connect() as conn:
        people = {r.id: r.person for r in conn.execute(select(mpi_registrations.c.id, mpi_registrations.c.person))}
        held = conn.execute(select(mpi_persons.c.ric_valid)).scalars().all()
    assert people[ids[0]] == people[ids[1]] > 0  # linked through the sealed ID number
    pix = api_for(repo, settings).get("/Patient/$ihe-pix", params={"sourceIdentifier": f"{ID_SYSTEM}|{RIC}"})
    assert pix.status_code == 200, pix.text
    refs = {p["valueReference"]["reference"] for p in pix.json()["parameter"] if p["name"] == "targetId"}
    assert refs == {f"Patient/{i}" for i in ids}
    assert held == [RIC]  # decrypted by the column type
    assert_sealed(engine)


@pytest.fixture
def restore_ring() -> Iterator[None]:
    before = fields.ring()
    yield
    fields.configure(before)


def test_rotation_reseal_and_retire(engine: Engine, settings: Settings, restore_ring: None) -> None:
    repo = platform.repository(engine, settings)
    old = fields.ring()
    with repo.unit(RequestContext.system("h1")) as unit:
        first = unit.create(patient()).stored.id
    rotated = KeyRing({"r2": bytes(range(16)), **old.keys}, "r2")
    fields.configure(rotated)  # a new active key; the old one still reads

    def found(query: str) -> list[str]:
        name, _, value = query.partition("=")
        with repo.unit(RequestContext.system("h1")) as unit:
            return [m.id for m in unit.search(parse_query("Patient", [(name, value)])).matches]

    assert found(f"identifier={RIC}") == [first]  # indexed under the old key, found during the rotation
    with repo.unit(RequestContext.system("h2")) as unit:
        second = unit.create(patient()).stored.id
    assert sorted(found(f"phone={PHONE}")) == sorted([first, second])
    assert keys_in_use(engine) == {old.active, "r2"}
    report = reseal(engine, settings, also=reseal_index)
    assert report.resealed >= 1
    assert report.extra == {"mpi_registrations": 2, "mpi_persons": 1}
    assert keys_in_use(engine) == {"r2"}
    assert index_keys_in_use(engine) == {"r2"}
    fields.configure(KeyRing({"r2": rotated.keys["r2"]}, "r2"))  # the old key retired
    assert sorted(found(f"identifier={ID_SYSTEM}|{RIC}")) == sorted([first, second])
    with repo.unit(RequestContext.system("h3")) as unit:
        third = unit.create(patient()).stored.id  # matched through re-keyed blocking keys
        assert unit.read("Patient", first).resource()["telecom"][0]["value"] == PHONE
    with engine.connect() as conn:
        people = {r.id: r.person for r in conn.execute(select(mpi_registrations.c.id, mpi_registrations.c.person))}
    assert people[third] == people[first] == people[second]
    assert_sealed(engine)


def test_cli_rotate_reseal_retire(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, restore_ring: None, capsys: Any
) -> None:
    monkeypatch.delenv("RHIP_FIELD_KEYS", raising=False)
    db = f"sqlite:///{tmp_path / 'r.sqlite'}"
    common = ["--db", db, "--data-dir", str(tmp_path)]
    settings = Settings(db=db, data_dir=tmp_path)
    repo = platform.repository(_engine(settings), settings)  # creates field.keys with k1
    with repo.unit(RequestContext.system("h1")) as unit:
        pid = unit.create(patient()).stored.id
    repo.engine.dispose()
    assert cli.main(["keys", "retire", "k1", *common]) == 1  # the active key
    capsys.readouterr()
    assert cli.main(["keys", "rotate", *common]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["active"] == "k2"
    assert out["keys"] == ["k2", "k1"]
    assert out["resealed"] >= 1
    assert out["mpi_registrations"] == 1
    assert cli.main(["keys", "retire", "k1", *common]) == 0
    assert (tmp_path / "field.keys").read_text().startswith("k2:")
    assert "k1:" not in (tmp_path / "field.keys").read_text()
    repo = platform.repository(_engine(settings), settings)
    with repo.unit(RequestContext.system("h1")) as unit:
        assert unit.read("Patient", pid).resource()["identifier"][0]["value"] == RIC
    repo.engine.dispose()


def api_for(repo: Repository, settings: Settings) -> Any:
    """A test client of the platform app with a system token (not the ``api`` fixture: this test needs
    the platform repository, with the MPI hook)."""
    from fastapi.testclient import TestClient

    from rhip.app import create_app
    from rhip.security import tokens

    app = create_app(settings, repo)
    ctx = RequestContext(subject="tester", kind="client", scopes=frozenset({"system/*.*"}))
    token = tokens.issue(app.state.jwt_secret, ctx, 3600)
    return TestClient(app, base_url="http://fhir.test", headers={"Authorization": f"Bearer {token}"})


def _engine(settings: Settings) -> Engine:
    from rhip.store.db import make_engine, migrate

    engine = make_engine(settings.database_url())
    migrate(engine)
    return engine
