"""Survivorship: the golden (master) values of a person from its registrations, and its FHIR view.

Rule, field by field: among the person's registrations that carry a usable value, take the one from
the most trusted source (``trust``: sources the platform names as trusted, e.g. the population
register, rank 1; others 0), and among equally trusted ones the most recently written (``lu``).
"Usable" is what normalisation kept: a valid 身份证号 (``ric_valid``; a number with a bad check digit
never becomes golden), a full birth date not before 1900 and not in the future, a phone of at least
7 digits, a known county code. Identifiers are not chosen but collected: the master carries every
identifier of every registration (cross-references). Names are the normalised written form
(simplified characters), since what each source wrote is kept in its own Patient.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rhip.canonical import CANONICAL
from rhip.mpi.records import DIVISION_EXTENSION, HEALTH_CARD_SYSTEM, ID_CARD_SYSTEM

GOLDEN_FIELDS = ("name", "ric_valid", "birth_date", "sex", "phone", "division", "health_card")
PERSON_SYSTEM = f"{CANONICAL}/sid/mpi-person"
"""Identifier system of the master person number (the master view's own identifier)."""
MASTER_TAG = {"system": f"{CANONICAL}/CodeSystem/mpi", "code": "master", "display": "居民主索引主记录"}


@dataclass(frozen=True, slots=True)
class Member:
    """One registration as survivorship sees it."""

    id: str
    trust: int
    lu: int
    record: dict[str, Any]


def _survivorship(members: Sequence[Member]) -> list[Member]:
    return sorted(members, key=lambda m: (-m.trust, -m.lu, m.id))


def _first(ordered: Sequence[Member], f: str) -> Any:
    return next((m.record[f] for m in ordered if m.record.get(f) not in (None, "")), None)


def golden_value(members: Sequence[Member], f: str) -> Any:
    """One golden field (the batch job keeps a person's valid 身份证号 current without the rest)."""
    return _first(_survivorship(members), f)


def golden_values(members: Sequence[Member]) -> dict[str, Any]:
    """Golden values (trusted first, then newest) plus all identifiers and the registration ids."""
    ordered = _survivorship(members)
    out: dict[str, Any] = {}
    for f in GOLDEN_FIELDS:
        out[f] = _first(ordered, f)
    idents: set[str] = set()
    for m in ordered:
        idents |= set(m.record.get("identifiers") or ())
        if m.record.get("ric"):
            idents.add(f"{ID_CARD_SYSTEM}|{m.record['ric']}")
        if m.record.get("health_card"):
            idents.add(f"{HEALTH_CARD_SYSTEM}|{m.record['health_card']}")
    out["identifiers"] = sorted(idents)
    out["registrations"] = sorted(m.id for m in members)
    return out


def _date(key: str) -> str:
    return f"{key[:4]}-{key[4:6]}-{key[6:8]}"


def master_view(
    person: int, status: str, version: int, replaced_by: int | None, golden: dict[str, Any]
) -> dict[str, Any]:
    """The master record as a FHIR R4 Patient (not stored: built from the golden values).

    ``Patient.link``: ``seealso`` to every source registration (each is a full record of its own
    institution); after a merge the retired master points to the surviving one with ``replaced-by``.
    """
    ids = [{"system": PERSON_SYSTEM, "value": str(person)}]
    for text in golden.get("identifiers") or []:
        system, _, value = str(text).partition("|")
        ids.append({"system": system, "value": value})
    out: dict[str, Any] = {
        "resourceType": "Patient",
        "id": f"mpi-{person}",
        "meta": {"versionId": str(version), "tag": [MASTER_TAG]},
        "identifier": ids,
        "active": status == "active",
    }
    if golden.get("name"):
        out["name"] = [{"use": "official", "text": golden["name"]}]
    if golden.get("phone"):
        out["telecom"] = [{"system": "phone", "value": golden["phone"]}]
    if golden.get("sex"):
        out["gender"] = golden["sex"]
    if golden.get("birth_date"):
        out["birthDate"] = _date(str(golden["birth_date"]))
    if golden.get("division"):
        out["address"] = [{"extension": [{"url": DIVISION_EXTENSION, "valueCode": golden["division"]}]}]
    links = [{"other": {"reference": ref}, "type": "seealso"} for ref in golden.get("registrations") or []]
    if replaced_by is not None:
        links.insert(0, {"other": {"reference": f"Patient/mpi-{replaced_by}"}, "type": "replaced-by"})
    if links:
        out["link"] = links
    return out
