"""A demo bank: accounts in the participant's own PostgreSQL database, moved by two TCC actions.

``debit`` reserves money in try (refused when the balance is short), spends it in confirm, releases it in
cancel; ``credit`` announces money in try, books it in confirm, drops it in cancel. Each phase is one SQL
update inside the barrier. Run one with ``python -m txcoord.demo.bank --service bank-a --db URL ...``."""

from __future__ import annotations

import argparse
import asyncio
import logging
from pathlib import Path
from typing import Any

import asyncpg

from sdk.barrier import PgBarrier
from sdk.errors import RpcError
from sdk.participant import Participant
from sdk.rpc import JsonHandler
from sdk.service_host import ServiceHost
from sdk.tcc import TccContext, tcc
from sdk.tcc_wire import PHASE2_BATCH_ACTION
from txcoord.sql_queries import load_queries
from txcoord.store.postgres import keep_session

Q = load_queries(Path(__file__).with_name("bank.sql"))
log = logging.getLogger("bank")


class InsufficientFunds(Exception):
    def __init__(self, account: str, amount: int) -> None:
        super().__init__(f"account {account} cannot pay {amount}: balance too low or unknown account")


class UnknownAccount(Exception):
    def __init__(self, account: str) -> None:
        super().__init__(f"no account {account!r}")


async def _update(ctx: TccContext, query: str, account: str, amount: int) -> bool:
    status: str = await ctx.conn.execute(Q[query], account, amount)
    return status.endswith(" 1")


@tcc
async def debit(ctx: TccContext, account: str, amount: int) -> dict[str, Any]:
    """Try: reserve ``amount`` from ``account``."""
    if amount <= 0:
        raise ValueError(f"amount must be positive, got {amount}")
    if not await _update(ctx, "debit_try", account, amount):
        raise InsufficientFunds(account, amount)
    return {"reserved": amount}


@debit.confirm
async def _debit_confirm(ctx: TccContext, account: str, amount: int) -> None:
    await _update(ctx, "debit_confirm", account, amount)


@debit.cancel
async def _debit_cancel(ctx: TccContext, account: str, amount: int) -> None:
    await _update(ctx, "debit_cancel", account, amount)


@tcc
async def credit(ctx: TccContext, account: str, amount: int) -> dict[str, Any]:
    """Try: announce ``amount`` for ``account``."""
    if amount <= 0:
        raise ValueError(f"amount must be positive, got {amount}")
    if not await _update(ctx, "credit_try", account, amount):
        raise UnknownAccount(account)
    return {"incoming": amount}


@credit.confirm
async def _credit_confirm(ctx: TccContext, account: str, amount: int) -> None:
    await _update(ctx, "credit_confirm", account, amount)


@credit.cancel
async def _credit_cancel(ctx: TccContext, account: str, amount: int) -> None:
    await _update(ctx, "credit_cancel", account, amount)


async def prepare(pool: asyncpg.Pool, accounts: dict[str, int], *, audit: bool = False) -> None:
    """Create the bank's tables and the barrier table; open the given accounts (existing ones stay)."""
    await PgBarrier(pool).install()
    async with pool.acquire() as conn:
        await conn.execute(Q["schema"])
        if audit:
            await conn.execute(Q["audit_schema"])
        await conn.executemany(Q["seed"], list(accounts.items()))


async def balances(conn: Any) -> dict[str, dict[str, int]]:
    rows = await conn.fetch(Q["accounts"])
    return {r["id"]: {"balance": r["balance"], "frozen": r["frozen"], "incoming": r["incoming"]} for r in rows}


def _held(handler: JsonHandler, seconds: float) -> JsonHandler:
    async def held(body: Any, context: Any) -> Any:
        await asyncio.sleep(seconds)
        return await handler(body, context)

    return held


def _audited(handler: JsonHandler, pool: asyncpg.Pool, op: str) -> JsonHandler:
    async def audited(body: Any, context: Any) -> Any:
        try:
            reply = await handler(body, context)
        except Exception as exc:
            error = exc.code.name if isinstance(exc, RpcError) else type(exc).__name__
            await pool.execute(Q["audit"], body.get("gid", "?"), body.get("branch_id", "?"), op, f"error: {error}")
            raise
        await pool.execute(Q["audit"], body["gid"], body["branch_id"], op, reply["barrier"])
        return reply

    return audited


def parse_accounts(text: str) -> dict[str, int]:
    accounts: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, amount = item.partition("=")
        accounts[name] = int(amount)
    return accounts


async def serve(args: argparse.Namespace) -> None:
    # no session state changes here: skip the pool's reset query (a round trip per call)
    pool = await asyncpg.create_pool(args.db, min_size=2, max_size=args.pool_size, reset=keep_session)
    assert pool is not None
    await prepare(pool, parse_accounts(args.accounts), audit=args.audit)
    participant = Participant(args.service, [debit, credit], barrier=PgBarrier(pool))
    handlers = participant.handlers()
    del handlers[PHASE2_BATCH_ACTION]
    if args.audit:
        handlers = {name: _audited(h, pool, name.partition(".")[2] or "try") for name, h in handlers.items()}
    if args.hold_try > 0:  # the test of a late try: hold tries back before they reach the barrier
        handlers = {name: (_held(h, args.hold_try) if "." not in name else h) for name, h in handlers.items()}
    handlers[PHASE2_BATCH_ACTION] = participant.batch_handler(handlers)
    host = ServiceHost(args.listen, args.registry, ttl=args.ttl, name=args.service)
    host.add_json_service(args.service, handlers)
    try:
        await host.run()
    finally:
        await pool.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--service", required=True)
    parser.add_argument("--db", required=True, help="postgresql:// URL of this bank's own database")
    parser.add_argument("--registry", default="127.0.0.1:7070")
    parser.add_argument("--listen", default="127.0.0.1:0")
    parser.add_argument("--accounts", default="", help="NAME=BALANCE,... to open (existing accounts stay)")
    parser.add_argument("--ttl", type=float, default=3.0)
    parser.add_argument("--pool-size", type=int, default=10)
    parser.add_argument("--hold-try", type=float, default=0.0, help="seconds to hold every try back (tests)")
    parser.add_argument("--audit", action="store_true", help="record every phase call's barrier outcome")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
