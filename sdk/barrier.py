"""The barrier: keeps a participant correct when a phase arrives twice, late, out of order or without its try.

A table in the participant's own database (DDL in ``sdk/ddl``) holds at most one row per
(gid, branch, op), inserted in the same local transaction as the business change. The ``try`` row's
``reason`` says what the try's slot holds: ``try`` (the try applied) or ``blocked`` (a cancel or a
refused confirm took the slot first, so the try can never apply); older rows say ``cancel`` for
``blocked``. Every call first claims the try slot, then locks the branch's rows, so concurrent calls
for one branch run one after the other.

One decision table, shared by every driver (:func:`decide`); "try" is the state of the try row *before*
the call, "confirm"/"cancel" whether that row exists:

=========  ========  =======  ======  ==============  =====================================
op         try       confirm  cancel  outcome         writes (in the work's local transaction)
=========  ========  =======  ======  ==============  =====================================
try        absent    -        -       APPLIED         try row (reason try) + the work
try        applied   -        -       DUPLICATE       nothing
try        blocked   -        -       REFUSED         nothing (try after cancel: anti-hanging)
confirm    any       yes      -       DUPLICATE       nothing
confirm    absent    no       -       REFUSED         try row (blocked): the late try is refused too
confirm    blocked   no       -       REFUSED         nothing (confirm after cancel / without try)
confirm    applied   no       yes     REFUSED         nothing (confirm after cancel)
confirm    applied   no       no      APPLIED         confirm row + the work
cancel     any       -        yes     DUPLICATE       nothing
cancel     applied   yes      no      REFUSED         nothing (a confirmed branch stays confirmed)
cancel     absent    no       no      EMPTY_CANCEL    try row (blocked) + cancel row
cancel     blocked   no       no      EMPTY_CANCEL    cancel row
cancel     applied   no       no      APPLIED         cancel row + the work (compensation)
=========  ========  =======  ======  ==============  =====================================

So a confirm spends only what its own try reserved, and nothing is applied after a cancel. If the
work raises, its local transaction rolls back with the rows this call wrote.

Concurrency: :meth:`Barrier.insert` must lock the row it inserts *or finds* (``ON CONFLICT DO UPDATE`` in
PostgreSQL, ``ON DUPLICATE KEY UPDATE`` in MySQL), so every call for a branch first queues on its try row and
then reads the branch's rows in a new statement: two phases of one branch never decide on the same state.

A driver is a small subclass of :class:`Barrier` giving three primitives over one database API
(:class:`PgBarrier` for asyncpg, :class:`MySqlBarrier` for aiomysql): open a local transaction, insert a
row unless present, and lock-and-read a branch's rows. All SQL is parameterised."""

from __future__ import annotations

import abc
import enum
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Generic, Literal, TypeVar

from sdk.ddl import participant_ddl
from sdk.errors import BusinessError, UsageError
from sdk.tcc_wire import OPS

T = TypeVar("T")

_FOUND_ROWS = 2  # MySQL's CLIENT_FOUND_ROWS capability flag

TryState = Literal["absent", "applied", "blocked"]


class BarrierOutcome(enum.StrEnum):
    """What the barrier did with a phase: ran it (APPLIED), saw it before (DUPLICATE), ran a cancel whose try
    never applied as an empty compensation (EMPTY_CANCEL), or refused it (REFUSED, see the decision table)."""

    APPLIED = "applied"
    DUPLICATE = "duplicate"
    EMPTY_CANCEL = "empty_cancel"
    REFUSED = "refused"


class BarrierError(UsageError):
    """The barrier could not be used (unknown op, missing table); the message names the fix."""


# the words a confirm refused for want of a try carries: the coordinator turns such a commit into a rollback
TRY_NEVER_APPLIED = "its try never applied"

_WHY = {
    ("try", "blocked"): "the branch was already cancelled",
    ("confirm", "absent"): TRY_NEVER_APPLIED,
    ("confirm", "blocked"): f"{TRY_NEVER_APPLIED} (the branch was cancelled or refused)",
    ("confirm", "cancelled"): "the branch was already cancelled",
    ("cancel", "confirmed"): "the branch was already confirmed",
}


class BarrierRefused(BusinessError):
    """A phase the barrier refused (try after cancel, confirm without try or after cancel, cancel after confirm):
    it had no effect."""

    def __init__(
        self, gid: str, branch_id: str, op: str = "try", why: str = "the branch was already cancelled"
    ) -> None:
        super().__init__(f"{op} of branch {branch_id} of global transaction {gid!r} refused: {why}")
        self.gid = gid
        self.branch_id = branch_id
        self.op = op
        self.why = why


class Guarded(Generic[T]):
    """What :meth:`Barrier.run` did: the outcome, the work's result when it ran, why it was refused."""

    __slots__ = ("outcome", "result", "why")

    def __init__(self, outcome: BarrierOutcome, result: T | None = None, why: str = "") -> None:
        self.outcome = outcome
        self.result = result
        self.why = why

    @property
    def applied(self) -> bool:
        return self.outcome is BarrierOutcome.APPLIED


class Decision:
    """One row of the decision table: the outcome, the rows to write, and why a refusal is one."""

    __slots__ = ("outcome", "why", "writes")

    def __init__(self, outcome: BarrierOutcome, writes: tuple[tuple[str, str], ...] = (), why: str = "") -> None:
        self.outcome = outcome
        self.writes = writes
        self.why = why

    @property
    def runs_work(self) -> bool:
        return self.outcome is BarrierOutcome.APPLIED


def _refused(op: str, state: str) -> Decision:
    return Decision(BarrierOutcome.REFUSED, why=_WHY[(op, state)])


def try_state(rows: Mapping[str, str]) -> TryState:
    """The try slot of a branch from its rows ({op: reason})."""
    reason = rows.get("try")
    if reason is None:
        return "absent"
    return "applied" if reason == "try" else "blocked"


def decide(op: str, rows: Mapping[str, str]) -> Decision:
    """The decision table above: ``rows`` maps each op present for the branch to its reason, as before the call.
    ``writes`` lists (op, reason) rows to insert; a refusal's writes are kept, the work never runs."""
    state = try_state(rows)
    if op == "try":
        if state == "absent":
            return Decision(BarrierOutcome.APPLIED, (("try", "try"),))
        return Decision(BarrierOutcome.DUPLICATE) if state == "applied" else _refused("try", "blocked")
    if op == "confirm":
        if "confirm" in rows:
            return Decision(BarrierOutcome.DUPLICATE)
        if state == "absent":
            return Decision(BarrierOutcome.REFUSED, (("try", "blocked"),), _WHY[("confirm", "absent")])
        if state == "blocked":
            return _refused("confirm", "blocked")
        if "cancel" in rows:
            return _refused("confirm", "cancelled")
        return Decision(BarrierOutcome.APPLIED, (("confirm", "confirm"),))
    if op == "cancel":
        if "cancel" in rows:
            return Decision(BarrierOutcome.DUPLICATE)
        if "confirm" in rows:
            return _refused("cancel", "confirmed")
        if state == "absent":
            return Decision(BarrierOutcome.EMPTY_CANCEL, (("try", "blocked"), ("cancel", "cancel")))
        if state == "blocked":
            return Decision(BarrierOutcome.EMPTY_CANCEL, (("cancel", "cancel"),))
        return Decision(BarrierOutcome.APPLIED, (("cancel", "cancel"),))
    raise BarrierError(f"barrier op must be one of {', '.join(OPS)}, got {op!r}")


def barrier_ddl(dialect: str) -> str:
    """The barrier table's DDL (``postgresql`` or ``mysql``), package data in ``sdk/ddl``."""
    try:
        return participant_ddl("barrier", dialect)
    except ValueError as exc:
        raise BarrierError(str(exc)) from exc


class Barrier(abc.ABC):
    """The barrier over one database API. Subclasses give the three primitives; :meth:`run` is shared."""

    @abc.abstractmethod
    def transaction(self) -> AbstractAsyncContextManager[Any]:
        """A local transaction; yields the connection the work gets. Commits on exit, rolls back on error."""

    @abc.abstractmethod
    async def insert(self, conn: Any, gid: str, branch_id: str, op: str, reason: str) -> bool:
        """Insert the row unless (gid, branch_id, op) exists, locking the existing row; True when inserted."""

    @abc.abstractmethod
    async def lock_rows(self, conn: Any, gid: str, branch_id: str) -> dict[str, str]:
        """The branch's rows as {op: reason}, locked (``FOR UPDATE``) until the transaction ends."""

    @abc.abstractmethod
    async def install(self) -> None:
        """Create the barrier table if it does not exist (DDL: :func:`barrier_ddl`)."""

    #: ``postgresql`` or ``mysql``: which DDL file of ``sdk/ddl`` a missing table is created by
    dialect = ""

    async def has_table(self, name: str) -> bool | None:
        """Whether table ``name`` exists in the participant's database; None when this driver cannot tell."""
        return None

    async def check(self) -> None:
        """Raise :class:`BarrierError` naming the fix when the barrier table is missing: every call would fail
        (a participant checks this before it registers, see ``Participant.serve``)."""
        if await self.has_table("txc_barrier") is False:
            raise BarrierError(
                "the barrier table txc_barrier is missing in the participant's database: call "
                f"`await {type(self).__name__}(pool).install()` before serving, or apply "
                f"the DDL in sdk/ddl/barrier_{self.dialect}.sql (its text: sdk.barrier.barrier_ddl({self.dialect!r}))"
            )

    async def run(self, gid: str, branch_id: str, op: str, work: Callable[[Any], Awaitable[T]]) -> Guarded[T]:
        if op not in OPS:
            raise BarrierError(f"barrier op must be one of {', '.join(OPS)}, got {op!r}")
        async with self.transaction() as conn:
            # claiming the try slot first makes concurrent calls for one branch queue on that row
            claimed = await self.insert(conn, gid, branch_id, "try", "try" if op == "try" else "blocked")
            # no row existed: the other rows are only ever written after the try row. Otherwise the insert
            # waited for, and now holds, the try row's lock, so this read sees what the calls before committed
            rows: dict[str, str] = {} if claimed else await self.lock_rows(conn, gid, branch_id)
            decision = decide(op, rows)
            for write_op, reason in decision.writes:
                if not (write_op == "try" and claimed):  # the claim already wrote it, with the same reason
                    await self.insert(conn, gid, branch_id, write_op, reason)
            if not decision.runs_work:
                return Guarded(decision.outcome, why=decision.why)
            return Guarded(BarrierOutcome.APPLIED, await work(conn))


class PgBarrier(Barrier):
    """Barrier on PostgreSQL through an asyncpg pool. ``work`` gets the connection of the local transaction."""

    # DO UPDATE (a no-op) rather than DO NOTHING: it locks the existing row; xmax = 0 only on a fresh insert
    _INSERT = (
        "INSERT INTO txc_barrier AS b (gid, branch_id, op, reason) VALUES ($1, $2, $3, $4) "
        "ON CONFLICT (gid, branch_id, op) DO UPDATE SET reason = b.reason RETURNING (b.xmax = 0) AS inserted"
    )
    _ROWS = "SELECT op, reason FROM txc_barrier WHERE gid = $1 AND branch_id = $2 FOR UPDATE"

    dialect = "postgresql"

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    async def install(self) -> None:
        async with self.pool.acquire() as conn:
            await conn.execute(barrier_ddl("postgresql"))

    async def has_table(self, name: str) -> bool:
        return bool(await self.pool.fetchval("SELECT to_regclass($1) IS NOT NULL", name))

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Any]:
        async with self.pool.acquire() as conn, conn.transaction():
            yield conn

    async def insert(self, conn: Any, gid: str, branch_id: str, op: str, reason: str) -> bool:
        return bool(await conn.fetchval(self._INSERT, gid, branch_id, op, reason))

    async def lock_rows(self, conn: Any, gid: str, branch_id: str) -> dict[str, str]:
        return {r["op"]: r["reason"] for r in await conn.fetch(self._ROWS, gid, branch_id)}


class MySqlBarrier(Barrier):
    """Barrier on MySQL / MariaDB (InnoDB) through an aiomysql pool. ``work`` gets the connection."""

    # not INSERT IGNORE: on a duplicate it takes a shared lock, and two calls that both then lock the rows for
    # update deadlock; ON DUPLICATE KEY UPDATE takes the exclusive lock at once, so the second call just waits.
    # Affected rows: 1 inserted, 0 found (unless the connection sets CLIENT_FOUND_ROWS, refused below)
    _INSERT = (
        "INSERT INTO txc_barrier (gid, branch_id, op, reason) VALUES (%s, %s, %s, %s) "
        "ON DUPLICATE KEY UPDATE reason = reason"
    )
    _ROWS = "SELECT op, reason FROM txc_barrier WHERE gid = %s AND branch_id = %s FOR UPDATE"

    dialect = "mysql"

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    async def install(self) -> None:
        if await self.has_table("txc_barrier"):  # CREATE TABLE IF NOT EXISTS would warn on every start
            return
        async with self.pool.acquire() as conn, conn.cursor() as cur:
            await cur.execute(barrier_ddl("mysql"))
            await conn.commit()

    async def has_table(self, name: str) -> bool:
        async with self.pool.acquire() as conn, conn.cursor() as cur:
            await cur.execute(
                "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = %s",
                (name,),
            )
            (count,) = await cur.fetchone()
            await conn.commit()  # end the read's transaction: the pooled connection goes back clean
            return bool(count)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Any]:
        async with self.pool.acquire() as conn:
            if conn.client_flag & _FOUND_ROWS:
                raise BarrierError("MySqlBarrier needs a connection without CLIENT_FOUND_ROWS (aiomysql's default)")
            await conn.begin()
            try:
                yield conn
            except BaseException:
                await conn.rollback()
                raise
            await conn.commit()

    async def insert(self, conn: Any, gid: str, branch_id: str, op: str, reason: str) -> bool:
        async with conn.cursor() as cur:
            return bool(await cur.execute(self._INSERT, (gid, branch_id, op, reason)) == 1)

    async def lock_rows(self, conn: Any, gid: str, branch_id: str) -> dict[str, str]:
        async with conn.cursor() as cur:
            await cur.execute(self._ROWS, (gid, branch_id))
            return {op: reason for op, reason in await cur.fetchall()}
