"""Immutable branches and owned transactions and leases.

- ``txc_register_branch_checked``: registers a branch as ``txc_register_branch`` does and then compares what the
  store holds with what was asked: a retry (same service, action, payload and kind) gets ``BEGIN`` and the
  stored payload (the coordinator signs exactly that); anything else gets ``DIFFERS`` and the first field that
  differs. The transaction records the identity that began it (``initiator``); a registration by another
  identity is ``NOT_OWNER`` unless it is an admin's.
- ``txc_registry_lease.holder``: the identity that registered a lease; only it may renew or drop it.
- ``RESOLVED_MIXED``: the terminal state of a transaction a person resolved partly confirmed, partly cancelled.

Revision ID: 0007_branch_ownership
Revises: 0006_saga_needs_person
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0007_branch_ownership"
down_revision: str | Sequence[str] | None = "0006_saga_needs_person"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STATES = """'BEGIN', 'COMMITTING', 'COMMITTED', 'ROLLING_BACK', 'ROLLED_BACK', 'COMMIT_FAILED', 'ROLLBACK_FAILED',
    'RUNNING', 'SUCCEEDED', 'COMPENSATING', 'COMPENSATED', 'COMPENSATION_FAILED'"""

UPGRADE = (
    "ALTER TABLE txc_transaction ADD COLUMN initiator text",
    "ALTER TABLE txc_registry_lease ADD COLUMN holder text",
    "ALTER TABLE txc_transaction DROP CONSTRAINT txc_transaction_state_check",
    f"""
ALTER TABLE txc_transaction ADD CONSTRAINT txc_transaction_state_check CHECK (state IN (
    {_STATES}, 'RESOLVED_MIXED'
))
""",
    r"""
-- p_who: the identity registering (NULL: security off, nobody is recorded or checked); p_admin: may register
-- into anyone's transaction. Returns (state, detail): ('BEGIN', stored payload) when the branch is durable and
-- is exactly what was asked; ('DIFFERS', field) when the branch id is taken by a different registration;
-- ('NOT_OWNER', initiator) when another identity began the transaction; else (state, NULL) as
-- txc_register_branch answers it.
CREATE FUNCTION txc_register_branch_checked(
    p_gid text, p_timeout_s double precision, p_branch_id text, p_service text, p_action text, p_payload jsonb,
    p_kind text, p_who text, p_admin boolean, OUT state text, OUT detail text
) LANGUAGE plpgsql AS $fn$
DECLARE
    v_initiator text;
    v_expired boolean;
    v_row txc_branch%ROWTYPE;
BEGIN
    INSERT INTO txc_transaction (gid, kind, state, timeout_s, deadline, initiator)
    VALUES (p_gid, p_kind, 'BEGIN', p_timeout_s, now() + p_timeout_s * interval '1 second', p_who)
    ON CONFLICT (gid) DO NOTHING;
    -- FOR SHARE holds off a concurrent decision until this branch is committed, so phase 2 always sees it
    SELECT t.state, t.deadline < now(), t.initiator INTO state, v_expired, v_initiator
      FROM txc_transaction t WHERE t.gid = p_gid FOR SHARE;
    IF p_who IS NOT NULL AND NOT p_admin AND v_initiator IS DISTINCT FROM p_who THEN
        state := 'NOT_OWNER';
        detail := coalesce(v_initiator, '');
        RETURN;
    END IF;
    IF state <> 'BEGIN' THEN
        RETURN;
    END IF;
    IF v_expired THEN
        state := 'EXPIRED';
        RETURN;
    END IF;
    INSERT INTO txc_branch (gid, branch_id, service, action, payload, kind)
    VALUES (p_gid, p_branch_id, p_service, p_action, p_payload, p_kind)
    ON CONFLICT (gid, branch_id) DO NOTHING;
    SELECT * INTO v_row FROM txc_branch b WHERE b.gid = p_gid AND b.branch_id = p_branch_id;
    -- the text form is compared, not jsonb equality: 1 and 1.0 are equal jsonb but sign differently
    detail := CASE
        WHEN v_row.service <> p_service THEN 'service'
        WHEN v_row.action <> p_action THEN 'action'
        WHEN v_row.payload::text <> p_payload::text THEN 'payload'
        WHEN v_row.kind <> p_kind THEN 'kind'
    END;
    IF detail IS NOT NULL THEN
        state := 'DIFFERS';
        RETURN;
    END IF;
    detail := v_row.payload::text;
END
$fn$
""",
)

DOWNGRADE = (
    "DROP FUNCTION txc_register_branch_checked",
    "DELETE FROM txc_transaction WHERE state = 'RESOLVED_MIXED'",
    "ALTER TABLE txc_transaction DROP CONSTRAINT txc_transaction_state_check",
    f"ALTER TABLE txc_transaction ADD CONSTRAINT txc_transaction_state_check CHECK (state IN ({_STATES}))",
    "ALTER TABLE txc_registry_lease DROP COLUMN holder",
    "ALTER TABLE txc_transaction DROP COLUMN initiator",
)


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)
