"""A demo bank: accounts in the participant's own PostgreSQL database, moved by two TCC actions.

``debit`` reserves money in try (refused when the balance is short), spends it in confirm, releases it in
cancel; ``credit`` announces money in try, books it in confirm, drops it in cancel. Each phase is one SQL
update inside the barrier. Run one with ``python -m demo.bank --service bank-a --db URL ...``.

User code: it imports only the public ``sdk``, as a participant of yours would."""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import re
import sys
from pathlib import Path
from typing import Any

import asyncpg

from sdk import (
    ActionCall,
    ActionReply,
    Interceptor,
    Participant,
    PgBarrier,
    Proceed,
    RpcError,
    TccContext,
    setup_logging,
    tcc,
)

log = logging.getLogger("bank")
Ctx = TccContext[asyncpg.Connection]


def _queries(path: Path) -> dict[str, str]:
    """The ``-- name: x`` blocks of a ``.sql`` file (comments dropped)."""
    parts = re.split(r"^--\s*name:\s*(\w+)\s*$", path.read_text(), flags=re.MULTILINE)
    return {
        name: "\n".join(line for line in body.strip().splitlines() if not line.lstrip().startswith("--")).rstrip(";")
        for name, body in zip(parts[1::2], parts[2::2], strict=True)
    }


Q = _queries(Path(__file__).with_name("bank.sql"))


class InsufficientFunds(Exception):
    def __init__(self, account: str, amount: int) -> None:
        super().__init__(f"account {account} cannot pay {amount}: balance too low or unknown account")


class UnknownAccount(Exception):
    def __init__(self, account: str) -> None:
        super().__init__(f"no account {account!r}")


async def _update(ctx: Ctx, query: str, account: str, amount: int) -> bool:
    status: str = await ctx.conn.execute(Q[query], account, amount)
    return status.endswith(" 1")


@tcc
async def debit(ctx: Ctx, account: str, amount: int) -> dict[str, Any]:
    """Try: reserve ``amount`` from ``account``."""
    if amount <= 0:
        raise ValueError(f"amount must be positive, got {amount}")
    if not await _update(ctx, "debit_try", account, amount):
        raise InsufficientFunds(account, amount)
    return {"reserved": amount}


@debit.confirm
async def _debit_confirm(ctx: Ctx, account: str, amount: int) -> None:
    await _update(ctx, "debit_confirm", account, amount)


@debit.cancel
async def _debit_cancel(ctx: Ctx, account: str, amount: int) -> None:
    await _update(ctx, "debit_cancel", account, amount)


@tcc
async def credit(ctx: Ctx, account: str, amount: int) -> dict[str, Any]:
    """Try: announce ``amount`` for ``account``."""
    if amount <= 0:
        raise ValueError(f"amount must be positive, got {amount}")
    if not await _update(ctx, "credit_try", account, amount):
        raise UnknownAccount(account)
    return {"incoming": amount}


@credit.confirm
async def _credit_confirm(ctx: Ctx, account: str, amount: int) -> None:
    await _update(ctx, "credit_confirm", account, amount)


@credit.cancel
async def _credit_cancel(ctx: Ctx, account: str, amount: int) -> None:
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


def held_until(gate: Path, limit: float = 120.0) -> Interceptor:
    """Holds every try back until the file ``gate`` exists (at most ``limit`` seconds): the tests of a late
    try open the gate once the cancel has overtaken it."""

    async def hold(call: ActionCall, proceed: Proceed) -> ActionReply:
        if call.op == "try":
            deadline = asyncio.get_running_loop().time() + limit
            while not gate.exists() and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.05)
        return await proceed(call)

    return hold


def audited(pool: asyncpg.Pool) -> Interceptor:
    """Records every phase call's barrier outcome (or its error) in ``bank_audit``."""

    async def audit(call: ActionCall, proceed: Proceed) -> ActionReply:
        try:
            reply = await proceed(call)
        except Exception as exc:
            error = exc.code.name if isinstance(exc, RpcError) else type(exc).__name__
            await pool.execute(Q["audit"], call.gid, call.branch_id, call.op, f"error: {error}")
            raise
        await pool.execute(Q["audit"], call.gid, call.branch_id, call.op, reply.barrier.value)
        return reply

    return audit


def flaky(rate: float) -> Interceptor:
    """Fails phase calls at random (tests): half before the work, half after it committed (the answer is lost,
    so the caller or the coordinator sends it again and the barrier makes it a duplicate)."""

    async def maybe_fail(call: ActionCall, proceed: Proceed) -> ActionReply:
        if random.random() < rate / 2:
            raise RuntimeError(f"injected failure before the {call.op}")
        reply = await proceed(call)
        if random.random() < rate / 2:
            raise RuntimeError(f"injected failure after the {call.op}")
        return reply

    return maybe_fail


async def _keep_session(_conn: asyncpg.Connection) -> None:
    """The phases change no session state: skip asyncpg's reset query (a round trip per call)."""


def parse_accounts(text: str) -> dict[str, int]:
    accounts: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, amount = item.partition("=")
        accounts[name] = int(amount)
    return accounts


async def serve(args: argparse.Namespace) -> None:
    pool = await asyncpg.create_pool(args.db, min_size=2, max_size=args.pool_size, reset=_keep_session)
    assert pool is not None
    await prepare(pool, parse_accounts(args.accounts), audit=args.audit)
    interceptors = [audited(pool)] if args.audit else []
    if args.fail_rate > 0:  # inside the audit: an injected failure is audited as the error it answers
        interceptors.append(flaky(args.fail_rate))
    if args.hold_tries_until:  # inside the audit: a held try is audited when it finally ran
        interceptors.append(held_until(Path(args.hold_tries_until)))
    participant = Participant(args.service, [debit, credit], barrier=PgBarrier(pool), interceptors=interceptors)
    try:
        if args.http:
            await participant.serve_http(args.listen, args.registry, ttl=args.ttl)
        else:
            await participant.serve(args.listen, args.registry, ttl=args.ttl, metrics_listen=args.metrics_listen)
    finally:
        await pool.close()


def command(service: str, db: str, registry: str, listen: str, accounts: str = "", *extra: str) -> list[str]:
    """The command line that serves one bank (what ``txc demo`` and ``txc bench tcc`` start). ``-P``: the
    directory it runs in never shadows an import."""
    args = ["--service", service, "--db", db, "--registry", registry, "--listen", listen, "--accounts", accounts]
    return [sys.executable, "-P", "-m", "demo.bank", *args, *extra]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--service", required=True)
    parser.add_argument("--db", required=True, help="postgresql:// URL of this bank's own database")
    parser.add_argument("--registry", default="127.0.0.1:7070")
    parser.add_argument("--listen", default="127.0.0.1:0")
    parser.add_argument("--accounts", default="", help="NAME=BALANCE,... to open (existing accounts stay)")
    parser.add_argument("--ttl", type=float, default=3.0)
    parser.add_argument("--pool-size", type=int, default=10)
    parser.add_argument("--hold-tries-until", metavar="FILE", help="hold every try back until FILE exists (tests)")
    parser.add_argument("--audit", action="store_true", help="record every phase call's barrier outcome")
    parser.add_argument("--metrics-listen", metavar="HOST:PORT", help="export Prometheus metrics there")
    parser.add_argument("--log-format", choices=("text", "json"), help="default: $TXC_LOG_FORMAT or text")
    parser.add_argument("--fail-rate", type=float, default=0.0, help="fail this share of phase calls (tests)")
    parser.add_argument("--http", action="store_true", help="serve over HTTP/JSON (ASGI under uvicorn), not gRPC")
    args = parser.parse_args(argv)
    setup_logging(logging.INFO, args.log_format)
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
