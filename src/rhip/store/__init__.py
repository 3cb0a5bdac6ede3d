"""Storage: resources, version history and search-index tables on SQLite or PostgreSQL."""

# Modules that define tables on schema.metadata beyond the core ones; imported here so migrations and
# schema comparisons always see every table.
from rhip.mpi import tables as mpi_tables  # noqa: F401  (the master person index)
from rhip.store import access_tables as access_tables
from rhip.store import audit_tables as audit_tables
from rhip.store import quality_tables as quality_tables
