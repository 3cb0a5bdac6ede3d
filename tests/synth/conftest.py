"""Fixtures for the synthetic-region tests: one small region in every format, generated once."""

from __future__ import annotations

import pytest
from synth_region import Region, load

from rhip.synth import generate

SEED = 20251
RESIDENTS = 400


@pytest.fixture(scope="session")
def region(tmp_path_factory: pytest.TempPathFactory) -> Region:
    """A 400-resident, 3-year region in all four formats."""
    out = tmp_path_factory.mktemp("synth") / "region"
    counts = generate(
        seed=SEED, residents=RESIDENTS, years=3, out=out, formats=("fhir-ndjson", "bundles", "hl7v2", "cda")
    )
    return load(out, counts)
