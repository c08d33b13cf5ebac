"""``bank-xa``: transfers between accounts of one logical ``bank`` database sharded over two physical databases
of the harness's MariaDB, each transfer one client transaction through a dbproxy instance over the MySQL
protocol. A transfer that touches both shards commits atomically with XA branches the coordinators decide.

Each transfer also writes its two ledger entries, ``entry(transfer, account, delta)`` sharded like the accounts,
so each entry lands on its account's shard inside the same branch as the balance it explains. The checker then
knows, per transfer, which branches committed: both entries (committed), none (rolled back) or one (atomicity
broken) — where balances alone could only say that some sum is off."""

from __future__ import annotations

import asyncio
import re
from collections import Counter, defaultdict
from typing import Any

import aiomysql
import asyncpg
import pymysql

from chaos.checkers import TERMINAL
from chaos.dbproxies import ProxySpec, client_fronts
from chaos.history import History
from chaos.plugins import Check, OpResult, ParticipantSpec, workload
from chaos.servers import MariaDbServer
from chaos.system import System

SHARDS = 2
ACCOUNTS = 16  # account i lives on shard i % SHARDS
OPENING = 200  # small, so some debits find too little money and the `balance >= amount` guard is exercised
CROSS_SHARD = 0.9  # the rest stay on one shard: the proxy's one-phase path, no coordinator
STATEMENT_DEADLINE = 20.0  # for everything before COMMIT
FAILURE_PAUSE = 0.05  # after a transfer failed for a reason other than too little money
COMMIT_DEADLINE = 20.0  # COMMIT waits for the coordinator's decision; past this the outcome is unknown
DEBIT = "UPDATE account SET balance = balance - %s WHERE id = %s AND balance >= %s"
CREDIT = "UPDATE account SET balance = balance + %s WHERE id = %s"
ENTRIES = "INSERT INTO entry (transfer, account, delta) VALUES (%s, %s, %s), (%s, %s, %s)"
_GID = re.compile(r"gid ([0-9a-f]{16,})")


@workload("bank-xa")
class BankXa:
    name = "bank-xa"

    def unavailable(self) -> str | None:
        return None if MariaDbServer.available() else "bank-xa shards over MariaDB: install mariadb-server"

    def participants(self) -> list[ParticipantSpec]:
        return []  # the proxies are the participants (of their XA branches)

    def dbproxy(self) -> ProxySpec:
        setup = [
            [
                f"CREATE TABLE account_{i} (id INT PRIMARY KEY, balance INT NOT NULL) ENGINE=InnoDB",
                f"CREATE TABLE entry_{i} (transfer VARCHAR(40) NOT NULL, account INT NOT NULL, delta INT NOT NULL,"
                " PRIMARY KEY (transfer, account)) ENGINE=InnoDB",
                f"INSERT INTO account_{i} VALUES "
                + ",".join(f"({a}, {OPENING})" for a in range(ACCOUNTS) if a % SHARDS == i),
            ]
            for i in range(SHARDS)
        ]
        return ProxySpec("bank", SHARDS, {"account": "id", "entry": "account"}, setup)

    async def operation(self, system: System, client: Any, rng: Any) -> tuple[dict[str, Any], OpResult]:
        src = rng.randrange(ACCOUNTS)
        if rng.random() < CROSS_SHARD:
            dst = rng.choice([a for a in range(ACCOUNTS) if a % SHARDS != src % SHARDS])
        else:
            dst = rng.choice([a for a in range(ACCOUNTS) if a % SHARDS == src % SHARDS and a != src])
        amount = rng.randint(1, 30)
        # the transfer's own id (the proxy keeps its XA gid to itself except in an "outcome unknown" error):
        # written in its ledger entries, it is what the checker correlates, under the report's "gid" key
        transfer = f"t{rng.getrandbits(64):016x}"
        args: dict[str, Any] = {"gid": transfer, "from": src, "to": dst, "amount": amount}
        fronts = client_fronts(system)
        first = rng.randrange(len(fronts))
        conn: aiomysql.Connection | None = None
        stage = "connect"
        try:
            conn, args["proxy"] = await _connect(system, fronts, first)
            cur = await conn.cursor()
            stage = "transfer"

            async def body() -> bool:
                await cur.execute("BEGIN")
                if await cur.execute(DEBIT, (amount, src, amount)) == 0:
                    await cur.execute("ROLLBACK")
                    return False
                await cur.execute(CREDIT, (amount, dst))
                await cur.execute(ENTRIES, (transfer, src, -amount, transfer, dst, amount))
                return True

            if not await asyncio.wait_for(body(), STATEMENT_DEADLINE):
                return args, OpResult("failed", f"insufficient funds in account {src}")
            stage = "commit"
            await asyncio.wait_for(cur.execute("COMMIT"), COMMIT_DEADLINE)
            return args, OpResult("ok")
        except Exception as exc:  # every client-side failure is an outcome to classify
            error = _describe(exc)
            if found := _GID.search(error):
                args["xa_gid"] = found.group(1)
            await asyncio.sleep(FAILURE_PAUSE)  # a dead MariaDB fails every transfer at once: do not spin
            # before COMMIT nothing was asked to commit: the proxy (or MariaDB, when the proxy's connection
            # closes) rolls back every unprepared branch
            return args, OpResult(_commit_outcome(exc) if stage == "commit" else "failed", f"{stage}: {error}")
        finally:
            if conn is not None:
                conn.close()

    async def check(self, system: System, history: History) -> list[Check]:
        return await check_bank(system, history, self.dbproxy())


async def _connect(system: System, fronts: list[tuple[str, int]], first: int) -> tuple[aiomysql.Connection, str]:
    """A connection to the first proxy instance that answers, starting at ``first``: clients fail over."""
    error: Exception | None = None
    for k in range(len(fronts)):
        i = (first + k) % len(fronts)
        host, port = fronts[i]
        try:
            conn = await asyncio.wait_for(
                aiomysql.connect(
                    host=host, port=port, user="chaos", password="chaos", db="bank", autocommit=True, connect_timeout=3
                ),
                5,
            )
            return conn, system.dbproxies[i].name
        except Exception as exc:  # try the next instance
            error = exc
    assert error is not None
    raise error


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "TimeoutError: no answer within the deadline"
    return f"{type(exc).__name__}: {exc}"[:300]


def _commit_outcome(exc: BaseException) -> str:
    """``failed`` only for an error the proxy sent saying the transaction was rolled back; a lost connection,
    a timeout or any other answer leaves the outcome unknown."""
    if isinstance(exc, pymysql.err.MySQLError) and len(exc.args) >= 2 and isinstance(exc.args[0], int):
        code, message = exc.args[0], str(exc.args[1])
        if code < 2000 and "rolled back" in message and "unknown" not in message.lower():
            return "failed"
    return "unknown"


async def _wait_nothing_prepared(system: System, bound: float = 30.0) -> float:
    """The proxies' recovery scans (every second) finish branches a crash left prepared after the coordinator's
    transaction became terminal: give them time before reading balances (a prepared row is not visible yet).
    The generic ``XA RECOVER`` checker afterwards says whether something stayed."""
    assert system.mysql is not None
    loop = asyncio.get_running_loop()
    start = loop.time()
    while loop.time() - start < bound:
        conn = await aiomysql.connect(host="127.0.0.1", port=system.mysql.port, user="root")
        try:
            async with conn.cursor() as cur:
                await cur.execute("XA RECOVER")
                if not await cur.fetchall():
                    break
        finally:
            conn.close()
        await asyncio.sleep(0.5)
    return loop.time() - start


async def _read_shards(system: System, spec: ProxySpec) -> tuple[dict[int, int], dict[str, dict[int, int]]]:
    """Balances and ledger entries, read from each shard's physical database directly (not through a proxy)."""
    assert system.mysql is not None
    balances: dict[int, int] = {}
    entries: dict[str, dict[int, int]] = defaultdict(dict)  # transfer -> account -> delta
    conn = await aiomysql.connect(host="127.0.0.1", port=system.mysql.port, user="root")
    try:
        async with conn.cursor() as cur:
            for i in range(spec.shards):
                await cur.execute(f"SELECT id, balance FROM `{spec.physical(i)}`.account_{i}")
                balances.update({int(a): int(b) for a, b in await cur.fetchall()})
                await cur.execute(f"SELECT transfer, account, delta FROM `{spec.physical(i)}`.entry_{i}")
                for transfer, account, delta in await cur.fetchall():
                    entries[str(transfer)][int(account)] = int(delta)
    finally:
        conn.close()
    return balances, entries


async def _xa_states(system: System) -> Counter[str]:
    conn = await asyncpg.connect(system.store_url())
    try:
        rows = await conn.fetch("SELECT state, count(*) AS n FROM txc_transaction WHERE kind = 'XA' GROUP BY state")
    finally:
        await conn.close()
    return Counter({r["state"]: int(r["n"]) for r in rows})


async def check_bank(system: System, history: History, spec: ProxySpec) -> list[Check]:
    waited = await _wait_nothing_prepared(system)
    balances, entries = await _read_shards(system, spec)
    xa = await _xa_states(system)
    opening = {a: OPENING for a in range(ACCOUNTS)}
    ops = {str(op.args["gid"]): op for op in history.ops}

    def where(transfer: str) -> dict[str, Any]:
        op = ops.get(transfer)
        legs = entries.get(transfer, {})
        return {
            "gid": transfer,
            "client_saw": op.outcome if op else "not in the history",
            "entries": {str(a): d for a, d in legs.items()},
            **({k: op.args[k] for k in ("from", "to", "amount", "proxy") if k in op.args} if op else {}),
            **({"error": op.error} if op and op.error else {}),
        }

    # atomicity: a committed transfer has both entries, each on its account's shard, with the right deltas
    half: list[dict[str, Any]] = []
    for transfer, legs in entries.items():
        op = ops.get(transfer)
        if op is not None:
            ok_legs = legs == {op.args["from"]: -op.args["amount"], op.args["to"]: op.args["amount"]}
        else:  # its client was cut off at the end of the run before recording it: judge the entries alone
            ok_legs = len(legs) == 2 and sum(legs.values()) == 0
        if not ok_legs:
            half.append({**where(transfer), "why": "not both entries of the transfer (or not the ones it wrote)"})
    # the ledger explains every balance: no lost update, no branch applied twice
    expected = dict(opening)
    for legs in entries.values():
        for account, delta in legs.items():
            expected[account] = expected.get(account, 0) + delta
    mismatch = [
        {"account": a, "expected": expected.get(a), "actual": balances.get(a)}
        for a in sorted(set(expected) | set(balances))
        if expected.get(a) != balances.get(a)
    ]
    client_view: list[dict[str, Any]] = []
    for transfer, op in ops.items():
        present = transfer in entries
        whole = entries.get(transfer) == {op.args["from"]: -op.args["amount"], op.args["to"]: op.args["amount"]}
        if op.outcome == "ok" and not whole:
            why = "the client saw COMMIT answer OK; it is " + ("only partly" if present else "not") + " in the shards"
            client_view.append({**where(transfer), "why": why})
        elif op.outcome == "failed" and present:
            client_view.append({**where(transfer), "why": "the client saw it fail; it is in the shards"})
    committed = list(entries)
    ok = sum(op.outcome == "ok" for op in ops.values())
    unknown_committed = sum(ops[t].outcome == "unknown" for t in committed if t in ops)
    # a transfer whose entries span two shards committed through the coordinator, exactly once
    cross = sum(1 for legs in entries.values() if len({a % SHARDS for a in legs}) > 1)
    open_xa = {s: n for s, n in xa.items() if s not in TERMINAL}
    total_open, total_now = sum(opening.values()), sum(balances.values())
    negative = [{"account": a, "balance": b} for a, b in balances.items() if b < 0]
    return [
        Check("money conserved", total_now == total_open, f"opening total {total_open}, now {total_now}"),
        Check("no negative balance", not negative, f"{len(negative)} accounts", negative),
        Check(
            "each transfer atomic: both ledger entries committed or neither (read from the shards)",
            not half,
            f"{len(committed)} transfers committed; {len(half)} partly or wrongly; waited {waited:.1f}s for "
            "prepared branches to finish",
            half,
        ),
        Check(
            "balances = opening + ledger entries (no update lost or applied twice)",
            not mismatch,
            f"{len(mismatch)} accounts differ",
            mismatch,
        ),
        Check(
            "client-observed outcomes agree with the shards (ok committed, failed not)",
            not client_view,
            f"ok {ok}; committed {len(committed)}, of which {unknown_committed} unknown to their client; "
            f"{len(client_view)} disagree",
            client_view,
        ),
        Check(
            "every XA global transaction terminal; committed ones = cross-shard transfers in the shards",
            not open_xa and xa["COMMITTED"] == cross,
            f"store: {dict(xa)}; cross-shard transfers committed in the shards: {cross}",
            [{"state": s, "count": n} for s, n in open_xa.items()],
        ),
    ]
