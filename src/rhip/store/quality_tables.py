"""Tables of data sources and the profile findings kept for data-quality measurement (decision 0012).

Defined on the same ``metadata`` as ``schema``; ``rhip.store`` imports this module so that migrations
and schema comparisons always see them.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table, Text

from rhip.store.schema import RID, metadata

data_sources = Table(
    "data_sources",
    metadata,
    Column("source", String(80), primary_key=True),
    Column("strictness", String(8), nullable=False),
    Column("name", Text, nullable=True),
    Column("updated", BigInteger, nullable=False),
)
"""Per-source settings: ``source`` is the OAuth client id of a feed (``user:<name>``, ``system:<job>``
for others); ``strictness`` is ``reject``, ``warn`` or ``off`` for China-profile findings."""

validation_issues = Table(
    "validation_issues",
    metadata,
    Column("id", RID, primary_key=True, autoincrement=True),
    Column("rid", BigInteger, nullable=False),
    Column("version", Integer, nullable=False),
    Column("rtype", String(64), nullable=False),
    Column("source", String(80), nullable=False),
    Column("lu", BigInteger, nullable=False),
    Column("profile", Text, nullable=False),
    Column("severity", String(12), nullable=False),
    Column("code", String(32), nullable=False),
    Column("rule", String(32), nullable=False),
    Column("expression", Text, nullable=False),
    Column("diagnostics", Text, nullable=False),
    Index("ix_validation_issues_rid", "rid", "version"),
    Index("ix_validation_issues_source_lu", "source", "lu"),
)
"""Every profile finding on an accepted write (severity as found), per stored version."""
