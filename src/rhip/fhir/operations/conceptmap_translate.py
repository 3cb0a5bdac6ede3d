"""``ConceptMap/$translate`` (FHIR R4 conceptmap-operation-translate) over stored ConceptMaps.

In: ``system`` + ``code`` (or ``coding``/``codeableConcept``); the map by instance, ``url``
(+ ``conceptMapVersion``), inline ``conceptMap``, or every stored map holding the code; ``source``,
``target``, ``targetsystem``, ``dependency``, ``reverse``, ``date``. Out: ``result``, ``message``, ``match``
(``equivalence``, ``concept``, ``source``).
"""

from __future__ import annotations

from rhip.fhir.operations.registry import Operation
from rhip.fhir.rest import FhirRequest, FhirResponse
from rhip.store.repository import Unit
from rhip.terminology.params import read as read_params
from rhip.terminology.translation import translate


def handle(unit: Unit, req: FhirRequest, rtype: str | None, id: str | None) -> FhirResponse:
    return FhirResponse(200, translate(unit, read_params(req), id))


DEFINITION = Operation(
    code="translate",
    types=("ConceptMap",),
    levels=(
        "type",
        "instance",
    ),
    methods=("GET", "POST"),
    description="Translate a code with the stored ConceptMaps (e.g. local hospital codes to national codes).",
    handle=handle,
)
