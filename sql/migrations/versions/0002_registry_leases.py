"""Service registry: one row per endpoint lease; NOTIFY carries only a version, this table is the truth.

Revision ID: 0002_registry_leases
Revises: 0001_coordinator_log
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002_registry_leases"
down_revision: str | Sequence[str] | None = "0001_coordinator_log"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE txc_registry_lease (
            lease_id      text PRIMARY KEY,
            service       text NOT NULL,
            address       text NOT NULL,
            metadata      jsonb NOT NULL DEFAULT '{}',
            ttl_s         double precision NOT NULL CHECK (ttl_s > 0),
            registered_at timestamptz NOT NULL DEFAULT clock_timestamp(),
            expires_at    timestamptz NOT NULL,
            UNIQUE (service, address)
        )
        """
    )
    op.execute("CREATE INDEX txc_registry_lease_expiry ON txc_registry_lease (expires_at)")
    op.execute("CREATE SEQUENCE txc_registry_version")


def downgrade() -> None:
    op.execute("DROP SEQUENCE txc_registry_version")
    op.execute("DROP TABLE txc_registry_lease")
