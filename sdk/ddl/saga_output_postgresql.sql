-- Saga step outputs kept by a participant whose state lives in PostgreSQL, written in the same local
-- transaction as the step's action and its barrier row: when the coordinator re-sends an action it already
-- applied (its reply was lost in a crash), the barrier turns it into a no-op and this row gives back the
-- output the first run produced. Created on first use by sdk.saga.step.
CREATE TABLE IF NOT EXISTS txc_saga_output (
    gid        text NOT NULL,
    step_id    text NOT NULL,
    output     text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (gid, step_id)
);
