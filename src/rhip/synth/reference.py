"""Loads the reference data files in ``data/`` (see ``data/README.md``) once per process."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

_DATA = resources.files(__package__) / "data"


def _json(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((_DATA / name).read_text(encoding="utf-8"))
    return data


def _csv(name: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO((_DATA / name).read_text(encoding="utf-8"))))


@dataclass(frozen=True, slots=True)
class Surname:
    """One surname with its share of the population (per cent), pinyin and traditional form."""

    text: str
    weight: float
    pinyin: str
    traditional: str


@dataclass(frozen=True, slots=True)
class GivenChar:
    """A character used in given names, with era weights (born <1965, 1965-94, ≥1995)."""

    text: str
    pinyin: str
    sex: str  # M, F or U (unisex)
    weights: tuple[int, int, int]
    traditional: str
    homophones: tuple[str, ...]


@cache
def divisions() -> dict[str, Any]:
    """Province, city, counties with townships, migrant origins and name stems."""
    return _json("divisions.json")


@cache
def surnames() -> tuple[Surname, ...]:
    """Surnames in descending frequency (王李张刘陈杨…)."""
    return tuple(Surname(r["surname"], float(r["weight"]), r["pinyin"], r["traditional"]) for r in _csv("surnames.csv"))


@cache
def given_chars() -> tuple[GivenChar, ...]:
    """Given-name characters with pinyin, sex, era weights, traditional form and homophones."""
    out = []
    for r in _csv("given_chars.csv"):
        homophones = tuple(h for h in r["homophones"].split("|") if h)
        weights = (int(r["old"]), int(r["mid"]), int(r["new"]))
        out.append(GivenChar(r["char"], r["pinyin"], r["sex"], weights, r["traditional"], homophones))
    return tuple(out)


@cache
def ethnicities() -> tuple[tuple[str, str, int, int], ...]:
    """GB 3304 (code, name, native weight, migrant weight)."""
    return tuple(
        (r["code"], r["name"], int(r["native_weight"]), int(r["migrant_weight"])) for r in _csv("ethnicity.csv")
    )


@cache
def clinical() -> dict[str, Any]:
    """Chronic/acute/inpatient catalogues, drugs, labs, imaging, procedures."""
    return _json("clinical.json")


@cache
def vaccines() -> list[dict[str, Any]]:
    """National immunisation schedule (国家免疫规划)."""
    items: list[dict[str, Any]] = _json("vaccines.json")["vaccines"]
    return items


@cache
def infectious() -> dict[str, Any]:
    """Notifiable infectious diseases with class, ICD-10 and incidence."""
    return _json("infectious.json")


@cache
def facilities() -> dict[str, Any]:
    """Facility kinds, departments, staffing and professional titles."""
    return _json("facilities.json")


@cache
def mobile_prefixes() -> tuple[tuple[str, ...], tuple[int, ...]]:
    """Mobile number prefixes and their weights."""
    rows = _json("phones.json")["mobile_prefixes"]
    return tuple(r[0] for r in rows), tuple(int(r[1]) for r in rows)
