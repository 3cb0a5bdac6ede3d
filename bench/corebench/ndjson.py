"""NDJSON for the scale test: the Synthea patients cloned with fresh ids and rewritten references.

Every clone is a distinct patient with its own copy of one fixture bundle's clinical resources
(Patient, Encounter, Observation, Claim, ...): every resource id, every reference to it and the
patient's identifiers are new (uuid identifiers get fresh uuids, other identifier values a ``-<clone>``
suffix), so ``Patient?identifier=`` finds exactly one patient. Organizations and Practitioners are
providers shared by the region: they are written once (with their Synthea ids) and clones refer to
them, as patients of one region share hospitals and doctors. ``urn:uuid:`` references become
``Type/id`` (bulk data carries literal references). Output is FHIR bulk-data style: one
``<Type>.ndjson`` file per resource type. Deterministic for a given seed.
"""

from __future__ import annotations

import json
import random
import re
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

SHARED_TYPES = frozenset({"Organization", "Practitioner"})
SYNTHEA_ID_SYSTEM = "https://github.com/synthetichealth/synthea"
_TOKEN = re.compile(r"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|@@CLONE@@)")
FORMAT_VERSION = 2


@dataclass
class Template:
    """One fixture bundle as cloneable text: literal parts and variable slots per resource."""

    name: str
    resources: list[tuple[str, list[str | int]]] = field(default_factory=list)
    """(resourceType, parts): str parts are literal, int parts index the clone's values."""
    slots: list[str] = field(default_factory=list)
    """Slot i holds an original uuid (to be replaced by a fresh one) or '@@CLONE@@'."""
    patient_slot: int = -1
    person_slot: int = -1
    """Slot of the Synthea person uuid (the value of the patient's Synthea identifier)."""


def _rewrite_refs(node: Any, ids: dict[str, str]) -> None:
    if isinstance(node, dict):
        ref = node.get("reference")
        if isinstance(ref, str) and ref in ids:
            node["reference"] = ids[ref]
        for v in node.values():
            if isinstance(v, dict | list):
                _rewrite_refs(v, ids)
    elif isinstance(node, list):
        for v in node:
            _rewrite_refs(v, ids)


def build_templates(fixture_dir: Path) -> tuple[list[Template], list[tuple[str, bytes]]]:
    """Templates of the fixture bundles, and the shared (provider) resources as (type, line)."""
    templates: list[Template] = []
    shared: dict[str, tuple[str, bytes]] = {}
    for path in sorted(fixture_dir.glob("*.json")):
        bundle = orjson.loads(path.read_bytes())
        entries = bundle["entry"]
        ids = {e["fullUrl"]: f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in entries}
        own = {e["resource"]["id"] for e in entries if e["resource"]["resourceType"] not in SHARED_TYPES}
        t = Template(path.stem)
        slot_of: dict[str, int] = {}
        person = None
        for e in entries:
            res = e["resource"]
            rtype = res["resourceType"]
            _rewrite_refs(res, ids)
            if rtype in SHARED_TYPES:
                shared.setdefault(res["id"], (rtype, orjson.dumps(res)))
                continue
            if rtype == "Patient":
                for ident in res.get("identifier") or []:
                    value = ident.get("value")
                    if ident.get("system") == SYNTHEA_ID_SYSTEM:
                        person = value
                    if isinstance(value, str) and not _TOKEN.fullmatch(value):
                        ident["value"] = f"{value}-@@CLONE@@"
                if person is None:
                    raise ValueError(f"{path.name}: patient without a Synthea identifier")
                own.add(person)
            text = orjson.dumps(res).decode()
            parts: list[str | int] = []
            for i, piece in enumerate(_TOKEN.split(text)):
                if i % 2 == 0 or (piece not in own and piece != "@@CLONE@@"):
                    if parts and isinstance(parts[-1], str):
                        parts[-1] += piece
                    else:
                        parts.append(piece)
                else:
                    if piece not in slot_of:
                        slot_of[piece] = len(t.slots)
                        t.slots.append(piece)
                    parts.append(slot_of[piece])
            t.resources.append((rtype, parts))
            if rtype == "Patient":
                t.patient_slot = slot_of[res["id"]]
        t.person_slot = slot_of[person] if person else -1
        templates.append(t)
    return templates, list(shared.values())


@dataclass
class Manifest:
    directory: str
    resources: int
    shared: int
    clones: int
    seed: int
    seconds: float
    bytes: int
    by_type: dict[str, int]
    patients: list[dict[str, Any]]
    """One per clone: id, identifier system/value, template name, resource count."""
    templates: dict[str, int]
    """Template name -> resources per clone."""
    format: int = FORMAT_VERSION

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.__dict__))

    @classmethod
    def load(cls, path: Path) -> Manifest:
        return cls(**json.loads(path.read_text()))


def generate(fixture_dir: Path, out: Path, target: int, seed: int = 1, progress: Any = None) -> Manifest:
    """Write at least ``target`` resources (whole clones) as ``<Type>.ndjson`` under ``out``.

    Reuses an existing output with the same target and seed (``manifest.json``).
    """
    mpath = out / "manifest.json"
    if mpath.exists():
        m = Manifest.load(mpath)
        if m.resources >= target and m.seed == seed and m.format == FORMAT_VERSION and m.resources - target < 1000:
            return m
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.ndjson"):
        old.unlink()
    t0 = time.perf_counter()
    templates, shared = build_templates(fixture_dir)
    rng = random.Random(seed)
    files: dict[str, Any] = {}
    by_type: dict[str, int] = {}

    def write(rtype: str, line: bytes) -> None:
        fh = files.get(rtype)
        if fh is None:
            fh = files[rtype] = (out / f"{rtype}.ndjson").open("wb", buffering=1 << 20)
        fh.write(line)
        fh.write(b"\n")
        by_type[rtype] = by_type.get(rtype, 0) + 1

    for rtype, line in shared:
        write(rtype, line)
    total = len(shared)
    patients: list[dict[str, Any]] = []
    clone = 0
    next_report = 0
    try:
        while total < target:
            t = templates[clone % len(templates)]
            values = [
                str(clone) if s == "@@CLONE@@" else str(uuid.UUID(int=rng.getrandbits(128), version=4)) for s in t.slots
            ]
            for rtype, parts in t.resources:
                write(rtype, "".join([p if isinstance(p, str) else values[p] for p in parts]).encode())
            total += len(t.resources)
            patients.append(
                {
                    "id": values[t.patient_slot],
                    "system": SYNTHEA_ID_SYSTEM,
                    "value": values[t.person_slot],
                    "template": t.name,
                    "resources": len(t.resources),
                }
            )
            clone += 1
            if progress and total >= next_report:
                progress(f"generated {total:,} resources ({clone:,} patients)")
                next_report += 100_000
    finally:
        for fh in files.values():
            fh.close()
    m = Manifest(
        str(out),
        total,
        len(shared),
        clone,
        seed,
        round(time.perf_counter() - t0, 2),
        sum(p.stat().st_size for p in out.glob("*.ndjson")),
        by_type,
        patients,
        {t.name: len(t.resources) for t in templates},
    )
    m.save(mpath)
    return m
