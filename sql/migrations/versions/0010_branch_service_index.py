"""An index for the transaction list's service filter: the branches of one service, with their gids.

Without it, a filter on a service that few transactions call (or none) walks every transaction, newest first,
looking for one with such a branch: a million rows read to show a page. With it, the list
(``list_by_service``) starts from that service's branches when they are few, and from the newest transactions
when they are many, whichever the planner finds cheaper.

Revision ID: 0010_branch_service_index
Revises: 0009_saga_forward_failed
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0010_branch_service_index"
down_revision: str | Sequence[str] | None = "0009_saga_forward_failed"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("CREATE INDEX txc_branch_service ON txc_branch (service, gid)")


def downgrade() -> None:
    op.execute("DROP INDEX txc_branch_service")
