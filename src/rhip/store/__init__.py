"""Storage: resources, version history and search-index tables on SQLite or PostgreSQL."""
