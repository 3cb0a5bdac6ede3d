"""Keeps ``consent_rules`` in step with Consent resources: a write hook run inside every unit."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import delete

from rhip.fhir import json as fjson
from rhip.security.consent import refusals
from rhip.store import dialect
from rhip.store.access_tables import consent_rules
from rhip.store.write import NewVersion

if TYPE_CHECKING:
    from rhip.store.repository import Unit


def sync_consents(unit: Unit, versions: list[NewVersion]) -> None:
    """Replace the refusal rules of every Consent written in this batch (a deletion removes them)."""
    consents = [v for v in versions if v.rtype == "Consent"]
    if not consents:
        return
    conn = unit.conn
    for v in consents:
        conn.execute(delete(consent_rules).where(consent_rules.c.consent_rid == v.rid))
    rows = [
        (v.rid, patient, actor, category)
        for v in consents
        if v.content is not None
        for patient, actor, category in refusals(fjson.loads(v.content))
    ]
    dialect.insert_many(conn, "consent_rules", ("consent_rid", "patient", "actor", "category"), rows)
