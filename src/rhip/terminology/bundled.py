"""The bundled code systems, loaded from ``data/`` lazily, once per process.

ICD-10 (``http://hl7.org/fhir/sid/icd-10``, version ``2019-zh``; alias ``urn:oid:2.16.156.10011.2.3.3.11``),
GB/T 2260 (``http://rhip.cn/fhir/CodeSystem/gb-t-2260``) and every value domain of
``value_domains.json`` under its ``url``. Each also has an implicit "all codes" ValueSet,
``<system url>?fhir_vs`` (the convention FHIR defines for SNOMED CT, applied to every system), and
``<system url>?fhir_vs=isa/<code>`` for a code and its descendants.
"""

from __future__ import annotations

import json
import re
import threading
from datetime import date
from pathlib import Path
from typing import Any

from rhip.terminology import divisions, icd10
from rhip.terminology.codesystem import EN, ZH, CodeSystem, Concept, PropValue
from rhip.terminology.dates import Period, first_day, last_day

DATA = Path(__file__).resolve().parent / "data"

"""rhip's canonical base for its own definitions (decision 0008); owned here for every package."""
IMPLICIT_VS = "?fhir_vs"
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class ValueDomain(CodeSystem):
    kind = "bundled"


def _scalar_props(concept: dict[str, Any]) -> list[tuple[str, PropValue]]:
    out: list[tuple[str, PropValue]] = []
    for key, value in concept.items():
        if key in ("code", "display_zh", "display_en"):
            continue
        if isinstance(value, (str, bool, int)):
            out.append((key, value))
        elif isinstance(value, list):
            out += [(key, v) for v in value if isinstance(v, (str, bool, int))]
    return out


def _domain(key: str, d: dict[str, Any]) -> ValueDomain:
    concepts = []
    for c in d["concepts"]:
        zh = c.get("display_zh") or c["code"]
        desig = [(ZH, zh)] + ([(EN, c["display_en"])] if c.get("display_en") else [])
        concepts.append(Concept(c["code"], zh, tuple(desig), properties=tuple(_scalar_props(c))))
    version = str(d.get("version") or "")
    start = first_day(version) if _ISO_DATE.match(version) else None
    end = last_day(str(d["valid_until"])) if d.get("valid_until") else None
    props = sorted({k for c in concepts for k, _ in c.properties})
    return ValueDomain(
        d["url"],
        version or None,
        str(d.get("name") or key),
        str(d.get("title_zh") or key),
        concepts,
        period=Period(start, end),
        properties=tuple((p, "string", "") for p in props),
    )


class Bundled:
    """Every bundled code system by canonical URL (aliases included)."""

    def __init__(self, data: Path = DATA) -> None:
        systems: list[CodeSystem] = [icd10.load(data), divisions.load(data)]
        domains = json.loads((data / "value_domains.json").read_text(encoding="utf-8"))
        systems += [_domain(k, v) for k, v in domains.items() if isinstance(v, dict) and "concepts" in v]
        self.systems = systems
        self.by_url: dict[str, CodeSystem] = {cs.url: cs for cs in systems}
        self.by_url[icd10.OID] = self.by_url[icd10.URL]

    def get(self, url: str, version: str | None = None, day: date | None = None) -> CodeSystem | None:
        """The bundled system for a URL when it fits the version and is in force on ``day``."""
        cs = self.by_url.get(url)
        if cs is None:
            return None
        if version and version != cs.version:
            return None
        if day is not None and not cs.period.contains(day):
            return None
        return cs


_lock = threading.Lock()
_loaded: Bundled | None = None


def bundled() -> Bundled:
    """The bundled systems, read from disk on first use (thread-safe, once per process)."""
    global _loaded
    if _loaded is None:
        with _lock:
            if _loaded is None:
                _loaded = Bundled()
    return _loaded


def implicit(url: str) -> tuple[str, str | None] | None:
    """``(system, is-a code or None)`` for an implicit value-set URL, else None."""
    base, sep, query = url.partition("?")
    if not sep or not base:
        return None
    if query == "fhir_vs":
        return base, None
    if query.startswith("fhir_vs=isa/") and len(query) > len("fhir_vs=isa/"):
        return base, query[len("fhir_vs=isa/") :]
    return None
