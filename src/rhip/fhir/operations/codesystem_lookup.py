"""``CodeSystem/$lookup`` (FHIR R4 codesystem-operation-lookup): details of one code.

In: ``system`` + ``code`` (or ``coding``), ``version``, ``date``, ``displayLanguage`` (``zh`` default,
``en``), ``property`` (repeatable). Out: ``name``, ``version``, ``display``, ``designation``, ``property``
(``parent``, ``child``, ICD-10 ``kind``, GB/T 2260 ``status``/``valid_from``/``valid_to`` ...).
Logic lives in ``rhip.terminology``; unknown system or code → 404, missing ``code`` → 400.
"""

from __future__ import annotations

from rhip.fhir.operations.registry import Operation
from rhip.fhir.rest import FhirRequest, FhirResponse
from rhip.store.repository import Unit
from rhip.terminology.lookup import lookup
from rhip.terminology.params import read as read_params


def handle(unit: Unit, req: FhirRequest, rtype: str | None, id: str | None) -> FhirResponse:
    return FhirResponse(200, lookup(unit, read_params(req), id))


DEFINITION = Operation(
    code="lookup",
    types=("CodeSystem",),
    levels=("type",),
    methods=("GET", "POST"),
    description="Look up a code: display (Chinese or English), designations, properties (parent, child, validity).",
    handle=handle,
)
