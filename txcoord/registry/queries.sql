-- Registry store statements (PostgreSQL). Times are the database's clock so every registry server agrees.

-- name: register
-- One endpoint per (service, address): a restarted process takes over its predecessor's row. $6: the
-- identity registering (the lease's holder; NULL with security off or for an admin).
INSERT INTO txc_registry_lease (lease_id, service, address, metadata, ttl_s, expires_at, holder)
VALUES ($1, $2, $3, $4::jsonb, $5, clock_timestamp() + make_interval(secs => $5), $6)
ON CONFLICT (service, address) DO UPDATE
   SET lease_id = EXCLUDED.lease_id, metadata = EXCLUDED.metadata, ttl_s = EXCLUDED.ttl_s,
       expires_at = EXCLUDED.expires_at, holder = EXCLUDED.holder,
       registered_at = CASE WHEN txc_registry_lease.lease_id = EXCLUDED.lease_id
                            THEN txc_registry_lease.registered_at ELSE clock_timestamp() END
RETURNING lease_id, service, address, metadata::text AS metadata,
          extract(epoch FROM registered_at)::float8 AS registered_at,
          extract(epoch FROM expires_at)::float8 AS expires_at;

-- name: lease_holder
-- Whether lease $1 exists, and who holds it (a lease belongs to its registrant).
SELECT holder FROM txc_registry_lease WHERE lease_id = $1 FOR UPDATE;

-- name: drop_lease_elsewhere
-- A lease id re-registered for another (service, address) moves: drop its old row first.
DELETE FROM txc_registry_lease WHERE lease_id = $1 AND (service <> $2 OR address <> $3);

-- name: keepalive
-- $2: the identity asking (NULL: unchecked); another identity's lease is not found
UPDATE txc_registry_lease SET expires_at = clock_timestamp() + make_interval(secs => ttl_s)
 WHERE lease_id = $1 AND expires_at > clock_timestamp() AND ($2::text IS NULL OR holder = $2)
RETURNING extract(epoch FROM expires_at)::float8;

-- name: deregister
DELETE FROM txc_registry_lease WHERE lease_id = $1 AND ($2::text IS NULL OR holder = $2) RETURNING service;

-- name: resolve
SELECT lease_id, service, address, metadata::text AS metadata,
       extract(epoch FROM registered_at)::float8 AS registered_at,
       extract(epoch FROM expires_at)::float8 AS expires_at
  FROM txc_registry_lease
 WHERE service = $1 AND expires_at > clock_timestamp()
 ORDER BY address;

-- name: list_all
SELECT lease_id, service, address, metadata::text AS metadata,
       extract(epoch FROM registered_at)::float8 AS registered_at,
       extract(epoch FROM expires_at)::float8 AS expires_at
  FROM txc_registry_lease
 WHERE expires_at > clock_timestamp()
 ORDER BY service, address;

-- name: expire
DELETE FROM txc_registry_lease WHERE expires_at <= clock_timestamp() RETURNING service;

-- name: notify
-- The payload is only a version: listeners re-read the table, which stays the truth.
SELECT pg_notify('txc_registry', nextval('txc_registry_version')::text);
