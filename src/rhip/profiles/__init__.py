"""China profiles: the platform's conformance rules for resources from Chinese institutions.

Eight constraint profiles (Patient, Organization, Practitioner, Encounter, Condition, Observation,
Immunization, DocumentReference) and their extensions are StructureDefinitions in ``data/``, compiled
once per process into native rules (``compiled``). ``validate`` applies the profile of a resource's
type, whatever ``meta.profile`` claims: the platform's own rules hold for every write. Whether a
finding rejects the write or is kept as a warning is the caller's per-source choice (decision 0011).
"""

from __future__ import annotations

import json
import threading
from datetime import date
from functools import cache
from typing import Any

from rhip.profiles.compiled import DATA, Profile, Profiles, load
from rhip.profiles.model import ProfileIssue

__all__ = ["Profile", "ProfileIssue", "Profiles", "profiles", "search_parameters", "validate"]

_lock = threading.Lock()
_loaded: Profiles | None = None


def profiles() -> Profiles:
    """The compiled profiles, loaded on first use (thread-safe, once per process)."""
    global _loaded
    if _loaded is None:
        with _lock:
            if _loaded is None:
                _loaded = load()
    return _loaded


def validate(resource: dict[str, Any], today: date) -> list[ProfileIssue]:
    """Findings of the China profile for the resource's type (none for types without a profile)."""
    return profiles().validate(resource, today)


@cache
def search_parameters() -> list[dict[str, Any]]:
    """The platform's own SearchParameters (``data/SearchParameter-*.json``), e.g. Patient ``division``."""
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(DATA.glob("SearchParameter-*.json"))]
