"""Shared by the master person index operations: Parameters input, references to registrations or
masters (``Patient/<id>`` or ``Patient/mpi-<n>``), the master view, and the clock."""

from __future__ import annotations

import time
from typing import Any

from rhip.fhir.errors import FhirError
from rhip.fhir.rest import FhirRequest, parse_body
from rhip.mpi import index
from rhip.mpi.actions import current
from rhip.mpi.golden import master_view
from rhip.mpi.index import Person, Registration
from rhip.store.repository import Unit

MASTER_PREFIX = "mpi-"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def parameters(req: FhirRequest) -> dict[str, list[dict[str, Any]]]:
    """Parameters by name: a POSTed Parameters resource, or the query string for GET."""
    out: dict[str, list[dict[str, Any]]] = {}
    if req.method.upper() == "GET" or not req.body:
        for k, v in req.query:
            out.setdefault(k, []).append({"name": k, "valueString": v})
        return out
    body = parse_body(req)
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        raise FhirError.bad_request("the body must be a Parameters resource", "请求体必须是 Parameters 资源")
    for p in body.get("parameter") or []:
        if isinstance(p, dict) and isinstance(p.get("name"), str):
            out.setdefault(p["name"], []).append(p)
    return out


def value(params: dict[str, list[dict[str, Any]]], name: str) -> Any:
    """The first value of parameter ``name`` (any value[x], a reference's text, or None)."""
    for p in params.get(name, []):
        for key, v in p.items():
            if key.startswith("value"):
                return v["reference"] if key == "valueReference" and isinstance(v, dict) else v
    return None


def required(params: dict[str, list[dict[str, Any]]], name: str) -> Any:
    v = value(params, name)
    if v in (None, ""):
        raise FhirError.bad_request(f"parameter '{name}' is required", f"缺少参数：{name}", name)
    return v


def _patient_id(ref: Any, name: str) -> str:
    text = str(ref).strip()
    if text.startswith("Patient/"):
        text = text[len("Patient/") :]
    if not text or "/" in text:
        raise FhirError.bad_request(
            f"parameter '{name}' must reference a Patient (Patient/<id>)", f"参数 {name} 必须引用 Patient", name
        )
    return text


def registration(unit: Unit, ref: Any, name: str) -> Registration:
    """The registration a ``Patient/<id>`` reference names (read through the unit: authorised, audited)."""
    pid = _patient_id(ref, name)
    unit.read("Patient", pid)
    found = index.registration_by_id(unit.conn, pid)
    if found is None:
        raise FhirError.of(
            404,
            "not-found",
            f"Patient/{pid} is not registered in the master person index (run 'rhip mpi dedupe' after bulk loads)",
            f"Patient/{pid} 未登记到居民主索引",
        )
    return found


def person_of(unit: Unit, ref: Any, name: str) -> Person:
    """The current person of a registration or of a master reference ``Patient/mpi-<n>``."""
    pid = _patient_id(ref, name)
    if pid.startswith(MASTER_PREFIX) and pid[len(MASTER_PREFIX) :].isdigit():
        number = int(pid[len(MASTER_PREFIX) :])
        found = index.person(unit.conn, number)
        if found is None:
            raise FhirError.of(404, "not-found", f"Patient/{pid} does not exist", f"主索引中不存在：Patient/{pid}")
        return found
    return current(unit.conn, registration(unit, ref, name).person)


def view(unit: Unit, person: Person) -> dict[str, Any]:
    """The master view of a person; its registrations are noted in the unit's audit event."""
    for ref in person.golden.get("registrations") or []:
        unit.audit.note("operation", "Patient", str(ref).split("/", 1)[-1])
    return master_view(person.person, person.status, person.version, person.replaced_by, person.golden)


def full_url(req: FhirRequest, person: int) -> str:
    return f"{req.base_url}/Patient/{MASTER_PREFIX}{person}"
