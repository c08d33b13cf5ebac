"""A TCC participant and its caller (the README's example; tests/integration/coordinator/test_readme_example.py
runs it against a real coordinator and PostgreSQL).

    python examples/participant.py serve --db postgresql://.../bank --registry 127.0.0.1:7070
    python examples/participant.py call --registry 127.0.0.1:7070"""

from __future__ import annotations

import argparse
import asyncio

import asyncpg

from sdk import BusinessError, CoordinatorClient, InfrastructureError, Participant, PgBarrier, TccContext, tcc

Ctx = TccContext[asyncpg.Connection]  # ctx.conn: the local transaction that also holds the barrier row


@tcc(service="bank")
async def debit(ctx: Ctx, account: str, amount: int) -> dict[str, int]:  # try: runs inside the barrier
    status = await ctx.conn.execute(
        "UPDATE account SET balance = balance - $2, frozen = frozen + $2 WHERE id = $1 AND balance >= $2",
        account,
        amount,
    )
    if status != "UPDATE 1":
        raise ValueError(f"{account} cannot pay {amount}")  # the caller gets TryFailed and rolls back
    return {"reserved": amount}


@debit.confirm
async def _confirm(ctx: Ctx, account: str, amount: int) -> None:
    await ctx.conn.execute("UPDATE account SET frozen = frozen - $2 WHERE id = $1", account, amount)


@debit.cancel
async def _cancel(ctx: Ctx, account: str, amount: int) -> None:
    await ctx.conn.execute(
        "UPDATE account SET balance = balance + $2, frozen = frozen - $2 WHERE id = $1", account, amount
    )


async def serve(db: str, registry: str) -> None:
    pool = await asyncpg.create_pool(db)
    await PgBarrier(pool).install()
    await pool.execute("CREATE TABLE IF NOT EXISTS account (id text PRIMARY KEY, balance int, frozen int DEFAULT 0)")
    await pool.execute("INSERT INTO account (id, balance) VALUES ('A', 100) ON CONFLICT DO NOTHING")
    await Participant("bank", [debit], barrier=PgBarrier(pool)).serve("127.0.0.1:0", registry)  # until SIGTERM


async def call(registry: str) -> None:  # the caller: one global transaction
    async with CoordinatorClient(registry) as client:
        tx = client.transaction(timeout=30)
        try:
            async with tx:  # leaving the block commits; an exception rolls back and propagates
                reserved = await tx.call(debit, account="A", amount=10)  # typed: checked against debit's parameters
        except BusinessError as exc:  # a participant said no (TryFailed): rolled back; retrying gets the same no
            print(f"{tx.gid} refused: {exc}")
            return
        except InfrastructureError as exc:  # unreachable, timed out, nobody serves "bank": `txc tx show` the gid
            print(f"{tx.gid} not done ({tx.state}), try again later: {exc}")
            return
    print(f"{tx.gid} {tx.state}: {reserved}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=["serve", "call"])
    parser.add_argument("--db", help="postgresql:// URL of the bank's own database (serve)")
    parser.add_argument("--registry", default="127.0.0.1:7070", help="the coordinator (it hosts the registry)")
    args = parser.parse_args()
    asyncio.run(serve(args.db, args.registry) if args.role == "serve" else call(args.registry))
