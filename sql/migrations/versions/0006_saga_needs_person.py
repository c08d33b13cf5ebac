"""Sagas marked for a person: COMPENSATION_FAILED, the saga twin of ROLLBACK_FAILED.

A compensation that cannot be delivered (no endpoint, no such action) for longer than the coordinator's
unregistered bound stops being retried; the saga waits in this state for `txc saga resolve` / `txc saga retry`.

Revision ID: 0006_saga_needs_person
Revises: 0005_observability
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006_saga_needs_person"
down_revision: str | Sequence[str] | None = "0005_observability"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STATES = (
    "'BEGIN', 'COMMITTING', 'COMMITTED', 'ROLLING_BACK', 'ROLLED_BACK', 'COMMIT_FAILED', 'ROLLBACK_FAILED', "
    "'RUNNING', 'SUCCEEDED', 'COMPENSATING', 'COMPENSATED'"
)

UPGRADE = (
    "ALTER TABLE txc_transaction DROP CONSTRAINT txc_transaction_state_check",
    f"ALTER TABLE txc_transaction ADD CONSTRAINT txc_transaction_state_check CHECK (state IN ("
    f"{_STATES}, 'COMPENSATION_FAILED'))",
)

DOWNGRADE = (
    # a saga a person has not finished yet goes back to being compensated (recovery claims it)
    "UPDATE txc_transaction SET state = 'COMPENSATING' WHERE state = 'COMPENSATION_FAILED'",
    "ALTER TABLE txc_transaction DROP CONSTRAINT txc_transaction_state_check",
    f"ALTER TABLE txc_transaction ADD CONSTRAINT txc_transaction_state_check CHECK (state IN ({_STATES}))",
)


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)
