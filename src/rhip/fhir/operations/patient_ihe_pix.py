"""``Patient/$ihe-pix`` (IHE PIXm, ITI-83): cross-references of a resident from any identity domain.

``sourceIdentifier=system|value`` may be any identifier of any registration (身份证号, a hospital's
patient number, the health card, or the master number ``<canonical>/sid/mpi-person|<n>``); optional
``targetSystem`` keeps only identifiers of that domain. Returns Parameters as PIXm does:
``targetIdentifier`` (every identifier of every registration of the person), ``targetId`` (every
registration, ``Patient/<id>``), plus ``master`` (the golden record as a Patient, ``Patient/mpi-<n>``,
with ``Patient.link`` ``seealso`` to each registration). GET or POST; 404 when no registration
carries the identifier.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from rhip.fhir.errors import FhirError
from rhip.fhir.operations import mpi_common as mc
from rhip.fhir.operations.registry import Operation
from rhip.fhir.rest import FhirRequest, FhirResponse
from rhip.mpi import index
from rhip.mpi.actions import current
from rhip.mpi.golden import PERSON_SYSTEM
from rhip.mpi.tables import mpi_registrations
from rhip.security.fields import index_values
from rhip.security.policy import Access
from rhip.store.repository import Unit
from rhip.store.schema import idx_token, resources


def handle(unit: Unit, req: FhirRequest, rtype: str | None, id: str | None) -> FhirResponse:
    unit.authorize(Access.READ, "Patient")
    params = mc.parameters(req)
    source = mc.value(params, "sourceIdentifier")
    if isinstance(source, dict):
        system, value = str(source.get("system") or ""), str(source.get("value") or "")
    else:
        system, _, value = str(source or "").partition("|")
    if not system or not value:
        raise FhirError.bad_request(
            "sourceIdentifier=system|value is required",
            "缺少参数 sourceIdentifier（格式 system|value）",
            "sourceIdentifier",
        )
    target_system = mc.value(params, "targetSystem")
    unit.audit.query("operation", f"Patient/$ihe-pix?sourceIdentifier={system}|{value}")
    conn = unit.conn
    pids: set[int] = set()
    if system == PERSON_SYSTEM and value.isdigit():
        pids.add(int(value))
    else:
        t, r = idx_token.c, resources.c
        rids = select(t.rid).where(
            t.rtype == "Patient", t.code == "identifier", t.system == system, t.value.in_(index_values(value, system))
        )
        live = select(r.rid).where(r.rid.in_(rids), r.deleted.is_(False))
        reg = mpi_registrations.c
        pids |= {int(row.person) for row in conn.execute(select(reg.person).where(reg.rid.in_(live)))}
    persons = {current(conn, p).person for p in pids if index.person(conn, p) is not None}
    if not persons:
        raise FhirError.of(404, "not-found", f"no registration carries {system}|{value}", "没有登记记录含有该标识符")
    out: list[dict[str, Any]] = []
    for pid in sorted(persons):
        person = index.person(conn, pid)
        assert person is not None
        master = mc.view(unit, person)
        for ident in master.get("identifier", []):
            if target_system and ident["system"] != target_system:
                continue
            out.append({"name": "targetIdentifier", "valueIdentifier": ident})
        for ref in person.golden.get("registrations") or []:
            out.append({"name": "targetId", "valueReference": {"reference": ref}})
        out.append({"name": "master", "resource": master})
    return FhirResponse(200, {"resourceType": "Parameters", "parameter": out})


DEFINITION = Operation(
    code="ihe-pix",
    types=("Patient",),
    levels=("type",),
    methods=("GET", "POST"),
    description="PIXm query: every identifier and registration of the person an identifier belongs to, and the master.",
    handle=handle,
)
