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

from sdk.barrier import PgBarrier
from sdk.http import serve_http
from sdk.participant import Participant
from sdk.saga.step import RetryLater, SagaContext, saga_step
from sdk.service_server import ServiceServer

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


def audited(pool: asyncpg.Pool, op: str, handler: Any, hold: float) -> Any:
    """Record every call (start, end, barrier outcome or error); ``hold`` delays it before the barrier."""

    async def run(body: Any, context: Any) -> Any:
        started = time.time()
        if hold:
            await asyncio.sleep(hold)
        gid, step_id = str(body.get("gid")), str(body.get("branch_id"))
        try:
            reply = await handler(body, context)
        except Exception as exc:
            await pool.execute(AUDIT, gid, step_id, op, f"error: {type(exc).__name__}", started, time.time())
            raise
        await pool.execute(AUDIT, gid, step_id, op, reply.get("barrier", "?"), started, time.time())
        return reply

    async def handle(body: Any, context: Any) -> Any:
        if not hold:
            return await run(body, context)
        # a held call outlives its caller's deadline, as a request stuck in a network queue would
        return await asyncio.shield(asyncio.create_task(run(body, context)))

    return handle


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
    host = ServiceServer(args.listen, args.registry.split(","), ttl=args.ttl, name=args.service[0])
    ops = {"book": "action", "charge": "action", "cancel": "compensation", "refund": "compensation"}
    for service in args.service:
        handlers = Participant(service, [book, charge], barrier=barrier).handlers()
        served = {
            name: handler
            if args.no_audit
            else audited(pool, ops[name], handler, args.hold_action * (ops[name] == "action"))
            for name, handler in handlers.items()
            if name in ops
        }
        host.add_json_service(service, served)
    try:
        if args.http:  # the same handlers as an ASGI app under uvicorn, registered as an http endpoint
            if len(args.service) != 1:
                parser.error("--http serves one --service")
            await serve_http(args.service[0], served, args.listen, args.registry.split(","), ttl=args.ttl)
        else:
            await host.run()
    finally:
        await pool.close()


if __name__ == "__main__":
    asyncio.run(main())
