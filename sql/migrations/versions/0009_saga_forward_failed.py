"""Sagas marked for a person going forward: FORWARD_FAILED, the twin of COMPENSATION_FAILED.

A forward-recovery step (one that must not be undone) whose action cannot be delivered (no endpoint, no such
action) for longer than the coordinator's unregistered bound stops being retried; the saga waits in this state
for `txc saga retry` (the service is back) or `txc saga resolve --step S --output JSON` (a person did the step by
hand).

Revision ID: 0009_saga_forward_failed
Revises: 0008_console_list_filters
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0009_saga_forward_failed"
down_revision: str | Sequence[str] | None = "0008_console_list_filters"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STATES = """'BEGIN', 'COMMITTING', 'COMMITTED', 'ROLLING_BACK', 'ROLLED_BACK', 'COMMIT_FAILED', 'ROLLBACK_FAILED',
    'RUNNING', 'SUCCEEDED', 'COMPENSATING', 'COMPENSATED', 'COMPENSATION_FAILED', 'RESOLVED_MIXED'"""

UPGRADE = (
    "ALTER TABLE txc_transaction DROP CONSTRAINT txc_transaction_state_check",
    f"ALTER TABLE txc_transaction ADD CONSTRAINT txc_transaction_state_check CHECK (state IN ({_STATES}, "
    "'FORWARD_FAILED'))",
)

DOWNGRADE = (
    # a saga a person has not finished yet goes back to running forward (recovery claims it)
    "UPDATE txc_transaction SET state = 'RUNNING' WHERE state = 'FORWARD_FAILED'",
    "ALTER TABLE txc_transaction DROP CONSTRAINT txc_transaction_state_check",
    f"ALTER TABLE txc_transaction ADD CONSTRAINT txc_transaction_state_check CHECK (state IN ({_STATES}))",
)


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)
