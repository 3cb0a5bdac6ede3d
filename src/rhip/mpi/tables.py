"""The master person index's tables, on the same ``metadata`` as :mod:`rhip.store.schema`.

``rhip.store`` imports this module so migrations and schema comparisons see them. Design: docs/decisions
(MPI storage and operations).

Match records, golden values and ``ric_valid`` are stored SM4-sealed (:class:`SealedText`); blocking
keys are keyed hashes (:mod:`rhip.mpi.keys`).

- ``mpi_persons``: one row per person (master record): golden values (JSON), the one valid 身份证号 it may
  hold (exclusivity is checked against the whole person, not a pair), status and ``replaced_by`` after
  a merge, and a version that grows with every change of the golden record.
- ``mpi_registrations``: every source Patient (``rid``/``id`` of the resource store) → its person, with
  the link status, the writing source, its trust rank and the normalised match record (JSON), so
  candidates are compared without re-reading and re-normalising their Patients.
- ``mpi_keys``: the blocking keys of each registration (a 64-bit hash of rule + values) with the sort
  value of the capped sorted neighbourhood; ``mpi_blocks`` counts registrations per key (the cap is
  decided without counting rows).
- ``mpi_term_counts``: value counts of term-frequency fields (names), totals in 16 shards.
- ``mpi_decisions``: every matching decision (pair, model version, score, rule, per-field verdicts) and
  every clerk action (merge, unmerge, link, unlink, review resolution).
- ``mpi_reviews``: the review queue, one task per pair of persons.
- ``mpi_models``: stored models (JSON), newest by ``trained`` is the current one.
- ``mpi_state``: small named values (the resumable dedupe cursor).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, Index, Integer, SmallInteger, String, Table, Text, TypeDecorator
from sqlalchemy.engine import Dialect

from rhip.security.fields import seal_value, unseal_value
from rhip.store.schema import RID, metadata

_SEALED = "sm4g1."


class SealedText(TypeDecorator[str]):
    """Text stored SM4-sealed as a whole (decision 0019): match records, golden values and the one valid
    ID number of a person hold ID numbers and phones. Reads decrypt, so the index code sees plaintext;
    values written before sealing existed read as they are until ``rhip keys reseal``."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return value if value is None or value.startswith(_SEALED) else seal_value(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        return unseal_value(value) if value is not None and value.startswith(_SEALED) else value


mpi_persons = Table(
    "mpi_persons",
    metadata,
    Column("person", RID, primary_key=True, autoincrement=True),
    Column("status", String(8), nullable=False),
    Column("replaced_by", BigInteger, nullable=True),
    Column("ric_valid", SealedText, nullable=True),
    Column("golden", SealedText, nullable=False),
    Column("version", Integer, nullable=False),
    Column("created", BigInteger, nullable=False),
    Column("updated", BigInteger, nullable=False),
)

mpi_registrations = Table(
    "mpi_registrations",
    metadata,
    Column("rid", BigInteger, primary_key=True, autoincrement=False),
    Column("id", String(64), nullable=False),
    Column("person", BigInteger, nullable=False),
    Column("status", String(8), nullable=False),
    Column("source", String(80), nullable=False),
    Column("trust", SmallInteger, nullable=False),
    Column("lu", BigInteger, nullable=False),
    Column("record", SealedText, nullable=False),
    Index("ix_mpi_registrations_person", "person"),
    Index("ix_mpi_registrations_id", "id"),
)

mpi_keys = Table(
    "mpi_keys",
    metadata,
    Column("rid", BigInteger, primary_key=True, autoincrement=False),
    Column("rule", SmallInteger, primary_key=True, autoincrement=False),
    Column("kh", BigInteger, nullable=False),
    Column("sort", String(96), nullable=False),
    Index("ix_mpi_keys_kh_sort", "kh", "sort"),
)

mpi_blocks = Table(
    "mpi_blocks",
    metadata,
    Column("kh", BigInteger, primary_key=True, autoincrement=False),
    Column("n", Integer, nullable=False),
)

mpi_term_counts = Table(
    "mpi_term_counts",
    metadata,
    Column("field", String(16), primary_key=True),
    Column("value", String(128), primary_key=True),
    Column("n", BigInteger, nullable=False),
)

mpi_decisions = Table(
    "mpi_decisions",
    metadata,
    Column("id", RID, primary_key=True, autoincrement=True),
    Column("ts", BigInteger, nullable=False),
    Column("kind", String(12), nullable=False),
    Column("rid", BigInteger, nullable=True),
    Column("other", BigInteger, nullable=True),
    Column("person", BigInteger, nullable=True),
    Column("other_person", BigInteger, nullable=True),
    Column("model", String(80), nullable=False),
    Column("score", Float, nullable=True),
    Column("decision", String(12), nullable=False),
    Column("rule", Text, nullable=False),
    Column("blocking", String(96), nullable=False),
    Column("fields", Text, nullable=False),
    Column("agent", String(80), nullable=False),
    Index("ix_mpi_decisions_rid", "rid"),
    Index("ix_mpi_decisions_person", "person"),
)

mpi_reviews = Table(
    "mpi_reviews",
    metadata,
    Column("id", RID, primary_key=True, autoincrement=True),
    Column("status", String(8), nullable=False),
    Column("person_a", BigInteger, nullable=False),
    Column("person_b", BigInteger, nullable=False),
    Column("rid", BigInteger, nullable=False),
    Column("other", BigInteger, nullable=False),
    Column("decision", BigInteger, nullable=False),
    Column("score", Float, nullable=False),
    Column("created", BigInteger, nullable=False),
    Column("closed", BigInteger, nullable=True),
    Column("resolution", String(12), nullable=True),
    Column("closed_by", String(80), nullable=True),
    Index("ix_mpi_reviews_status_id", "status", "id"),
    Index("ix_mpi_reviews_persons", "person_a", "person_b"),
)

mpi_models = Table(
    "mpi_models",
    metadata,
    Column("version", String(80), primary_key=True),
    Column("trained", BigInteger, nullable=False),
    Column("content", Text, nullable=False),
    Index("ix_mpi_models_trained", "trained"),
)

mpi_state = Table(
    "mpi_state",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("value", Text, nullable=False),
)
