"""The ``bank-xa`` checker: after heal and quiescence, read balances and ledger entries from each shard's
physical database directly (never through a proxy) and the XA transactions the proxies reported to the
coordinators' store, and judge every transfer on its own: both entries or none, and as the client saw it."""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from typing import Any

import aiomysql
import asyncpg

from chaos.checkers import TERMINAL
from chaos.dbproxies import ProxySpec
from chaos.history import History
from chaos.model import Check
from chaos.system import System

DECISION_SCHEMA = "txc_xa"  # the proxies' default transactions.decision_schema (on the harness's own MariaDB)


async def _wait_nothing_prepared(system: System, bound: float = 45.0) -> float:
    """The proxies' recovery scans (every second) finish branches a crash left prepared (by their decision rows,
    or with a tombstone past the transaction timeout) and report the decision rows nobody reported: give them
    time before reading balances (a prepared row is not visible yet) and the coordinators' store. The generic
    ``XA RECOVER`` checker afterwards says whether something stayed; the store check, whether a report is
    missing."""
    assert system.mysql is not None
    loop = asyncio.get_running_loop()
    start = loop.time()
    while loop.time() - start < bound:
        conn = await aiomysql.connect(host="127.0.0.1", port=system.mysql.port, user="root")
        try:
            async with conn.cursor() as cur:
                await cur.execute("XA RECOVER")
                prepared = await cur.fetchall()
                await cur.execute(
                    "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = %s", (DECISION_SCHEMA,)
                )
                (tables,) = await cur.fetchone()
                rows = 0
                if tables:
                    await cur.execute(f"SELECT COUNT(*) FROM `{DECISION_SCHEMA}`.xa_decision")
                    (rows,) = await cur.fetchone()
                if not prepared and not rows:
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


async def check_bank(system: System, history: History, spec: ProxySpec, accounts: int, opening: int) -> list[Check]:
    waited = await _wait_nothing_prepared(system)
    balances, entries = await _read_shards(system, spec)
    xa = await _xa_states(system)
    opening_of = {a: opening for a in range(accounts)}
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
    expected = dict(opening_of)
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
    # a transfer whose entries span two shards was decided by a decision row and reported to the coordinators,
    # exactly once
    cross = sum(1 for legs in entries.values() if len({a % spec.shards for a in legs}) > 1)
    open_xa = {s: n for s, n in xa.items() if s not in TERMINAL}
    total_open, total_now = sum(opening_of.values()), sum(balances.values())
    negative = [{"account": a, "balance": b} for a, b in balances.items() if b < 0]
    return [
        Check("money conserved", total_now == total_open, f"opening total {total_open}, now {total_now}"),
        Check("no negative balance", not negative, f"{len(negative)} accounts", negative),
        Check(
            "each transfer atomic: both ledger entries committed or neither (read from the shards)",
            not half,
            f"{len(committed)} transfers committed; {len(half)} partly or wrongly; waited {waited:.1f}s for "
            "prepared branches to finish and decision rows to be reported",
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
