"""Runs every care module for one household, in a fixed order (deterministic output)."""

from __future__ import annotations

import random

from rhip.synth import acute, chronic, inpatient, maternal_child, people_fhir
from rhip.synth.context import Ctx
from rhip.synth.population import Household
from rhip.synth.region import Region


def household(region: Region, rng: random.Random, hh: Household) -> Ctx:
    """All resources and ground-truth rows of one household."""
    ctx = Ctx(region, rng, hh)
    people_fhir.household_resources(ctx, hh)
    for p in hh.members:
        chronic.run(ctx, p)
        acute.run(ctx, p)
        inpatient.run(ctx, p)
        maternal_child.run(ctx, p)
    return ctx
