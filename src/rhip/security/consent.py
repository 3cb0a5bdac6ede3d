"""FHIR R4 Consent → refusal rules the access policy can apply in SQL (decision 0016).

A Consent counts when it is ``active`` and names its ``patient``. Every provision (the root and nested
ones) of type ``deny`` becomes rules ``(patient, actor, category)``: ``actor`` is each
``provision.actor.reference`` to an Organization (its id) or ``*`` when none is named ("nobody outside
my own care"); ``category`` is ``type:<ResourceType>`` per ``provision.class`` code, ``label:<code>`` per
``provision.securityLabel`` (e.g. PSY mental health, SEX reproductive health), or ``*`` (the whole
record). Permit provisions and periods are not evaluated yet: a deny is honoured while the Consent is
active.
"""

from __future__ import annotations

from typing import Any

Rule = tuple[str, str, str]
"""``(patient id, actor organisation id or *, category)``."""


def _patient(consent: dict[str, Any]) -> str | None:
    ref = (consent.get("patient") or {}).get("reference")
    if isinstance(ref, str) and ref.startswith("Patient/") and "/" not in ref[8:]:
        return ref[8:]
    return None


def _actors(provision: dict[str, Any]) -> list[str]:
    out = []
    for actor in provision.get("actor") or ():
        ref = (actor.get("reference") or {}).get("reference") if isinstance(actor, dict) else None
        if isinstance(ref, str) and ref.startswith("Organization/"):
            out.append(ref[len("Organization/") :])
    return out or ["*"]


def _categories(provision: dict[str, Any]) -> list[str]:
    def codes(key: str) -> list[str]:
        return [str(c["code"]) for c in provision.get(key) or () if isinstance(c, dict) and c.get("code")]

    cats = [f"type:{code}" for code in codes("class")] + [f"label:{code}" for code in codes("securityLabel")]
    return cats or ["*"]


def refusals(consent: dict[str, Any]) -> list[Rule]:
    """The refusal rules of one Consent resource (empty when it refuses nothing or is not active)."""
    patient = _patient(consent)
    if consent.get("status") != "active" or patient is None:
        return []
    rules: list[Rule] = []
    root = consent.get("provision")
    stack: list[dict[str, Any]] = [root] if isinstance(root, dict) else []
    while stack:
        prov = stack.pop()
        if prov.get("type") == "deny":
            rules += [(patient, a, c) for a in _actors(prov) for c in _categories(prov)]
        stack += [p for p in prov.get("provision") or () if isinstance(p, dict)]
    return sorted(set(rules))
