"""The synthetic region as the tests read it (its own module: ``from conftest import …`` finds whichever
conftest pytest loaded last when several test directories run together)."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Region:
    """A generated region on disk plus its parsed NDJSON and ground truth."""

    path: Path
    counts: dict[str, Any]
    by_type: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    by_ref: dict[str, dict[str, Any]] = field(default_factory=dict)
    truth: list[dict[str, str]] = field(default_factory=list)
    truth_by_reg: dict[str, dict[str, str]] = field(default_factory=dict)

    def person_of(self, ref: str) -> str:
        """True person (register Patient reference) of a registration reference."""
        return self.truth_by_reg[ref]["person_id"]

    def register(self) -> list[dict[str, Any]]:
        """The clean register Patients (registration id == person id)."""
        ids = {r["person_id"] for r in self.truth}
        return [p for p in self.by_type["Patient"] if f"Patient/{p['id']}" in ids]


def load(path: Path, counts: dict[str, Any]) -> Region:
    """Parse a generated region."""
    region = Region(path, counts)
    for f in sorted((path / "fhir").glob("*.ndjson")):
        items = [json.loads(line) for line in f.read_text(encoding="utf-8").splitlines()]
        region.by_type[f.stem] = items
        for r in items:
            region.by_ref[f"{r['resourceType']}/{r['id']}"] = r
    with open(path / "ground_truth.csv", encoding="utf-8", newline="") as fh:
        region.truth = list(csv.DictReader(fh))
    region.truth_by_reg = {r["registration_id"]: r for r in region.truth}
    return region
