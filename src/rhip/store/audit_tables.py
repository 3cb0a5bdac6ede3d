"""The audit trail's tables (decision 0013), on the same ``metadata`` as ``schema``.

``audit_events`` holds one FHIR AuditEvent per request, in a gapless sequence chained with keyed SM3
hashes; ``audit_head`` is the chain's last link (the row writers lock); ``audit_patients`` indexes
events by the residents whose data they touched ("who accessed my record") and is itself checked
against the hashed content by ``rhip audit verify``. ``audit_staging`` (decision 0025) holds events
written with their actions but not yet chained: no index, so staging one is a single insert.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Identity, Index, Integer, SmallInteger, String, Table, Text

from rhip.store.schema import metadata

audit_events = Table(
    "audit_events",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("ts", BigInteger, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("action", String(1), nullable=False),
    Column("outcome", String(2), nullable=False),
    Column("agent", String(80), nullable=False),
    Column("content", Text, nullable=False),
    Column("prev", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Index("ix_audit_events_agent_ts", "agent", "ts"),
    Index("ix_audit_events_ts", "ts"),
)

audit_patients = Table(
    "audit_patients",
    metadata,
    Column("seq", BigInteger, nullable=False),
    Column("patient", String(64), nullable=False),
    Index("ix_audit_patients_patient_seq", "patient", "seq"),
)

audit_head = Table(
    "audit_head",
    metadata,
    Column("chain", SmallInteger, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
)

audit_staging = Table(
    "audit_staging",
    metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), Identity(), nullable=False),
    Column("data", Text, nullable=False),
)
"""Events staged in the transaction of their action (``rhip.security.audit.encode_record``), in staging order
(``id``: an identity column on PostgreSQL, the rowid on SQLite); ``rhip.store.audit_log.settle`` chains and
removes them."""
