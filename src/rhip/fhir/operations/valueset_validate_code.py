"""``ValueSet/$validate-code`` (FHIR R4 valueset-operation-validate-code).

In: ``url`` (+ ``valueSetVersion``) or ``valueSet`` (inline) or the instance; ``code`` + ``system``
(+ ``systemVersion``), ``coding`` or ``codeableConcept``; ``display``, ``date``, ``abstract``,
``displayLanguage``. Implicit value sets: ``<system>?fhir_vs``. Out: ``result``, ``message``, ``display``.
"""

from __future__ import annotations

from rhip.fhir.operations.registry import Operation
from rhip.fhir.rest import FhirRequest, FhirResponse
from rhip.store.repository import Unit
from rhip.terminology.params import read as read_params
from rhip.terminology.validation import validate_in_value_set


def handle(unit: Unit, req: FhirRequest, rtype: str | None, id: str | None) -> FhirResponse:
    return FhirResponse(200, validate_in_value_set(unit, read_params(req), id))


DEFINITION = Operation(
    code="validate-code",
    types=("ValueSet",),
    levels=(
        "type",
        "instance",
    ),
    methods=("GET", "POST"),
    description="Validate a code (or coding, codeableConcept) and its display against a value set.",
    handle=handle,
)
