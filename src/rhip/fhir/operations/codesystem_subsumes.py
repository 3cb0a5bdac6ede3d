"""``CodeSystem/$subsumes`` (FHIR R4 codesystem-operation-subsumes).

In: ``system`` + ``codeA`` + ``codeB`` (or ``codingA``/``codingB``), ``version``; type or instance level.
Out: ``outcome`` = equivalent | subsumes | subsumed-by | not-subsumed (ICD-10 with national-edition
codes, GB/T 2260, stored hierarchies). Unknown code → 404.
"""

from __future__ import annotations

from rhip.fhir.operations.registry import Operation
from rhip.fhir.rest import FhirRequest, FhirResponse
from rhip.store.repository import Unit
from rhip.terminology.lookup import subsumes
from rhip.terminology.params import read as read_params


def handle(unit: Unit, req: FhirRequest, rtype: str | None, id: str | None) -> FhirResponse:
    return FhirResponse(200, subsumes(unit, read_params(req), id))


DEFINITION = Operation(
    code="subsumes",
    types=("CodeSystem",),
    levels=(
        "type",
        "instance",
    ),
    methods=("GET", "POST"),
    description="Test the subsumption of two codes (ICD-10, GB/T 2260 and stored hierarchies).",
    handle=handle,
)
