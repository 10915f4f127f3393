"""Store tests (the same suite over SQLite and PostgreSQL)."""
