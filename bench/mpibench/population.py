"""Patients only, at scale: the synthetic region's register Patients plus facility registrations.

``rhip synth`` generates a region's whole care history (≈ 5 min per 100,000 residents and gigabytes
of clinical resources); the MPI benchmarks at 1,000,000 persons need only the Patients. This drives
the same generator pieces (``rhip.synth``: geography, households, names, GB 11643 numbers, twins,
namesakes, the facility registrar with its identity noise) and writes ``Patient.ndjson`` only:

- every resident's clean population-register Patient (the true identity; its id is the person id);
- per resident, facility registrations drawn with mean ``registrations`` (default 0.25) at the
  household's township/community centre, county hospital or the city's tertiary hospital, each with
  the registrar's noise (``noise`` of them carry one or two identity errors: pinyin, homophones,
  traditional characters, ID typos and 15-digit numbers, missing or guardian's ID, new phone, moved
  address, birth-date typos).

Output is in household order, as ``rhip synth`` writes it; ``ground_truth.csv`` maps each
registration to its person (``registration_id,person_id,noise``).
"""

from __future__ import annotations

import hashlib
import random
from pathlib import Path
from typing import Any

import orjson

from rhip.synth import region as region_mod
from rhip.synth.context import Ctx
from rhip.synth.people_fhir import register_patient
from rhip.synth.population import PopulationMaker


def _rng(seed: int, h: int) -> random.Random:
    digest = hashlib.blake2b(f"rhip-mpibench-household:{seed}:{h}".encode(), digest_size=8).digest()
    return random.Random(int.from_bytes(digest, "big"))


def generate_patients(
    out: Path, *, residents: int, seed: int = 42, registrations: float = 0.25, noise: float = 0.10
) -> dict[str, Any]:
    """Write ``out/Patient.ndjson`` and ``out/ground_truth.csv``; returns counts."""
    out.mkdir(parents=True, exist_ok=True)
    region = region_mod.build(seed, residents, 1, noise)
    pop = PopulationMaker(region.geo, region.ids, region.names, region.start, region.end, region.state)
    tertiary = region.facilities.tertiary
    dumps = orjson.dumps
    counts = {"residents": 0, "persons": 0, "register": 0, "facility": 0, "noisy": 0}
    with (
        (out / "Patient.ndjson").open("wb", buffering=1 << 20) as fh,
        (out / "ground_truth.csv").open("w", encoding="utf-8", buffering=1 << 20) as truth,
    ):
        truth.write("registration_id,person_id,noise\n")
        remaining, h = residents, 0
        while remaining > 0:
            rng = _rng(seed, h)
            hh = pop.household(rng, h, remaining)
            initial = sum(1 for p in hh.members if not p.born_in_sim)
            h += 1
            if initial == 0:
                continue
            remaining -= initial
            counts["residents"] += initial
            ctx = Ctx(region, rng, hh)
            town = hh.village.township
            places = (town.centre, town.county.hospital, tertiary)
            for p in hh.members:
                counts["persons"] += 1
                fh.write(dumps(register_patient(ctx, hh, p)))
                fh.write(b"\n")
                truth.write(f"Patient/{p.pid},Patient/{p.pid},\n")
                counts["register"] += 1
                k = int(registrations) + (1 if rng.random() < registrations - int(registrations) else 0)
                day = max(p.birth, region.start) + int(rng.random() * 300)
                for fac in rng.sample(places, min(k, len(places))):
                    if fac is None or fac.id in p.regs:
                        continue
                    region.registrar.register(ctx, p, fac, day)
                    counts["facility"] += 1
            for pat in ctx.out:
                fh.write(dumps(pat))
                fh.write(b"\n")
            for row in ctx.truth:
                truth.write(f"{row[0]},{row[1]},{row[4]}\n")
                counts["noisy"] += bool(row[4])
    counts["patients"] = counts["register"] + counts["facility"]
    (out / "manifest.json").write_bytes(
        dumps({"seed": seed, "registrations_mean": registrations, "noise": noise, **counts}, option=orjson.OPT_INDENT_2)
    )
    return counts
