"""One chaos bank participant process: ``python -m chaos.bank.participant --kind pg|mysql ...``.

Unlike the demo bank it registers an *advertised* address (the harness's fault proxy in front of it) instead
of the one it listens on, so every caller and coordinator reaches it through a link the nemesis controls."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
from typing import Any

from chaos.bank.saga_actions import BROKEN_COMPENSATION_ENV, saga_steps
from demo import bank as pg_bank
from sdk.barrier import MySqlBarrier, PgBarrier
from sdk.participant import Participant
from sdk.registry import RegistryClient
from sdk.rpc import RpcServer
from txcoord.tcc.store import keep_session


async def _pools(args: argparse.Namespace) -> tuple[Any, Participant]:
    accounts = pg_bank.parse_accounts(args.accounts)
    # the bank-saga workload's steps, served beside the TCC actions through the same barrier
    sagas = saga_steps(args.kind, broken_compensation=os.environ.get(BROKEN_COMPENSATION_ENV) == "1")
    if args.kind == "pg":
        import asyncpg

        pool = await asyncpg.create_pool(args.db, min_size=1, max_size=args.pool_size, reset=keep_session)
        await pg_bank.prepare(pool, accounts)
        return pool, Participant(args.service, [pg_bank.debit, pg_bank.credit, *sagas], barrier=PgBarrier(pool))
    import aiomysql

    from chaos.bank import mysql_actions

    host, _, port = args.db.rpartition(":")
    pool = await aiomysql.create_pool(
        host=host, port=int(port), user="root", db="bank", minsize=1, maxsize=args.pool_size, autocommit=False
    )
    barrier = MySqlBarrier(pool)
    await barrier.install()
    await mysql_actions.prepare(pool, accounts)
    return pool, Participant(args.service, [mysql_actions.debit, mysql_actions.credit, *sagas], barrier=barrier)


async def serve(args: argparse.Namespace) -> None:
    pool, participant = await _pools(args)
    server = RpcServer(args.listen, name=args.service)
    server.add_json_service(args.service, participant.handlers())
    await server.start()
    registry = RegistryClient(args.registry.split(","))
    await registry.register(args.service, args.advertise or server.address, args.ttl)
    try:
        await server.serve_until_signal(grace=2.0)
    finally:
        await registry.close()
        if args.kind == "mysql":
            pool.close()  # aiomysql: close() is synchronous, wait_closed() waits
            await pool.wait_closed()
        else:
            await pool.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--service", required=True)
    parser.add_argument("--kind", choices=("pg", "mysql"), default="pg")
    parser.add_argument("--db", required=True, help="postgresql:// URL, or HOST:PORT of MariaDB (database 'bank')")
    parser.add_argument("--registry", required=True, help="HOST:PORT[,HOST:PORT...] of registries")
    parser.add_argument("--listen", required=True)
    parser.add_argument("--advertise", default="", help="address to register (the fault proxy in front)")
    parser.add_argument("--accounts", default="")
    parser.add_argument("--ttl", type=float, default=3.0)
    parser.add_argument("--pool-size", type=int, default=8)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
