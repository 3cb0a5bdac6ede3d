"""``Patient/$unmerge`` (WS/T 790.6 撤销合并): undo the last merge of a person.

Parameter ``source-patient``: the merged master (``Patient/mpi-<n>``) or one of the registrations
that were moved by the merge. Exactly those registrations go back to the restored person, so each
master reaches its own clinical resources again. 409 when the person is not merged.
"""

from __future__ import annotations

from rhip.fhir.operations import mpi_common as mc
from rhip.fhir.operations.registry import Operation
from rhip.fhir.rest import FhirRequest, FhirResponse
from rhip.mpi import actions, index
from rhip.mpi.tables import mpi_decisions
from rhip.security.policy import Access
from rhip.store.repository import Unit


def _merged_person(unit: Unit, ref: str) -> int:
    pid = str(ref).removeprefix("Patient/")
    if pid.startswith(mc.MASTER_PREFIX) and pid[len(mc.MASTER_PREFIX) :].isdigit():
        return int(pid[len(mc.MASTER_PREFIX) :])
    reg = mc.registration(unit, ref, "source-patient")
    # the registration's original person: the last merge that moved it
    d = mpi_decisions.c
    from sqlalchemy import select

    rows = unit.conn.execute(
        select(d.other_person, d.fields).where(d.kind == "merge", d.person == reg.person).order_by(d.id.desc())
    )
    for row in rows:
        if f"[{reg.rid}," in row.fields:
            return int(row.other_person)
    return reg.person


def handle(unit: Unit, req: FhirRequest, rtype: str | None, id: str | None) -> FhirResponse:
    unit.authorize(Access.WRITE, "Patient")
    params = mc.parameters(req)
    source = _merged_person(unit, mc.required(params, "source-patient"))
    done = actions.unmerge(unit.conn, source, unit.ctx.source, mc.now_ms())
    for pid in done["restored"]:
        unit.audit.note("update", "Patient", pid)
    out = []
    for number in (done["source"], done["target"]):
        person = index.person(unit.conn, number)
        assert person is not None
        out.append({"name": "result", "resource": mc.view(unit, person)})
    return FhirResponse(200, {"resourceType": "Parameters", "parameter": out})


DEFINITION = Operation(
    code="unmerge",
    types=("Patient",),
    levels=("type",),
    methods=("POST",),
    description="Undo the last merge of a person: the registrations it moved go back.",
    handle=handle,
)
