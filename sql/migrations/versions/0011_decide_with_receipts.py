"""The commit decision as a function, ``txc_decide``, that checks try receipts against every registered branch.

A decision locks its transactions' rows, then reads their branches. As one plain statement it would read them
with the snapshot taken when the statement began: a branch whose registration held the row (FOR SHARE) at that
moment, and committed while the decision waited for the lock, would be neither checked against the receipts nor
sent to phase 2 (measured: decided COMMITTING with branch 1 only, branch 2 left REGISTERED). In a function,
each statement takes a new snapshot (READ COMMITTED), so the branches are read after the lock is held: every
registration is either seen, or waits for the lock and then finds the transaction decided. Still one round
trip per batch of decisions.

Arguments: gids, new states, reasons, owner, lease seconds, deciding identities (NULL: not checked), admin
flags, trace ids, per request whether its commit's receipts are checked, and the (gid, branch id) pairs with a
valid receipt. A checked commit with a TCC branch not among them is decided ROLLING_BACK instead, the branch
named in the reason, with one ``commit_refused`` event per such branch.

Revision ID: 0011_decide_with_receipts
Revises: 0010_branch_service_index
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0011_decide_with_receipts"
down_revision: str | Sequence[str] | None = "0010_branch_service_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPGRADE = r"""
CREATE FUNCTION txc_decide(
    p_gids text[], p_states text[], p_reasons text[], p_owner text, p_lease_s double precision, p_who text[],
    p_admin boolean[], p_trace_ids text[], p_checked boolean[], p_receipt_gids text[], p_receipt_branches text[]
) RETURNS TABLE (
    o_gid text, o_decided text, o_reason text, o_branch_id text, o_service text, o_action text, o_payload text,
    o_state text
) LANGUAGE plpgsql AS $fn$
BEGIN
    -- first the locks, in gid order (concurrent batches lock in the same order) ...
    PERFORM 1 FROM txc_transaction t
      WHERE t.gid = ANY(p_gids) AND t.state = 'BEGIN'
      ORDER BY t.gid
        FOR UPDATE;
    -- ... then, in a statement with a new snapshot, every branch registered before them
    RETURN QUERY
    WITH input AS (
        SELECT * FROM unnest(p_gids, p_states, p_reasons, p_who, p_admin, p_trace_ids, p_checked)
            AS i(gid, state, reason, who, admin, trace_id, checked)
    ), unreceipted AS (
        SELECT b.gid, b.branch_id, b.service, b.action,
               row_number() OVER (PARTITION BY b.gid ORDER BY b.branch_id) AS n,
               count(*) OVER (PARTITION BY b.gid) AS total
          FROM input i JOIN txc_branch b ON b.gid = i.gid
         WHERE i.state = 'COMMITTING' AND i.checked AND b.kind = 'TCC'
           AND NOT EXISTS (SELECT 1 FROM unnest(p_receipt_gids, p_receipt_branches) AS r(gid, branch_id)
                            WHERE r.gid = b.gid AND r.branch_id = b.branch_id)
    ), verdict AS (
        SELECT i.gid, i.who, i.admin, i.trace_id, u.gid IS NOT NULL AS refused,
               CASE WHEN u.gid IS NULL THEN i.state ELSE 'ROLLING_BACK' END AS state,
               CASE WHEN u.gid IS NULL THEN i.reason
                    ELSE format('commit without a try receipt for branch %s (%s.%s)%s: its try did not succeed, '
                                'or %s has no TXC_BRANCH_KEY; rolled back instead',
                                u.branch_id, u.service, u.action,
                                CASE WHEN u.total > 1 THEN format(' and %s more', u.total - 1) ELSE '' END,
                                u.service)
               END AS reason
          FROM input i LEFT JOIN unreceipted u ON u.gid = i.gid AND u.n = 1
    ), decided AS (
        UPDATE txc_transaction t
           SET state = v.state, reason = v.reason, owner = p_owner,
               lease_until = now() + p_lease_s * interval '1 second', decided_at = now(),
               trace_id = coalesce(v.trace_id, t.trace_id)
          FROM verdict v
         WHERE t.gid = v.gid AND t.state = 'BEGIN'
           AND (v.state = 'ROLLING_BACK' OR t.deadline >= now())
           AND (v.who IS NULL OR v.admin OR t.initiator = v.who)
     RETURNING t.gid, t.state, t.reason
    ), refusals AS (
        INSERT INTO txc_event (gid, branch_id, event, detail)
        SELECT u.gid, u.branch_id, 'commit_refused',
               format('%s committed without a receipt for the try of %s.%s: rolling back',
                      coalesce(v.who, 'its caller (security off)'), u.service, u.action)
          FROM decided d JOIN verdict v ON v.gid = d.gid AND v.refused JOIN unreceipted u ON u.gid = d.gid
    )
    SELECT d.gid, d.state, d.reason, b.branch_id, b.service, b.action, b.payload::text, b.state
      FROM decided d LEFT JOIN txc_branch b ON b.gid = d.gid
     ORDER BY d.gid, b.branch_id;
END
$fn$
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute("DROP FUNCTION txc_decide")
