"""Type information about FHIR R4 (4.0.1) resources and data types, for the rest of the platform.

Answers come from the same compiled tables the validator walks (``rhip.fhir.validation._compiled``), so
what the model reports and what validation accepts cannot drift apart. Element paths are relative to a
type and dotted (``"contact.name"``); they may step into data types (``"name.given"``), backbone
elements, content references (``Bundle`` ``"entry.link.url"``) and a named choice variant
(``"valueQuantity.code"``). Resource ``id`` is reported as FHIR ``id``, not the snapshot's ``string``.
"""

from __future__ import annotations

from functools import cache

from rhip.fhir.validation._compiled import COMPLEX, PRIMITIVE, Node, tables

__all__ = [
    "choice_types",
    "element_type",
    "is_resource_type",
    "mandatory_elements",
    "resource_types",
    "summary_elements",
]

_ALWAYS_IN_SUMMARY = frozenset({"id", "meta", "resourceType"})


@cache
def resource_types() -> frozenset[str]:
    """The concrete resource types of R4 4.0.1 (146: the ``resource-types`` code list minus the two abstract)."""
    return frozenset(tables().resources)


def is_resource_type(name: str) -> bool:
    """Whether ``name`` is a concrete R4 resource type (case-sensitive; ``Resource`` is not)."""
    return isinstance(name, str) and name in tables().resources


def _root(rtype: str) -> Node:
    node = tables().resources.get(rtype) if isinstance(rtype, str) else None
    if node is None:
        raise KeyError(f"not a concrete FHIR R4 resource type: {rtype!r}")
    return node


@cache
def summary_elements(rtype: str) -> frozenset[str]:
    """Top-level JSON property names of ``rtype`` marked isSummary, for ``_summary=true``.

    Choice elements are expanded to their JSON names (``deceasedBoolean``, ``deceasedDateTime``);
    ``id``, ``meta`` and ``resourceType`` are always included. ``_x`` siblings are not listed: keep
    ``_x`` whenever ``x`` is kept. Raises KeyError for anything but a concrete resource type.
    """
    node = _root(rtype)
    names = {key for key, el in node.children.items() if el.summary and not key.startswith("_")}
    return frozenset(names | _ALWAYS_IN_SUMMARY)


@cache
def mandatory_elements(rtype: str) -> frozenset[str]:
    """Top-level elements of ``rtype`` with min >= 1, by definition name (a choice stays ``value[x]``).

    A mandatory choice is satisfied by any one variant, so it is not expanded. Raises KeyError for
    anything but a concrete resource type.
    """
    return frozenset(label for label, _keys in _root(rtype).required)


def _resolve(type_name: str, rel_path: str) -> tuple[tuple[str, ...], bool] | None:
    """``(types, is_choice)`` of the element at ``rel_path`` in ``type_name``, or None if unknown."""
    t = tables()
    node: Node | None = t.types.get(type_name) if isinstance(type_name, str) else None
    if node is None or not isinstance(rel_path, str) or not rel_path:
        return None
    segments = rel_path.split(".")
    last = len(segments) - 1
    for i, segment in enumerate(segments):
        if node is None:
            return None
        base = segment[:-3] if segment.endswith("[x]") else segment
        choice = node.choices.get(base)
        if choice is not None:
            return (choice[1], True) if i == last else None  # step on via a variant: "valueQuantity"
        el = node.children.get(segment)
        if el is None or segment.startswith("_"):
            return None
        if i == last:
            return (el.type,), False
        if el.kind == COMPLEX:
            node = el.node
        elif el.kind == PRIMITIVE:  # a primitive's own id/extension
            ext = node.children.get("_" + segment)
            node = ext.node if ext is not None else None
        else:
            node = None  # an inline resource: its type is only known from the instance
    return None


@cache
def choice_types(rtype_or_type: str, rel_path: str) -> tuple[str, ...] | None:
    """Allowed types of choice element ``rel_path`` (``"value"`` or ``"value[x]"``), None if not a choice.

    ``choice_types("Observation", "value")`` -> ``("Quantity", "CodeableConcept", "string", ...)`` in
    definition order; a named variant such as ``"valueQuantity"`` is not itself a choice (None).
    """
    found = _resolve(rtype_or_type, rel_path)
    return found[0] if found is not None and found[1] else None


@cache
def element_type(type_name: str, rel_path: str) -> tuple[str, ...] | None:
    """Type codes of the element at ``rel_path`` in ``type_name`` (several for a choice), None if unknown.

    Backbone elements give ``("BackboneElement",)`` (``("Element",)`` inside data types), inline
    resources ``("Resource",)``.
    """
    found = _resolve(type_name, rel_path)
    return found[0] if found is not None else None
