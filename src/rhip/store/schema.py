"""The storage schema (SQLAlchemy Core), identical on SQLite and PostgreSQL.

Layout (architecture decision 2):
- ``resources``: one row per logical resource (current version pointer); ``rid`` is the surrogate key
  every other table uses, so index rows stay narrow.
- ``resource_versions``: every version's JSON exactly as stored (the version history); the current
  content is the row at ``(rid, resources.version)``. Content is stored once, never twice.
- ``idx_*``: search-index rows for the *current* version only, one table per search-parameter type,
  written in the same transaction as the resource. ``grp`` ties together the components of one
  composite value (0 for ordinary parameters).

Times are integer milliseconds since the Unix epoch (UTC) so that range searches and history paging
compare plain integers on both engines.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    TypeDecorator,
)
from sqlalchemy.engine import Dialect

from rhip.security.fields import unseal_text

metadata = MetaData()


class SealedJson(TypeDecorator[str]):
    """Resource JSON whose sensitive values are stored sealed (rhip.security.fields): every read through
    the schema gets the text as received, so no reader can forget to decrypt. Writers store
    ``NewVersion.stored``, sealed when the version was built."""

    impl = Text
    cache_ok = True

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        return value if value is None else unseal_text(value)


# SQLite only auto-increments a column declared exactly "INTEGER PRIMARY KEY".
RID = BigInteger().with_variant(Integer(), "sqlite")

resources = Table(
    "resources",
    metadata,
    Column("rid", RID, primary_key=True, autoincrement=True),
    Column("rtype", String(64), nullable=False),
    Column("id", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("lu", BigInteger, nullable=False),
    Column("deleted", Boolean, nullable=False, default=False),
    # Bit i set = the current version has rows in INDEX_TABLES' i-th table, so an update deletes
    # old index rows only where there are some.
    Column("imask", Integer, nullable=False, default=0),
    Index("ux_resources_type_id", "rtype", "id", unique=True),
    Index("ix_resources_type_lu", "rtype", "lu"),
)

resource_versions = Table(
    "resource_versions",
    metadata,
    Column("rid", BigInteger, primary_key=True, autoincrement=False),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("rtype", String(64), nullable=False),
    Column("id", String(64), nullable=False),
    Column("lu", BigInteger, nullable=False),
    # HTTP verb that produced the version (POST, PUT, PATCH, DELETE), for history bundles.
    Column("method", String(8), nullable=False),
    # The resource JSON as stored (None for a deletion).
    Column("content", SealedJson, nullable=True),
    Index("ix_versions_lu", "lu"),
    Index("ix_versions_type_lu", "rtype", "lu"),
)


def _index_table(name: str, *columns: Column[Any], indexes: tuple[tuple[str, ...], ...]) -> Table:
    """Index tables share (rid, rtype, code, grp); ``(rid, code)`` serves deletes, sorts, includes."""
    table = Table(
        name,
        metadata,
        Column("rid", BigInteger, nullable=False),
        Column("rtype", String(64), nullable=False),
        Column("code", String(64), nullable=False),
        Column("grp", SmallInteger, nullable=False, default=0),
        *columns,
    )
    Index(f"ix_{name}_rid", table.c.rid, table.c.code)
    for i, cols in enumerate(indexes):
        Index(f"ix_{name}_{i}", *(table.c[c] for c in cols))
    return table


idx_string = _index_table(
    "idx_string",
    # value: normalised for the default (starts-with, case- and accent-insensitive) match;
    # exact: as written, for :exact.
    Column("value", Text, nullable=False),
    Column("exact", Text, nullable=False),
    indexes=(),
)
# text_pattern_ops lets PostgreSQL use the index for LIKE 'prefix%' whatever the database collation.
Index(
    "ix_idx_string_prefix",
    idx_string.c.rtype,
    idx_string.c.code,
    idx_string.c.value,
    postgresql_ops={"value": "text_pattern_ops"},
)

idx_token = _index_table(
    "idx_token",
    Column("system", Text, nullable=True),
    Column("value", Text, nullable=True),
    # Normalised Coding.display / CodeableConcept.text / Identifier.type.text, for :text.
    Column("text", Text, nullable=True),
    indexes=(("rtype", "code", "value", "system"),),
)

idx_reference = _index_table(
    "idx_reference",
    # Local reference ("Patient/123" or an absolute URL on this server's base).
    Column("ref_type", String(64), nullable=True),
    Column("ref_id", String(64), nullable=True),
    # Any other reference: absolute URL, canonical (without |version), or logical identifier.
    Column("url", Text, nullable=True),
    indexes=(("ref_type", "ref_id", "rtype", "code"), ("rtype", "code", "url")),
)

idx_date = _index_table(
    "idx_date",
    Column("low", BigInteger, nullable=False),
    Column("high", BigInteger, nullable=False),
    indexes=(("rtype", "code", "low", "high"),),
)

idx_number = _index_table(
    "idx_number",
    Column("value", Float, nullable=False),
    Column("low", Float, nullable=False),
    Column("high", Float, nullable=False),
    indexes=(("rtype", "code", "value"),),
)

idx_quantity = _index_table(
    "idx_quantity",
    Column("system", Text, nullable=True),
    Column("unit", Text, nullable=True),
    Column("value", Float, nullable=False),
    Column("low", Float, nullable=False),
    Column("high", Float, nullable=False),
    indexes=(),
)
# Ordinary rows only (grp = 0): composite components ($1 rows, half of all quantity rows) are reached
# through their token component and (rid, code), and random values make every indexed row cost a
# page write; searches say grp = 0 (decision 0015).
Index(
    "ix_idx_quantity_0",
    idx_quantity.c.rtype,
    idx_quantity.c.code,
    idx_quantity.c.value,
    postgresql_where=idx_quantity.c.grp == 0,
    sqlite_where=idx_quantity.c.grp == 0,
)

idx_uri = _index_table(
    "idx_uri",
    Column("value", Text, nullable=False),
    indexes=(("rtype", "code", "value"),),
)

INDEX_TABLES: dict[str, Table] = {
    "string": idx_string,
    "token": idx_token,
    "reference": idx_reference,
    "date": idx_date,
    "number": idx_number,
    "quantity": idx_quantity,
    "uri": idx_uri,
}
"""Search-parameter type → its index table (composites are stored as grouped component rows)."""

auth_clients = Table(
    "auth_clients",
    metadata,
    Column("client_id", String(64), primary_key=True),
    Column("name", Text, nullable=False),
    Column("secret_hash", Text, nullable=False),
    Column("scopes", Text, nullable=False),
    Column("organization", String(64), nullable=True),
    Column("created", BigInteger, nullable=False),
    # PEM public key of a client that authenticates with signed JWT assertions (private_key_jwt, SMART
    # Backend Services) instead of a secret; its secret_hash is then empty.
    Column("public_key", Text, nullable=True),
)
"""OAuth2 clients (hospital interfaces, other platform nodes): client-credentials grant."""

auth_assertions = Table(
    "auth_assertions",
    metadata,
    Column("client_id", String(64), primary_key=True),
    Column("jti", String(255), primary_key=True),
    Column("expires", BigInteger, nullable=False),
    Index("ix_auth_assertions_expires", "expires"),
)
"""``jti`` of client assertions already used, until they expire (replay protection)."""

auth_users = Table(
    "auth_users",
    metadata,
    Column("username", String(64), primary_key=True),
    Column("password_hash", Text, nullable=False),
    Column("role", String(32), nullable=False),
    Column("organization", String(64), nullable=True),
    Column("region", String(12), nullable=True),
    Column("failed_logins", Integer, nullable=False, default=0),
    Column("locked_until", BigInteger, nullable=False, default=0),
    Column("created", BigInteger, nullable=False),
)
"""Platform users (portal, clinicians, officers): password grant."""

auth_totp = Table(
    "auth_totp",
    metadata,
    Column("username", String(64), primary_key=True),
    Column("secret", Text, nullable=False),
    Column("last_step", BigInteger, nullable=False, default=0),
    Column("created", BigInteger, nullable=False),
)
"""TOTP second factor of a user: the SM4-encrypted secret and the last accepted time step."""


def deferrable_indexes() -> list[Index]:
    """The search indexes a bulk load into an empty database may build after its COPY.

    These are the value-ordered indexes of the ``idx_*`` tables: their keys arrive in random order, so
    keeping them up to date row by row costs far more than one sorted build at the end. Primary keys,
    ``ux_resources_type_id`` (uniqueness, the loader's existence check) and the ``(rid, code)`` indexes
    (ascending keys, cheap to maintain; updates during the load delete index rows by rid) stay in place.
    """
    return [
        ix
        for table in INDEX_TABLES.values()
        for ix in sorted(table.indexes, key=lambda i: str(i.name))
        if not str(ix.name).endswith("_rid")
    ]


def missing_indexes(conn: Any) -> list[Index]:
    """Indexes of ``deferrable_indexes()`` absent from the database (a deferred load that never finished)."""
    from sqlalchemy import inspect

    insp = inspect(conn)
    present: dict[str, set[str]] = {}
    out = []
    for ix in deferrable_indexes():
        table = ix.table
        assert table is not None
        if table.name not in present:
            present[table.name] = {str(i["name"]) for i in insp.get_indexes(table.name)}
        if ix.name not in present[table.name]:
            out.append(ix)
    return out
