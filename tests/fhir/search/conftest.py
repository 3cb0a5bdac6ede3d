"""Fixtures for the search-parameter tests: the Synthea resources (skipped without ../shared)."""

from __future__ import annotations

import json
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

SYNTHEA = Path(__file__).resolve().parents[3].parent / "shared" / "fixtures" / "synthea-r4"


def load_synthea(parse_float: Any = float) -> list[dict[str, Any]]:
    """``entry[].resource`` of every Synthea bundle; skips when ``../shared/fixtures`` is absent."""
    if not SYNTHEA.is_dir():
        pytest.skip(f"Synthea fixtures not present at {SYNTHEA} (a user's clone has no ../shared)")
    out: list[dict[str, Any]] = []
    for path in sorted(SYNTHEA.glob("*.json")):
        bundle = json.loads(path.read_bytes(), parse_float=parse_float)
        out += [e["resource"] for e in bundle["entry"]]
    return out


@pytest.fixture(scope="session")
def synthea_by_type() -> dict[str, list[dict[str, Any]]]:
    """Synthea resources by type, numbers read as Decimal (as the FHIRPath oracle keeps them)."""
    by_type: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in load_synthea(Decimal):
        by_type[r["resourceType"]].append(r)
    return dict(by_type)
