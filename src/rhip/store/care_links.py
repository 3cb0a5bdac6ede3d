"""Keeps ``care_links`` in step with Encounters and Patients (decision 0016): derived in SQL from the
index rows just written, by a write hook and by the bulk loader, so both paths agree."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import CompoundSelect, and_, bindparam, delete, insert, select, union_all
from sqlalchemy.engine import Connection

from rhip.store.access_tables import care_links
from rhip.store.schema import idx_reference, resources
from rhip.store.write import NewVersion

if TYPE_CHECKING:
    from rhip.store.repository import Unit

CARE_TYPES = frozenset({"Encounter", "Patient"})


@cache
def _for_rids() -> CompoundSelect[Any]:
    """The statement for a batch of rids, built once (``rids`` is an expanding bind parameter)."""
    return links_of(bindparam("rids", expanding=True))


def links_of(rids: Any) -> CompoundSelect[Any]:
    """``(rid, patient, organization)`` rows for the given resources (None: every resource)."""
    s, e, m = idx_reference.alias("s"), idx_reference.alias("e"), idx_reference.alias("m")
    enc = (
        select(s.c.rid, s.c.ref_id, e.c.ref_id)
        .select_from(s.join(e, and_(e.c.rid == s.c.rid, e.c.code == "service-provider")))
        .where(s.c.rtype == "Encounter", s.c.code == "subject", s.c.ref_type == "Patient")
        .where(e.c.ref_type == "Organization")
    )
    managed = (
        select(m.c.rid, resources.c.id, m.c.ref_id)
        .select_from(m.join(resources, resources.c.rid == m.c.rid))
        .where(m.c.rtype == "Patient", m.c.code == "organization", m.c.ref_type == "Organization")
    )
    if rids is not None:
        enc = enc.where(s.c.rid.in_(rids))
        managed = managed.where(m.c.rid.in_(rids))
    return union_all(enc, managed)


def refresh(conn: Connection, rids: Sequence[int]) -> None:
    """Replace the care links of these resources (a deleted or changed one loses its old links)."""
    if not rids:
        return
    conn.execute(delete(care_links).where(care_links.c.rid.in_(rids)))
    fill = insert(care_links).from_select(["rid", "patient", "organization"], _for_rids())
    conn.execute(fill, {"rids": list(rids)})


def sync_care_links(unit: Unit, versions: list[NewVersion]) -> None:
    rids = [v.rid for v in versions if v.rtype in CARE_TYPES and v.rid is not None]
    if rids:
        refresh(unit.conn, rids)
