"""Sagas: versioned definitions, instances (a global transaction of kind SAGA) and their steps.

Revision ID: 0003_sagas
Revises: 0002_registry_leases
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003_sagas"
down_revision: str | Sequence[str] | None = "0002_registry_leases"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPGRADE = (
    r"""
-- a saga instance is a txc_transaction row of kind 'SAGA': same owner, lease, deadline and timeline as TCC
ALTER TABLE txc_transaction DROP CONSTRAINT txc_transaction_state_check
""",
    r"""
ALTER TABLE txc_transaction ADD CONSTRAINT txc_transaction_state_check CHECK (state IN (
    'BEGIN', 'COMMITTING', 'COMMITTED', 'ROLLING_BACK', 'ROLLED_BACK', 'COMMIT_FAILED', 'ROLLBACK_FAILED',
    'RUNNING', 'SUCCEEDED', 'COMPENSATING', 'COMPENSATED'
))
""",
    r"""
-- sagas the orchestrator must drive (and recovery claims when their owner's lease lapses)
CREATE INDEX txc_transaction_saga_open ON txc_transaction (lease_until)
    WHERE state IN ('RUNNING', 'COMPENSATING')
""",
    r"""
-- a definition never changes once stored: a running instance keeps the version it started with
CREATE TABLE txc_saga_definition (
    name          text NOT NULL,
    version       integer NOT NULL CHECK (version >= 1),
    source        text NOT NULL,
    registered_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (name, version)
)
""",
    r"""
CREATE TABLE txc_saga (
    gid             text PRIMARY KEY REFERENCES txc_transaction (gid) ON DELETE CASCADE,
    name            text NOT NULL,
    version         integer NOT NULL,
    input           jsonb NOT NULL,
    idempotency_key text UNIQUE,
    error           text,
    FOREIGN KEY (name, version) REFERENCES txc_saga_definition (name, version)
)
""",
    r"""
-- one row per step, written before the step's action is sent; completion_seq orders compensation
CREATE TABLE txc_saga_step (
    gid             text NOT NULL REFERENCES txc_transaction (gid) ON DELETE CASCADE,
    step_id         text NOT NULL,
    state           text NOT NULL DEFAULT 'PENDING',
    input           jsonb,
    output          jsonb,
    attempts        integer NOT NULL DEFAULT 0,
    comp_attempts   integer NOT NULL DEFAULT 0,
    last_error      text,
    started_at      timestamptz,
    ended_at        timestamptz,
    completion_seq  bigint,
    compensated_at  timestamptz,
    next_attempt_at timestamptz,
    PRIMARY KEY (gid, step_id),
    CONSTRAINT txc_saga_step_state_check CHECK (state IN (
        'PENDING', 'RUNNING', 'SUCCEEDED', 'FAILED', 'COMPENSATING', 'COMPENSATED'
    ))
)
""",
    r"""
CREATE SEQUENCE txc_saga_completion_seq
""",
)

DOWNGRADE = (
    "DROP SEQUENCE txc_saga_completion_seq",
    "DROP TABLE txc_saga_step",
    "DROP TABLE txc_saga",
    "DROP TABLE txc_saga_definition",
    "DROP INDEX txc_transaction_saga_open",
    "DELETE FROM txc_transaction WHERE kind = 'SAGA'",
    "ALTER TABLE txc_transaction DROP CONSTRAINT txc_transaction_state_check",
    r"""
ALTER TABLE txc_transaction ADD CONSTRAINT txc_transaction_state_check CHECK (state IN (
    'BEGIN', 'COMMITTING', 'COMMITTED', 'ROLLING_BACK', 'ROLLED_BACK', 'COMMIT_FAILED', 'ROLLBACK_FAILED'
))
""",
)


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)
