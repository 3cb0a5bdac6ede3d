"""The in-memory code system: concepts, designations, properties, hierarchy and search keys.

Bundled code systems (ICD-10, GB/T 2260, value domains) and CodeSystem resources stored in the
repository are both turned into a ``CodeSystem`` once and then answer ``$lookup``, ``$validate-code``,
``$subsumes`` and value-set filters from memory (FHIR R4 codesystem.html, terminology-service.html).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from rhip.terminology.dates import ALWAYS, Period
from rhip.terminology.text import fold, search_key

PropValue = str | bool | int
ZH = "zh-CN"
EN = "en"


def language_of(tag: str | None) -> str | None:
    """``zh``/``en`` for a BCP-47 tag (``zh-CN``, ``zh-Hans``, ``en-US``); None for any other language."""
    if not tag:
        return None
    head = tag.strip().split("-")[0].split("_")[0].lower()
    return head if head in ("zh", "en") else None


@dataclass(slots=True)
class Concept:
    code: str
    display: str
    """The default display (Chinese where the source has one)."""
    designations: tuple[tuple[str, str], ...] = ()
    """(language tag, value) pairs, the default display included."""
    parents: tuple[str, ...] = ()
    children: list[str] = field(default_factory=list)
    properties: tuple[tuple[str, PropValue], ...] = ()
    abstract: bool = False
    """Not selectable (ICD-10 chapters and blocks): valid only with ``abstract=true``."""
    inactive: bool = False
    key: str = ""
    """Search key: folded code and every designation."""
    definition: str | None = None

    def display_in(self, lang: str | None) -> str:
        """The display in ``zh``/``en`` when the concept has one, else the default display."""
        if lang:
            for tag, value in self.designations:
                if language_of(tag) == lang:
                    return value
        return self.display

    def prop(self, code: str) -> list[PropValue]:
        return [v for k, v in self.properties if k == code]


class CodeSystem:
    """A code system held in memory. Subclasses add code grammars (ICD-10) or validity (GB/T 2260)."""

    kind = "stored"
    """"bundled" or "stored" (a CodeSystem resource in the repository)."""

    def __init__(
        self,
        url: str,
        version: str | None,
        name: str,
        title: str,
        concepts: Iterable[Concept],
        *,
        content: str = "complete",
        case_sensitive: bool = True,
        period: Period = ALWAYS,
        properties: tuple[tuple[str, str, str], ...] = (),
    ) -> None:
        self.url = url
        self.version = version
        self.name = name
        self.title = title
        self.content = content
        self.case_sensitive = case_sensitive
        self.period = period
        self.properties = properties
        """Declared properties: (code, type, description)."""
        self.order: list[Concept] = list(concepts)
        self.concepts: dict[str, Concept] = {c.code: c for c in self.order}
        self._folded: dict[str, str] | None = None
        self._descendants: dict[str, frozenset[str]] = {}
        for c in self.order:
            if not c.key:
                c.key = search_key(dict.fromkeys([c.code, c.display, *(v for _, v in c.designations)]))
            for p in c.parents:
                parent = self.concepts.get(p)
                if parent is not None and c.code not in parent.children:
                    parent.children.append(c.code)

    # -- finding -------------------------------------------------------------------------------
    def find(self, code: str) -> Concept | None:
        """The concept for a code (case-insensitively when the system says so)."""
        c = self.concepts.get(code)
        if c is None and not self.case_sensitive:
            if self._folded is None:
                self._folded = {k.casefold(): k for k in self.concepts}
            real = self._folded.get(code.casefold())
            c = self.concepts.get(real) if real else None
        return c

    def near_miss(self, code: str) -> str | None:
        """A code that differs only in case or surrounding blanks, to suggest in a message."""
        for cand in (code.strip(), code.strip().upper()):
            if cand != code and cand in self.concepts:
                return cand
        return None

    def enumerate(self) -> Iterator[Concept]:
        """Every concept that an "all codes" expansion lists, in code-system order."""
        return iter(self.order)

    # -- hierarchy -----------------------------------------------------------------------------
    def ancestors(self, code: str) -> list[str]:
        """Every ancestor, nearest first (breadth-first over ``parents``)."""
        c = self.find(code)
        out: list[str] = []
        seen: set[str] = set()
        frontier = list(c.parents) if c else []
        while frontier:
            nxt: list[str] = []
            for p in frontier:
                if p in seen:
                    continue
                seen.add(p)
                out.append(p)
                pc = self.concepts.get(p)
                if pc is not None:
                    nxt.extend(pc.parents)
            frontier = nxt
        return out

    def descendants(self, code: str) -> frozenset[str]:
        """Every enumerated descendant of ``code`` (not itself), computed once per code."""
        hit = self._descendants.get(code)
        if hit is not None:
            return hit
        out: set[str] = set()
        stack = list(self.concepts[code].children) if code in self.concepts else []
        while stack:
            x = stack.pop()
            if x in out:
                continue
            out.add(x)
            child = self.concepts.get(x)
            if child is not None:
                stack.extend(child.children)
        result = frozenset(out)
        self._descendants[code] = result
        return result

    def subsumes(self, a: str, b: str) -> str:
        """FHIR concept-subsumption-outcome of A versus B: equivalent, subsumes, subsumed-by, not-subsumed."""
        ca, cb = self.find(a), self.find(b)
        ka = ca.code if ca else a
        kb = cb.code if cb else b
        if ka == kb:
            return "equivalent"
        if ka in self.ancestors(kb):
            return "subsumes"
        if kb in self.ancestors(ka):
            return "subsumed-by"
        return "not-subsumed"

    # -- time ----------------------------------------------------------------------------------
    def valid_at(self, concept: Concept, day: date | None) -> bool:
        """Whether the code is in force on ``day`` (always, unless the system records validity)."""
        return True

    def display_at(self, concept: Concept, day: date | None, lang: str | None) -> str:
        return concept.display_in(lang)

    def displays(self, concept: Concept) -> list[str]:
        """Every display accepted by ``$validate-code`` for the concept."""
        return [concept.display, *(v for _, v in concept.designations)]

    def lookup_properties(self, concept: Concept, day: date | None) -> list[tuple[str, PropValue]]:
        """Properties ``$lookup`` reports: parent, child, inactive and the concept's own."""
        out: list[tuple[str, PropValue]] = [("parent", p) for p in concept.parents]
        out += [("child", ch) for ch in concept.children]
        if concept.inactive:
            out.append(("inactive", True))
        out += [(k, v) for k, v in concept.properties if k not in ("parent", "child", "inactive")]
        return out

    def notes(self, concept: Concept, lang: str | None) -> list[str]:
        """Information for ``$validate-code`` messages (e.g. "national extension code of E11.9")."""
        return []

    def label(self) -> str:
        return f"{self.url}|{self.version}" if self.version else self.url


# ----------------------------------------------------------------------------- stored resources

_VALUE_KEYS = ("valueCode", "valueString", "valueBoolean", "valueInteger", "valueCoding", "valueDateTime")


def _prop_value(p: dict[str, Any]) -> PropValue | None:
    for key in _VALUE_KEYS:
        if key in p:
            v = p[key]
            if key == "valueCoding":
                return str(v.get("code") or "") if isinstance(v, dict) else None
            if isinstance(v, (str, bool, int)):
                return v
    return None


def from_resource(res: dict[str, Any], period: Period = ALWAYS) -> CodeSystem:
    """A stored CodeSystem resource as an in-memory code system (nested concepts give ``parent``)."""
    concepts: list[Concept] = []
    lang = language_of(res.get("language"))

    def walk(items: Any, parent: str | None) -> None:
        if not isinstance(items, list):
            return
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get("code"), str):
                continue
            code = item["code"]
            display = item.get("display") if isinstance(item.get("display"), str) else None
            desig: list[tuple[str, str]] = []
            if display:
                desig.append((ZH if lang in (None, "zh") else str(res.get("language")), display))
            for d in item.get("designation") or []:
                if isinstance(d, dict) and isinstance(d.get("value"), str):
                    desig.append((str(d.get("language") or ""), d["value"]))
            props: list[tuple[str, PropValue]] = []
            parents = [parent] if parent else []
            inactive = False
            abstract = False
            for p in item.get("property") or []:
                if not isinstance(p, dict) or not isinstance(p.get("code"), str):
                    continue
                v = _prop_value(p)
                if v is None:
                    continue
                if p["code"] == "parent" and isinstance(v, str):
                    parents.append(v)
                elif p["code"] in ("inactive", "deprecated") and v is True:
                    inactive = True
                elif p["code"] == "notSelectable" and v is True:
                    abstract = True
                elif p["code"] == "status" and v in ("retired", "inactive"):
                    inactive = True
                props.append((p["code"], v))
            concepts.append(
                Concept(
                    code,
                    display or (desig[0][1] if desig else code),
                    tuple(desig),
                    tuple(dict.fromkeys(parents)),
                    properties=tuple(props),
                    abstract=abstract,
                    inactive=inactive,
                    definition=item.get("definition") if isinstance(item.get("definition"), str) else None,
                )
            )
            walk(item.get("concept"), code)

    walk(res.get("concept"), None)
    declared = tuple(
        (str(p.get("code")), str(p.get("type") or "string"), str(p.get("description") or ""))
        for p in res.get("property") or []
        if isinstance(p, dict) and p.get("code")
    )
    return CodeSystem(
        str(res.get("url") or ""),
        res.get("version") if isinstance(res.get("version"), str) else None,
        str(res.get("name") or res.get("id") or ""),
        str(res.get("title") or res.get("name") or res.get("url") or ""),
        concepts,
        content=str(res.get("content") or "complete"),
        case_sensitive=res.get("caseSensitive") is not False,
        period=period,
        properties=declared,
    )


def same_display(given: str, accepted: Iterable[str]) -> bool:
    """Whether a display matches one of the accepted ones (white space, width and case ignored)."""
    g = fold(given)
    return any(fold(a) == g for a in accepted)
