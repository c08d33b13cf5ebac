-- The txcoord barrier for a participant whose state lives in PostgreSQL. Apply it to the participant's own
-- database (sdk.barrier.PgBarrier.install does). One row per (gid, branch, op), written in the same local
-- transaction as the business change. On a 'try' row, reason 'try' means the try applied and 'blocked' that a
-- cancel or confirm took the slot first (older rows say 'cancel'). See docs/barrier.md.
CREATE TABLE IF NOT EXISTS txc_barrier (
    gid        text NOT NULL,
    branch_id  text NOT NULL,
    op         text NOT NULL,
    reason     text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (gid, branch_id, op),
    CONSTRAINT txc_barrier_op_check CHECK (op IN ('try', 'confirm', 'cancel'))
);
