"""The commit decisions of multi-backend XA transactions: one row per global transaction, on its decider backend.

A transaction that wrote on several backends is decided inside one of them (its *decider*, the first backend
the transaction touched, named in every other branch's xid): the decision row is inserted in the decider's
own XA branch, and that branch's ``XA COMMIT ... ONE PHASE`` commits the row together with the decider's
writes, so the commit of the decider IS the commit decision, and it costs no write anywhere else.

Recovery decides a prepared branch by that row: present with outcome ``C`` -> commit, ``A`` -> roll back.
A branch left prepared and undecided too long is rolled back only after recovery inserted a tombstone
(outcome ``A``) under the same primary key: the key is the one atomic insert-if-absent that decides a race
between a late decision and the abort. A tombstone waits for an uncommitted decision row (InnoDB's lock on
the key) and then fails with a duplicate key (the decision committed: follow it) or succeeds (it rolled back);
a decision inserted after a tombstone fails with a duplicate key, and the commit rolls back everywhere.

The table lives in a schema of the proxy's own on each backend (``transactions.decision_schema``), created
at start. Rows are deleted once the coordinator has recorded the transaction and no branch is left prepared.
Names and values reach SQL only as validated identifiers and hex literals."""

from __future__ import annotations

import time
from collections.abc import Iterable

from dbproxy.backends.connection import BackendConnection
from dbproxy.errors import BackendError

ER_DUP_ENTRY = 1062
COMMIT, ABORT = "C", "A"


def _hex(text: str) -> str:
    return f"X'{text.encode().hex()}'"


class DecisionTable:
    """The SQL of one proxy service's decision rows in ``schema``.``xa_decision``."""

    def __init__(self, schema: str, service: str) -> None:
        if not schema.replace("_", "").isalnum():
            raise ValueError(f"decision schema {schema!r}: letters, digits and _ only")
        self.schema = schema
        self.service = service
        self.table = f"`{schema}`.`xa_decision`"

    def create_sql(self) -> list[str]:
        return [
            f"CREATE DATABASE IF NOT EXISTS `{self.schema}`",
            f"CREATE TABLE IF NOT EXISTS {self.table} ("
            " gid VARBINARY(64) NOT NULL PRIMARY KEY,"
            " outcome CHAR(1) NOT NULL,"  # C: commit, A: abort (a recovery's tombstone)
            " service VARBINARY(64) NOT NULL,"
            " branches VARBINARY(2048) NOT NULL,"  # the written backends, comma-separated: what to report
            " created_at DOUBLE NOT NULL,"
            " KEY by_service (service, created_at)"
            ") ENGINE=InnoDB",
        ]

    def insert_sql(self, gid: str, outcome: str, backends: Iterable[str]) -> str:
        return (
            f"INSERT INTO {self.table} (gid, outcome, service, branches, created_at) VALUES "
            f"({_hex(gid)}, '{outcome}', {_hex(self.service)}, {_hex(','.join(backends))}, {time.time():.6f})"
        )

    async def create(self, conn: BackendConnection) -> None:
        for sql in self.create_sql():
            await conn.execute(sql)

    async def read(self, conn: BackendConnection, gid: str) -> str | None:
        """The committed outcome of ``gid``, or None if it has no row."""
        result = await conn.query(f"SELECT outcome FROM {self.table} WHERE gid = {_hex(gid)}")
        return result.rows[0][0].decode() if result.rows and result.rows[0][0] else None

    async def abort(self, conn: BackendConnection, gid: str, backends: Iterable[str]) -> str:
        """Insert a tombstone unless a decision is there (waiting for one in flight); the outcome that won."""
        try:
            await conn.execute(self.insert_sql(gid, ABORT, backends))
        except BackendError as exc:
            if exc.code != ER_DUP_ENTRY:
                raise
            return await self.read(conn, gid) or ABORT  # deleted since: only after it was reported
        return ABORT

    async def older_than(self, conn: BackendConnection, age: float, limit: int) -> list[tuple[str, str, list[str]]]:
        """This service's rows older than ``age`` seconds: (gid, outcome, written backends)."""
        result = await conn.query(
            f"SELECT gid, outcome, branches FROM {self.table} WHERE service = {_hex(self.service)}"
            f" AND created_at < {time.time() - age:.6f} ORDER BY created_at LIMIT {int(limit)}"
        )
        return [
            ((gid or b"").decode(), (outcome or b"").decode(), [b for b in (branches or b"").decode().split(",") if b])
            for gid, outcome, branches in result.rows
        ]

    async def delete(self, conn: BackendConnection, gids: Iterable[str]) -> None:
        listed = ",".join(_hex(g) for g in gids)
        if listed:
            await conn.execute(f"DELETE FROM {self.table} WHERE gid IN ({listed})")
