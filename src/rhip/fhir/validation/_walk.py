"""The validation walk: one pass over a resource's JSON against the compiled nodes.

Each JSON property is looked up once in its node; primitives are checked in place and objects recursed
into, so cost is linear in the size of the resource. Expressions use JSON property names
(``Patient.deceasedBoolean``, ``Patient.name[0].given[1]``); issues about a ``_x`` sibling point at the
primitive it extends (``Patient.birthDate.extension[0].url``).
"""

from __future__ import annotations

from typing import Any

from rhip.fhir.validation import _issues as msg
from rhip.fhir.validation._compiled import COMPLEX, PRIMITIVE, PRIMITIVE_EXT, Elem, Node, ValueSet, tables
from rhip.fhir.validation._issues import Issue, issue

__all__ = ["validate"]

_ROOT = "Resource"  # expression prefix while a resource's type is not known


def validate(resource: object) -> list[Issue]:
    """Every structural issue in ``resource`` (an already parsed FHIR JSON object); never raises."""
    issues: list[Issue] = []
    if not isinstance(resource, dict):
        issues.append(issue(msg.not_object(resource), _ROOT))
        return issues
    rtype = resource.get("resourceType")
    path = rtype if isinstance(rtype, str) and rtype in tables().resources else _ROOT
    try:
        _resource(resource, path, None, issues)
    except RecursionError:
        issues.append(issue(msg.TOO_DEEP, path))
    return issues


def _resource(obj: dict[str, Any], path: str, el: Elem | None, issues: list[Issue]) -> None:
    """A resource at top level (``el`` None) or inline, where ``el`` may restrict its type."""
    rtype = obj.get("resourceType")
    if not isinstance(rtype, str):
        problem = msg.MISSING_RESOURCE_TYPE if "resourceType" not in obj else msg.resource_type_not_string(rtype)
        issues.append(issue(problem, f"{path}.resourceType"))
        return
    t = tables()
    node = t.resources.get(rtype)
    if node is None:
        abstract = rtype in t.abstract
        problem = msg.abstract_resource_type(rtype) if abstract else msg.unknown_resource_type(rtype)
        issues.append(issue(problem, f"{path}.resourceType"))
        return
    if el is not None and el.allowed is not None and rtype not in el.allowed:
        issues.append(issue(msg.unexpected_resource_type(rtype, el.type), f"{path}.resourceType"))
    _object(obj, node, path, issues)


def _object(obj: dict[str, Any], node: Node, path: str, issues: list[Issue]) -> None:
    children = node.children
    chosen: dict[str, str] | None = None
    for key, value in obj.items():
        el = children.get(key)
        if el is None:
            if key != "resourceType" or not node.is_resource:
                issues.append(issue(_unknown(node, key), f"{path}.{key}"))
            continue
        if el.choice is not None:
            if chosen is None:
                chosen = {el.choice: el.prop}
            else:
                first = chosen.setdefault(el.choice, el.prop)
                if first != el.prop:
                    conflict = msg.choice_conflict(el.choice, first, el.prop)
                    issues.append(issue(conflict, f"{path}.{key}"))
        if value is None:
            issues.append(issue(msg.NULL, f"{path}.{el.prop}"))
            continue
        kind = el.kind
        if kind == PRIMITIVE_EXT:
            _primitive_ext(obj, el, value, path, issues)
        elif el.many:
            if isinstance(value, list):
                _array(obj, el, value, f"{path}.{key}", issues)
            else:
                issues.append(issue(msg.must_be_array(key), f"{path}.{key}"))
                _one(el, value, f"{path}.{key}", issues)
        elif isinstance(value, list):
            issues.append(issue(msg.must_not_be_array(key), f"{path}.{key}"))
        elif kind == PRIMITIVE:
            assert el.check is not None
            problem = el.check(value)
            if problem is not None:
                issues.append(issue(problem, f"{path}.{key}"))
            elif el.vs is not None and value not in el.vs.codes:
                issues.append(issue(msg.code_not_in_valueset(value, el.vs.url, el.vs.codes), f"{path}.{key}"))
        else:
            _one(el, value, f"{path}.{key}", issues)
    for label, keys in node.required:
        for k in keys:
            if k in obj:
                break
        else:
            issues.append(issue(msg.missing_required(label), f"{path}.{label}"))


def _array(obj: dict[str, Any], el: Elem, items: list[Any], path: str, issues: list[Issue]) -> None:
    count = len(items)
    if count == 0:
        issues.append(issue(msg.EMPTY_ARRAY, path))
        return
    if el.max is not None and count > el.max:
        issues.append(issue(msg.too_many(el.key, count, el.max), path))
    if count < el.min:
        issues.append(issue(msg.too_few(el.key, count, el.min), path))
    if el.kind != PRIMITIVE:
        for i, item in enumerate(items):
            if item is None:
                issues.append(issue(msg.NULL, f"{path}[{i}]"))
            else:
                _one(el, item, f"{path}[{i}]", issues)
        return
    check = el.check
    assert check is not None
    vs = el.vs
    ext: Any = None
    for i, item in enumerate(items):
        if item is None:
            if ext is None:
                ext = obj.get("_" + el.key, ())
            if not (isinstance(ext, list) and i < len(ext) and ext[i] is not None):
                issues.append(issue(msg.null_without_extension(el.key), f"{path}[{i}]"))
            continue
        problem = check(item)
        if problem is not None:
            issues.append(issue(problem, f"{path}[{i}]"))
        elif vs is not None and item not in vs.codes:
            issues.append(issue(msg.code_not_in_valueset(item, vs.url, vs.codes), f"{path}[{i}]"))


def _one(el: Elem, value: Any, path: str, issues: list[Issue]) -> None:
    """One value of a property that is not null and not an array where none belongs."""
    kind = el.kind
    if kind == PRIMITIVE:
        assert el.check is not None
        problem = el.check(value)
        if problem is not None:
            issues.append(issue(problem, path))
        elif el.vs is not None and value not in el.vs.codes:
            issues.append(issue(msg.code_not_in_valueset(value, el.vs.url, el.vs.codes), path))
    elif not isinstance(value, dict):
        issues.append(issue(msg.not_object(value), path))
    elif not value:
        issues.append(issue(msg.EMPTY_OBJECT, path))
    elif kind == COMPLEX:
        assert el.node is not None
        _object(value, el.node, path, issues)
        if el.vs is not None:
            _BINDERS[el.bind_as or ""](value, el.vs, path, issues)
    else:
        _resource(value, path, el, issues)


def _primitive_ext(obj: dict[str, Any], el: Elem, value: Any, path: str, issues: list[Issue]) -> None:
    """``_x``: the id/extensions of primitive ``x`` (an array aligned with ``x`` when ``x`` repeats)."""
    node = el.node
    assert node is not None
    where = f"{path}.{el.prop}"
    if not el.many:
        if isinstance(value, list):
            issues.append(issue(msg.must_not_be_array(el.key), where))
        else:
            _element(value, node, where, issues)
        return
    if not isinstance(value, list):
        issues.append(issue(msg.must_be_array(el.key), where))
        return
    if not value:
        issues.append(issue(msg.EMPTY_ARRAY, where))
        return
    values = obj.get(el.prop)
    if not isinstance(values, list):
        values = None
    elif len(values) != len(value):
        issues.append(issue(msg.not_aligned(el.prop), where))
    for i, item in enumerate(value):
        if item is not None:
            _element(item, node, f"{where}[{i}]", issues)
        elif values is None or i >= len(values):  # (both null at i: reported on the value side)
            issues.append(issue(msg.extension_without_value(el.prop), f"{where}[{i}]"))


def _element(value: Any, node: Node, path: str, issues: list[Issue]) -> None:
    if not isinstance(value, dict):
        issues.append(issue(msg.not_object(value), path))
    elif not value:
        issues.append(issue(msg.EMPTY_OBJECT, path))
    else:
        _object(value, node, path, issues)


def _unknown(node: Node, key: str) -> msg.Problem:
    """Name the choice group when ``key`` looks like a misspelt variant (``valueFoo``)."""
    if not isinstance(key, str):  # only possible for dicts not made by a JSON parser
        return msg.unknown_element(str(key))
    for base, (label, types) in node.choices.items():
        suffix = key[len(base) :]
        if key in (base, label):
            return msg.choice_without_type(key, label, types)
        if key.startswith(base) and suffix[:1].isupper():
            return msg.unknown_choice_type(key, label, suffix)
    return msg.unknown_element(key)


# ---------------------------------------------------------------- required bindings on complex types


def _bind_coding(coding: dict[str, Any], vs: ValueSet, path: str, issues: list[Issue]) -> None:
    code, system = coding.get("code"), coding.get("system")
    if not isinstance(code, str):
        return  # nothing coded (a missing or malformed code is reported elsewhere)
    if isinstance(system, str):
        codes = vs.systems.get(system)
        if codes is None or code not in codes:
            issues.append(issue(msg.coding_not_in_valueset(system, code, vs.url), path))
    elif code not in vs.codes:
        issues.append(issue(msg.code_not_in_valueset(code, vs.url, vs.codes), path))


def _bind_concept(concept: dict[str, Any], vs: ValueSet, path: str, issues: list[Issue]) -> None:
    """Required binding on a CodeableConcept: text only is fine, else one coding must be in the set."""
    codings = concept.get("coding")
    if not isinstance(codings, list) or not codings:
        return
    given: list[str] = []
    for coding in codings:
        if isinstance(coding, dict):
            system, code = coding.get("system"), coding.get("code")
            if isinstance(system, str) and isinstance(code, str):
                codes = vs.systems.get(system)
                if codes is not None and code in codes:
                    return
            if len(given) < 3:
                given.append(f"{msg.show(system) if system else '-'}|{msg.show(code) if code else '-'}")
    issues.append(issue(msg.concept_not_in_valueset(vs.url, given), path))


_BINDERS = {"Coding": _bind_coding, "Quantity": _bind_coding, "CodeableConcept": _bind_concept}
