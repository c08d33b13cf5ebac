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

# One statement per entry: the asyncpg driver prepares each statement, and a prepared statement holds one.
UPGRADE = (
    r"""
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
)
""",
    r"""
-- the timeout scan and the phase-2 claim read only non-terminal rows
CREATE INDEX txc_transaction_open ON txc_transaction (deadline) WHERE state = 'BEGIN'
""",
    r"""
CREATE INDEX txc_transaction_phase2 ON txc_transaction (lease_until)
    WHERE state IN ('COMMITTING', 'ROLLING_BACK')
""",
    r"""
CREATE INDEX txc_transaction_created ON txc_transaction (created_at)
""",
    r"""
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
)
""",
    r"""
-- what happened besides the happy path (failed phase-2 attempts, takeovers, admin actions): the timeline
CREATE TABLE txc_event (
    id         bigserial PRIMARY KEY,
    gid        text NOT NULL REFERENCES txc_transaction (gid) ON DELETE CASCADE,
    branch_id  text,
    at         timestamptz NOT NULL DEFAULT now(),
    event      text NOT NULL,
    detail     text
)
""",
    r"""
CREATE INDEX txc_event_gid ON txc_event (gid, id)
""",
    r"""
-- Register a branch, beginning the transaction on its first branch (gids are made by the caller, so begin
-- needs no round trip of its own). Returns the transaction's state: 'BEGIN' when the branch is durable,
-- 'EXPIRED' when the transaction passed its deadline, otherwise the state that forbids registering.
-- FOR SHARE holds off a concurrent decision until this branch is committed, so phase 2 always sees it.
CREATE FUNCTION txc_register_branch(
    p_gid text, p_timeout_s double precision, p_branch_id text, p_service text, p_action text, p_payload jsonb
) RETURNS text LANGUAGE plpgsql AS $fn$
DECLARE
    v_state text;
    v_expired boolean;
BEGIN
    INSERT INTO txc_transaction (gid, state, timeout_s, deadline)
    VALUES (p_gid, 'BEGIN', p_timeout_s, now() + p_timeout_s * interval '1 second')
    ON CONFLICT (gid) DO NOTHING;
    SELECT state, deadline < now() INTO v_state, v_expired FROM txc_transaction WHERE gid = p_gid FOR SHARE;
    IF v_state <> 'BEGIN' THEN
        RETURN v_state;
    END IF;
    IF v_expired THEN
        RETURN 'EXPIRED';
    END IF;
    INSERT INTO txc_branch (gid, branch_id, service, action, payload)
    VALUES (p_gid, p_branch_id, p_service, p_action, p_payload)
    ON CONFLICT (gid, branch_id) DO NOTHING;
    RETURN 'BEGIN';
END
$fn$
""",
)

DOWNGRADE = (
    "DROP FUNCTION txc_register_branch",
    "DROP TABLE txc_event",
    "DROP TABLE txc_branch",
    "DROP TABLE txc_transaction",
)


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)
