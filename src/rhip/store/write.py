"""Writing versions: surrogate keys, the resources row, the history row and index rows in one go.

A write is prepared in Python (``NewVersion``) and flushed with a few ``executemany`` statements, so a
transaction Bundle of hundreds of entries costs a handful of round trips. The caller owns the database
transaction: a crash at any point leaves the whole write or none of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Connection

from rhip.profiles import ProfileIssue
from rhip.store import dialect
from rhip.store.schema import INDEX_TABLES

INDEX_ORDER: tuple[str, ...] = tuple(INDEX_TABLES)
"""Index types in bit order of ``resources.imask``."""

UNLABELLED = 1 << 24
"""``resources.imask`` fact: the version has no ``_security`` label rows, so row access may skip its
label tests (decision 0023). Facts are set only when known to hold: a row without them (written before
migration 0013 backfilled them) is probed as before."""
SOLE_PATIENT = 1 << 25
"""``resources.imask`` fact: the version names at most one patient (its own id for a Patient, and every
``idx_reference`` row to a Patient), so within that patient's record a refusal can only be that
patient's own (decision 0023)."""

_INDEX_COLUMNS: dict[str, tuple[str, ...]] = {
    kind: tuple(c.name for c in table.columns) for kind, table in INDEX_TABLES.items()
}
_FINDING_COLUMNS = (
    "rid",
    "version",
    "rtype",
    "source",
    "lu",
    "profile",
    "severity",
    "code",
    "rule",
    "expression",
    "diagnostics",
)


@dataclass(slots=True)
class NewVersion:
    """One version about to be written (create, update, patch or delete)."""

    rtype: str
    id: str
    version: int
    lu: int
    method: str
    content: str | None
    rows: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)
    rid: int | None = None
    """Known for existing resources; assigned at flush for new ones."""
    old_imask: int = 0
    sealed: str | None = None
    """The text to store when it differs from ``content`` (sensitive values sealed, rhip.security.fields);
    everything in memory — hooks, responses, the audit — reads the plaintext ``content``."""
    findings: list[ProfileIssue] = field(default_factory=list)
    """China-profile findings accepted with the write (kept for data-quality measurement)."""
    source: str = ""

    @property
    def stored(self) -> str | None:
        """The ``resource_versions.content`` to write."""
        return self.sealed if self.sealed is not None else self.content

    @property
    def deleted(self) -> bool:
        return self.content is None

    @property
    def imask(self) -> int:
        """Bit i: rows in the i-th index table; plus the access facts of the version's index rows."""
        mask = 0
        for bit, kind in enumerate(INDEX_ORDER):
            if self.rows.get(kind):
                mask |= 1 << bit
        if self.content is not None:
            mask |= access_facts(self.rtype, self.id, self.rows)
        return mask


def access_facts(rtype: str, id: str, rows: dict[str, list[tuple[Any, ...]]]) -> int:
    """``UNLABELLED`` and ``SOLE_PATIENT`` as they hold for a version with these index rows (token rows
    are ``(code, grp, system, value, text)``, reference rows ``(code, grp, ref_type, ref_id, url)``);
    migration 0013 computes the same from stored index rows."""
    facts = 0
    if not any(row[0] == "_security" for row in rows.get("token", ())):
        facts |= UNLABELLED
    patients = {row[3] for row in rows.get("reference", ()) if row[2] == "Patient" and row[3] is not None}
    if rtype == "Patient":
        patients.add(id)
    if len(patients) <= 1:
        facts |= SOLE_PATIENT
    return facts


def flush(conn: Connection, versions: list[NewVersion]) -> None:
    """Write all versions: resources rows, history rows, then replace their index rows."""
    if not versions:
        return
    fresh = [v for v in versions if v.rid is None]
    existing = [v for v in versions if v.rid is not None]
    for v, rid in zip(fresh, dialect.allocate_rids(conn, len(fresh)), strict=True):
        v.rid = rid
    dialect.write_rows(
        conn,
        "resources",
        ("rid", "rtype", "id", "version", "lu", "deleted", "imask"),
        [(v.rid, v.rtype, v.id, v.version, v.lu, v.deleted, v.imask) for v in fresh],
    )
    if existing:
        mark = dialect.placeholder(conn)
        conn.exec_driver_sql(
            f"UPDATE resources SET version = {mark}, lu = {mark}, deleted = {mark}, imask = {mark} WHERE rid = {mark}",
            [(v.version, v.lu, v.deleted, v.imask, v.rid) for v in existing],
        )
        _delete_index_rows(conn, existing)
    dialect.write_rows(
        conn,
        "resource_versions",
        ("rid", "version", "rtype", "id", "lu", "method", "content"),
        [(v.rid, v.version, v.rtype, v.id, v.lu, v.method, v.stored) for v in versions],
    )
    for kind in INDEX_ORDER:
        rows = [(v.rid, v.rtype, *row) for v in versions for row in v.rows.get(kind, ())]
        dialect.write_rows(conn, f"idx_{kind}", _INDEX_COLUMNS[kind], rows)
    findings = [row for v in versions for row in finding_rows(v)]
    dialect.write_rows(conn, "validation_issues", _FINDING_COLUMNS, findings)


def finding_rows(v: NewVersion) -> list[tuple[Any, ...]]:
    """``validation_issues`` rows of a version's China-profile findings (``v.rid`` assigned)."""
    return [
        (v.rid, v.version, v.rtype, v.source, v.lu, f.profile, f.severity, f.code, f.key, f.expression, f.diagnostics)
        for f in v.findings
    ]


def _delete_index_rows(conn: Connection, versions: list[NewVersion]) -> None:
    mark = dialect.placeholder(conn)
    for bit, kind in enumerate(INDEX_ORDER):
        rids = [(v.rid,) for v in versions if v.old_imask & (1 << bit)]
        if rids:
            conn.exec_driver_sql(f"DELETE FROM idx_{kind} WHERE rid = {mark}", rids)
