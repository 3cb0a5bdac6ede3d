"""Helpers shared by the care modules: where a person seeks care, rates, clinical values."""

from __future__ import annotations

import itertools
import math
import random
from datetime import date
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from rhip.synth.context import Ctx
    from rhip.synth.facilities import Facility
    from rhip.synth.population import Person


def interp(curve: list[list[float]], age: float) -> float:
    """Piecewise-linear value of an [[age, value], …] curve (flat outside its range)."""
    if age < curve[0][0]:
        return 0.0
    for (a0, v0), (a1, v1) in itertools.pairwise(curve):
        if age < a1:
            return v0 + (v1 - v0) * (age - a0) / (a1 - a0)
    return curve[-1][1]


def poisson(rng: random.Random, lam: float) -> int:
    """Poisson draw (Knuth; rates here are small)."""
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def office_minute(rng: random.Random) -> int:
    """A clinic-hours minute of the day (08:00–11:30, 13:30–16:30)."""
    return rng.randint(480, 690) if rng.random() < 0.65 else rng.randint(810, 990)


def years(ctx: Ctx) -> range:
    """Calendar years of the window."""
    return range(date.fromordinal(ctx.start).year, date.fromordinal(ctx.end).year + 1)


_BOUNDS: dict[int, tuple[int, int]] = {}


def year_bounds(year: int) -> tuple[int, int]:
    """First and last day ordinal of a year."""
    b = _BOUNDS.get(year)
    if b is None:
        b = _BOUNDS[year] = (date(year, 1, 1).toordinal(), date(year, 12, 31).toordinal())
    return b


def centre(ctx: Ctx) -> Facility:
    """The household's township health centre / community health service centre."""
    return cast("Facility", ctx.hh.village.township.centre)


def primary(ctx: Ctx) -> Facility:
    """First-contact facility: the village clinic if any, else the township centre."""
    return cast("Facility", ctx.hh.village.clinic or ctx.hh.village.township.centre)


def county_hospital(ctx: Ctx) -> Facility:
    """The county 人民医院 of the household's county."""
    return cast("Facility", ctx.hh.village.township.county.hospital)


def mch(ctx: Ctx) -> Facility:
    """The county 妇幼保健院."""
    return cast("Facility", ctx.hh.village.township.county.mch)


def cdc(ctx: Ctx) -> Facility:
    """The county 疾病预防控制中心."""
    return cast("Facility", ctx.hh.village.township.county.cdc)


def tertiary(ctx: Ctx) -> Facility:
    """The city tertiary hospital."""
    return ctx.region.facilities.tertiary


def outpatient_facility(ctx: Ctx, p: Person, day: int) -> Facility:
    """Where an acute outpatient problem is seen, by age and urban/rural residence."""
    r = ctx.rng.random()
    if p.age_on(day) < 14:
        if r < 0.45:
            return centre(ctx)
        if r < 0.85:
            return county_hospital(ctx)
        return mch(ctx) if r < 0.95 else tertiary(ctx)
    if ctx.hh.village.clinic is not None:
        if r < 0.45:
            return cast("Facility", ctx.hh.village.clinic)
        if r < 0.75:
            return centre(ctx)
        return county_hospital(ctx) if r < 0.95 else tertiary(ctx)
    if r < 0.55:
        return centre(ctx)
    return county_hospital(ctx) if r < 0.9 else tertiary(ctx)


def bmi_weight(p: Person, age: float) -> tuple[float, float]:
    """(height cm, weight kg) for a person at an age, stable across visits via z-scores."""
    if age < 18:
        h, w = _child_size(age, p.sex == "male")
        return round(h * (1 + 0.04 * p.z_height), 1), round(w * (1 + 0.1 * p.z_weight), 1)
    base_h = 170.0 if p.sex == "male" else 158.5
    h = base_h + 6.0 * p.z_height - max(0.0, age - 60) * 0.1
    bmi = 23.8 + 3.0 * p.z_weight
    return round(h, 1), round(bmi * (h / 100) ** 2, 1)


_CHILD = [
    (0, 50.0, 3.3),
    (0.25, 61.0, 6.2),
    (0.5, 67.0, 7.8),
    (0.75, 71.5, 8.9),
    (1, 75.5, 9.6),
    (1.5, 81.5, 10.9),
    (2, 87.0, 12.2),
    (3, 95.5, 14.3),
    (4, 103.0, 16.3),
    (5, 110.0, 18.4),
    (6, 116.5, 20.8),
    (8, 128.0, 26.0),
    (10, 139.0, 32.5),
    (12, 151.5, 41.0),
    (14, 162.0, 50.0),
    (16, 167.0, 55.0),
    (18, 169.0, 58.0),
]


def _child_size(age: float, male: bool) -> tuple[float, float]:
    for (a0, h0, w0), (a1, h1, w1) in itertools.pairwise(_CHILD):
        if age < a1:
            f = (age - a0) / (a1 - a0)
            h, w = h0 + (h1 - h0) * f, w0 + (w1 - w0) * f
            break
    else:
        h, w = _CHILD[-1][1], _CHILD[-1][2]
    if not male:
        h, w = h * 0.98 if age > 10 else h * 0.99, w * 0.95
    return h, w


def lab_value(
    rng: random.Random, lab: dict[str, Any], *, diabetic: bool = False, infection: bool = False, male: bool = True
) -> float:
    """A plausible lab result for a catalogue entry."""
    mean, sd = lab["mean"], lab["sd"]
    if diabetic and "dm_mean" in lab:
        mean, sd = lab["dm_mean"], lab["dm_sd"]
    if infection and "infection_mean" in lab:
        mean = lab["infection_mean"]
    if lab["loinc"] in ("718-7", "14682-9"):
        mean = mean * (1.06 if male else 0.9)
    value: float = max(lab["low"] * 0.3, rng.gauss(mean, sd))
    digits: int = lab["digits"]
    return round(value, digits) if digits else round(value)
