-- The saga store's statements (see txcoord.sql_queries); claim, renew and add_event, shared with TCC, are in
-- txcoord/engine/queries.sql. Every write of an instance's progress checks that
-- the writing coordinator still owns it ($owner), so a coordinator that lost its lease can change nothing.

-- name: insert_definition
INSERT INTO txc_saga_definition (name, version, source) VALUES ($1, $2, $3)
ON CONFLICT (name, version) DO NOTHING
RETURNING name;

-- name: definition_source
SELECT source FROM txc_saga_definition WHERE name = $1 AND version = $2;

-- name: latest_definition
SELECT name, version, source FROM txc_saga_definition WHERE name = $1 ORDER BY version DESC LIMIT 1;

-- name: definitions
SELECT name, version, source, registered_at FROM txc_saga_definition
 WHERE ($1::text IS NULL OR name = $1)
 ORDER BY name, version DESC
 LIMIT $2;

-- name: by_idempotency_key
SELECT gid FROM txc_saga WHERE idempotency_key = $1;

-- name: start
-- One statement (one round trip, one commit) for the starts of many sagas: each instance, its input and its
-- pending steps. A gid that exists already (a retried start) inserts nothing and returns no row; the caller
-- passes each gid at most once.
-- The steps that can start at once are written with their first attempt (RUNNING, attempt 1, their input).
-- $1 gids, $2 timeout seconds, $3 names, $4 versions, $5 inputs (jsonb text), $6 idempotency keys (NULL: none),
-- $7 owner, $8 lease seconds; the steps of all of them: $9 gids, $10 step ids, $11 the first attempt's input
-- (jsonb text), NULL for a step that waits
WITH u AS (
    SELECT * FROM unnest($1::text[], $2::float8[], $3::text[], $4::int[], $5::text[], $6::text[])
                  AS u(gid, timeout_s, name, version, input, idempotency_key)
), t AS (
    INSERT INTO txc_transaction (gid, kind, state, timeout_s, deadline, owner, lease_until)
    SELECT gid, 'SAGA', 'RUNNING', timeout_s, now() + timeout_s * interval '1 second', $7,
           now() + $8 * interval '1 second'
      FROM u
    ON CONFLICT (gid) DO NOTHING
    RETURNING gid
), s AS (
    INSERT INTO txc_saga (gid, name, version, input, idempotency_key)
    SELECT u.gid, u.name, u.version, u.input::jsonb, u.idempotency_key FROM u JOIN t ON t.gid = u.gid
), st AS (
    INSERT INTO txc_saga_step (gid, step_id, state, input, attempts, started_at)
    SELECT t.gid, v.step_id, CASE WHEN v.input IS NULL THEN 'PENDING' ELSE 'RUNNING' END, v.input::jsonb,
           CASE WHEN v.input IS NULL THEN 0 ELSE 1 END, CASE WHEN v.input IS NULL THEN NULL ELSE now() END
      FROM unnest($9::text[], $10::text[], $11::text[]) AS v(gid, step_id, input) JOIN t ON t.gid = v.gid
)
SELECT gid, now() AS at FROM t;

-- name: instance
SELECT t.gid, t.state, t.reason, t.owner, t.deadline, t.deadline < now() AS expired, t.created_at,
       t.finished_at, s.name, s.version, s.input::text AS input, s.error
  FROM txc_transaction t JOIN txc_saga s ON s.gid = t.gid
 WHERE t.gid = $1;

-- name: steps
SELECT step_id, state, input::text AS input, output::text AS output, attempts, comp_attempts, last_error,
       started_at, ended_at, completion_seq, compensated_at, next_attempt_at
  FROM txc_saga_step WHERE gid = $1;

-- name: step_attempt_failed
-- $3 error, $4 seconds until the next attempt, $5 owner, $6 new state (RUNNING: retry; FAILED: gave up)
UPDATE txc_saga_step s
   SET last_error = $3, next_attempt_at = CASE WHEN $6 = 'FAILED' THEN NULL ELSE now() + $4 * interval '1 second' END,
       state = $6, ended_at = CASE WHEN $6 = 'FAILED' THEN now() ELSE s.ended_at END
  FROM txc_transaction t
 WHERE s.gid = $1 AND s.step_id = $2 AND t.gid = s.gid AND t.owner = $5
RETURNING s.step_id;

-- name: start_compensation
UPDATE txc_transaction
   SET state = 'COMPENSATING', reason = $2, decided_at = now()
 WHERE gid = $1 AND owner = $3 AND state = 'RUNNING'
RETURNING gid;

-- name: set_error
UPDATE txc_saga SET error = $2 WHERE gid = $1;

-- name: compensation_attempt
-- $3 error (NULL: this attempt starts), $4 seconds until the next attempt, $5 owner
UPDATE txc_saga_step s
   SET comp_attempts = s.comp_attempts + CASE WHEN $3::text IS NULL THEN 1 ELSE 0 END,
       last_error = coalesce($3, s.last_error),
       next_attempt_at = CASE WHEN $3::text IS NULL THEN NULL ELSE now() + $4 * interval '1 second' END,
       state = 'COMPENSATING'
  FROM txc_transaction t
 WHERE s.gid = $1 AND s.step_id = $2 AND t.gid = s.gid AND t.owner = $5 AND t.state = 'COMPENSATING'
RETURNING s.step_id;

-- name: step_compensated
UPDATE txc_saga_step s
   SET state = 'COMPENSATED', compensated_at = now(), next_attempt_at = NULL
  FROM txc_transaction t
 WHERE s.gid = $1 AND s.step_id = $2 AND t.gid = s.gid AND t.owner = $3 AND t.state = 'COMPENSATING'
RETURNING s.step_id;

-- name: finish
-- $2 from state, $3 final state, $4 owner
UPDATE txc_transaction
   SET state = $3, finished_at = now(), owner = NULL, lease_until = NULL, next_attempt_at = NULL
 WHERE gid = $1 AND state = $2 AND owner = $4
RETURNING finished_at, extract(epoch FROM finished_at - created_at)::float8 AS seconds;

-- name: state
SELECT state FROM txc_transaction WHERE gid = $1;

-- Group commit (see txcoord.batching): the same two writes for many steps of many sagas in one statement.

-- name: steps_progress
-- $1 gids, $2 step ids, $3 kinds ('S': the action succeeded, body = output; 'R': an attempt starts, body =
-- input; 'F': the saga succeeded, with its last step's success), $4 bodies (jsonb text), $5 owner. A step's success and the start of the steps it made ready are
-- written together: the output is durable no later than the dependent's start, in one commit. Completion
-- numbers follow the batch order, which is the order the steps' replies arrived in. Each written row comes
-- back with its completion number and the commit's time (what the orchestrator keeps in memory).
WITH i AS (
    SELECT sub.*, CASE WHEN sub.kind = 'S' THEN nextval('txc_saga_completion_seq') END AS seq
      FROM (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
                     WITH ORDINALITY AS u(gid, step_id, kind, body, ord)
             ORDER BY ord) sub
), done AS (
    UPDATE txc_saga_step s
       SET state = 'SUCCEEDED', output = i.body::jsonb, ended_at = now(), last_error = NULL, completion_seq = i.seq
      FROM i, txc_transaction t
     WHERE i.kind = 'S' AND s.gid = i.gid AND s.step_id = i.step_id AND t.gid = s.gid AND t.owner = $5
       AND s.state = 'RUNNING'
    RETURNING i.ord, i.seq
), started AS (
    UPDATE txc_saga_step s
       SET state = 'RUNNING', input = i.body::jsonb, attempts = s.attempts + 1,
           started_at = coalesce(s.started_at, now()), next_attempt_at = NULL
      FROM i, txc_transaction t
     WHERE i.kind = 'R' AND s.gid = i.gid AND s.step_id = i.step_id AND t.gid = s.gid AND t.owner = $5
       AND t.state = 'RUNNING' AND s.state IN ('PENDING', 'RUNNING')
    RETURNING i.ord, NULL::bigint AS seq
), finished AS (
    UPDATE txc_transaction t
       SET state = 'SUCCEEDED', finished_at = now(), owner = NULL, lease_until = NULL, next_attempt_at = NULL
      FROM i
     WHERE i.kind = 'F' AND t.gid = i.gid AND t.owner = $5 AND t.state = 'RUNNING'
    RETURNING i.ord, NULL::bigint AS seq, extract(epoch FROM now() - t.created_at)::float8 AS seconds
)
SELECT ord, seq, now() AS at, NULL::float8 AS seconds FROM done
UNION ALL SELECT ord, seq, now(), NULL FROM started
UNION ALL SELECT ord, seq, now(), seconds FROM finished;

-- Sagas a person finishes (see txcoord.saga.attention).

-- name: undelivered_attempts
-- How many of a step's attempts were never delivered (no endpoint, no such action): when that is every
-- attempt, the action never ran and there is nothing to compensate.
SELECT count(*) FROM txc_event
 WHERE gid = $1 AND branch_id = $2 AND event IN ('attempt_not_delivered', 'step_not_delivered');

-- name: needs_person
-- A compensation (to COMPENSATION_FAILED) or a forward step (to FORWARD_FAILED) no retry can deliver: the saga
-- stops being driven and waits for `txc saga resolve / retry`.
-- $1 gid, $2 owner, $3 the state it is driven in (COMPENSATING or RUNNING), $4 the state it waits in
UPDATE txc_transaction
   SET state = $4, owner = NULL, lease_until = NULL, next_attempt_at = NULL
 WHERE gid = $1 AND owner = $2 AND state = $3
RETURNING gid;

-- name: reopen
-- `txc saga retry` / `resolve`: a saga marked for a person goes back to being driven (compensating, or running
-- forward), owned by this node.
-- $1 gid, $2 owner, $3 lease seconds
UPDATE txc_transaction
   SET state = CASE state WHEN 'COMPENSATION_FAILED' THEN 'COMPENSATING' ELSE 'RUNNING' END,
       owner = $2, lease_until = now() + $3 * interval '1 second'
 WHERE gid = $1 AND state IN ('COMPENSATION_FAILED', 'FORWARD_FAILED')
RETURNING state;

-- name: complete_step
-- A person did a forward step by hand: only while the saga waits for a person going forward, only the step in
-- flight; its output is what the person says it returned, and it completes now (its completion number).
-- $1 gid, $2 step id, $3 output (jsonb text)
UPDATE txc_saga_step s
   SET state = 'SUCCEEDED', output = $3::jsonb, ended_at = now(), last_error = NULL, next_attempt_at = NULL,
       completion_seq = nextval('txc_saga_completion_seq')
  FROM txc_transaction t
 WHERE s.gid = $1 AND s.step_id = $2 AND t.gid = s.gid AND t.state = 'FORWARD_FAILED' AND s.state = 'RUNNING'
RETURNING s.step_id;

-- name: resolve_step
-- A person compensated a step by hand: only while the saga waits for a person, only a step that may have
-- applied and is not compensated yet.
UPDATE txc_saga_step s
   SET state = 'COMPENSATED', compensated_at = now(), next_attempt_at = NULL
  FROM txc_transaction t
 WHERE s.gid = $1 AND s.step_id = $2 AND t.gid = s.gid AND t.state = 'COMPENSATION_FAILED'
   AND s.state IN ('RUNNING', 'SUCCEEDED', 'FAILED', 'COMPENSATING')
RETURNING s.step_id;
