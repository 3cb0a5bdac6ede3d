"""The operations table: routes ``$op`` URLs to their modules (and describes them for /metadata)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rhip.fhir.errors import FhirError
from rhip.fhir.rest import FhirRequest, FhirResponse
from rhip.store.repository import Unit


@dataclass(frozen=True, slots=True)
class Operation:
    code: str
    types: tuple[str, ...]
    """Resource types it applies to; ("*",) for every type."""
    levels: tuple[str, ...]
    methods: tuple[str, ...]
    description: str
    handle: Callable[[Unit, FhirRequest, str | None, str | None], FhirResponse]


def _operations() -> list[Operation]:
    from rhip.fhir.operations import (
        codesystem_lookup,
        codesystem_subsumes,
        codesystem_validate_code,
        conceptmap_translate,
        patient_break_glass,
        patient_everything,
        patient_ihe_pix,
        patient_link,
        patient_match,
        patient_merge,
        patient_mpi_person,
        patient_mpi_review,
        patient_unmerge,
        validate,
        valueset_expand,
        valueset_validate_code,
    )

    return [
        patient_everything.DEFINITION,
        patient_break_glass.DEFINITION,
        validate.DEFINITION,
        codesystem_lookup.DEFINITION,
        codesystem_validate_code.DEFINITION,
        valueset_validate_code.DEFINITION,
        valueset_expand.DEFINITION,
        codesystem_subsumes.DEFINITION,
        conceptmap_translate.DEFINITION,
        patient_match.DEFINITION,
        patient_ihe_pix.DEFINITION,
        patient_mpi_person.DEFINITION,
        patient_merge.DEFINITION,
        patient_unmerge.DEFINITION,
        patient_link.LINK,
        patient_link.UNLINK,
        patient_mpi_review.DEFINITION,
    ]


IDENTITY_OPERATIONS = frozenset({"match", "ihe-pix", "mpi-person", "merge", "unmerge", "link", "unlink", "mpi-review"})
"""Master-person-index operations read and change identities across every record, so callers with a
row-restricted scope (residents, clinicians, officers) may not use them (decision 0016)."""


def operations() -> list[Operation]:
    return _operations()


def invoke(unit: Unit, req: FhirRequest, parts: list[str]) -> FhirResponse:
    code = parts[-1][1:]
    rtype = parts[0] if len(parts) >= 2 else None
    id = parts[1] if len(parts) == 3 else None
    level = "instance" if id else ("type" if rtype else "system")
    if len(parts) > 3:
        level = "unknown"
    for op in _operations():
        if op.code != code or level not in op.levels:
            continue
        if rtype and "*" not in op.types and rtype not in op.types:
            continue
        if req.method.upper() not in op.methods:
            raise FhirError.of(
                405, "not-supported", f"${code} does not accept {req.method}", "该操作不支持此 HTTP 方法"
            )
        if code in IDENTITY_OPERATIONS and unit.rows is not None:
            unit.audit.deny(f"${code}")
            raise FhirError.forbidden(
                f"${code} works on the whole master person index: it needs a system or registry context",
                "主索引操作涉及全部居民身份信息，仅限系统或主索引管理账户使用",
            )
        return op.handle(unit, req, rtype, id)
    raise FhirError.not_supported(f"operation ${code} is not supported at /{req.path}", status=404)
