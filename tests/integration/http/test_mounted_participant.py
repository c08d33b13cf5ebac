"""A Participant mounted into a user's own Starlette app (as in a FastAPI app), registered from the user's
lifespan as an http endpoint under its mount path, and driven by a real coordinator."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from demo.bank import credit, debit, prepare
from sdk import Participant, PgBarrier
from sdk.http.serve import bind
from tests.integration.coordinator.cluster import Cluster, accounts
from tests.support.polling import eventually

NewDb = Callable[..., Awaitable[str]]


async def test_a_participant_mounted_in_a_users_app_serves_its_branches(cluster: Cluster, new_db: NewDb) -> None:
    cluster.coordinator()
    db_a, db_b = await new_db(), await new_db()
    cluster.bank("bank-a", db_a, "A=100")
    pool = await asyncpg.create_pool(db_b, min_size=1, max_size=4)
    assert pool is not None
    await prepare(pool, {"B": 0})
    participant_app = Participant("bank-b", [debit, credit], barrier=PgBarrier(pool)).asgi()
    sock = bind("127.0.0.1:0")
    base_url = f"http://127.0.0.1:{sock.getsockname()[1]}/payments/txc"

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:  # the user's own lifespan registers it
        await participant_app.register(cluster.registry, base_url)
        yield
        await participant_app.deregister()

    async def hello(_request: object) -> PlainTextResponse:
        return PlainTextResponse("the user's own route")

    user_app = Starlette(
        routes=[Route("/hello", hello), Mount("/payments/txc", app=participant_app)], lifespan=lifespan
    )
    server = uvicorn.Server(uvicorn.Config(user_app, log_level="warning", lifespan="on"))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await eventually(lambda: server.started or serving.done(), what="the user's app serving")
        async with cluster.client() as client, client.transaction(timeout=30) as tx:
            await tx.call(debit.on("bank-a"), account="A", amount=25)
            await tx.call(credit.on("bank-b"), account="B", amount=25)

        async def confirmed() -> bool:  # both confirms: they are delivered concurrently, either may land first
            return (await accounts(db_a), await accounts(db_b)) == ({"A": (75, 0, 0)}, {"B": (25, 0, 0)})

        await eventually(confirmed, what="the confirms delivered, one of them to the mounted participant")
        async with httpx.AsyncClient() as http:  # the user's own routes are untouched
            assert (await http.get(base_url.removesuffix("/payments/txc") + "/hello")).text == "the user's own route"
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving, 30)
        await pool.close()
