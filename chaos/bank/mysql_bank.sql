-- The chaos bank's accounts in MariaDB / MySQL (same columns and phases as txcoord/demo/bank.sql).

-- name: schema
CREATE TABLE IF NOT EXISTS bank_account (
    id       VARCHAR(64) PRIMARY KEY,
    balance  BIGINT NOT NULL CHECK (balance >= 0),
    frozen   BIGINT NOT NULL DEFAULT 0 CHECK (frozen >= 0),
    incoming BIGINT NOT NULL DEFAULT 0 CHECK (incoming >= 0)
) ENGINE = InnoDB;

-- name: seed
INSERT IGNORE INTO bank_account (id, balance) VALUES (%s, %s);

-- name: debit_try
UPDATE bank_account SET balance = balance - %(amount)s, frozen = frozen + %(amount)s
 WHERE id = %(account)s AND balance >= %(amount)s;

-- name: debit_confirm
UPDATE bank_account SET frozen = frozen - %(amount)s WHERE id = %(account)s;

-- name: debit_cancel
UPDATE bank_account SET balance = balance + %(amount)s, frozen = frozen - %(amount)s WHERE id = %(account)s;

-- name: credit_try
UPDATE bank_account SET incoming = incoming + %(amount)s WHERE id = %(account)s;

-- name: credit_confirm
UPDATE bank_account SET balance = balance + %(amount)s, incoming = incoming - %(amount)s WHERE id = %(account)s;

-- name: credit_cancel
UPDATE bank_account SET incoming = incoming - %(amount)s WHERE id = %(account)s;

-- name: accounts
SELECT id, balance, frozen, incoming FROM bank_account ORDER BY id;
