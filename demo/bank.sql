-- A demo bank's accounts (the participant's own database). balance is what the owner may spend; frozen is
-- reserved by a debit's try until confirm (gone) or cancel (back); incoming waits for a credit's confirm.

-- name: schema
CREATE TABLE IF NOT EXISTS bank_account (
    id       text PRIMARY KEY,
    balance  bigint NOT NULL CHECK (balance >= 0),
    frozen   bigint NOT NULL DEFAULT 0 CHECK (frozen >= 0),
    incoming bigint NOT NULL DEFAULT 0 CHECK (incoming >= 0)
);

-- name: audit_schema
CREATE TABLE IF NOT EXISTS bank_audit (
    id        bigserial PRIMARY KEY,
    gid       text NOT NULL,
    branch_id text NOT NULL,
    op        text NOT NULL,
    outcome   text NOT NULL,
    at        timestamptz NOT NULL DEFAULT now()
);

-- name: seed
INSERT INTO bank_account (id, balance) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING;

-- name: debit_try
UPDATE bank_account SET balance = balance - $2, frozen = frozen + $2 WHERE id = $1 AND balance >= $2;

-- name: debit_confirm
UPDATE bank_account SET frozen = frozen - $2 WHERE id = $1;

-- name: debit_cancel
UPDATE bank_account SET balance = balance + $2, frozen = frozen - $2 WHERE id = $1;

-- name: credit_try
UPDATE bank_account SET incoming = incoming + $2 WHERE id = $1;

-- name: credit_confirm
UPDATE bank_account SET balance = balance + $2, incoming = incoming - $2 WHERE id = $1;

-- name: credit_cancel
UPDATE bank_account SET incoming = incoming - $2 WHERE id = $1;

-- name: accounts
SELECT id, balance, frozen, incoming FROM bank_account ORDER BY id;

-- name: audit
INSERT INTO bank_audit (gid, branch_id, op, outcome) VALUES ($1, $2, $3, $4);
