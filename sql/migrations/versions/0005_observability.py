"""Observability: a transaction keeps the trace id of the caller that began it (`txc tx show` prints it), and
the unfinished transactions have an index of their own, so a metrics scrape counts them by state without
reading the finished ones.

Revision ID: 0005_observability
Revises: 0004_xa_branches
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005_observability"
down_revision: str | Sequence[str] | None = "0004_xa_branches"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNFINISHED = "state NOT IN ('COMMITTED', 'ROLLED_BACK', 'SUCCEEDED', 'COMPENSATED')"


def upgrade() -> None:
    op.execute("ALTER TABLE txc_transaction ADD COLUMN trace_id text")
    op.execute(f"CREATE INDEX txc_transaction_unfinished ON txc_transaction (state, created_at) WHERE {UNFINISHED}")


def downgrade() -> None:
    op.execute("DROP INDEX txc_transaction_unfinished")
    op.execute("ALTER TABLE txc_transaction DROP COLUMN trace_id")
