"""Bindings of profile elements to value sets that rhip bundles (checked offline, in microseconds).

Profiles bind only to implicit value sets of bundled code systems (``<system>?fhir_vs`` or
``<system>?fhir_vs=isa/<code>``, decision 0009), so membership is a dictionary lookup. Compilation fails
for any other value set: a binding rhip cannot check must not look as if it were checked.

Semantics (FHIR R4 terminologies §4.1.3.1): a coding that claims the bound system must carry a valid,
selectable code of it (error, whatever the strength); with no coding from the value set, a required
binding is an error and an extensible one a warning (a local code or text alone is allowed when no
national code applies, but data quality counts it).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from rhip.terminology.bundled import bundled, implicit
from rhip.terminology.codesystem import CodeSystem

Finding = tuple[str, str, str, str, str]
"""``(severity, issue code, expression, diagnostics, text_zh)``."""


@dataclass(frozen=True, slots=True)
class BoundSet:
    """An implicit value set over one bundled code system."""

    url: str
    cs: CodeSystem
    systems: frozenset[str]
    """The system url and its aliases (ICD-10 also answers to its OID)."""
    isa: frozenset[str] | None = None

    @classmethod
    def resolve(cls, url: str) -> BoundSet:
        parsed = implicit(url)
        if parsed is None:
            raise ValueError(f"profiles may bind only to implicit value sets of bundled systems, not {url}")
        system, isa = parsed
        b = bundled()
        cs = b.get(system)
        if cs is None:
            raise ValueError(f"value set {url}: {system} is not a bundled code system")
        aliases = frozenset(u for u, other in b.by_url.items() if other is cs)
        members = None if isa is None else frozenset({isa, *cs.descendants(isa)})
        return cls(url, cs, aliases, members)

    def contains(self, code: str) -> bool:
        concept = self.cs.find(code)
        if concept is None or concept.abstract:
            return False
        return self.isa is None or concept.code in self.isa or self._under(concept.code)

    def _under(self, code: str) -> bool:
        assert self.isa is not None
        return any(a in self.isa for a in self.cs.ancestors(code))


def check(value: Any, expr: str, bound: BoundSet, strength: str) -> Iterator[Finding]:
    """Findings for one bound element: a ``code`` string, a Coding or a CodeableConcept."""
    if isinstance(value, str):
        if not bound.contains(value):
            yield _not_in(expr, value, bound)
        return
    if not isinstance(value, dict):
        return
    if "coding" in value or "text" in value:
        codings = [(f"{expr}.coding[{i}]", c) for i, c in enumerate(value.get("coding") or ()) if isinstance(c, dict)]
    else:
        codings = [(expr, value)]
    matched = False
    for cexpr, coding in codings:
        if coding.get("system") not in bound.systems:
            continue
        code = coding.get("code")
        if isinstance(code, str) and bound.contains(code):
            matched = True
        else:
            yield _not_in(f"{cexpr}.code", str(code), bound)
            matched = True  # reported once, as an invalid code rather than also as a missing one
    if not matched:
        severity = "error" if strength == "required" else "warning"
        yield (
            severity,
            "code-invalid",
            expr,
            f"No coding from value set {bound.url} ({strength} binding; {bound.cs.title})",
            f"未使用值集 {bound.cs.title} 中的编码（{'必须' if strength == 'required' else '应当'}使用）",
        )


def _not_in(expr: str, code: str, bound: BoundSet) -> Finding:
    return (
        "error",
        "code-invalid",
        expr,
        f"Code '{code}' is not a valid code of value set {bound.url} ({bound.cs.title})",
        f"编码“{code}”不在值集 {bound.cs.title} 中或不可选用",
    )
