"""``_summary`` and ``_elements``: return a subset of a resource, marked SUBSETTED (FHIR R4 search §3.1.1.5.8)."""

from __future__ import annotations

from typing import Any

from rhip.fhir.model import mandatory_elements, summary_elements

SUBSETTED = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED"}
_ALWAYS = ("resourceType", "id", "meta")


def _mark(resource: dict[str, Any]) -> dict[str, Any]:
    meta = dict(resource.get("meta") or {})
    tags = list(meta.get("tag") or [])
    if SUBSETTED not in tags:
        tags.append(SUBSETTED)
    meta["tag"] = tags
    resource["meta"] = meta
    return resource


def shape(resource: dict[str, Any], summary: str | None, elements: tuple[str, ...] | None) -> dict[str, Any]:
    """Apply ``_summary`` (true|text|data) or ``_elements`` to one resource."""
    rtype = resource.get("resourceType", "")
    if summary == "data":
        return _mark({k: v for k, v in resource.items() if k != "text"}) if "text" in resource else resource
    keep: set[str]
    if summary == "true":
        keep = set(summary_elements(rtype)) | set(_ALWAYS)
    elif summary == "text":
        keep = {"text", *_ALWAYS} | mandatory_elements(rtype)
    elif elements:
        keep = {*elements, *_ALWAYS} | mandatory_elements(rtype)
        # _elements names the element, not its JSON choice variant: value → valueQuantity, ...
        prefixes = tuple(e for e in elements if e)
        keep |= {k for k in resource if any(k.startswith(p) and k[len(p) : len(p) + 1].isupper() for p in prefixes)}
    else:
        return resource
    return _mark({k: v for k, v in resource.items() if k in keep or (k.startswith("_") and k[1:] in keep)})
