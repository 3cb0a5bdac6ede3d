"""``ValueSet/$expand`` (FHIR R4 valueset-operation-expand) with text filter and paging.

``filter`` matches, as substrings after NFKC/case folding, the code, the Chinese display and the English
display (every white-space separated term must occur). Matches are ranked: exact code, code prefix,
display prefix, then the rest, each in code-system order, so paging is stable. ``offset``/``count``
page the result; ``expansion.total`` counts every match. Without ``count`` at most ``MAX_UNPAGED``
codes are returned (larger results are a 400 asking for ``count``); ``count`` is capped at ``MAX_COUNT``.
Also: ``activeOnly``, ``excludeNotForUI`` (drops chapters/blocks), ``includeDesignations``,
``displayLanguage``, ``date`` (codes in force that day, names of that day), ``system-version`` and
``force-system-version``. Search keys are precomputed per concept and matching lists are cached.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from typing import Any

from rhip.fhir.errors import FhirError
from rhip.security.policy import Access
from rhip.store.repository import Unit, format_instant
from rhip.terminology import targets
from rhip.terminology.params import Params, bad
from rhip.terminology.text import filter_terms
from rhip.terminology.valueset import Context, Entry, compile_resource

MAX_UNPAGED = 1000
MAX_COUNT = 1000


class _Matches:
    """LRU of filtered, ranked entry lists for cacheable expansions."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.items: OrderedDict[tuple[Any, ...], list[Entry]] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: tuple[Any, ...]) -> list[Entry] | None:
        with self.lock:
            hit = self.items.get(key)
            if hit is not None:
                self.items.move_to_end(key)
            return hit

    def put(self, key: tuple[Any, ...], value: list[Entry]) -> None:
        with self.lock:
            self.items[key] = value
            while len(self.items) > self.size:
                self.items.popitem(last=False)


_matches = _Matches(256)


def _versions(p: Params, name: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for v in p.many(name):
        system, sep, version = v.rpartition("|")
        if not sep or not system or not version:
            raise bad(name, f"must be 'system|version', not {v!r}", "格式应为 system|version")
        out[system] = version
    return out


def match(entries: list[Entry], terms: tuple[str, ...]) -> list[Entry]:
    """Entries whose key holds every term, ranked: exact code, code prefix, display prefix, other."""
    if not terms:
        return entries
    first = terms[0]
    hits = [e for e in entries if first in e.key]
    for t in terms[1:]:
        hits = [e for e in hits if t in e.key]
    line = "\n" + first

    def rank(e: Entry) -> int:
        k = e.key
        if k.startswith(first):
            return 0 if k.split("\n", 1)[0] == first else 1
        return 2 if line in k else 3

    return sorted(hits, key=rank)


def expand(unit: Unit, p: Params, id: str | None = None) -> dict[str, Any]:
    """The expanded ValueSet (one page of it)."""
    unit.authorize(Access.READ, "ValueSet")
    day, lang = p.date(), p.language()
    offset = p.integer("offset") or 0
    count = p.integer("count")
    active_only = p.flag("activeOnly") is True
    not_for_ui = p.flag("excludeNotForUI") is True
    designations = p.flag("includeDesignations") is True
    text = p.one("filter", empty_ok=True)  # a type-ahead box sends filter= before the first key
    terms = filter_terms(text) if text else ()
    vs = targets.value_set(unit, p, id, day)
    ctx = Context(unit, day, _versions(p, "system-version"), _versions(p, "force-system-version"))
    compiled = compile_resource(ctx, vs)
    key = (compiled.cache_key, terms, active_only, not_for_ui, day) if compiled.cache_key else None
    hits = _matches.get(key) if key else None
    if hits is None:
        entries = compiled.entries()
        if active_only or not_for_ui or day is not None:
            entries = [
                e
                for e in entries
                if not (active_only and e.concept and e.concept.inactive)
                and not (not_for_ui and e.concept and e.concept.abstract)
                and not (day is not None and e.cs and e.concept and not e.cs.valid_at(e.concept, day))
            ]
        hits = match(entries, terms)
        if key:
            _matches.put(key, hits)
    total = len(hits)
    asked = count
    if count is None:
        if total - offset > MAX_UNPAGED:
            raise FhirError.too_costly(
                f"the expansion has {total} codes; page it with count (≤ {MAX_COUNT}) and offset, or add a filter"
            )
        count = MAX_UNPAGED
    count = min(count, MAX_COUNT)
    page = hits[offset : offset + count]
    contains = []
    for e in page:
        item: dict[str, Any] = {"system": e.system}
        if e.version:
            item["version"] = e.version
        item["code"] = e.code
        c = e.concept
        if c is not None and e.cs is not None:
            item["display"] = e.display or e.cs.display_at(c, day, lang)
            if c.abstract:
                item["abstract"] = True
            if c.inactive:
                item["inactive"] = True
            if designations:
                item["designation"] = [{"language": t, "value": v} for t, v in dict.fromkeys(c.designations)]
        elif e.display:
            item["display"] = e.display
        contains.append(item)
    params: list[dict[str, Any]] = []
    if text:
        params.append({"name": "filter", "valueString": text})
    params.append({"name": "offset", "valueInteger": offset})
    if asked is not None:
        params.append({"name": "count", "valueInteger": count})
    if lang:
        params.append({"name": "displayLanguage", "valueCode": lang})
    if day:
        params.append({"name": "date", "valueDateTime": day.isoformat()})
    for rule in compiled.includes:
        if rule.cs is not None and rule.cs.version:
            params.append({"name": "version", "valueUri": f"{rule.cs.url}|{rule.cs.version}"})
    expansion: dict[str, Any] = {
        "identifier": f"urn:uuid:{uuid.uuid4()}",
        "timestamp": format_instant(int(time.time() * 1000)),
        "total": total,
        "offset": offset,
        "parameter": list({_param_key(x): x for x in params}.values()),
    }
    if contains:
        expansion["contains"] = contains
    out: dict[str, Any] = {"resourceType": "ValueSet"}
    for k in ("id", "url", "version", "name", "title"):
        if isinstance(vs.get(k), str):
            out[k] = vs[k]
    out["status"] = vs.get("status") if isinstance(vs.get("status"), str) else "active"
    out["expansion"] = expansion
    return out


def _param_key(item: dict[str, Any]) -> tuple[str, str]:
    value = next(v for k, v in item.items() if k != "name")
    return item["name"], str(value)


def preload() -> None:
    """Load the bundled data and the ICD-10/GB/T 2260 code lists now (e.g. at start-up, before ``gc.freeze()``)."""
    from rhip.terminology.bundled import bundled
    from rhip.terminology.valueset import all_codes

    for cs in bundled().systems:
        all_codes(cs)
