-- The TCC store's statements. Each starts with a "-- name: NAME" line; txcoord.sql_queries loads them. The
-- ownership statements shared with sagas (claim, renew, add_event) are in txcoord/engine/queries.sql.
-- asyncpg $n parameters only: nothing is ever interpolated.

-- name: begin
-- $3: the identity beginning it (NULL with security off)
INSERT INTO txc_transaction (gid, state, timeout_s, deadline, initiator)
VALUES ($1, 'BEGIN', $2, now() + $2 * interval '1 second', $3)
ON CONFLICT (gid) DO NOTHING;

-- name: transaction
SELECT gid, state, timeout_s, deadline, reason, owner, lease_until, attempts, next_attempt_at,
       created_at, decided_at, finished_at, kind, trace_id, initiator
  FROM txc_transaction WHERE gid = $1;

-- name: branches
SELECT gid, branch_id, service, action, payload::text AS payload, state, attempts, last_error, last_attempt_at,
       next_attempt_at, created_at, finished_at, kind
  FROM txc_branch WHERE gid = $1 ORDER BY branch_id;

-- name: list
SELECT gid, state, timeout_s, deadline, reason, owner, lease_until, attempts, next_attempt_at,
       created_at, decided_at, finished_at, kind, initiator,
       (SELECT count(*) FROM txc_branch b WHERE b.gid = t.gid)
       + (SELECT count(*) FROM txc_saga_step s WHERE s.gid = t.gid) AS branch_count
  FROM txc_transaction t
 WHERE ($1::text IS NULL OR state = $1)
   AND ($3::text IS NULL OR kind = $3)
   -- a service is list_by_service's filter ($4 stays in the signature so both take the same arguments)
   AND $4::text IS NULL
   -- a gid prefix as a byte-order range ($6: the first string past every gid starting with $5)
   AND ($5::text IS NULL OR ((gid COLLATE "C") >= $5 AND (gid COLLATE "C") < $6::text))
   AND ($7::float8 IS NULL OR created_at <= now() - $7 * interval '1 second')
   -- keyset cursor: the rows after the given gid in this order
   AND ($8::text IS NULL OR (created_at, gid) < (SELECT c.created_at, c.gid FROM txc_transaction c WHERE c.gid = $8))
 ORDER BY created_at DESC, gid DESC
 LIMIT $2;

-- name: list_by_service
-- list with a service: its branches in a semi-join at the top of the WHERE (inside an OR, as list's optional
-- filters are, PostgreSQL only checks it row by row), so a rare service's few branches come from their index
-- (txc_branch_service) and a common one's from walking the newest transactions, whichever is cheaper
SELECT gid, state, timeout_s, deadline, reason, owner, lease_until, attempts, next_attempt_at,
       created_at, decided_at, finished_at, kind, initiator,
       (SELECT count(*) FROM txc_branch b WHERE b.gid = t.gid)
       + (SELECT count(*) FROM txc_saga_step s WHERE s.gid = t.gid) AS branch_count
  FROM txc_transaction t
 WHERE gid IN (SELECT b.gid FROM txc_branch b WHERE b.service = $4)
   AND ($1::text IS NULL OR state = $1)
   AND ($3::text IS NULL OR kind = $3)
   AND ($5::text IS NULL OR ((gid COLLATE "C") >= $5 AND (gid COLLATE "C") < $6::text))
   AND ($7::float8 IS NULL OR created_at <= now() - $7 * interval '1 second')
   AND ($8::text IS NULL OR (created_at, gid) < (SELECT c.created_at, c.gid FROM txc_transaction c WHERE c.gid = $8))
 ORDER BY created_at DESC, gid DESC
 LIMIT $2;

-- name: activity
-- by the minute each began in: a range of the (created_at, gid) index
SELECT date_trunc('minute', created_at) AS minute,
       count(*) FILTER (WHERE state IN ('COMMITTED', 'SUCCEEDED')) AS committed,
       count(*) FILTER (WHERE state IN ('ROLLED_BACK', 'COMPENSATED')) AS rolled_back,
       count(*) FILTER (WHERE state NOT IN ('COMMITTED', 'SUCCEEDED', 'ROLLED_BACK', 'COMPENSATED')) AS other
  FROM txc_transaction
 WHERE created_at >= date_trunc('minute', now()) - ($1::int - 1) * interval '1 minute'
 GROUP BY 1
 ORDER BY 1;

-- name: count_by_state
SELECT state, kind, count(*) AS n FROM txc_transaction GROUP BY state, kind;

-- name: finish
-- Phase 2 reached every branch: mark the open branches done and the transaction terminal, if still ours.
WITH b AS (
    -- the failures stay in the timeline (txc_event); a done branch shows no stale error or next attempt
    UPDATE txc_branch SET state = $4, finished_at = now(), last_error = NULL, next_attempt_at = NULL
     WHERE gid = $1 AND state = 'REGISTERED'
)
UPDATE txc_transaction
   SET state = $3, finished_at = now(), owner = NULL, lease_until = NULL, next_attempt_at = NULL
 WHERE gid = $1 AND state = $2 AND owner = $5
RETURNING gid;

-- name: branches_done
-- Some branches finished while others failed: remember the finished ones so a retry skips them.
UPDATE txc_branch SET state = $3, finished_at = now(), last_error = NULL, next_attempt_at = NULL
 WHERE gid = $1 AND branch_id = ANY($2::text[]) AND state = 'REGISTERED';

-- name: branch_failed
-- $1 gid, $2 branch id, $3 error, $4 seconds until the next attempt
UPDATE txc_branch
   SET attempts = attempts + 1, last_error = $3, last_attempt_at = now(),
       next_attempt_at = now() + $4 * interval '1 second'
 WHERE gid = $1 AND branch_id = $2;

-- name: transaction_failed
-- One failed phase-2 round: count it and schedule the next, if the transaction is still owned by $2.
UPDATE txc_transaction
   SET attempts = attempts + 1, next_attempt_at = now() + $3 * interval '1 second'
 WHERE gid = $1 AND owner = $2 AND state IN ('COMMITTING', 'ROLLING_BACK')
RETURNING attempts;

-- name: reverse_commit
-- A commit none of whose tries applied (every confirm refused for it, none confirmed): roll back instead,
-- if $2 still owns it.
UPDATE txc_transaction SET state = 'ROLLING_BACK', reason = $3
 WHERE gid = $1 AND state = 'COMMITTING' AND owner = $2
   AND NOT EXISTS (SELECT 1 FROM txc_branch WHERE gid = $1 AND state = 'CONFIRMED')
RETURNING gid;

-- name: give_up
-- marked for a person: nothing is scheduled any more (no "next attempt" shown for it or its branches)
WITH b AS (
    UPDATE txc_branch SET next_attempt_at = NULL
     WHERE gid = $1 AND state = 'REGISTERED'
       AND EXISTS (SELECT 1 FROM txc_transaction WHERE gid = $1 AND state = $2 AND owner = $4)
)
UPDATE txc_transaction SET state = $3, finished_at = now(), owner = NULL, lease_until = NULL, next_attempt_at = NULL
 WHERE gid = $1 AND state = $2 AND owner = $4;

-- name: expire_timed_out
-- Transactions still in BEGIN past their deadline: decide rollback, owned by the caller ($1).
UPDATE txc_transaction t
   SET state = 'ROLLING_BACK', reason = 'timeout', decided_at = now(), owner = $1,
       lease_until = now() + $2 * interval '1 second'
  FROM (SELECT gid FROM txc_transaction
         WHERE state = 'BEGIN' AND deadline < now()
         ORDER BY deadline LIMIT $3
           FOR UPDATE SKIP LOCKED) due
 WHERE t.gid = due.gid
RETURNING t.gid;

-- name: release
-- An admin retry: drop the schedule and the owner so the next claim (by any coordinator) drives it now.
UPDATE txc_transaction SET next_attempt_at = NULL, lease_until = NULL, owner = NULL
 WHERE gid = $1 AND state IN ('COMMITTING', 'ROLLING_BACK')
RETURNING gid;

-- Group commit: the hot-path statements also come in a form that takes arrays, so concurrent requests are
-- written by one statement in one transaction (one round trip, one commit). Rows are taken in gid order so
-- concurrent batches lock in the same order.

-- name: register_branches
-- $1 gids, $2 timeouts, $3 branch ids, $4 services, $5 actions, $6 payloads (jsonb text), $7 kinds,
-- $8 registering identities (NULL: not checked), $9 admin flags; one (state, detail) per row
SELECT r.ord, c.state, c.detail
  FROM (SELECT * FROM unnest($1::text[], $2::float8[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                             $8::text[], $9::bool[])
                 WITH ORDINALITY AS i(gid, timeout_s, branch_id, service, action, payload, kind, who, admin, ord)
         ORDER BY i.gid, i.ord) r,
       LATERAL txc_register_branch_checked(r.gid, r.timeout_s, r.branch_id, r.service, r.action, r.payload::jsonb,
                                           r.kind, r.who, r.admin) AS c;

-- name: register_branches_began
-- the same, when metrics are on, also saying which transactions this statement began (for the metrics' count
-- of started transactions: the transaction did not exist before this statement)
SELECT r.ord, c.state, c.detail, r.began
  FROM (SELECT i.*, NOT EXISTS (SELECT 1 FROM txc_transaction t WHERE t.gid = i.gid) AS began
          FROM unnest($1::text[], $2::float8[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                      $8::text[], $9::bool[])
               WITH ORDINALITY AS i(gid, timeout_s, branch_id, service, action, payload, kind, who, admin, ord)
         ORDER BY i.gid, i.ord) r,
       LATERAL txc_register_branch_checked(r.gid, r.timeout_s, r.branch_id, r.service, r.action, r.payload::jsonb,
                                           r.kind, r.who, r.admin) AS c;

-- name: decide_many
-- BEGIN -> COMMITTING / ROLLING_BACK, owned by the deciding coordinator ($4, lease $5 seconds), for many
-- transactions: $1 gids, $2 new states, $3 reasons. A commit past the deadline does not match (the caller rolls
-- back instead). $6 deciding identities, $7 admin flags: only the identity that began a transaction (or an
-- admin, or anyone when the identity is NULL: security off) decides it; $8 trace ids (null: not traced).
-- Try receipts: $9 per request, whether its commit is checked (NULL/false: signing off); $10 / $11 the
-- (gid, branch id) pairs with a valid receipt. A checked commit with a TCC branch not among them (XA branches
-- are the proxy's) is decided ROLLING_BACK instead, with the branch in the reason and a commit_refused event:
-- in the same call, so no decision to commit is ever durable for a branch whose try did not succeed. The
-- function (sql/migrations/versions/0011_decide_with_receipts.py) locks first and reads the branches after,
-- so a registration that committed while it waited for the lock is seen. Returns each decided transaction's
-- state and reason, and the branches phase 2 must reach.
SELECT o_gid AS gid, o_decided AS decided, o_reason AS reason, o_branch_id AS branch_id, o_service AS service,
       o_action AS action, o_payload AS payload, o_state AS state
  FROM txc_decide($1::text[], $2::text[], $3::text[], $4::text, $5::float8, $6::text[], $7::bool[], $8::text[],
                  $9::bool[], $10::text[], $11::text[]);

-- name: finish_many
-- $1 gids, $2 deciding states, $3 final states, $4 branch states, $5 owner: like "finish", for many
WITH input AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS i(gid, deciding, final, branch_state)
), b AS (
    UPDATE txc_branch br SET state = i.branch_state, finished_at = now(), last_error = NULL, next_attempt_at = NULL
      FROM input i
     WHERE br.gid = i.gid AND br.state = 'REGISTERED'
)
UPDATE txc_transaction t
   SET state = i.final, finished_at = now(), owner = NULL, lease_until = NULL, next_attempt_at = NULL
  FROM input i
 WHERE t.gid = i.gid AND t.state = i.deciding AND t.owner = $5
RETURNING t.gid, t.kind, t.state, extract(epoch FROM t.finished_at - t.created_at)::float8 AS seconds;

-- name: resolve_branch
-- A person finished a branch by hand: $3 its state (CONFIRMED / CANCELLED). Only an open branch of a transaction
-- marked for a person (phase 2 stopped, so no driver races the change). Returns how many rows changed (0 or 1).
WITH b AS (
    UPDATE txc_branch SET state = $3, finished_at = now(), last_error = NULL, next_attempt_at = NULL
     WHERE gid = $1 AND branch_id = $2 AND state = 'REGISTERED'
       AND EXISTS (SELECT 1 FROM txc_transaction t WHERE t.gid = $1
                    AND t.state IN ('COMMIT_FAILED', 'ROLLBACK_FAILED'))
 RETURNING gid
)
SELECT count(*) AS n FROM b;

-- name: close_if_resolved
-- Every branch done (by phase 2 or by hand): a transaction marked for a person reaches its decision's end state,
-- or RESOLVED_MIXED when its branches ended some confirmed and some cancelled (neither committed nor rolled back).
UPDATE txc_transaction
   SET state = CASE WHEN EXISTS (SELECT 1 FROM txc_branch WHERE gid = $1 AND state = 'CONFIRMED')
                     AND EXISTS (SELECT 1 FROM txc_branch WHERE gid = $1 AND state = 'CANCELLED')
                    THEN 'RESOLVED_MIXED' ELSE $2 END,
       finished_at = now(), owner = NULL, lease_until = NULL, next_attempt_at = NULL
 WHERE gid = $1 AND state = $3
   AND NOT EXISTS (SELECT 1 FROM txc_branch WHERE gid = $1 AND state = 'REGISTERED')
RETURNING state;

-- name: reopen
-- `txc tx retry` of a transaction marked for a person: back to its deciding state, unowned, so recovery claims it.
UPDATE txc_transaction
   SET state = $2, finished_at = NULL, owner = NULL, lease_until = NULL, next_attempt_at = NULL, attempts = 0
 WHERE gid = $1 AND state = $3
RETURNING state;

-- name: unfinished_by_state
-- What a metrics scrape reads: unfinished transactions per state and the age of the oldest, from the partial
-- index txc_transaction_unfinished (its WHERE clause must stay the same as this one's)
SELECT state, count(*) AS n, extract(epoch FROM now() - min(created_at))::float8 AS oldest_s
  FROM txc_transaction
 WHERE state NOT IN ('COMMITTED', 'ROLLED_BACK', 'SUCCEEDED', 'COMPENSATED')
 GROUP BY state;

-- name: record_xa_outcomes
-- A proxy's finished XA transactions (decided in a backend, reported in batches): recorded terminal at once.
-- $1 gids, $2 final states, $3 reasons, $4 started-at (unix seconds, 0: now); branches: $5 gids,
-- $6 branch ids (backends), $7 services, $8 payloads (jsonb text), $9 branch states. A gid already recorded
-- is left alone (a report sent again after a reconnect). Returns the gids this statement recorded.
WITH tx AS (
    INSERT INTO txc_transaction (gid, kind, state, timeout_s, deadline, reason, created_at, decided_at, finished_at)
    SELECT i.gid, 'XA', i.state, 0, now(), NULLIF(i.reason, ''),
           CASE WHEN i.started > 0 THEN to_timestamp(i.started) ELSE now() END, now(), now()
      FROM unnest($1::text[], $2::text[], $3::text[], $4::float8[]) AS i(gid, state, reason, started)
     ORDER BY i.gid
    ON CONFLICT (gid) DO NOTHING
    RETURNING gid, state, extract(epoch FROM finished_at - created_at)::float8 AS seconds
), br AS (
    INSERT INTO txc_branch (gid, branch_id, kind, service, action, payload, state, finished_at)
    SELECT b.gid, b.branch_id, 'XA', b.service, 'xa', b.payload::jsonb, b.state, now()
      FROM unnest($5::text[], $6::text[], $7::text[], $8::text[], $9::text[])
           AS b(gid, branch_id, service, payload, state)
      JOIN tx ON tx.gid = b.gid
    ON CONFLICT (gid, branch_id) DO NOTHING
)
SELECT gid, state, seconds FROM tx;
