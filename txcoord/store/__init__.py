"""The coordinator store's plumbing, whatever the mode: the embedded PostgreSQL, the schema's migrations (alembic,
``sql/migrations``), outage reporting. Each mode's store is in its folder (``txcoord.tcc.store``,
``txcoord.saga.store``), on ``txcoord.engine.leases``."""
