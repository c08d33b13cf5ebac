"""Trip-booking participants for examples/sagas/book_trip.yaml: one process per service, state in its own
PostgreSQL database, every action and compensation one SQL statement inside the barrier.

    python examples/sagas/trip.py --service trip-flights --db postgresql://.../flights --registry 127.0.0.1:7070

Actions: ``book`` (compensation ``cancel``) and ``charge`` (compensation ``refund``). ``charge`` refuses
amounts above ``--card-limit``: the demo's failing payment. The knobs after that exist for the tests and the
demo: a delay inside the action, transient failures, a hold before the barrier, and an audit of every call
with its start and end time."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import time
from typing import Any

import asyncpg

from sdk import (
    ActionCall,
    ActionReply,
    Interceptor,
    Participant,
    PgBarrier,
    Proceed,
    RetryLater,
    SagaContext,
    saga_step,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS trip_booking (
    gid      text NOT NULL,
    step_id  text NOT NULL,
    service  text NOT NULL,
    detail   text NOT NULL,
    amount   integer NOT NULL DEFAULT 0,
    state    text NOT NULL DEFAULT 'BOOKED',
    PRIMARY KEY (gid, step_id)
);
CREATE TABLE IF NOT EXISTS trip_audit (
    id        bigserial PRIMARY KEY,
    gid       text NOT NULL,
    step_id   text NOT NULL,
    op        text NOT NULL,
    outcome   text NOT NULL,
    started   double precision NOT NULL,
    ended     double precision NOT NULL
);
"""
BOOK = "INSERT INTO trip_booking (gid, step_id, service, detail) VALUES ($1, $2, $3, $4)"
CHARGE = "INSERT INTO trip_booking (gid, step_id, service, detail, amount) VALUES ($1, $2, $3, $4, $5)"
UNDO = "UPDATE trip_booking SET state = 'CANCELLED' WHERE gid = $1 AND step_id = $2"
AUDIT = "INSERT INTO trip_audit (gid, step_id, op, outcome, started, ended) VALUES ($1, $2, $3, $4, $5, $6)"
log = logging.getLogger("trip")


class Knobs:
    delay = 0.0  # seconds each action takes (inside the barrier's transaction)
    fail_first = 0  # transient failures (RetryLater) before an action succeeds, per (gid, step)
    card_limit = 10**9
    failures: dict[tuple[str, str], int] = {}


class CardDeclined(Exception):
    pass


async def _transient(ctx: SagaContext) -> None:
    key = (ctx.gid, ctx.step_id)
    seen = Knobs.failures.get(key, 0)
    if seen < Knobs.fail_first:
        Knobs.failures[key] = seen + 1
        raise RetryLater(f"{ctx.service} is busy (failure {seen + 1} of {Knobs.fail_first})")


@saga_step
async def book(
    ctx: SagaContext, user: str, city: str = "", nights: int = 0, flight: str = "", pickup: str = ""
) -> dict[str, Any]:
    """Book something for ``user``; the output names the booking."""
    await _transient(ctx)
    if Knobs.delay:
        await asyncio.sleep(Knobs.delay)
    detail = {"user": user, "city": city, "nights": nights, "flight": flight, "pickup": pickup}
    await ctx.conn.execute(BOOK, ctx.gid, ctx.step_id, ctx.service, json.dumps(detail))
    return {"booking_id": f"{ctx.service}-{ctx.gid[-6:]}-{ctx.step_id}"}


@book.compensation
async def cancel(
    ctx: SagaContext, user: str, city: str = "", nights: int = 0, flight: str = "", pickup: str = ""
) -> None:
    await ctx.conn.execute(UNDO, ctx.gid, ctx.step_id)


@saga_step
async def charge(ctx: SagaContext, user: str, amount: int, items: list[Any] | None = None) -> dict[str, Any]:
    """Charge ``amount`` to ``user``'s card; declined above the card limit."""
    await _transient(ctx)
    if Knobs.delay:
        await asyncio.sleep(Knobs.delay)
    if amount > Knobs.card_limit:
        raise CardDeclined(f"card of {user} declined for {amount} (limit {Knobs.card_limit})")
    await ctx.conn.execute(CHARGE, ctx.gid, ctx.step_id, ctx.service, json.dumps(items or []), amount)
    return {"booking_id": f"charge-{ctx.gid[-6:]}", "amount": amount}


@charge.compensation
async def refund(ctx: SagaContext, user: str, amount: int, items: list[Any] | None = None) -> None:
    await ctx.conn.execute(UNDO, ctx.gid, ctx.step_id)


def audited(pool: asyncpg.Pool, hold: float) -> Interceptor:
    """An interceptor recording every call (start, end, barrier outcome or error); ``hold`` delays an action
    before the barrier."""

    async def run(call: ActionCall, proceed: Proceed) -> ActionReply:
        started = time.time()
        op = "action" if call.op == "try" else "compensation"
        if hold and op == "action":
            await asyncio.sleep(hold)
        try:
            reply = await proceed(call)
        except Exception as exc:
            outcome = f"error: {type(exc).__name__}"
            await pool.execute(AUDIT, call.gid, call.branch_id, op, outcome, started, time.time())
            raise
        await pool.execute(AUDIT, call.gid, call.branch_id, op, reply.barrier.value, started, time.time())
        return reply

    async def audit(call: ActionCall, proceed: Proceed) -> ActionReply:
        if not hold or call.op != "try":
            return await run(call, proceed)
        # a held call outlives its caller's deadline, as a request stuck in a network queue would
        return await asyncio.shield(asyncio.create_task(run(call, proceed)))

    return audit


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--service", required=True, action="append", help="service name (repeatable)")
    parser.add_argument("--db", required=True, help="the participant's own PostgreSQL database")
    parser.add_argument("--registry", required=True, help="HOST:PORT of the registry (comma-separated: several)")
    parser.add_argument("--listen", default="127.0.0.1:0")
    parser.add_argument("--ttl", type=float, default=2.0)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds each action takes")
    parser.add_argument("--fail-first", type=int, default=0, help="transient failures before each action works")
    parser.add_argument("--card-limit", type=int, default=10**9, help="charges above this are declined")
    parser.add_argument("--no-audit", action="store_true", help="do not record calls (benchmarks)")
    parser.add_argument("--hold-action", type=float, default=0.0, help="seconds an action waits before the barrier")
    parser.add_argument("--http", action="store_true", help="serve over HTTP/JSON (one --service), not gRPC")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    Knobs.delay, Knobs.fail_first, Knobs.card_limit = args.delay, args.fail_first, args.card_limit
    pool = await asyncpg.create_pool(args.db, min_size=1, max_size=8)
    assert pool is not None
    barrier = PgBarrier(pool)
    await barrier.install()
    await pool.execute(SCHEMA)
    interceptors = [] if args.no_audit else [audited(pool, args.hold_action)]
    first, *others = (Participant(s, [book, charge], barrier=barrier, interceptors=interceptors) for s in args.service)
    host = first.host(args.listen, args.registry.split(","), ttl=args.ttl)
    for participant in others:  # several services on one port: each registered under its own name
        host.add_json_service(participant.service, participant.handlers())
    try:
        if args.http:  # the same handlers as an ASGI app under uvicorn, registered as an http endpoint
            if len(args.service) != 1:
                parser.error("--http serves one --service")
            await first.serve_http(args.listen, args.registry.split(","), ttl=args.ttl)
        else:
            await host.run()
    finally:
        await pool.close()


if __name__ == "__main__":
    asyncio.run(main())
