"""Coordinator log: global transactions, their branches, and phase-2 failure events.

Revision ID: 0001_coordinator_log
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0001_coordinator_log"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPGRADE = """
CREATE TABLE txc_transaction (
    gid             text PRIMARY KEY,
    kind            text NOT NULL DEFAULT 'TCC',
    state           text NOT NULL,
    timeout_s       double precision NOT NULL,
    deadline        timestamptz NOT NULL,
    reason          text,
    owner           text,
    lease_until     timestamptz,
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    decided_at      timestamptz,
    finished_at     timestamptz,
    CONSTRAINT txc_transaction_state_check CHECK (state IN (
        'BEGIN', 'COMMITTING', 'COMMITTED', 'ROLLING_BACK', 'ROLLED_BACK', 'COMMIT_FAILED', 'ROLLBACK_FAILED'
    ))
);
-- the timeout scan and the phase-2 claim read only non-terminal rows
CREATE INDEX txc_transaction_open ON txc_transaction (deadline) WHERE state = 'BEGIN';
CREATE INDEX txc_transaction_phase2 ON txc_transaction (lease_until)
    WHERE state IN ('COMMITTING', 'ROLLING_BACK');
CREATE INDEX txc_transaction_created ON txc_transaction (created_at);

CREATE TABLE txc_branch (
    gid             text NOT NULL REFERENCES txc_transaction (gid) ON DELETE CASCADE,
    branch_id       text NOT NULL,
    kind            text NOT NULL DEFAULT 'TCC',
    service         text NOT NULL,
    action          text NOT NULL,
    payload         jsonb NOT NULL,
    state           text NOT NULL DEFAULT 'REGISTERED',
    attempts        integer NOT NULL DEFAULT 0,
    last_error      text,
    last_attempt_at timestamptz,
    next_attempt_at timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz,
    PRIMARY KEY (gid, branch_id),
    CONSTRAINT txc_branch_state_check CHECK (state IN ('REGISTERED', 'CONFIRMED', 'CANCELLED'))
);

-- what happened besides the happy path (failed phase-2 attempts, takeovers, admin actions): the timeline
CREATE TABLE txc_event (
    id         bigserial PRIMARY KEY,
    gid        text NOT NULL REFERENCES txc_transaction (gid) ON DELETE CASCADE,
    branch_id  text,
    at         timestamptz NOT NULL DEFAULT now(),
    event      text NOT NULL,
    detail     text
);
CREATE INDEX txc_event_gid ON txc_event (gid, id);
"""

DOWNGRADE = """
DROP TABLE txc_event;
DROP TABLE txc_branch;
DROP TABLE txc_transaction;
"""


def _execute(script: str) -> None:
    # one statement at a time: the asyncpg driver prepares each statement, and a prepared statement holds one
    for statement in script.split(";"):
        if statement.strip():
            op.execute(statement)


def upgrade() -> None:
    _execute(UPGRADE)


def downgrade() -> None:
    _execute(DOWNGRADE)
