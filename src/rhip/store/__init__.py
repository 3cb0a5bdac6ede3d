"""Storage: resources, version history and search-index tables on SQLite or PostgreSQL."""

from rhip.store import quality_tables as quality_tables  # registers its tables on schema.metadata
