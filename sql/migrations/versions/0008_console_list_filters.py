"""Indexes for the console's transaction list: newest first with a keyset cursor, by state, by mode, by gid prefix.

The list orders by (created_at, gid) and pages with a row comparison on the same pair, so one index serves the
plain list and every page of it (it replaces the created_at-only index, which it covers). The rare states (the
open and the failed ones) and the rare modes (SAGA, XA) get partial indexes in the same order: a filter on a
common value finds its rows early in the main index, a filter on a rare one would otherwise read every row.
A gid prefix is a range in byte order ("C" collation).

Revision ID: 0008_console_list_filters
Revises: 0007_branch_ownership
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0008_console_list_filters"
down_revision: str | Sequence[str] | None = "0007_branch_ownership"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPGRADE = (
    "CREATE INDEX txc_transaction_created_gid ON txc_transaction (created_at, gid)",
    "DROP INDEX txc_transaction_created",
    r"""
CREATE INDEX txc_transaction_rare_state ON txc_transaction (state, created_at, gid)
    WHERE state NOT IN ('COMMITTED', 'ROLLED_BACK')
""",
    "CREATE INDEX txc_transaction_rare_mode ON txc_transaction (kind, created_at, gid) WHERE kind <> 'TCC'",
    'CREATE INDEX txc_transaction_gid_bytes ON txc_transaction ((gid COLLATE "C"))',
)

DOWNGRADE = (
    "DROP INDEX txc_transaction_gid_bytes",
    "DROP INDEX txc_transaction_rare_mode",
    "DROP INDEX txc_transaction_rare_state",
    "CREATE INDEX txc_transaction_created ON txc_transaction (created_at)",
    "DROP INDEX txc_transaction_created_gid",
)


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)
