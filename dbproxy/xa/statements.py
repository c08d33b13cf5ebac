"""XA on the backends: xids, the statements, and finishing a branch by xid from any connection.

An xid is (gtrid, bqual, formatID). The proxy uses the global transaction's gid as gtrid,
``service/backend|decider`` as bqual (``decider``: the backend holding the transaction's commit decision, see
``dbproxy.xa.decisions``; left out on the decider's own branch) and one formatID of its own, so ``XA RECOVER``
(which lists every prepared XA transaction of the server, whoever made it) tells the proxy's branches apart
from anyone else's, and a proxy of one service never touches another service's branches. Literals are
written as hex (``X'...'``): nothing a client typed ever reaches these statements.

MariaDB 10.11 (verified): a prepared XA transaction survives the end of its connection and can then be
finished by ``XA COMMIT``/``XA ROLLBACK`` from any connection; while its own connection is still attached,
another connection gets XAER_NOTA (1397), as it does for an xid that is already finished or never existed.
So a phase-2 call that gets XAER_NOTA is done: either the branch is finished, or the session that prepared
it is still attached and finishes it itself (or, if it dies first, the branch becomes visible to
``XA RECOVER`` and recovery finishes it by the decision row).
"""

from __future__ import annotations

from dataclasses import dataclass

from dbproxy.backends.connection import BackendConnection
from dbproxy.errors import BackendError, ProxyError

FORMAT_ID = 0x747863  # "txc"
ER_XAER_NOTA = 1397  # unknown xid (finished, never prepared, or attached to another connection)
ER_XAER_RMFAIL = 1399  # wrong state for the command (e.g. ROLLBACK ONLY after a deadlock)
MAX_PART = 64  # bytes in gtrid and in bqual


@dataclass(frozen=True, slots=True)
class Xid:
    gtrid: str  # the global transaction's gid
    bqual: str  # "service/backend" or "service/backend|decider"
    format_id: int = FORMAT_ID

    @classmethod
    def of(cls, gid: str, service: str, backend: str, decider: str | None = None) -> Xid:
        xid = cls(gid, f"{service}/{backend}" if decider in (None, backend) else f"{service}/{backend}|{decider}")
        if len(xid.gtrid.encode()) > MAX_PART or len(xid.bqual.encode()) > MAX_PART:
            raise ValueError(f"xid {xid}: gtrid and bqual are limited to {MAX_PART} bytes")
        return xid

    @property
    def backend(self) -> str:
        return self.bqual.partition("/")[2].partition("|")[0]

    @property
    def decider(self) -> str:
        """The backend whose decision row decides this branch (its own backend on the decider's branch)."""
        backend, _, decider = self.bqual.partition("/")[2].partition("|")
        return decider or backend

    @property
    def service(self) -> str:
        return self.bqual.partition("/")[0]

    @property
    def sql(self) -> str:
        """The xid as XA statements take it: X'gtrid',X'bqual',formatID."""
        return f"X'{self.gtrid.encode().hex()}',X'{self.bqual.encode().hex()}',{self.format_id}"

    def __str__(self) -> str:
        return f"{self.gtrid},{self.bqual},{self.format_id}"


def start_sql(xid: Xid) -> str:
    return f"XA START {xid.sql}"


def end_sql(xid: Xid) -> str:
    return f"XA END {xid.sql}"


async def prepare(conn: BackendConnection, xid: Xid) -> None:
    """Phase one of a branch attached to ``conn``: ``XA END`` + ``XA PREPARE``, pipelined (one round trip)."""
    conn.send_pipelined(end_sql(xid))
    await conn.execute(f"XA PREPARE {xid.sql}")


async def commit_one_phase(conn: BackendConnection, xid: Xid) -> None:
    """Commit a branch attached to ``conn`` that was never prepared: ``XA END`` + ``XA COMMIT ... ONE PHASE``."""
    conn.send_pipelined(end_sql(xid))
    await conn.execute(f"XA COMMIT {xid.sql} ONE PHASE")


async def commit_prepared(conn: BackendConnection, xid: Xid) -> None:
    """Phase two of a branch prepared on ``conn`` (errors are the caller's: it knows whether they matter)."""
    await conn.execute(f"XA COMMIT {xid.sql}")


def parse_recover_row(row: list[bytes | None]) -> Xid | None:
    """One ``XA RECOVER`` row (formatID, gtrid_length, bqual_length, data) as an Xid, if it is one of ours."""
    try:
        format_id, glen, blen, data = (int(row[0] or 0), int(row[1] or 0), int(row[2] or 0), row[3] or b"")
    except (ValueError, IndexError):
        return None
    if format_id != FORMAT_ID or len(data) != glen + blen:
        return None
    try:
        return Xid(data[:glen].decode(), data[glen:].decode(), format_id)
    except UnicodeDecodeError:
        return None


async def prepared(conn: BackendConnection, service: str) -> list[Xid]:
    """The branches of ``service`` left prepared on the connection's server."""
    result = await conn.query("XA RECOVER")
    found = (parse_recover_row(row) for row in result.rows)
    return [xid for xid in found if xid is not None and xid.service == service]


async def finish(conn: BackendConnection, xid: Xid, commit: bool) -> bool:
    """XA COMMIT (or ROLLBACK) a prepared branch from any connection. True if this call finished it, False
    if the server does not know the xid (already finished, never prepared, or still attached to the session
    that prepared it — which then finishes it itself)."""
    try:
        await conn.execute(f"XA {'COMMIT' if commit else 'ROLLBACK'} {xid.sql}")
    except BackendError as exc:
        if exc.code == ER_XAER_NOTA:
            return False
        raise
    return True


async def end_and_rollback(conn: BackendConnection, xid: Xid) -> None:
    """Roll back a branch still attached to ``conn`` in whatever state it is (active, idle, prepared, or
    rollback-only after a deadlock); a connection that cannot do it is closed, which rolls back an unprepared
    branch and leaves a prepared one to phase 2 / recovery."""
    if conn.broken:
        return
    try:
        try:
            await conn.execute(end_sql(xid))
        except BackendError as exc:
            if exc.code not in (ER_XAER_RMFAIL, ER_XAER_NOTA):
                raise
        try:
            await conn.execute(f"XA ROLLBACK {xid.sql}")
        except BackendError as exc:
            if exc.code != ER_XAER_NOTA:
                raise
    except ProxyError:
        conn.close()
