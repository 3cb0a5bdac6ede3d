"""Resolution of canonical URLs (``url`` [+ ``version``] [+ ``date``]) to terminology content.

Order: bundled content first, then CodeSystem/ValueSet/ConceptMap resources stored in the repository,
found by a ``url`` search through the unit (so the caller's authorisation applies). Among stored
versions: ``version`` picks one exactly; otherwise the newest wins: highest version label in natural
order (``"10"`` > ``"9"``), then latest ``date``, then latest ``meta.lastUpdated``. With a ``date``
parameter only versions in force that day are candidates (``dates.effective_period``). A canonical
may carry its version after ``|`` (``url|version``). Nothing found is a 404 naming what was asked.
Parsed stored resources are cached per (type, id, version id, lastUpdated), so repeated calls cost one
search.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date
from typing import Any

import orjson

from rhip.fhir.errors import FhirError
from rhip.fhir.search.parse import parse_query
from rhip.store.repository import Unit
from rhip.terminology import dates
from rhip.terminology.bundled import bundled, implicit
from rhip.terminology.codesystem import CodeSystem, from_resource
from rhip.terminology.text import version_key

MAX_VERSIONS = 200
"""Versions of one canonical considered (the most recently written ones)."""
_NAMES_ZH = {"CodeSystem": "代码系统", "ValueSet": "值集", "ConceptMap": "概念映射"}


@dataclass(slots=True)
class Definition:
    """One stored definition version, parsed."""

    rtype: str
    id: str
    version_id: int
    lu: int
    """Last-updated epoch ms: with type, id and version it identifies the content (across databases too)."""
    resource: dict[str, Any]
    period: dates.Period
    model: Any = None
    """The derived in-memory form (CodeSystem, concept-map index), built on first use."""

    @property
    def url(self) -> str:
        return str(self.resource.get("url") or "")

    @property
    def version(self) -> str | None:
        v = self.resource.get("version")
        return v if isinstance(v, str) else None

    def order_key(self) -> tuple[Any, ...]:
        meta = self.resource.get("meta") or {}
        return (version_key(self.version), str(self.resource.get("date") or ""), str(meta.get("lastUpdated") or ""))


class _Cache:
    def __init__(self, size: int) -> None:
        self.size = size
        self.items: OrderedDict[tuple[str, str, int, int], Definition] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: tuple[str, str, int, int]) -> Definition | None:
        with self.lock:
            hit = self.items.get(key)
            if hit is not None:
                self.items.move_to_end(key)
            return hit

    def put(self, d: Definition) -> None:
        with self.lock:
            self.items[(d.rtype, d.id, d.version_id, d.lu)] = d
            while len(self.items) > self.size:
                self.items.popitem(last=False)


_cache = _Cache(512)


def split_canonical(url: str, version: str | None = None) -> tuple[str, str | None]:
    """``url|version`` → (url, version); an explicit ``version`` parameter must agree."""
    base, sep, ver = url.partition("|")
    if sep and ver:
        if version and version != ver:
            raise FhirError.bad_request(
                f"the version in '{url}' differs from the version parameter '{version}'",
                "版本参数与规范地址中的版本不一致",
            )
        return base, ver
    return base, version


def escape(value: str) -> str:
    """A search value with FHIR's special characters escaped (``,`` ``|`` ``$`` ``\\``)."""
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("|", "\\|").replace("$", "\\$")


def definition(rtype: str, id: str, version_id: int, lu: int, content: str) -> Definition:
    """A stored version parsed once (cached by type, id and version id)."""
    key = (rtype, id, version_id, lu)
    hit = _cache.get(key)
    if hit is not None:
        return hit
    res = orjson.loads(content)
    d = Definition(rtype, id, version_id, lu, res, dates.effective_period(res))
    _cache.put(d)
    return d


def stored_versions(unit: Unit, rtype: str, url: str, version: str | None = None) -> list[Definition]:
    """Every stored version of a canonical (one ``url`` search, newest first)."""
    query = [("url", escape(url)), ("_sort", "-_lastUpdated"), ("_count", str(MAX_VERSIONS)), ("_total", "none")]
    if version:
        query.append(("version", escape(version)))
    result = unit.search(parse_query(rtype, query, max_count=MAX_VERSIONS))
    found = [definition(rtype, row.id, row.version, row.lu, row.content) for row in result.matches]
    found = [d for d in found if d.url == url and (version is None or d.version == version)]
    found.sort(key=Definition.order_key, reverse=True)
    return found


def pick(found: list[Definition], day: date | None) -> Definition | None:
    """The newest version in force on ``day`` (the newest of all without a day)."""
    for d in found:
        if day is None or d.period.contains(day):
            return d
    return None


def not_found(rtype: str, url: str, version: str | None, day: date | None) -> FhirError:
    what = f"{url}|{version}" if version else url
    at_en = f" in force on {day.isoformat()}" if day else ""
    at_zh = f"（{day.isoformat()} 有效）" if day else ""
    return FhirError.of(
        404,
        "not-found",
        f"{rtype} {what}{at_en} not found",
        f"未找到{_NAMES_ZH.get(rtype, rtype)}：{what}{at_zh}",
    )


def stored(unit: Unit, rtype: str, url: str, version: str | None, day: date | None) -> Definition | None:
    return pick(stored_versions(unit, rtype, url, version), day)


def by_id(unit: Unit, rtype: str, id: str) -> Definition:
    """A stored definition by id (instance-level operations); 404/410 as for a read."""
    row = unit.read(rtype, id)
    return definition(rtype, id, row.version, row.lu, row.content or "{}")


# ----------------------------------------------------------------------------- code systems


def cs_model(d: Definition) -> CodeSystem:
    """The in-memory form of a stored CodeSystem (built once per version)."""
    if d.model is None:
        d.model = from_resource(d.resource, d.period)
    model: CodeSystem = d.model
    return model


def find_code_system(unit: Unit, url: str, version: str | None = None, day: date | None = None) -> CodeSystem | None:
    """Bundled first, then stored; None when neither has it."""
    url, version = split_canonical(url, version)
    hit = bundled().get(url, version, day)
    if hit is not None:
        return hit
    d = stored(unit, "CodeSystem", url, version, day)
    return cs_model(d) if d is not None else None


def code_system(unit: Unit, url: str, version: str | None = None, day: date | None = None) -> CodeSystem:
    """Like ``find_code_system`` but 404 (naming the system) when it is unknown."""
    cs = find_code_system(unit, url, version, day)
    if cs is None:
        base, ver = split_canonical(url, version)
        raise not_found("CodeSystem", base, ver, day)
    return cs


# ----------------------------------------------------------------------------- value sets and maps


def implicit_value_set(url: str, cs: CodeSystem, isa: str | None) -> dict[str, Any]:
    """The implicit "all codes" (or ``isa/<code>``) ValueSet of a code system, as a resource."""
    include: dict[str, Any] = {"system": cs.url}
    if cs.version:
        include["version"] = cs.version
    if isa:
        include["filter"] = [{"property": "concept", "op": "is-a", "value": isa}]
    return {
        "resourceType": "ValueSet",
        "url": url,
        "version": cs.version,
        "name": f"{cs.name}AllCodes" if not isa else f"{cs.name}IsA",
        "title": cs.title if not isa else f"{cs.title}：{isa} 及其下位编码",
        "status": "active",
        "compose": {"include": [include]},
    }


def value_set(unit: Unit, url: str, version: str | None = None, day: date | None = None) -> dict[str, Any]:
    """A ValueSet resource for a canonical: implicit ones first, then stored; 404 if unknown."""
    base, version = split_canonical(url, version)
    imp = implicit(base)
    if imp is not None:
        cs = find_code_system(unit, imp[0], version, day)
        if cs is not None:
            return implicit_value_set(base, cs, imp[1])
    d = stored(unit, "ValueSet", base, version, day)
    if d is None:
        raise not_found("ValueSet", base, version, day)
    return d.resource


def concept_maps(unit: Unit, url: str, version: str | None, day: date | None) -> Definition:
    base, version = split_canonical(url, version)
    d = stored(unit, "ConceptMap", base, version, day)
    if d is None:
        raise not_found("ConceptMap", base, version, day)
    return d
