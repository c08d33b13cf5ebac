"""A participant making one of a new user's mistakes (issue 23), chosen by --mistake; each must refuse to start.

python mistaken_participant.py --mistake no-barrier-table --db postgresql://... --registry 127.0.0.1:7070
python mistaken_participant.py --mistake no-ctx
TXC_TLS_CA=ca.pem python mistaken_participant.py --mistake plaintext-under-tls --db ... --registry ..."""

from __future__ import annotations

import argparse
import asyncio

import asyncpg

from sdk import Participant, PgBarrier, TccContext, tcc


async def serve(db: str, registry: str) -> None:
    @tcc(service="shop")
    async def reserve(ctx: TccContext[asyncpg.Connection], item: str, quantity: int) -> None: ...

    @reserve.confirm
    async def _confirm(ctx: TccContext[asyncpg.Connection], item: str, quantity: int) -> None: ...

    @reserve.cancel
    async def _cancel(ctx: TccContext[asyncpg.Connection], item: str, quantity: int) -> None: ...

    pool = await asyncpg.create_pool(db, min_size=1, max_size=2)
    try:  # no `await PgBarrier(pool).install()`
        await Participant("shop", [reserve], barrier=PgBarrier(pool)).serve("127.0.0.1:0", registry)
    finally:
        await pool.close()


def forget_ctx() -> None:
    @tcc(service="shop")
    async def reserve(item: str, quantity: int) -> None: ...


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--mistake", required=True, choices=["no-barrier-table", "no-ctx", "plaintext-under-tls"])
    parser.add_argument("--db", default="")
    parser.add_argument("--registry", default="127.0.0.1:7070")
    args = parser.parse_args()
    if args.mistake == "no-ctx":
        forget_ctx()
    else:
        asyncio.run(serve(args.db, args.registry))
