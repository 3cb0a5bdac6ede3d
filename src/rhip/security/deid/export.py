"""The research export: read everything through the repository, write de-identified NDJSON and a report.

Three passes over one read-only unit of work (all reads go through ``Unit.search``, so the repository's
policy and audit see the export): Patients first (persons, quasi-identifiers, the k-anonymity solution),
then every other exported type twice, once to decide which resources are released (so that references
can be limited to released targets) and once to scrub and write them. Output lines are ordered by
pseudonymous id: the store's order is load order, which would put a household's records side by side.
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rhip.fhir import json as fjson
from rhip.fhir.definitions import patient_compartment
from rhip.fhir.model import is_resource_type
from rhip.fhir.search.parse import parse_query
from rhip.security.context import RequestContext
from rhip.security.deid.dates import shift_date
from rhip.security.deid.hierarchy import DIMENSIONS, Value
from rhip.security.deid.kanon import anonymise
from rhip.security.deid.keys import Keys
from rhip.security.deid.patient import build_patient, person_key, person_values, raw_values
from rhip.security.deid.scrub import Scrubber, patient_refs, reduce_meta
from rhip.store.repository import Repository, Unit

__all__ = ["CONTEXT_TYPES", "DEFAULT_QUASI", "ExportReport", "export", "personal_types"]

DEFAULT_QUASI: tuple[str, ...] = tuple(DIMENSIONS)
"""birth, gender, address, ethnicity, marital, deceased: every Patient attribute that is released."""

CONTEXT_TYPES = frozenset(
    {"Organization", "Location", "Practitioner", "PractitionerRole", "HealthcareService", "Medication", "Substance"}
)
"""Types outside the Patient compartment that describe the care setting: released scrubbed, dates kept."""

DEFAULT_SHIFT_DAYS = 180
PURPOSE = "research-export"


def personal_types() -> frozenset[str]:
    """The Patient compartment (R4 CompartmentDefinition): released only when tied to one person."""
    return frozenset(
        r["code"]
        for r in patient_compartment().get("resource", [])
        if [p for p in r.get("param", []) if p != "{def}"] and is_resource_type(r["code"])
    )


@dataclass(slots=True)
class ExportReport:
    k: int
    quasi: tuple[str, ...]
    levels: dict[str, str]
    """Chosen generalisation level (name) per released quasi-identifier."""
    classes: int
    smallest_class: int
    persons: int
    suppressed_persons: int
    patients: int
    """Patient records released."""
    feasible: bool
    counts: dict[str, int] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)
    """Resources left out, by reason: suppressed, several-persons, no-person."""
    key_fingerprint: str = ""
    max_shift_days: int = DEFAULT_SHIFT_DAYS
    max_suppression: float = 0.05

    def to_json(self) -> dict[str, Any]:
        return {
            "k": self.k,
            "quasiIdentifiers": list(self.quasi),
            "levels": self.levels,
            "algorithm": "full-domain generalisation, least Prec loss; persons in classes < k suppressed",
            "equivalenceClasses": self.classes,
            "smallestClass": self.smallest_class,
            "persons": self.persons,
            "suppressedPersons": self.suppressed_persons,
            "maxSuppression": self.max_suppression,
            "feasible": self.feasible,
            "patients": self.patients,
            "counts": dict(sorted(self.counts.items())),
            "dropped": dict(sorted(self.dropped.items())),
            "keyFingerprint": self.key_fingerprint,
            "dateShift": {"minDays": -self.max_shift_days, "maxDays": self.max_shift_days, "zeroExcluded": True},
        }


def _pages(unit: Unit, rtype: str, page: int) -> Iterator[tuple[str, str]]:
    """(id, JSON text) of every current resource of a type, page by page through the repository."""
    cursor: str | None = None
    while True:
        params = [("_count", str(page)), ("_total", "none")] + ([("_cursor", cursor)] if cursor else [])
        result = unit.search(parse_query(rtype, params, max_count=page))
        for row in result.matches:
            yield row.id, row.content
        if not result.next_cursor or not result.matches:
            return
        cursor = result.next_cursor


@dataclass(slots=True)
class _Person:
    key: str
    records: list[str] = field(default_factory=list)
    values: list[dict[str, Value]] = field(default_factory=list)
    meta: dict[str, dict[str, Any]] = field(default_factory=dict)


def export(
    repo: Repository,
    out_dir: Path,
    *,
    key: bytes,
    k: int = 5,
    quasi: Sequence[str] = DEFAULT_QUASI,
    max_suppression: float = 0.05,
    max_shift_days: int = DEFAULT_SHIFT_DAYS,
    page_size: int = 500,
) -> ExportReport:
    """Write ``<Type>.ndjson`` files and ``report.json`` to ``out_dir`` (created; must hold no NDJSON yet).

    ``quasi`` lists the Patient attributes released (generalised to reach ``k``); any not listed is not
    released at all. ``max_suppression`` is the share of persons that may be left out instead of
    generalising further.
    """
    unknown = [q for q in quasi if q not in DIMENSIONS]
    if unknown:
        raise ValueError(f"unknown quasi-identifiers {unknown}; known: {list(DIMENSIONS)}")
    keys = Keys(key)
    out_dir.mkdir(parents=True, exist_ok=True)
    if any(out_dir.glob("*.ndjson")):
        raise FileExistsError(f"{out_dir} already holds an export")
    dims = [DIMENSIONS[q] for q in DIMENSIONS if q in quasi]
    personal = personal_types() - {"Patient"}
    types = sorted(personal | CONTEXT_TYPES)
    base = repo.base_url
    with repo.unit(RequestContext.system(PURPOSE), write=False) as unit:
        persons: dict[str, _Person] = {}
        owner: dict[str, str] = {}  # Patient id -> person key
        for pid, text in _pages(unit, "Patient", page_size):
            res = fjson.loads(text)
            pk = person_key(res)
            person = persons.setdefault(pk, _Person(pk))
            person.records.append(pid)
            person.values.append(raw_values(res))
            person.meta[pid] = res.get("meta") or {}
            owner[pid] = pk
        order = sorted(persons)
        offsets = {pk: keys.offset_days(pk, max_shift_days) for pk in order}
        table = []
        for pk in order:
            vals = person_values(persons[pk].values)
            if vals["birth"] is not None:
                try:
                    vals["birth"] = shift_date(vals["birth"], offsets[pk])
                except ValueError:
                    vals["birth"] = None
            table.append([vals[d.name] for d in dims])
        solution = anonymise(table, dims, k, max_suppression)
        suppressed = {order[i] for i in solution.suppressed}

        dropped: Counter[str] = Counter()
        released: set[str] = {f"Patient/{pid}" for pid, pk in owner.items() if pk not in suppressed}
        dropped["suppressed"] += len(owner) - len(released)

        def fate(rtype: str, text: str) -> tuple[str | None, str | None]:
            """(reason to drop or None, owning person or None)."""
            owners = {owner[p] for p in patient_refs(text, base) if p in owner}
            if len(owners) > 1:
                return "several-persons", None
            if owners:
                pk = owners.pop()
                return ("suppressed" if pk in suppressed else None), pk
            return ("no-person" if rtype in personal else None), None

        for rtype in types:
            for rid, text in _pages(unit, rtype, page_size):
                reason, _ = fate(rtype, text)
                if reason:
                    dropped[reason] += 1
                else:
                    released.add(f"{rtype}/{rid}")

        scrubber = Scrubber(keys, lambda t, i: f"{t}/{i}" in released, base)
        counts: Counter[str] = Counter()
        patients: list[tuple[str, bytes]] = []
        for pos, pk in enumerate(order):
            if pk in suppressed:
                continue
            person = persons[pk]
            values = {d.name: d.generalise(table[pos][j], solution.levels[j]) for j, d in enumerate(dims)}
            levels = {d.name: solution.levels[j] for j, d in enumerate(dims)}
            for pid in person.records:
                pseudo = keys.resource_id("Patient", pid)
                meta = reduce_meta(person.meta[pid], offsets[pk])
                doc = build_patient(pseudo, keys.person(pk), values, levels, meta)
                patients.append((pseudo, fjson.dumps(doc)))
        _write_sorted(out_dir / "Patient.ndjson", patients)
        counts["Patient"] = len(patients)
        for rtype in types:
            with _SortedWriter(out_dir / f"{rtype}.ndjson") as writer:
                for rid, text in _pages(unit, rtype, page_size):
                    if f"{rtype}/{rid}" not in released:
                        continue
                    _, who = fate(rtype, text)
                    doc = scrubber.resource(fjson.loads(text), offsets[who] if who else None)
                    writer.add(doc["id"], fjson.dumps(doc))
                counts[rtype] += writer.count

    report = ExportReport(
        k=k,
        quasi=tuple(d.name for d in dims),
        levels={d.name: d.levels[solution.levels[j]] for j, d in enumerate(dims)},
        classes=solution.classes,
        smallest_class=solution.smallest,
        persons=len(order),
        suppressed_persons=len(suppressed),
        patients=len(patients),
        feasible=solution.feasible,
        counts={t: n for t, n in counts.items() if n},
        dropped={r: n for r, n in dropped.items() if n},
        key_fingerprint=keys.fingerprint(),
        max_shift_days=max_shift_days,
        max_suppression=max_suppression,
    )
    (out_dir / "report.json").write_bytes(fjson.dumps(report.to_json(), pretty=True) + b"\n")
    return report


def _write_sorted(path: Path, lines: list[tuple[str, bytes]]) -> None:
    if not lines:
        return
    with path.open("wb") as f:
        for _, line in sorted(lines):
            f.write(line + b"\n")


class _SortedWriter:
    """Lines of one type sorted by id with bounded memory: kept in memory up to ``spill`` lines, beyond
    that spread over 16 bucket files by the id's first hex digit (ids are uniform hashes), each sorted
    in memory when the type is done. No file is written for an empty type."""

    def __init__(self, path: Path, spill: int = 100_000) -> None:
        self.path = path
        self.count = 0
        self.spill = spill
        self._rows: list[tuple[str, bytes]] = []
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._buckets: dict[str, Any] = {}

    def __enter__(self) -> _SortedWriter:
        return self

    def add(self, id: str, line: bytes) -> None:
        self.count += 1
        self._rows.append((id, line))
        if len(self._rows) >= self.spill:
            self._flush()

    def _flush(self) -> None:
        if self._dir is None:
            self._dir = tempfile.TemporaryDirectory(prefix="deid-", dir=self.path.parent)
        for id, line in self._rows:
            bucket = self._buckets.get(id[0])
            if bucket is None:
                bucket = self._buckets[id[0]] = open(os.path.join(self._dir.name, id[0]), "wb")  # noqa: SIM115
            bucket.write(id.encode() + b"\t" + line + b"\n")
        self._rows = []

    def __exit__(self, *exc: object) -> None:
        try:
            if exc[0] is not None or not self.count:
                return
            if self._dir is None:
                _write_sorted(self.path, self._rows)
                return
            self._flush()
            for f in self._buckets.values():
                f.close()
            with self.path.open("wb") as out:
                for name in sorted(self._buckets):
                    rows = Path(self._dir.name, name).read_bytes().splitlines()
                    for row in sorted(rows):
                        out.write(row.split(b"\t", 1)[1] + b"\n")
        finally:
            for f in self._buckets.values():
                f.close()
            if self._dir is not None:
                self._dir.cleanup()
