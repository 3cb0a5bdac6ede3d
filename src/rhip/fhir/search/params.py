"""The search-parameter registry: the R4 SearchParameter definitions, per resource type, compiled.

Built once per process from ``rhip.fhir.definitions.search_parameters()`` (the 1,378 parameters of
http://hl7.org/fhir/R4/searchparameter-registry.html). Parameters on ``Resource`` apply to every
resource type, those on ``DomainResource`` to every type except Bundle, Binary and Parameters.

A SearchParameter shared by several bases (``clinical-patient`` on 30 types) has a union expression
with one branch per type; each type keeps only the branches rooted at itself (or at Resource /
DomainResource, or not rooted at a type), so per-type extraction never evaluates other types'
paths. The extractor is compiled with the base type as context (R4 ``InsurancePlan-name`` is written
``name | alias``, relative to its base). Parameters without an expression (``_text``, ``_content``,
``_query``) are registered with an extractor that yields nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from types import MappingProxyType
from typing import Any

from rhip.fhir.definitions import search_parameters
from rhip.fhir.search.compile import (
    Compiled,
    Extractor,
    compile_typed,
    parse,
    resource_types,
    root_name,
)

__all__ = ["SearchParam", "SearchRegistry", "registry", "union_branches"]

_NOT_DOMAIN = frozenset({"Bundle", "Binary", "Parameters"})


def _nothing(resource: dict[str, Any]) -> list[tuple[str, Any]]:
    return []


@dataclass(frozen=True, slots=True)
class SearchParam:
    """One search parameter as it applies to one resource type (``expression`` filtered to it)."""

    code: str
    type: str
    base: tuple[str, ...]
    expression: str | None
    url: str
    target: tuple[str, ...] = ()
    components: tuple[tuple[str, str], ...] = ()
    extractor: Extractor = _nothing
    # Static FHIR types the extractor yields (backbone elements as ``"Observation.component"``).
    result_types: frozenset[str] = frozenset()
    # The resource definition, for modifier / comparator / multipleOr / chain checks by callers.
    definition: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}), compare=False)

    @property
    def compiled(self) -> Compiled | None:
        """The compiled expression (gives ``run(items, root)`` for composites), if any."""
        return self.extractor if isinstance(self.extractor, Compiled) else None


class SearchRegistry:
    """Search parameters by resource type and code, and by canonical URL."""

    __slots__ = ("_by_type", "_by_url", "_types")

    def __init__(self, definitions: list[dict[str, Any]]) -> None:
        concrete = resource_types()
        by_type: dict[str, dict[str, SearchParam]] = {t: {} for t in concrete}
        self._by_url: dict[str, SearchParam] = {}
        for sp in definitions:
            bases = tuple(sp.get("base") or ())
            expr = sp.get("expression")
            branches = union_branches(expr) if expr else []
            for base in bases:
                param = self._make(sp, bases, base, branches)
                if base in ("Resource", "DomainResource"):
                    for t in concrete:
                        if base == "Resource" or t not in _NOT_DOMAIN:
                            by_type[t].setdefault(param.code, param)
                elif base in by_type:
                    by_type[base][param.code] = param
                self._by_url.setdefault(param.url, param)
        self._by_type = {t: MappingProxyType(ps) for t, ps in by_type.items()}
        self._types = frozenset(self._by_type)

    @staticmethod
    def _make(
        sp: dict[str, Any],
        bases: tuple[str, ...],
        base: str,
        branches: list[tuple[str | None, str]],
    ) -> SearchParam:
        keep = [text for root, text in branches if root in (None, base, "Resource", "DomainResource")]
        expression = " | ".join(keep) if keep else None
        compiled = compile_typed(expression, base) if expression else None
        return SearchParam(
            code=sp["code"],
            type=sp["type"],
            base=bases,
            expression=expression,
            url=sp["url"],
            target=tuple(sp.get("target") or ()),
            components=tuple((c["definition"], c["expression"]) for c in sp.get("component") or ()),
            extractor=compiled if compiled is not None else _nothing,
            result_types=compiled.types if compiled is not None else frozenset(),
            definition=MappingProxyType(sp),
        )

    def for_type(self, rtype: str) -> Mapping[str, SearchParam]:
        """All parameters of ``rtype`` (including the Resource/DomainResource ones) by code."""
        return self._by_type.get(rtype, MappingProxyType({}))

    def get(self, rtype: str, code: str) -> SearchParam | None:
        """The parameter ``code`` of ``rtype``, or None."""
        params = self._by_type.get(rtype)
        return params.get(code) if params is not None else None

    def by_url(self, url: str) -> SearchParam | None:
        """The parameter with canonical ``url`` (for a multi-base one: its first base's variant)."""
        return self._by_url.get(url)

    def types(self) -> frozenset[str]:
        """Resource types that have parameters (all concrete R4 resource types)."""
        return self._types

    def fallbacks(self) -> list[tuple[str, str]]:
        """``(rtype, code)`` of parameters whose expression runs on fhirpathpy (ideally none)."""
        return sorted(
            (t, c) for t, ps in self._by_type.items() for c, p in ps.items() if p.compiled and p.compiled.fallback
        )


def union_branches(expr: str) -> list[tuple[str | None, str]]:
    """Split a top-level ``a | b | c`` into ``(root type name or None, branch text)``."""
    node = parse(expr)
    nodes, stack = [], [node]
    while stack:
        n = stack.pop()
        if n[0] == "|":
            stack += [n[2], n[1]]
        else:
            nodes.append(n)
    texts, depth, quote, start = [], 0, False, 0
    for i, ch in enumerate(expr):
        if ch == "'":
            quote = not quote
        elif not quote:
            depth += (ch in "([") - (ch in ")]")
            if depth == 0 and ch == "|":
                texts.append(expr[start:i].strip())
                start = i + 1
    texts.append(expr[start:].strip())
    if len(texts) != len(nodes):
        texts, nodes = [expr], [node]
    return [(root_name(n), t) for n, t in zip(nodes, texts, strict=True)]


@cache
def registry() -> SearchRegistry:
    """The process-wide registry: the R4 search parameters plus the platform's own (China profiles)."""
    from rhip.profiles import search_parameters as platform_parameters

    return SearchRegistry([*search_parameters(), *platform_parameters()])
