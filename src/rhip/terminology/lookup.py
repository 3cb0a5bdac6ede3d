"""``CodeSystem/$lookup`` and ``CodeSystem/$subsumes`` (FHIR R4 codesystem-operation-lookup/-subsumes).

``$lookup`` returns name, version, display (Chinese by default; ``displayLanguage=en`` for English),
designations (zh-CN, en; former names of a division) and properties: ``parent``, ``child``,
``notSelectable``, ``inactive`` and the system's own (ICD-10 ``kind``, ``edition``; GB/T 2260 ``level``,
``status``, ``valid_from``, ``valid_to``; value-domain fields). ``date`` picks the name period of a
division. ``$subsumes`` compares two codes in the system's hierarchy.
"""

from __future__ import annotations

from typing import Any

from rhip.fhir.errors import FhirError
from rhip.security.policy import Access
from rhip.store.repository import Unit
from rhip.terminology import targets
from rhip.terminology.codesystem import CodeSystem, Concept, PropValue
from rhip.terminology.params import Out, Params, bad, coding_of

_CODE_PROPS = {"parent", "child", "kind", "status", "level", "edition", "insurance-code"}


def unknown_code(cs: CodeSystem, code: str) -> FhirError:
    """404 naming the code and the system (with a suggestion when only case or blanks differ)."""
    hint = cs.near_miss(code)
    hint_en = f"; did you mean '{hint}'?" if hint else ""
    hint_zh = f"，是否为 {hint}？" if hint else ""
    return FhirError.of(
        404,
        "not-found",
        f"code '{code}' not found in code system {cs.label()}{hint_en}",
        f"代码 {code} 不在代码系统 {cs.label()} 中{hint_zh}",
        "code",
    )


def _code_and_coding(p: Params, code_name: str, coding_name: str) -> tuple[str | None, str | None, str | None]:
    """(code, system, version) from a ``code`` parameter and/or a ``coding`` parameter."""
    code = p.one(code_name)
    system = version = None
    coding = p.obj(coding_name)
    if coding is not None:
        system, version, c_code, _ = coding_of(coding, coding_name)
        if code is not None and c_code is not None and c_code != code:
            raise bad(coding_name, f"code '{c_code}' differs from parameter {code_name}", "与 code 参数不一致")
        code = code or c_code
    return code, system, version


def _typed(cs: CodeSystem, code: str, value: PropValue) -> dict[str, Any]:
    declared = {c: t for c, t, _ in cs.properties}
    kind = declared.get(code)
    if isinstance(value, bool):
        return {"valueBoolean": value}
    if isinstance(value, int):
        return {"valueInteger": value}
    if kind == "dateTime":
        return {"valueDateTime": value}
    if kind == "code" or code in _CODE_PROPS:
        return {"valueCode": value}
    return {"valueString": value}


def lookup(unit: Unit, p: Params, id: str | None = None) -> dict[str, Any]:
    """The ``$lookup`` output Parameters for one code."""
    unit.authorize(Access.READ, "CodeSystem")
    day = p.date()
    lang = p.language()
    code, system, version = _code_and_coding(p, "code", "coding")
    if code is None:
        raise bad("code", "code or coding is required", "缺少 code 或 coding")
    cs = targets.code_system(unit, p, id, day, names=("system",), fallback=system, version=version)
    concept = cs.find(code)
    if concept is None:
        raise unknown_code(cs, code)
    return lookup_output(cs, concept, p, lang).resource()


def lookup_output(cs: CodeSystem, concept: Concept, p: Params, lang: str | None) -> Out:
    day = p.date()
    wanted = set(p.many("property"))
    out = Out().add("name", valueString=cs.title)
    if cs.version:
        out.add("version", valueString=cs.version)
    out.add("display", valueString=cs.display_at(concept, day, lang))
    if not wanted or "designation" in wanted:
        for tag, text in dict.fromkeys(concept.designations):
            out.part("designation", [{"name": "language", "valueCode": tag}, {"name": "value", "valueString": text}])
    props = cs.lookup_properties(concept, day)
    if concept.abstract:
        props.append(("notSelectable", True))
    for pcode, value in props:
        if wanted and pcode not in wanted:
            continue
        out.part("property", [{"name": "code", "valueCode": pcode}, {"name": "value", **_typed(cs, pcode, value)}])
    return out


def subsumes(unit: Unit, p: Params, id: str | None = None) -> dict[str, Any]:
    """The ``$subsumes`` outcome of codeA versus codeB (equivalent, subsumes, subsumed-by, not-subsumed)."""
    unit.authorize(Access.READ, "CodeSystem")
    a, sys_a, ver_a = _code_and_coding(p, "codeA", "codingA")
    b, sys_b, ver_b = _code_and_coding(p, "codeB", "codingB")
    if a is None or b is None:
        missing = "codeA" if a is None else "codeB"
        raise bad(missing, "is required (or codingA/codingB)", "为必填参数（或 codingA/codingB）")
    if sys_a and sys_b and sys_a != sys_b:
        raise bad("codingB", "codingA and codingB must have the same system", "codingA 与 codingB 的代码系统必须相同")
    cs = targets.code_system(unit, p, id, p.date(), names=("system",), fallback=sys_a or sys_b, version=ver_a or ver_b)
    for name, code, sys in (("codingA", a, sys_a), ("codingB", b, sys_b)):
        if sys and sys not in (cs.url, p.one("system")):
            raise bad(name, f"system {sys} differs from {cs.url}", "代码系统不一致")
        if cs.find(code) is None:
            raise unknown_code(cs, code)
    return Out().add("outcome", valueCode=cs.subsumes(a, b)).resource()
