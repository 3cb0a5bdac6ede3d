"""The single authorisation point the repository calls before touching data (decision 0016).

Two levels: *type* decisions (``allows``/``authorize``: SMART-on-FHIR scopes such as ``system/*.*``,
``user/Observation.read``, plus role rules) and *row* decisions (``rows``: which patients' records a
user may see, as a ``RowScope`` the store turns into SQL, so that searches, counts, includes, history
and ``$everything`` all leave out what may not be seen). Handlers never check permissions.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from functools import cache
from typing import Protocol

from rhip.fhir.definitions import compartment_params
from rhip.fhir.errors import FhirError
from rhip.security.context import RequestContext


class Access(Enum):
    READ = "read"
    WRITE = "write"


@cache
def compartment_types() -> frozenset[str]:
    """Resource types that can belong to a patient's record (R4 Patient CompartmentDefinition)."""
    return frozenset(compartment_params())


@dataclass(frozen=True, slots=True)
class RowScope:
    """Which patients' records a user may read; types outside the Patient compartment stay readable.

    Visible patients = ``patients`` ∪ patients with a care relationship at ``care_organization``, minus
    those whose Consent refuses ``consent_actor``, ∪ patients living in ``region``, ∪ active
    break-glass grants of ``grants_for``.
    Within them, resources carrying a confidentiality label in ``hidden_labels`` and categories a
    Consent refuses stay invisible. ``clinical=False`` hides every patient-compartment resource.
    """

    patients: frozenset[str] = frozenset()
    care_organization: str | None = None
    grants_for: str | None = None
    consent_actor: str | None = None
    hidden_labels: frozenset[str] = frozenset()
    clinical: bool = True
    region: str | None = None
    """GB/T 2260 code: patients whose address division code lies in it (public-health officers)."""


class Policy(Protocol):
    def allows(self, ctx: RequestContext, access: Access, rtype: str) -> bool:
        """Whether ``ctx`` may perform ``access`` on resources of ``rtype`` (used to filter silently)."""

    def authorize(self, ctx: RequestContext, access: Access, rtype: str) -> None:
        """Raise FhirError(403) when ``ctx`` may not perform ``access`` on resources of ``rtype``."""

    def rows(self, ctx: RequestContext) -> RowScope | None:
        """Row-level restriction of reads for ``ctx``; None = every row of the allowed types."""


def scope_allows(scopes: frozenset[str], access: Access, rtype: str) -> bool:
    """True when one scope grants ``access`` on ``rtype`` (SMART v1 syntax, ``*`` wildcards)."""
    for scope in scopes:
        context, _, rest = scope.partition("/")
        if context not in ("system", "user", "patient") or not rest:
            continue
        stype, _, verb = rest.partition(".")
        if stype not in ("*", rtype):
            continue
        if verb in ("*", access.value):
            return True
    return False


class ScopePolicy:
    """Grants exactly what the token's scopes say; the system context may do everything."""

    def allows(self, ctx: RequestContext, access: Access, rtype: str) -> bool:
        return ctx.kind == "system" or scope_allows(ctx.scopes, access, rtype)

    def rows(self, ctx: RequestContext) -> RowScope | None:
        return None

    def authorize(self, ctx: RequestContext, access: Access, rtype: str) -> None:
        if not self.allows(ctx, access, rtype):
            raise FhirError.forbidden(
                f"scope does not permit {access.value} on {rtype}",
                f"当前授权范围不允许对 {rtype} 执行{'读取' if access is Access.READ else '写入'}",
            )


HIDDEN_FROM_CLINICIANS = frozenset({"V"})
"""Confidentiality ``V`` (very restricted) is shown to the resident only; ``R`` to treating clinicians."""


class RolePolicy(ScopePolicy):
    """Scopes plus the platform roles of the security issue (decision 0016).

    - resident: their own and their dependants' records (``RequestContext.patients``);
    - clinician: patients with a care relationship at their organisation (an Encounter it provided or
      the patient's managing organisation), minus Consent refusals, plus break-glass grants;
    - public-health officer: patients whose address lies in their region (GB/T 2260 prefix), without
      ``V`` data; Consent refusals do not apply (mandatory reporting, 传染病防治法);
    - administrator, integrator: no clinical content;
    - auditor: the audit trail only (by scope); AuditEvent is readable by auditors and, for their own
      record, residents.
    System jobs and OAuth clients (hospital feeds, platform nodes) are bounded by their scopes alone.
    """

    def allows(self, ctx: RequestContext, access: Access, rtype: str) -> bool:
        if not super().allows(ctx, access, rtype):
            return False
        if ctx.kind != "user":
            return True
        if rtype == "AuditEvent" and access is Access.READ:
            return ctx.role in ("auditor", "resident")
        if ctx.role == "administrator" and access is Access.READ:
            return rtype not in compartment_types()
        return True

    def rows(self, ctx: RequestContext) -> RowScope | None:
        if ctx.kind != "user" or ctx.role == "auditor":  # auditors: every row of what scopes allow (the trail)
            return None
        if ctx.role == "resident":
            return RowScope(patients=frozenset(ctx.patients))
        if ctx.role == "clinician":
            return RowScope(
                care_organization=ctx.organization,
                grants_for=ctx.subject,
                consent_actor=ctx.organization or "*",
                hidden_labels=HIDDEN_FROM_CLINICIANS,
            )
        if ctx.role == "public-health-officer" and ctx.region:
            return RowScope(region=ctx.region, hidden_labels=HIDDEN_FROM_CLINICIANS)
        return RowScope(clinical=False)
