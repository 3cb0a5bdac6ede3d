"""``CodeSystem/$validate-code`` (FHIR R4 codesystem-operation-validate-code).

In: ``url`` (the code system; ``system`` is accepted too) + ``code`` [+ ``display``], or ``coding`` or
``codeableConcept``; ``version``, ``date``, ``abstract``, ``displayLanguage``, ``codeSystem`` (inline).
Out: ``result``, ``message`` (Chinese and English), ``display``. Type and instance level.
"""

from __future__ import annotations

from rhip.fhir.operations.registry import Operation
from rhip.fhir.rest import FhirRequest, FhirResponse
from rhip.store.repository import Unit
from rhip.terminology.params import read as read_params
from rhip.terminology.validation import validate_in_code_system


def handle(unit: Unit, req: FhirRequest, rtype: str | None, id: str | None) -> FhirResponse:
    return FhirResponse(200, validate_in_code_system(unit, read_params(req), id))


DEFINITION = Operation(
    code="validate-code",
    types=("CodeSystem",),
    levels=(
        "type",
        "instance",
    ),
    methods=("GET", "POST"),
    description="Validate a code (or coding, codeableConcept) and its display against a code system.",
    handle=handle,
)
