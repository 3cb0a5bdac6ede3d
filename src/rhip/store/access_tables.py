"""Tables of the access policy (decision 0016), on the same ``metadata`` as ``schema``.

- ``user_patients``: the Patient records a resident user may see (their own, their children's …).
- ``access_grants``: break-glass grants: a clinician's time-limited access to one patient, with the
  reason given; every grant is also an AuditEvent and shows in the resident's access log.
- ``care_links``: which organisations a patient has a care relationship with (an Encounter it provided,
  or the patient's managing organisation), derived from the index rows by a write hook, so a
  clinician's access test is one index probe per row.
- ``consent_rules``: active FHIR Consent refusals flattened by a write hook, so searches can exclude
  refused data in SQL (counts included): who is refused (an organisation or ``*``) and what (``*`` or a
  security-label / resource-type category).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, String, Table, Text

from rhip.store.schema import RID, metadata

user_patients = Table(
    "user_patients",
    metadata,
    Column("username", String(64), primary_key=True),
    Column("patient", String(64), primary_key=True),
    Column("relation", String(16), nullable=False),
)

access_grants = Table(
    "access_grants",
    metadata,
    Column("id", RID, primary_key=True, autoincrement=True),
    Column("subject", String(80), nullable=False),
    Column("patient", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("reason", Text, nullable=False),
    Column("granted", BigInteger, nullable=False),
    Column("expires", BigInteger, nullable=False),
    Index("ix_access_grants_subject_expires", "subject", "expires"),
)

consent_rules = Table(
    "consent_rules",
    metadata,
    Column("consent_rid", BigInteger, nullable=False),
    Column("patient", String(64), nullable=False),
    Column("actor", String(80), nullable=False),
    Column("category", String(80), nullable=False),
    Index("ix_consent_rules_patient", "patient"),
    Index("ix_consent_rules_consent", "consent_rid"),
)

care_links = Table(
    "care_links",
    metadata,
    Column("rid", BigInteger, nullable=False),
    Column("patient", String(64), nullable=False),
    Column("organization", String(64), nullable=False),
    Index("ix_care_links_patient_org", "patient", "organization"),
    Index("ix_care_links_rid", "rid"),
)
