"""The coordinator store: PostgreSQL via asyncpg, schema owned by alembic (``sql/migrations``)."""
