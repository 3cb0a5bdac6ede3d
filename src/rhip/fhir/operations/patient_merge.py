"""``Patient/$merge`` (WS/T 790.6 合并; parameter names as FHIR R5's patient-merge).

Parameters ``source-patient`` and ``target-patient``: references to registrations (``Patient/<id>``)
or masters (``Patient/mpi-<n>``). Every registration of the source person moves to the target person;
the source master is then ``replaced-by`` the target (its view keeps ``Patient.link``). Clinical
resources are not touched: they stay reachable through the target master (``$mpi-person``) and go
back with ``$unmerge``. 422 when the two persons hold different valid 身份证号.
"""

from __future__ import annotations

from rhip.fhir.operations import mpi_common as mc
from rhip.fhir.operations.registry import Operation
from rhip.fhir.rest import FhirRequest, FhirResponse
from rhip.mpi import actions, index
from rhip.security.policy import Access
from rhip.store.repository import Unit


def handle(unit: Unit, req: FhirRequest, rtype: str | None, id: str | None) -> FhirResponse:
    unit.authorize(Access.WRITE, "Patient")
    params = mc.parameters(req)
    source = mc.person_of(unit, mc.required(params, "source-patient"), "source-patient")
    target = mc.person_of(unit, mc.required(params, "target-patient"), "target-patient")
    done = actions.merge(unit.conn, source.person, target.person, unit.ctx.source, mc.now_ms())
    for pid in done["moved"]:
        unit.audit.note("update", "Patient", pid)
    merged = index.person(unit.conn, target.person)
    assert merged is not None
    return FhirResponse(
        200,
        {
            "resourceType": "Parameters",
            "parameter": [
                {"name": "outcome", "valueString": f"merged person {source.person} into {target.person}"},
                {"name": "result", "resource": mc.view(unit, merged)},
            ],
        },
    )


DEFINITION = Operation(
    code="merge",
    types=("Patient",),
    levels=("type",),
    methods=("POST",),
    description="Merge the source person into the target person (registrations move; clinical resources stay).",
    handle=handle,
)
