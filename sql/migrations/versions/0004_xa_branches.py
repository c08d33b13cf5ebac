"""XA branches: a branch (and its transaction) records its kind, so `txc tx list/show` can tell XA from TCC.

The ``kind`` columns exist since 0001 (default 'TCC'); this adds the register function that fills them.
The 6-argument ``txc_register_branch`` stays as it is (it is the one place the registration rules live); the
7-argument form begins the transaction with its kind and then delegates to it.

Revision ID: 0004_xa_branches
Revises: 0003_sagas
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004_xa_branches"
down_revision: str | Sequence[str] | None = "0003_sagas"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPGRADE = (
    r"""
CREATE FUNCTION txc_register_branch(
    p_gid text, p_timeout_s double precision, p_branch_id text, p_service text, p_action text, p_payload jsonb,
    p_kind text
) RETURNS text LANGUAGE plpgsql AS $fn$
DECLARE
    v_state text;
BEGIN
    -- the first branch begins the transaction: it gives the transaction its kind
    INSERT INTO txc_transaction (gid, kind, state, timeout_s, deadline)
    VALUES (p_gid, p_kind, 'BEGIN', p_timeout_s, now() + p_timeout_s * interval '1 second')
    ON CONFLICT (gid) DO NOTHING;
    v_state := txc_register_branch(p_gid, p_timeout_s, p_branch_id, p_service, p_action, p_payload);
    IF v_state = 'BEGIN' AND p_kind <> 'TCC' THEN
        UPDATE txc_branch SET kind = p_kind WHERE gid = p_gid AND branch_id = p_branch_id AND kind <> p_kind;
    END IF;
    RETURN v_state;
END
$fn$
""",
)

DOWNGRADE = ("DROP FUNCTION txc_register_branch(text, double precision, text, text, text, jsonb, text)",)


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)
