"""Structural validation of FHIR R4 (4.0.1) resources in JSON form: fast, exact, bilingual.

``validate_resource`` checks what the R4 StructureDefinitions and the JSON format rules
(http://hl7.org/fhir/R4/json.html) say about shape: resourceType, known elements and ``_x`` siblings,
cardinality, one variant per choice element, primitive JSON types, the spec's regexes, real calendar
dates, 32-bit integer ranges, no null/empty values, and required bindings to value sets that can be
enumerated offline. Inline resources (``contained``, ``Bundle.entry.resource``, ...) are validated by
their own ``resourceType``.

Not checked: FHIRPath invariants (``constraint``, e.g. ``ext-1``, ``dom-2``), profiles, reference
targets, bindings weaker than required, and the XHTML inside ``Narrative.div`` (only a non-empty string).
Issue codes: ``structure`` (shape, unknown element, null or empty), ``required`` (missing element or
resourceType), ``value`` (bad primitive), ``code-invalid`` (required binding), ``invalid`` (unknown,
abstract or unexpected resource type). Severity is ``error`` except ``warning`` for SHOULD-level rules
(control characters in a string).
"""

from __future__ import annotations

from typing import Any

from rhip.fhir.validation._issues import Issue
from rhip.fhir.validation._walk import validate

__all__ = ["Issue", "validate_resource"]


def validate_resource(resource: dict[str, Any]) -> list[Issue]:
    """All issues found in a parsed FHIR JSON resource (empty list = valid); never raises.

    Expects ``json.loads(..., parse_float=Decimal)`` output; anything else yields issues, not errors.
    """
    return validate(resource)
