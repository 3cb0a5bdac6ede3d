"""``Patient/$link`` and ``Patient/$unlink`` (WS/T 790.6 关联 / 解除关联): a clerk's decision on one registration.

``$link``: ``source-patient`` (a registration) joins the person of ``target-patient`` (a registration
or a master); its link status becomes ``manual``, so later updates of that Patient do not move it.
``$unlink``: ``source-patient`` leaves its person for a new one of its own (also ``manual``).
"""

from __future__ import annotations

from rhip.fhir.operations import mpi_common as mc
from rhip.fhir.operations.registry import Operation
from rhip.fhir.rest import FhirRequest, FhirResponse
from rhip.mpi import actions, index
from rhip.mpi.index import Registration
from rhip.security.policy import Access
from rhip.store.repository import Unit


def _result(unit: Unit, person: int) -> FhirResponse:
    found = index.person(unit.conn, person)
    assert found is not None
    return FhirResponse(
        200, {"resourceType": "Parameters", "parameter": [{"name": "result", "resource": mc.view(unit, found)}]}
    )


def handle_link(unit: Unit, req: FhirRequest, rtype: str | None, id: str | None) -> FhirResponse:
    unit.authorize(Access.WRITE, "Patient")
    params = mc.parameters(req)
    reg = mc.registration(unit, mc.required(params, "source-patient"), "source-patient")
    target = mc.person_of(unit, mc.required(params, "target-patient"), "target-patient")
    anchor = index.members(unit.conn, target.person)
    to = anchor[0] if anchor else Registration(0, "", target.person, "", "", 0, 0, {})
    done = actions.link(unit.conn, reg, to, unit.ctx.source, mc.now_ms())
    unit.audit.note("update", "Patient", reg.id)
    return _result(unit, done["person"])


def handle_unlink(unit: Unit, req: FhirRequest, rtype: str | None, id: str | None) -> FhirResponse:
    unit.authorize(Access.WRITE, "Patient")
    params = mc.parameters(req)
    reg = mc.registration(unit, mc.required(params, "source-patient"), "source-patient")
    done = actions.unlink(unit.conn, reg, unit.ctx.source, mc.now_ms())
    unit.audit.note("update", "Patient", reg.id)
    return _result(unit, done["person"])


LINK = Operation(
    code="link",
    types=("Patient",),
    levels=("type",),
    methods=("POST",),
    description="Attach a registration to another person of the master person index (clerk decision).",
    handle=handle_link,
)

UNLINK = Operation(
    code="unlink",
    types=("Patient",),
    levels=("type",),
    methods=("POST",),
    description="Detach a registration from its person into a person of its own (clerk decision).",
    handle=handle_unlink,
)
