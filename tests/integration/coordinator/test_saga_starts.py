"""Saga starts are group-committed and a waited-for saga is answered from the coordinator's memory: both must
be invisible to callers (real coordinator and participant processes, real PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from google.protobuf.json_format import MessageToDict

from sdk._proto import saga_pb2
from tests.integration.coordinator.cluster import Cluster, query
from tests.integration.coordinator.sagas import LINEAR, calls, trip
from txcoord.saga.store import NewSaga, SagaStore

NewDb = Callable[..., Awaitable[str]]


def _plain(detail: saga_pb2.SagaDetail) -> dict[str, Any]:
    """The detail as a dict, its JSON fields decoded (PostgreSQL's jsonb keeps keys in its own order)."""
    plain = MessageToDict(detail, preserving_proto_field_name=True)
    plain["input_json"] = json.loads(detail.input_json)
    for step, message in zip(plain["steps"], detail.steps, strict=True):
        for name in ("input_json", "output_json"):
            step[name] = json.loads(getattr(message, name) or b"null")
    return plain


async def test_concurrent_starts_with_shared_keys_and_gids_create_each_instance_once(
    cluster: Cluster, new_db: NewDb
) -> None:
    cluster.coordinator()
    db = await new_db()
    trip(cluster, db)
    async with cluster.client() as client:
        await client.register_saga(LINEAR, "linear.yaml")
        starts = [
            # the same idempotency key ten times, one caller-chosen gid five times, twenty distinct starts:
            # concurrent, so they share the store's batches
            *(
                client.sagas.start("linear", {"user": f"k{n}", "amount": 5}, wait=True, idempotency_key="dup")
                for n in range(10)
            ),
            *(client.sagas.start("linear", {"user": "g", "amount": 5}, wait=True, gid="one-gid") for _ in range(5)),
            *(client.sagas.start("linear", {"user": f"u{n}", "amount": 5}, wait=True) for n in range(20)),
        ]
        results = await asyncio.gather(*starts)
    keyed, same_gid, distinct = results[:10], results[10:15], results[15:]
    assert len({r.gid for r in keyed}) == 1 and sum(r.created for r in keyed) == 1
    assert {r.gid for r in same_gid} == {"one-gid"} and sum(r.created for r in same_gid) == 1
    assert len({r.gid for r in distinct}) == 20 and all(r.created for r in distinct)
    assert {r.state for r in results} == {"SUCCEEDED"}
    for gid in {r.gid for r in results}:
        applied = Counter(c["step_id"] for c in await calls(db, gid) if c["outcome"] == "applied")
        assert applied == {"flight": 1, "hotel": 1, "payment": 1}, (gid, applied)


async def test_the_answer_to_a_waited_start_is_what_the_log_holds(cluster: Cluster, new_db: NewDb) -> None:
    cluster.coordinator()
    db = await new_db()
    trip(cluster, db)
    async with cluster.client() as client:
        await client.register_saga(LINEAR, "linear.yaml")
        waited = await asyncio.gather(
            *(client.start_saga("linear", {"user": f"w{n}", "amount": 7}, wait=True) for n in range(8))
        )
        for result in waited:
            assert result.state == "SUCCEEDED", result
            logged = await client.saga(result.gid)
            assert result.detail is not None and logged.detail is not None
            answered, stored = _plain(result.detail), _plain(logged.detail)
            answered.pop("created")
            stored.pop("events", None)  # a query carries the event log (a start leaves it to `txc saga show`)
            assert answered == stored
            steps = stored["steps"]
            assert [s["step_id"] for s in steps] == ["flight", "hotel", "payment"]
            assert all(s["ended_at"] and s["started_at"] and s["completion_order"] for s in steps)


async def test_a_start_the_store_refuses_fails_alone_not_with_its_batch(store: str) -> None:
    """Starts share one statement; one the store cannot take (a NUL escape, which the service's edge refuses
    and jsonb does too) must not fail the starts batched with it. Real PostgreSQL, the store called directly."""
    pool = await asyncpg.create_pool(store, min_size=1, max_size=2)
    try:
        sagas = SagaStore(pool, owner="me")
        await sagas.register_definition("linear", 1, LINEAR)

        def new(gid: str, input_json: str) -> NewSaga:
            return NewSaga(gid, "linear", 1, input_json, None, 60.0, ("flight",), (None,))

        results = await asyncio.gather(
            sagas.start(new("ok-1", '{"user": "a"}')),
            sagas.start(new("bad", '{"user": "a\\u0000b"}')),
            sagas.start(new("ok-2", '{"user": "b"}')),
            return_exceptions=True,
        )
        await sagas.close()
    finally:
        await pool.close()
    ok_1, bad, ok_2 = results
    assert isinstance(bad, asyncpg.PostgresError), bad
    for gid, result in (("ok-1", ok_1), ("ok-2", ok_2)):
        assert not isinstance(result, BaseException), result
        assert result[0] == gid and result[1] is not None
    assert sorted(r["gid"] for r in await query(store, "SELECT gid FROM txc_saga")) == ["ok-1", "ok-2"]
