-- Ownership by lease and the timeline: the same statements for TCC and sagas (see txcoord.engine.leases).
-- {driving}: the states in which a transaction of the claimer's mode is driven (TCC: COMMITTING, ROLLING_BACK;
-- sagas: RUNNING, COMPENSATING), written in as literals by txcoord.engine.leases: each mode's partial index on
-- lease_until has that state list as its predicate, and only a literal list lets every plan (a prepared
-- statement's generic one too) prove it.

-- name: claim
-- Transactions nobody drives (lease expired, or owned by this node before its restart): claim them.
-- SKIP LOCKED lets several coordinators claim at once without waiting for or stealing from each other.
-- $1 owner, $2 lease seconds, $3 limit, $4 gids to leave alone
UPDATE txc_transaction t
   SET owner = $1, lease_until = now() + $2 * interval '1 second'
  FROM (SELECT gid, owner AS previous_owner FROM txc_transaction
         WHERE state IN ({driving})
           AND (lease_until IS NULL OR lease_until < now() OR owner = $1)
           AND NOT (gid = ANY($4::text[]))
         ORDER BY lease_until NULLS FIRST LIMIT $3
           FOR UPDATE SKIP LOCKED) due
 WHERE t.gid = due.gid
RETURNING t.gid, due.previous_owner;

-- name: renew
-- $1 owner, $2 lease seconds, $3 gids
UPDATE txc_transaction SET lease_until = now() + $2 * interval '1 second'
 WHERE owner = $1 AND gid = ANY($3::text[]) AND state IN ({driving})
RETURNING gid;

-- name: add_event
INSERT INTO txc_event (gid, branch_id, event, detail) VALUES ($1, $2, $3, $4);

-- name: events
-- the newest $2 events, oldest first (a branch retried for days collects thousands)
SELECT gid, branch_id, at, event, detail
  FROM (SELECT * FROM txc_event WHERE gid = $1 ORDER BY id DESC LIMIT $2) newest
 ORDER BY id;

-- name: kind
SELECT kind FROM txc_transaction WHERE gid = $1;
