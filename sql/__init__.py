"""The coordinator store's schema: the alembic environment (``migrations/``, run by ``txc db upgrade --store
URL``) and ``alembic.ini`` for alembic's own CLI.

Installed as ``txcoord.schema`` (see ``[tool.setuptools.package-dir]`` in pyproject.toml), so the name ``sql``
— which a user's project may well have — is never imported by the product. Read it through
``txcoord.store.migrations``; participant-side DDL lives with the sdk that applies it (``sdk/ddl``)."""
