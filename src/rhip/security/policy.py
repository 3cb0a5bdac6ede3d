"""The single authorisation point the repository calls before touching data.

This first policy enforces SMART-on-FHIR style scopes (``system/*.*``, ``user/Observation.read``,
``patient/*.write``). Roles, organisation/region scoping, consent and break-glass (issue "Security and
privacy") plug in here by replacing or extending ``Policy``; handlers never check permissions.
"""

from __future__ import annotations

from enum import Enum
from typing import Protocol

from rhip.fhir.errors import FhirError
from rhip.security.context import RequestContext


class Access(Enum):
    READ = "read"
    WRITE = "write"


class Policy(Protocol):
    def allows(self, ctx: RequestContext, access: Access, rtype: str) -> bool:
        """Whether ``ctx`` may perform ``access`` on resources of ``rtype`` (used to filter silently)."""

    def authorize(self, ctx: RequestContext, access: Access, rtype: str) -> None:
        """Raise FhirError(403) when ``ctx`` may not perform ``access`` on resources of ``rtype``."""


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

    def authorize(self, ctx: RequestContext, access: Access, rtype: str) -> None:
        if not self.allows(ctx, access, rtype):
            raise FhirError.forbidden(
                f"scope does not permit {access.value} on {rtype}",
                f"当前授权范围不允许对 {rtype} 执行{'读取' if access is Access.READ else '写入'}",
            )
