"""``$validate-code`` on CodeSystem and ValueSet (FHIR R4 codesystem-/valueset-operation-validate-code).

A code is valid when it exists in the code system (ICD-10 national-edition codes by their rule), is
selectable (chapters and blocks only with ``abstract=true``), is in force on ``date`` (GB/T 2260
validity years; without ``date`` historical division codes are valid) and, for a value set, is a
member. A ``display``, when given, must equal one of the concept's displays (white space, width and
case ignored); otherwise ``result`` is false and ``display`` gives the right one. ``message`` is
Chinese and English (only one of them with ``displayLanguage``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from rhip.fhir.errors import FhirError
from rhip.security.policy import Access
from rhip.store.repository import Unit
from rhip.terminology import service, targets
from rhip.terminology.codesystem import CodeSystem, Concept, same_display
from rhip.terminology.params import Out, Params, bad, coding_of, codings_of
from rhip.terminology.text import bilingual
from rhip.terminology.valueset import Context, compile_resource

Coding = tuple[str | None, str | None, str | None, str | None]
"""(system, version, code, display)."""


@dataclass(slots=True)
class Verdict:
    result: bool
    messages: list[str] = field(default_factory=list)
    display: str | None = None


def check_concept(
    cs: CodeSystem,
    code: str,
    display: str | None,
    *,
    day: date | None,
    abstract_ok: bool,
    lang: str | None,
    extra_displays: tuple[str, ...] = (),
    day_label: str | None = None,
) -> tuple[Verdict, Concept | None]:
    """Validity of one code in one code system (membership in a value set is checked by the caller)."""
    concept = cs.find(code)
    if concept is None:
        hint = cs.near_miss(code)
        zh = f"代码 {code} 不在代码系统 {cs.label()} 中" + (f"，是否为 {hint}？" if hint else "")
        en = f"Unknown code '{code}' in code system {cs.label()}" + (f"; did you mean '{hint}'?" if hint else "")
        if cs.content not in ("complete", "supplement"):
            zh += f"（该代码系统内容为 {cs.content}，不完整）"
            en += f" (the code system content is '{cs.content}', not complete)"
        return Verdict(False, [bilingual(zh, en, lang)]), None
    right = cs.display_at(concept, day, lang)
    v = Verdict(True, cs.notes(concept, lang), right)
    if concept.abstract and not abstract_ok:
        v.result = False
        v.messages.append(
            bilingual(
                f"{code}（{right}）是分类分组，不可直接用于编码",
                f"'{code}' ({right}) is a grouping (not selectable); use abstract=true to accept it",
                lang,
            )
        )
    if day is not None and not cs.valid_at(concept, day):
        v.result = False
        v.messages.append(
            bilingual(
                f"代码 {code} 在 {day_label or day.isoformat()} 不是有效代码",
                f"code '{code}' was not valid on {day_label or day.isoformat()}",
                lang,
            )
        )
    if display is not None and not same_display(display, [*cs.displays(concept), *extra_displays]):
        v.result = False
        v.messages.append(
            bilingual(
                f"显示名称“{display}”与代码 {code} 不符，应为“{right}”",
                f"display '{display}' is not valid for code '{code}'; expected '{right}'",
                lang,
            )
        )
    return v, concept


def _codings(p: Params) -> list[Coding]:
    """Every coding to check: code [+ system], coding, or the codings of a codeableConcept."""
    code = p.one("code")
    coding = p.obj("coding")
    cc = p.obj("codeableConcept")
    given = [x for x in (code, coding, cc) if x is not None]
    if len(given) != 1:
        raise bad(
            "code",
            "exactly one of code, coding or codeableConcept is required",
            "必须且只能提供 code、coding、codeableConcept 之一",
        )
    if code is not None:
        return [(None, None, code, p.one("display"))]
    if coding is not None:
        s, v, c, d = coding_of(coding, "coding")
        if c is None:
            raise bad("coding", "has no code", "缺少 code")
        return [(s, v, c, p.one("display") or d)]
    assert cc is not None
    return codings_of(cc, "codeableConcept")


def _output(verdicts: list[Verdict], lang: str | None) -> dict[str, Any]:
    good = [v for v in verdicts if v.result]
    chosen = good[0] if good else verdicts[0]
    out = Out().add("result", valueBoolean=bool(good))
    messages = [m for v in (good[:1] if good else verdicts) for m in v.messages]
    if messages:
        out.add("message", valueString=" ".join(dict.fromkeys(messages)))
    if chosen.display:
        out.add("display", valueString=chosen.display)
    return out.resource()


def validate_in_code_system(unit: Unit, p: Params, id: str | None = None) -> dict[str, Any]:
    """``CodeSystem/$validate-code``: result, message, display."""
    unit.authorize(Access.READ, "CodeSystem")
    day, lang = p.date(), p.language()
    abstract_ok = p.flag("abstract") is True
    codings = _codings(p)
    fallback = next((s for s, _, _, _ in codings if s), None)
    version = next((v for _, v, _, _ in codings if v), None)
    cs = targets.code_system(unit, p, id, day, names=("url", "system"), fallback=fallback, version=version)
    verdicts: list[Verdict] = []
    for system, _, code, display in codings:
        assert code is not None
        if system is not None and system not in (cs.url, p.one("url"), p.one("system")):
            verdicts.append(
                Verdict(
                    False,
                    [bilingual(f"代码系统 {system} 与 {cs.url} 不符", f"system {system} is not {cs.url}", lang)],
                )
            )
            continue
        verdicts.append(
            check_concept(cs, code, display, day=day, abstract_ok=abstract_ok, lang=lang, day_label=p.one("date"))[0]
        )
    return _output(verdicts, lang)


def validate_in_value_set(unit: Unit, p: Params, id: str | None = None) -> dict[str, Any]:
    """``ValueSet/$validate-code``: membership plus the code-system checks."""
    unit.authorize(Access.READ, "ValueSet")
    day, lang = p.date(), p.language()
    abstract_ok = p.flag("abstract") is True
    codings = _codings(p)
    vs = targets.value_set(unit, p, id, day)
    ctx = Context(unit, day, {}, {})
    compiled = compile_resource(ctx, vs)
    vs_label = str(vs.get("url") or vs.get("id") or "#inline")
    verdicts: list[Verdict] = []
    for system, version, code, display in codings:
        assert code is not None
        if system is None:
            system = p.one("system")
            version = version or p.one("systemVersion")
        if system is None:
            systems = compiled.systems()
            if len(systems) != 1:
                raise bad(
                    "system",
                    "is required: the value set uses several code systems",
                    "值集包含多个代码系统，必须提供 system",
                )
            system = systems[0]
        cs = service.find_code_system(unit, system, version, day)
        member, _concept, vs_display = compiled.contains(cs.url if cs else system, code)
        if not member:
            known = cs is not None and cs.find(code) is not None
            zh = f"代码 {system}#{code} 不在值集 {vs_label} 中" + (
                "" if known or cs is None else "（代码系统中无此代码）"
            )
            en = f"code {system}#{code} is not in value set {vs_label}" + (
                "" if known or cs is None else " (unknown code in that code system)"
            )
            verdicts.append(Verdict(False, [bilingual(zh, en, lang)]))
            continue
        if cs is None:  # enumerated code of a system this server does not hold
            v = Verdict(True, [], vs_display)
            if display is not None and vs_display is not None and not same_display(display, [vs_display]):
                v.result = False
                v.messages.append(
                    bilingual(
                        f"显示名称“{display}”应为“{vs_display}”", f"display '{display}' should be '{vs_display}'", lang
                    )
                )
            verdicts.append(v)
            continue
        extra = (vs_display,) if vs_display else ()
        verdict, _ = check_concept(
            cs,
            code,
            display,
            day=day,
            abstract_ok=abstract_ok,
            lang=lang,
            extra_displays=extra,
            day_label=p.one("date"),
        )
        verdicts.append(verdict)
    if not verdicts:
        raise FhirError.bad_request("nothing to validate", "没有可校验的代码")
    return _output(verdicts, lang)
