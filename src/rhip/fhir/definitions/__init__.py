"""Loaders for the vendored official FHIR R4 definitions (see data/PROVENANCE.md).

Each loader reads its file once per process; callers get shared, read-only objects.
"""

from __future__ import annotations

import gzip
import json
from functools import cache
from importlib import resources
from typing import Any

__all__ = ["patient_compartment", "search_parameters", "structure"]

_DATA = resources.files(__package__) / "data"


def _read(name: str) -> Any:
    raw = (_DATA / name).read_bytes()
    if name.endswith(".gz"):
        raw = gzip.decompress(raw)
    return json.loads(raw)


@cache
def structure() -> dict[str, Any]:
    """Compact R4 structure table: ``{"types": {name: {kind, abstract, base, elements}}, ...}``.

    ``elements`` maps a path relative to the type (``"contact.name"``, ``"deceased[x]"``) to
    ``[min, max, [type codes], is_summary, required_valueset_url | None, content_reference | None]``;
    ``valuesets`` maps each required-binding ValueSet URL to ``{system: [codes]}`` (None when it cannot
    be enumerated offline, e.g. BCP-13 mime types); ``primitives`` maps primitive types to their regex.
    """
    data: dict[str, Any] = _read("structure.json.gz")
    return data


@cache
def search_parameters() -> list[dict[str, Any]]:
    """The 1,378 SearchParameter resources of the R4 specification, unchanged."""
    bundle = _read("search-parameters.json.gz")
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "SearchParameter"]


@cache
def patient_compartment() -> dict[str, Any]:
    """The R4 Patient CompartmentDefinition (which parameters put a resource in a patient's record)."""
    data: dict[str, Any] = _read("compartmentdefinition-patient.json")
    return data


@cache
def compartment_params() -> dict[str, tuple[str, ...]]:
    """Resource type → the reference parameters that place it in a Patient's compartment (types with
    none are not in any patient's record)."""
    out: dict[str, tuple[str, ...]] = {}
    for res in patient_compartment().get("resource", []):
        params = tuple(p for p in res.get("param", []) if p != "{def}")
        if params:
            out[res["code"]] = params
    return out
