"""The R4 structure table compiled into lookup nodes, once per process (lazily, cached).

A ``Node`` is one object level -- a resource, a data type or a backbone element. It maps every JSON
property name that may appear there straight to an ``Elem``: choice variants (``deceasedBoolean``) and
``_x`` primitive-extension siblings (``_birthDate``) are pre-expanded, content references
(``Bundle.entry.link`` -> ``Bundle.link``) and data types point at the shared node of their target, and
each primitive carries its ready-made check. Validation is then one dict lookup per JSON property, and
the type queries of ``rhip.fhir.model`` read the same nodes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any

from rhip.fhir.definitions import structure
from rhip.fhir.validation._primitives import Check, checker_for

__all__ = ["COMPLEX", "PRIMITIVE", "PRIMITIVE_EXT", "RESOURCE", "Elem", "Node", "Tables", "ValueSet", "tables"]

PRIMITIVE = 0  # a primitive value (string, number or boolean in JSON)
COMPLEX = 1  # a data type or backbone element: a JSON object walked with ``Elem.node``
RESOURCE = 2  # an inline resource: dispatched on its own resourceType
PRIMITIVE_EXT = 3  # the ``_x`` sibling of primitive ``x``: id/extension of the primitive

_BACKBONE = frozenset({"BackboneElement", "Element"})
_NUMERIC = frozenset({"boolean", "decimal", "integer", "positiveInt", "unsignedInt"})
_BINDABLE = ("CodeableConcept", "Coding", "Quantity")  # complex types whose required binding we check
_RESOURCE_TYPES_VS = "http://hl7.org/fhir/ValueSet/resource-types"


class ValueSet:
    """An expanded required value set: all codes, and the codes per code system."""

    __slots__ = ("codes", "systems", "url")

    def __init__(self, url: str, expansion: dict[str, list[str]]) -> None:
        self.url = url
        self.systems = {system: frozenset(codes) for system, codes in expansion.items()}
        self.codes = frozenset(code for codes in expansion.values() for code in codes)


@dataclass(slots=True, eq=False)
class Node:
    """One object level: the JSON properties allowed there and what must be present."""

    name: str  # "Patient", "Patient.contact", "HumanName"
    is_resource: bool = False
    children: dict[str, Elem] = field(default_factory=dict)
    required: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)  # (label, any-of keys)
    choices: dict[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)  # base -> (label, types)


@dataclass(slots=True, eq=False)
class Elem:
    """What one JSON property name means in its node."""

    key: str  # JSON property name: "deceasedBoolean", "_birthDate"
    prop: str  # the value property it belongs to ("birthDate" for "_birthDate")
    label: str  # the element's name in the definitions: "deceased[x]"
    type: str  # FHIR type code for this property
    kind: int
    min: int
    max: int | None  # None = unbounded
    many: bool  # JSON array expected
    summary: bool
    choice: str | None = None  # label of the choice group, for "one variant only"
    check: Check | None = None  # PRIMITIVE
    node: Node | None = None  # COMPLEX; PRIMITIVE_EXT: the Element node (id, extension)
    vs: ValueSet | None = None  # enumerable required binding
    bind_as: str | None = None  # COMPLEX with a binding: "CodeableConcept" | "Coding" | "Quantity"
    base: Elem | None = None  # PRIMITIVE_EXT: the primitive it extends
    allowed: frozenset[str] | None = None  # RESOURCE: allowed resource types, None = any


@dataclass(slots=True, eq=False)
class Tables:
    """All compiled nodes plus the resource-type sets used for dispatch."""

    types: dict[str, Node]  # root node of every resource and complex data type, abstract ones included
    resources: dict[str, Node]  # concrete R4 resource types only
    abstract: frozenset[str]  # abstract resource types (Resource, DomainResource)


def _lineage(types: dict[str, Any], name: str) -> list[str]:
    chain: list[str] = []
    cur: str | None = name
    while cur is not None and cur in types and cur not in chain:
        chain.append(cur)
        cur = types[cur].get("base")
    return chain


def _concrete_resources(s: dict[str, Any], types: dict[str, Any]) -> frozenset[str]:
    """Concrete resource types of R4 4.0.1: the table's, limited to the R4 ``resource-types`` code list.

    The vendored package also carries SubscriptionStatus (an R4B/R5 resource back-ported by its
    publisher); it is not part of FHIR 4.0.1, so it is not accepted here.
    """
    concrete = {n for n, t in types.items() if t["kind"] == "resource" and not t["abstract"]}
    listed = s["valuesets"].get(_RESOURCE_TYPES_VS)
    if listed:
        official = {code for codes in listed.values() for code in codes}
        concrete &= official
    return frozenset(concrete)


class _Compiler:
    def __init__(self) -> None:
        s = structure()
        self.types: dict[str, Any] = {n: t for n, t in s["types"].items() if t["kind"] in ("resource", "complex-type")}
        self.checks = {name: checker_for(name, spec.get("regex")) for name, spec in s["primitives"].items()}
        self.valuesets = {url: ValueSet(url, exp) for url, exp in s["valuesets"].items() if exp}
        self.concrete = _concrete_resources(s, self.types)
        self.nodes: dict[tuple[str, str], Node] = {}
        for name, t in self.types.items():
            self.nodes[(name, "")] = Node(name, is_resource=t["kind"] == "resource")
            for path, e in t["elements"].items():
                if len(e[2]) == 1 and e[2][0] in _BACKBONE:
                    self.nodes[(name, path)] = Node(f"{name}.{path}")
        self.element_node = self.nodes[("Element", "")]

    def run(self) -> Tables:
        for name, t in self.types.items():
            for path, e in t["elements"].items():
                parent, _, leaf = path.rpartition(".")
                node = self.nodes.get((name, parent))
                if node is not None:  # (children of non-backbone elements do not occur in R4)
                    self._add(node, name, path, leaf, e)
        roots = {name: self.nodes[(name, "")] for name in self.types}
        abstract = frozenset(n for n, t in self.types.items() if t["kind"] == "resource" and t["abstract"])
        return Tables(roots, {n: roots[n] for n in sorted(self.concrete)}, abstract)

    def _allowed(self, code: str) -> frozenset[str] | None:
        if code == "Resource":
            return None
        return frozenset(n for n in self.concrete if code in _lineage(self.types, n))

    def _add(self, node: Node, owner: str, path: str, leaf: str, e: list[Any]) -> None:
        minimum, max_text, codes, summary, binding, cref = e
        maximum = None if max_text == "*" else int(max_text)
        many = maximum is None or maximum > 1
        target: Node | None = None
        if cref:
            target = self.nodes[(owner, cref)]
            codes = self.types[owner]["elements"][cref][2]
        choice = leaf if leaf.endswith("[x]") else None
        vs = self.valuesets.get(binding) if binding else None
        keys: list[str] = []
        for code in codes:
            if node.is_resource and path == "id":
                code = "id"  # Resource.id is typed System.String in the snapshot; FHIR says id
            key = leaf[:-3] + code[0].upper() + code[1:] if choice else leaf
            el = Elem(key, key, leaf, code, COMPLEX, minimum, maximum, many, bool(summary), choice)
            if code in self.checks:
                el.kind = PRIMITIVE
                el.check = self.checks[code]
                el.vs = vs if code not in _NUMERIC else None
                if code != "xhtml":  # Narrative.div has no "_div" in JSON
                    ext = Elem(f"_{key}", key, leaf, code, PRIMITIVE_EXT, 0, maximum, many, False, choice)
                    ext.node = self.element_node
                    ext.base = el
                    node.children[ext.key] = ext
                    keys.append(ext.key)
            elif target is not None:
                el.node = target
            elif code in _BACKBONE:
                el.node = self.nodes.get((owner, path)) or self.nodes[(code, "")]
            elif self.types[code]["kind"] == "resource":
                el.kind = RESOURCE
                el.allowed = self._allowed(code)
            else:
                el.node = self.nodes[(code, "")]
                lineage = _lineage(self.types, code)
                el.bind_as = next((b for b in _BINDABLE if b in lineage), None) if vs else None
                el.vs = vs if el.bind_as else None
            node.children[key] = el
            keys.append(key)
        if minimum >= 1:
            node.required.append((leaf, tuple(keys)))
        if choice:
            node.choices[leaf[:-3]] = (leaf, tuple(codes))


@cache
def tables() -> Tables:
    """The compiled tables (built on first use, about 0.1 s; shared and read-only afterwards)."""
    return _Compiler().run()
