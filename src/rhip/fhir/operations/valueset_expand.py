"""``ValueSet/$expand`` (FHIR R4 valueset-operation-expand) with text filter and paging.

In: ``url`` (+ ``valueSetVersion``) or ``valueSet`` or the instance; ``filter``, ``offset``, ``count``,
``date``, ``displayLanguage``, ``activeOnly``, ``excludeNotForUI``, ``includeDesignations``,
``system-version``, ``force-system-version``. Out: the ValueSet with ``expansion`` (``total``, ``offset``,
``contains``). Implicit value sets: ``<system>?fhir_vs`` and ``<system>?fhir_vs=isa/<code>``.
"""

from __future__ import annotations

from rhip.fhir.operations.registry import Operation
from rhip.fhir.rest import FhirRequest, FhirResponse
from rhip.store.repository import Unit
from rhip.terminology.expansion import expand
from rhip.terminology.params import read as read_params


def handle(unit: Unit, req: FhirRequest, rtype: str | None, id: str | None) -> FhirResponse:
    return FhirResponse(200, expand(unit, read_params(req), id))


DEFINITION = Operation(
    code="expand",
    types=("ValueSet",),
    levels=(
        "type",
        "instance",
    ),
    methods=("GET", "POST"),
    description="Expand a value set, with a text filter (code, Chinese or English display) and offset/count paging.",
    handle=handle,
)
