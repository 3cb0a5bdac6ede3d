"""Patient factories for the MPI tests (FHIR R4 dicts as registrations carry them)."""

from __future__ import annotations

from typing import Any

ID_SYSTEM = "urn:oid:2.16.156.10011.1.3"
CARD_SYSTEM = "urn:oid:2.16.156.10011.1.19"


def patient(
    pid: str,
    *,
    name: str | None = "张伟",
    family: str | None = None,
    given: str | None = None,
    ric: str | None = "11010519491231002X",
    birth: str | None = "1949-12-31",
    gender: str | None = "female",
    phone: str | None = "13800138000",
    division: str | None = "110105001001",
    card: str | None = None,
    identifiers: list[tuple[str, str]] = (),  # type: ignore[assignment]
) -> dict[str, Any]:
    """A Patient with the fields the MPI reads; ``None`` leaves an element out."""
    ids: list[dict[str, Any]] = [{"system": s, "value": v} for s, v in identifiers]
    if ric:
        ids.append({"system": ID_SYSTEM, "value": ric})
    if card:
        ids.append({"system": CARD_SYSTEM, "value": card})
    out: dict[str, Any] = {"resourceType": "Patient", "id": pid, "identifier": ids}
    if name or family:
        hn: dict[str, Any] = {"use": "official"}
        if name:
            hn["text"] = name
        if family:
            hn["family"] = family
        if given:
            hn["given"] = [given]
        out["name"] = [hn]
    if birth:
        out["birthDate"] = birth
    if gender:
        out["gender"] = gender
    if phone:
        out["telecom"] = [{"system": "phone", "value": phone}]
    if division:
        out["address"] = [
            {
                "extension": [
                    {"url": "http://rhip.cn/fhir/StructureDefinition/address-division-code", "valueCode": division}
                ]
            }
        ]
    return out
