"""ValueSet composition: membership and expansion entries (FHIR R4 valueset.html §4.9.5, §4.9.8).

A ``compose`` is compiled once per call into rules (one per include/exclude) that answer both
"is (system, code) in the value set?" without expanding, and "which concepts does it contain?"
(in code-system order, cached when every system it uses is bundled). Supported filters:
``concept``/``code`` with ``is-a``, ``descendent-of``, ``is-not-a``, ``generalizes``, ``=``, ``in``,
``not-in``, ``regex``; any other property (ICD-10 ``kind``; GB/T 2260 ``level``, ``status``, ``parent``;
value-domain fields such as ``class``) with ``=``, ``in``, ``not-in``, ``regex``, ``exists``.
A ValueSet without ``compose`` but with an ``expansion`` is used as that list of codes.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import orjson

from rhip.fhir.errors import FhirError
from rhip.store.repository import Unit
from rhip.terminology import service
from rhip.terminology.codesystem import CodeSystem, Concept
from rhip.terminology.text import fold

MAX_DEPTH = 8
MAX_REGEX = 200
Pred = Callable[[Concept], bool]


@dataclass(slots=True)
class Entry:
    """One code of an expansion."""

    system: str
    version: str | None
    code: str
    concept: Concept | None
    cs: CodeSystem | None
    display: str | None = None
    """The display given by the value set itself (compose concept or stored expansion)."""
    key: str = ""

    def __post_init__(self) -> None:
        if not self.key:
            base = self.concept.key if self.concept else fold(self.code)
            self.key = f"{base}\n{fold(self.display)}" if self.display else base


def _invalid(msg: str, zh: str) -> FhirError:
    return FhirError.of(400, "invalid", msg, zh, "ValueSet.compose")


def _set_of(value: str) -> set[str]:
    return {v.strip() for v in value.split(",") if v.strip()}


def _regex(value: str) -> re.Pattern[str]:
    if len(value) > MAX_REGEX:
        raise _invalid("filter regex is too long", "过滤正则表达式过长")
    try:
        return re.compile(value)
    except re.error as exc:
        raise _invalid(f"invalid filter regex {value!r}: {exc}", "过滤正则表达式无效") from None


def make_pred(cs: CodeSystem, prop: str, op: str, value: str) -> Pred:
    """A concept predicate for one compose filter; 400 for an unsupported property/operator pair."""
    if prop in ("concept", "code"):
        if op in ("is-a", "descendent-of", "is-not-a"):
            top = cs.find(value)
            root = top.code if top else value
            below = cs.descendants(root)
            inside = below if op == "descendent-of" else below | {root}

            def in_tree(c: Concept) -> bool:
                return c.code in inside or (c.code not in cs.concepts and root in cs.ancestors(c.code))

            if op == "is-not-a":
                return lambda c: not in_tree(c)
            if op == "descendent-of":
                return lambda c: c.code != root and in_tree(c)
            return in_tree
        if op == "generalizes":
            up = {value, *cs.ancestors(value)}
            return lambda c: c.code in up
        if op == "=":
            return lambda c: c.code == value
        if op in ("in", "not-in"):
            codes = _set_of(value)
            return (lambda c: c.code in codes) if op == "in" else (lambda c: c.code not in codes)
        if op == "regex":
            rx = _regex(value)
            return lambda c: rx.fullmatch(c.code) is not None
    else:
        if op == "=":
            return lambda c: any(
                str(v).lower() == value.lower() if isinstance(v, bool) else v == value for v in c.prop(prop)
            )
        if op in ("in", "not-in"):
            vals = _set_of(value)
            if op == "in":
                return lambda c: any(str(v) in vals for v in c.prop(prop))
            return lambda c: not any(str(v) in vals for v in c.prop(prop))
        if op == "regex":
            rx = _regex(value)
            return lambda c: any(rx.fullmatch(str(v)) is not None for v in c.prop(prop))
        if op == "exists":
            want = value == "true"
            return lambda c: bool(c.prop(prop)) == want
    raise FhirError.of(
        400,
        "not-supported",
        f"filter '{prop} {op} {value}' is not supported on {cs.url}",
        f"不支持的值集过滤条件：{prop} {op} {value}",
        "ValueSet.compose",
    )


_all_codes: dict[tuple[str, str | None], list[Entry]] = {}


def all_codes(cs: CodeSystem) -> list[Entry]:
    """Every enumerable code of a system as entries; kept for the process for bundled systems (static)."""
    if cs.kind == "bundled":
        hit = _all_codes.get((cs.url, cs.version))
        if hit is not None:
            return hit
    out = [Entry(cs.url, cs.version, c.code, c, cs, None, c.key) for c in cs.enumerate()]
    if cs.kind == "bundled":
        _all_codes[(cs.url, cs.version)] = out
    return out


@dataclass(slots=True)
class Rule:
    """One ``include`` or ``exclude`` of a compose."""

    system: str | None
    version: str | None
    cs: CodeSystem | None
    concepts: dict[str, str | None] | None
    preds: list[Pred] = field(default_factory=list)
    sets: list[Compiled] = field(default_factory=list)

    def matches(self, system: str | None, code: str) -> tuple[bool, Concept | None, str | None]:
        """(member?, concept, display from the value set) for one code."""
        concept = None
        display = None
        if self.system is not None:
            if system is not None and system not in (self.system, self.cs.url if self.cs else None):
                return False, None, None
            concept = self.cs.find(code) if self.cs else None
            if self.concepts is not None:
                if code not in self.concepts:
                    return False, None, None
                display = self.concepts[code]
                if self.cs is not None and concept is None:
                    return False, None, None
            elif concept is None or not all(p(concept) for p in self.preds):
                return False, None, None
        for vs in self.sets:
            ok, c2, d2 = vs.contains(system if system is not None else self.system, code)
            if not ok:
                return False, None, None
            concept = concept or c2
            display = display or d2
        return True, concept, display

    def entries(self) -> list[Entry]:
        out: list[Entry] = []
        if self.system is not None:
            url = self.cs.url if self.cs else self.system
            version = self.cs.version if self.cs else self.version
            if self.concepts is not None:
                for code, display in self.concepts.items():
                    c = self.cs.find(code) if self.cs else None
                    if self.cs is None or c is not None:
                        out.append(Entry(url, version, code, c, self.cs, display))
            else:
                assert self.cs is not None
                cs, preds = self.cs, self.preds
                if not preds:
                    out = all_codes(cs)
                elif len(preds) == 1:
                    pred = preds[0]
                    out = [Entry(url, version, c.code, c, cs, None, c.key) for c in cs.enumerate() if pred(c)]
                else:
                    out = [
                        Entry(url, version, c.code, c, cs, None, c.key)
                        for c in cs.enumerate()
                        if all(p(c) for p in preds)
                    ]
        for vs in self.sets:
            if self.system is None and not out:
                out = list(vs.entries())
                continue
            keep = {(e.system, e.code) for e in vs.entries()}
            out = [e for e in out if (e.system, e.code) in keep]
        return out


@dataclass(slots=True)
class Compiled:
    """A compiled value set: ``contains`` for membership, ``entries`` for the expansion."""

    url: str | None
    version: str | None
    includes: list[Rule]
    excludes: list[Rule]
    listed: list[Entry] | None = None
    """Codes of a stored expansion (ValueSets without compose)."""
    cache_key: bytes | None = None
    """Set when every system used is bundled, so entries can be cached across calls."""
    include_inactive: bool = True
    _entries: list[Entry] | None = None

    def contains(self, system: str | None, code: str) -> tuple[bool, Concept | None, str | None]:
        if self.listed is not None:
            for e in self.listed:
                if e.code == code and (system is None or e.system == system):
                    return True, e.concept, e.display
            return False, None, None
        for rule in self.includes:
            ok, concept, display = rule.matches(system, code)
            if ok:
                if any(x.matches(system, code)[0] for x in self.excludes):
                    return False, None, None
                if not self.include_inactive and concept is not None and concept.inactive:
                    return False, None, None
                return True, concept, display
        return False, None, None

    def systems(self) -> list[str]:
        out: list[str | None] = []
        for r in self.includes:
            out += [r.cs.url if r.cs else r.system] if r.system else [x for vs in r.sets for x in vs.systems()]
        if self.listed is not None:
            out += [e.system for e in self.listed]
        return list(dict.fromkeys(x for x in out if x))

    def entries(self) -> list[Entry]:
        if self._entries is not None:
            return self._entries
        hit = _entries_cache.get(self.cache_key) if self.cache_key else None
        if hit is None:
            hit = self._compute()
            if self.cache_key:
                _entries_cache.put(self.cache_key, hit)
        self._entries = hit
        return hit

    def _compute(self) -> list[Entry]:
        if self.listed is not None:
            return self.listed
        if len(self.includes) == 1 and not self.excludes and self.include_inactive:
            return self.includes[0].entries()
        seen: set[tuple[str, str]] = set()
        out: list[Entry] = []
        for rule in self.includes:
            for e in rule.entries():
                k = (e.system, e.code)
                if k not in seen:
                    seen.add(k)
                    out.append(e)
        if self.excludes:
            drop = {(e.system, e.code) for rule in self.excludes for e in rule.entries()}
            out = [e for e in out if (e.system, e.code) not in drop]
        if not self.include_inactive:
            out = [e for e in out if not (e.concept and e.concept.inactive)]
        return out


class _EntriesCache:
    def __init__(self, size: int) -> None:
        self.size = size
        self.items: OrderedDict[bytes, list[Entry]] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: bytes) -> list[Entry] | None:
        with self.lock:
            hit = self.items.get(key)
            if hit is not None:
                self.items.move_to_end(key)
            return hit

    def put(self, key: bytes, value: list[Entry]) -> None:
        with self.lock:
            self.items[key] = value
            while len(self.items) > self.size:
                self.items.popitem(last=False)


_entries_cache = _EntriesCache(64)


@dataclass(slots=True)
class Context:
    unit: Unit
    day: date | None
    system_versions: dict[str, str]
    """``system-version``/``systemVersion`` defaults; ``force`` ones override the compose."""
    force_versions: dict[str, str]
    bundled_only: bool = True
    visiting: tuple[str, ...] = ()


def _rule(ctx: Context, item: Any, where: str) -> Rule:
    if not isinstance(item, dict):
        raise _invalid(f"{where} is not an object", "值集定义无效")
    system = item.get("system") if isinstance(item.get("system"), str) else None
    version = item.get("version") if isinstance(item.get("version"), str) else None
    cs = None
    concepts: dict[str, str | None] | None = None
    preds: list[Pred] = []
    if system is not None:
        version = ctx.force_versions.get(system) or version or ctx.system_versions.get(system)
        cs = service.find_code_system(ctx.unit, system, version, ctx.day)
        if cs is not None and cs.kind != "bundled":
            ctx.bundled_only = False
        raw = item.get("concept")
        if isinstance(raw, list) and raw:
            concepts = {
                c["code"]: c.get("display") if isinstance(c.get("display"), str) else None
                for c in raw
                if isinstance(c, dict) and isinstance(c.get("code"), str)
            }
        if cs is None and (concepts is None or item.get("filter")):
            raise service.not_found("CodeSystem", system, version, ctx.day)
        for f in item.get("filter") or []:
            if not isinstance(f, dict) or not all(isinstance(f.get(k), str) for k in ("property", "op", "value")):
                raise _invalid(f"{where}.filter needs property, op and value", "过滤条件需要 property、op 和 value")
            assert cs is not None
            preds.append(make_pred(cs, f["property"], f["op"], f["value"]))
    sets = [compile_url(ctx, str(u)) for u in item.get("valueSet") or [] if isinstance(u, str)]
    if system is None and not sets:
        raise _invalid(f"{where} has neither system nor valueSet", "值集 include 需要 system 或 valueSet")
    return Rule(system, version, cs, concepts, preds, sets)


def compile_url(ctx: Context, url: str, version: str | None = None) -> Compiled:
    if url in ctx.visiting or len(ctx.visiting) >= MAX_DEPTH:
        raise _invalid(f"value set {url} includes itself or nests too deeply", "值集循环引用或嵌套过深")
    res = service.value_set(ctx.unit, url, version, ctx.day)
    if res.get("id"):
        ctx.bundled_only = False
    return compile_resource(ctx, res)


def compile_resource(ctx: Context, vs: dict[str, Any]) -> Compiled:
    """Compile a ValueSet resource (stored, implicit or sent inline)."""
    outer = ctx.visiting
    url = vs.get("url") if isinstance(vs.get("url"), str) else None
    ctx.visiting = (*outer, url or "#inline")
    try:
        return _compile(ctx, vs, url)
    finally:
        ctx.visiting = outer


def _compile(ctx: Context, vs: dict[str, Any], url: str | None) -> Compiled:
    version = vs.get("version") if isinstance(vs.get("version"), str) else None
    compose = vs.get("compose")
    if not isinstance(compose, dict):
        expansion = vs.get("expansion")
        if isinstance(expansion, dict):
            ctx.bundled_only = False
            return Compiled(url, version, [], [], listed=_listed(ctx, expansion.get("contains")))
        raise _invalid("the ValueSet has neither compose nor expansion", "值集既无 compose 也无 expansion")
    includes = [_rule(ctx, x, f"compose.include[{i}]") for i, x in enumerate(compose.get("include") or [])]
    excludes = [_rule(ctx, x, f"compose.exclude[{i}]") for i, x in enumerate(compose.get("exclude") or [])]
    if not includes:
        raise _invalid("compose has no include", "值集 compose 缺少 include")
    out = Compiled(url, version, includes, excludes, include_inactive=compose.get("inactive") is not False)
    if ctx.bundled_only:
        out.cache_key = orjson.dumps(
            [compose, ctx.day.isoformat() if ctx.day else None, ctx.system_versions, ctx.force_versions],
            option=orjson.OPT_SORT_KEYS,
        )
    return out


def _listed(ctx: Context, contains: Any) -> list[Entry]:
    out: list[Entry] = []
    stack = list(contains) if isinstance(contains, list) else []
    stack.reverse()
    while stack:
        item = stack.pop()
        if not isinstance(item, dict):
            continue
        nested = item.get("contains")
        if isinstance(nested, list):
            stack.extend(reversed(nested))
        system, code = item.get("system"), item.get("code")
        if isinstance(system, str) and isinstance(code, str):
            cs = service.find_code_system(ctx.unit, system, None, ctx.day)
            display = item.get("display") if isinstance(item.get("display"), str) else None
            out.append(Entry(system, item.get("version"), code, cs.find(code) if cs else None, cs, display))
    return out
