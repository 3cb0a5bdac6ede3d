"""``ConceptMap/$translate`` (FHIR R4 conceptmap-operation-translate) over stored ConceptMaps.

Typical use: a hospital's local codes mapped to national ones (e.g. a HIS diagnosis dictionary to
ICD-10), uploaded as a ConceptMap. Which maps: the instance (``ConceptMap/[id]/$translate``), the
``conceptMap`` sent in the body, the one named by ``url`` (+ ``conceptMapVersion``, ``date``), else
every stored map holding the code (``source-code``/``target-code`` search, newest version per url),
narrowed by ``source``/``target`` value sets and ``targetsystem``. ``reverse=true`` maps target to
source. ``group.unmapped``: ``provided`` answers the code itself (equivalence ``equal``), ``fixed``
the fixed code (``inexact``), ``other-map`` follows that map (up to three levels). Targets with
``dependsOn`` match only when a ``dependency`` parameter supplies the value.
``result`` is true when a match has an equivalence other than ``unmatched``/``disjoint``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from rhip.fhir.search.parse import parse_query
from rhip.security.policy import Access
from rhip.store.repository import Unit
from rhip.terminology import service
from rhip.terminology.bundled import bundled
from rhip.terminology.params import Out, Params, bad, coding_of, codings_of, inline
from rhip.terminology.service import Definition
from rhip.terminology.text import bilingual

NEGATIVE = ("unmatched", "disjoint")
MAX_MAPS = 100
MAX_HOPS = 3


@dataclass(frozen=True, slots=True)
class Target:
    system: str | None
    version: str | None
    code: str | None
    display: str | None
    equivalence: str
    depends: tuple[tuple[str, str | None, str], ...] = ()
    """(property, system, value) conditions."""
    product: tuple[tuple[str, str | None, str], ...] = ()
    """(property, system, value) of each additional output."""


@dataclass(slots=True)
class MapIndex:
    url: str
    forward: dict[tuple[str | None, str], list[Target]] = field(default_factory=dict)
    backward: dict[tuple[str | None, str], list[Target]] = field(default_factory=dict)
    unmapped: list[tuple[str | None, str | None, dict[str, Any]]] = field(default_factory=list)
    """(source system, target system, unmapped element)."""
    source_vs: str | None = None
    target_vs: str | None = None


def index(res: dict[str, Any]) -> MapIndex:
    """The lookup tables of one ConceptMap (built once per stored version)."""
    out = MapIndex(str(res.get("url") or res.get("id") or "#inline"))
    out.source_vs = res.get("sourceUri") or res.get("sourceCanonical")
    out.target_vs = res.get("targetUri") or res.get("targetCanonical")
    for group in res.get("group") or []:
        if not isinstance(group, dict):
            continue
        src, src_v = group.get("source"), group.get("sourceVersion")
        tgt, tgt_v = group.get("target"), group.get("targetVersion")
        for el in group.get("element") or []:
            if not isinstance(el, dict) or not isinstance(el.get("code"), str):
                continue
            for t in el.get("target") or [{"equivalence": "unmatched"}]:
                if not isinstance(t, dict):
                    continue
                depends = tuple(
                    (str(d.get("property")), d.get("system"), str(d.get("value")))
                    for d in t.get("dependsOn") or []
                    if isinstance(d, dict)
                )
                product = tuple(
                    (str(x.get("property")), x.get("system"), str(x.get("value")))
                    for x in t.get("product") or []
                    if isinstance(x, dict)
                )
                eq = str(t.get("equivalence") or "equivalent")
                out.forward.setdefault((src, el["code"]), []).append(
                    Target(tgt, tgt_v, t.get("code"), t.get("display"), eq, depends, product)
                )
                if isinstance(t.get("code"), str) and eq not in NEGATIVE:
                    out.backward.setdefault((tgt, t["code"]), []).append(
                        Target(src, src_v, el["code"], el.get("display"), _inverse(eq))
                    )
        if isinstance(group.get("unmapped"), dict):
            out.unmapped.append((src, tgt, group["unmapped"]))
    return out


def _inverse(eq: str) -> str:
    return {"wider": "narrower", "narrower": "wider", "subsumes": "specializes", "specializes": "subsumes"}.get(eq, eq)


def _model(d: Definition) -> MapIndex:
    if d.model is None:
        d.model = index(d.resource)
    model: MapIndex = d.model
    return model


def _depends_ok(t: Target, deps: list[tuple[str, str | None, str]]) -> bool:
    return all(
        any(e == prop and c == val and (s is None or ds in (None, s)) for e, ds, c in deps)
        for prop, s, val in t.depends
    )


@dataclass(slots=True)
class Query:
    system: str | None
    code: str
    reverse: bool
    targetsystem: str | None
    deps: list[tuple[str, str | None, str]]
    day: date | None


def _translate(unit: Unit, m: MapIndex, q: Query, hops: int = 0) -> list[tuple[Target, str]]:
    """(target, map url) pairs for one code through one map."""
    table = m.backward if q.reverse else m.forward
    found: list[Target] = []
    for key in ((q.system, q.code), (None, q.code)):
        found += table.get(key, [])
    if q.system is None:
        found += [t for (s, c), ts in table.items() if c == q.code and s is not None for t in ts]
    found = [t for t in found if _depends_ok(t, q.deps)]
    out = [(t, m.url) for t in dict.fromkeys(found)]
    if not out and not q.reverse:
        for src, tgt, um in m.unmapped:
            if src not in (None, q.system):
                continue
            mode = um.get("mode")
            if mode == "provided":
                out.append((Target(tgt, None, q.code, None, "equal"), m.url))
            elif mode == "fixed" and isinstance(um.get("code"), str):
                out.append((Target(tgt, None, um["code"], um.get("display"), "inexact"), m.url))
            elif mode == "other-map" and isinstance(um.get("url"), str) and hops < MAX_HOPS:
                other = service.concept_maps(unit, um["url"], None, q.day)
                out += _translate(unit, _model(other), q, hops + 1)
    if q.targetsystem:
        out = [(t, u) for t, u in out if t.system == q.targetsystem]
    return out


def _candidates(unit: Unit, p: Params, q: Query, id: str | None) -> list[MapIndex]:
    if id is not None:
        return [_model(service.by_id(unit, "ConceptMap", id))]
    res = inline(p, "conceptMap", "ConceptMap")
    if res is not None:
        return [index(res)]
    url = p.one("url")
    if url is not None:
        return [_model(service.concept_maps(unit, url, p.one("conceptMapVersion"), q.day))]
    terms = [
        ("target-code" if q.reverse else "source-code", service.escape(q.code)),
        ("_count", str(MAX_MAPS)),
        ("_total", "none"),
    ]
    if q.system and not q.reverse:
        terms.append(("source-system", service.escape(q.system)))
    result = unit.search(parse_query("ConceptMap", terms, max_count=MAX_MAPS))
    by_url: dict[str, list[Definition]] = {}
    for row in result.matches:
        d = service.definition("ConceptMap", row.id, row.version, row.lu, row.content)
        by_url.setdefault(d.url or f"#{d.id}", []).append(d)
    out = []
    for versions in by_url.values():
        versions.sort(key=Definition.order_key, reverse=True)
        chosen = service.pick(versions, q.day)
        if chosen is not None:
            out.append(_model(chosen))
    return out


def _dependencies(p: Params) -> list[tuple[str, str | None, str]]:
    out: list[tuple[str, str | None, str]] = []
    for parts in p.parts.get("dependency", []):
        element = next((x.get("valueUri") for x in parts if x.get("name") == "element"), None)
        concept = next((x.get("valueCodeableConcept") for x in parts if x.get("name") == "concept"), None)
        if not isinstance(element, str) or not isinstance(concept, dict):
            raise bad("dependency", "needs element (uri) and concept (CodeableConcept)", "需要 element 和 concept")
        codings = concept.get("coding")
        for c in codings if isinstance(codings, list) else []:
            if isinstance(c, dict) and isinstance(c.get("code"), str):
                out.append((element, c.get("system"), c["code"]))
    return out


def translate(unit: Unit, p: Params, id: str | None = None) -> dict[str, Any]:
    """The ``$translate`` output: result, message, and every match."""
    unit.authorize(Access.READ, "ConceptMap")
    lang = p.language()
    reverse = p.flag("reverse") is True
    code, system = p.one("code"), p.one("system")
    coding = p.obj("coding")
    cc = p.obj("codeableConcept")
    pairs: list[tuple[str | None, str]] = []
    if code is not None:
        pairs.append((system, code))
    if coding is not None:
        s, _, c, _ = coding_of(coding, "coding")
        if c is None:
            raise bad("coding", "has no code", "缺少 code")
        pairs.append((s, c))
    if cc is not None:
        pairs += [(s, c) for s, _, c, _ in codings_of(cc, "codeableConcept") if c is not None]
    if not pairs:
        raise bad(
            "code", "code (with system), coding or codeableConcept is required", "缺少 code、coding 或 codeableConcept"
        )
    if code is not None and system is None and p.one("url") is None and id is None and p.obj("conceptMap") is None:
        raise bad("system", "is required with code", "提供 code 时必须提供 system")
    source_vs, target_vs = p.one("source"), p.one("target")
    day = p.date()
    matches: list[tuple[Target, str]] = []
    seen_maps = 0
    for s, c in pairs:
        q = Query(s, c, reverse, p.one("targetsystem"), _dependencies(p), day)
        for m in _candidates(unit, p, q, id):
            if source_vs and (m.target_vs if reverse else m.source_vs) not in (None, source_vs):
                continue
            if target_vs and (m.source_vs if reverse else m.target_vs) not in (None, target_vs):
                continue
            seen_maps += 1
            matches += _translate(unit, m, q)
    good = [m for m in matches if m[0].equivalence not in NEGATIVE]
    out = Out().add("result", valueBoolean=bool(good))
    shown = ", ".join(f"{s or ''}#{c}" for s, c in pairs)
    if not good:
        zh = f"未找到 {shown} 的映射" + ("" if seen_maps else "（没有适用的概念映射）")
        en = f"no mapping found for {shown}" + ("" if seen_maps else " (no applicable ConceptMap)")
        out.add("message", valueString=bilingual(zh, en, lang))
    for t, url in dict.fromkeys(matches):
        parts: list[dict[str, Any]] = [{"name": "equivalence", "valueCode": t.equivalence}]
        if t.code is not None:
            coding_out: dict[str, Any] = {}
            if t.system:
                coding_out["system"] = t.system
            if t.version:
                coding_out["version"] = t.version
            coding_out["code"] = t.code
            display = t.display or _display(t.system, t.code, lang)
            if display:
                coding_out["display"] = display
            parts.append({"name": "concept", "valueCoding": coding_out})
        for prop, psystem, pvalue in t.product:
            pcoding = {"system": psystem, "code": pvalue} if psystem else {"code": pvalue}
            parts.append(
                {
                    "name": "product",
                    "part": [{"name": "element", "valueUri": prop}, {"name": "concept", "valueCoding": pcoding}],
                }
            )
        parts.append({"name": "source", "valueUri": url})
        out.part("match", parts)
    return out.resource()


def _display(system: str | None, code: str, lang: str | None) -> str | None:
    cs = bundled().get(system) if system else None
    concept = cs.find(code) if cs else None
    return concept.display_in(lang) if concept and cs else None
