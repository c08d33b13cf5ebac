"""``bank-xa``: transfers between accounts of one logical ``bank`` database sharded over two physical databases
of the harness's MariaDB, each transfer one client transaction through a dbproxy instance over the MySQL
protocol. A transfer that touches both shards commits atomically with XA branches, decided by a row in one
shard's database and reported to the coordinators in batches.

Each transfer also writes its two ledger entries, ``entry(transfer, account, delta)`` sharded like the accounts,
so each entry lands on its account's shard inside the same branch as the balance it explains. The checker then
knows, per transfer, which branches committed: both entries (committed), none (rolled back) or one (atomicity
broken) — where balances alone could only say that some sum is off."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import aiomysql
import pymysql

from chaos.dbproxies import ProxySpec, client_fronts
from chaos.history import History
from chaos.model import Check, OpResult, ParticipantSpec
from chaos.registry import workload
from chaos.servers import MariaDbServer
from chaos.system import System
from chaos.workloads.bank_xa_check import check_bank

SHARDS = 2
ACCOUNTS = 16  # account i lives on shard i % SHARDS
OPENING = 200  # small, so some debits find too little money and the `balance >= amount` guard is exercised
CROSS_SHARD = 0.9  # the rest stay on one shard: the proxy's one-phase path, no coordinator
STATEMENT_DEADLINE = 20.0  # for everything before COMMIT
FAILURE_PAUSE = 0.05  # after a transfer failed for a reason other than too little money
COMMIT_DEADLINE = 20.0  # past this the COMMIT's outcome is unknown
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
        return await check_bank(system, history, self.dbproxy(), ACCOUNTS, OPENING)


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
