"""Generation driver: builds the region, then streams household after household to the sinks.

Determinism: every household has its own RNG seeded from (seed, household index); ids are keyed
hashes; the only cross-household state (ID-number uniqueness bitmap, namesake reservoir, record
counters) is updated in household order. No wall clock, no uuid4, no set iteration.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from rhip.synth import care, writers
from rhip.synth import region as region_mod
from rhip.synth.cda import CdaSink
from rhip.synth.hl7v2 import Hl7Sink
from rhip.synth.population import PopulationMaker

FORMATS = ("fhir-ndjson", "bundles", "hl7v2", "cda")


def normalise_formats(formats: Sequence[str] | str) -> list[str]:
    """Split comma lists, drop duplicates (keeping order) and reject unknown names."""
    items = [formats] if isinstance(formats, str) else list(formats)
    out: list[str] = []
    for item in items:
        for f in item.split(","):
            f = f.strip()
            if not f:
                continue
            if f not in FORMATS:
                raise ValueError(f"unknown format {f!r}; choose from {', '.join(FORMATS)}")
            if f not in out:
                out.append(f)
    return out or ["fhir-ndjson"]


def _household_rng(seed: int, h: int) -> random.Random:
    digest = hashlib.blake2b(f"rhip-synth-household:{seed}:{h}".encode(), digest_size=8).digest()
    return random.Random(int.from_bytes(digest, "big"))


def generate(
    *, seed: int, residents: int, years: int, out: Path, formats: Sequence[str] = ("fhir-ndjson",), noise: float = 0.10
) -> dict[str, Any]:
    """Generate a region into ``out``; returns counts per resource type and per format."""
    if residents < 1 or years < 1 or not 0.0 <= noise <= 1.0:
        raise ValueError("residents and years must be ≥ 1 and noise within [0, 1]")
    fmts = normalise_formats(formats)
    out = Path(out)
    writers.prepare(out)
    region = region_mod.build(seed, residents, years, noise)
    pop = PopulationMaker(region.geo, region.ids, region.names, region.start, region.end, region.state)
    fac_by_id = {f.id: f for f in region.facilities.all}
    staff_by_role = {s.role_id: s for f in region.facilities.all for d in f.departments.values() for s in d.staff}
    ndjson = writers.NdjsonSink(out) if "fhir-ndjson" in fmts else None
    bundles = writers.BundleSink(out) if "bundles" in fmts else None
    hl7 = Hl7Sink(out, fac_by_id, staff_by_role) if "hl7v2" in fmts else None
    cda = CdaSink(out, fac_by_id, staff_by_role) if "cda" in fmts else None
    truth = writers.TruthSink(out)
    counts: dict[str, int] = {}
    dumps = orjson.dumps

    static = region.static_resources()
    serial = [(r["resourceType"], r["id"], dumps(r)) for r in static]
    for rtype, _, data in serial:
        counts[rtype] = counts.get(rtype, 0) + 1
        if ndjson:
            ndjson.write(rtype, data)
    if bundles:
        bundles.static(serial)

    remaining, h, persons, households = residents, 0, 0, 0
    while remaining > 0:
        rng = _household_rng(seed, h)
        hh = pop.household(rng, h, remaining)
        initial = sum(1 for p in hh.members if not p.born_in_sim)
        if initial == 0:
            h += 1
            continue
        remaining -= initial
        persons += len(hh.members)
        households += 1
        ctx = care.household(region, rng, hh)
        resources = ctx.out
        serial = [(r["resourceType"], r["id"], dumps(r)) for r in resources]
        for rtype, _, data in serial:
            counts[rtype] = counts.get(rtype, 0) + 1
            if ndjson:
                ndjson.write(rtype, data)
        if bundles:
            bundles.household(writers.owner_groups(ctx, serial, resources))
        if hl7:
            hl7.household(resources)
        if cda:
            cda.household(resources)
        truth.write(ctx.truth)
        h += 1

    result: dict[str, Any] = {
        "seed": seed,
        "residents": residents,
        "years": years,
        "noise": noise,
        "window": [region_mod.END_YEAR - years + 1, region_mod.END_YEAR],
        "households": households,
        "persons": persons,
        "resources": dict(sorted(counts.items())),
        "total_resources": sum(counts.values()),
        "formats": {},
    }
    result.update(truth.close())
    if ndjson:
        result["formats"]["fhir-ndjson"] = {**ndjson.close(), "resources": result["total_resources"]}
    if bundles:
        result["formats"]["bundles"] = bundles.close()
    if hl7:
        result["formats"]["hl7v2"] = hl7.close()
    if cda:
        result["formats"]["cda"] = cda.close()
    (out / "manifest.json").write_bytes(dumps(result, option=orjson.OPT_INDENT_2) + b"\n")
    return result
