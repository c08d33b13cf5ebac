-- The chaos bank's saga steps (chaos/bank/saga_actions.py), one statement per action and compensation, for
-- accounts in PostgreSQL (pg_*, asyncpg $n) and in MariaDB (mysql_*, aiomysql %(name)s). A saga step moves
-- the balance at once (no frozen / incoming amounts as TCC's tries keep): the compensation moves it back.

-- name: pg_withdraw
UPDATE bank_account SET balance = balance - $2 WHERE id = $1 AND balance >= $2;

-- name: pg_deposit
UPDATE bank_account SET balance = balance + $2 WHERE id = $1;

-- name: mysql_withdraw
UPDATE bank_account SET balance = balance - %(amount)s WHERE id = %(account)s AND balance >= %(amount)s;

-- name: mysql_deposit
UPDATE bank_account SET balance = balance + %(amount)s WHERE id = %(account)s;
