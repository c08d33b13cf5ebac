"""HTTP participants beside gRPC ones: the coordinator delivers phase 2 over HTTP/JSON, a caller's tries go
over HTTP, the branch signature is checked by the Python HTTP participant, and its barrier behaves as over
gRPC, and `txc call --gid` reaches it too (real coordinator, real bank processes, one over gRPC and one served
by uvicorn)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Awaitable, Callable

import grpc
import httpx
import pytest

from demo.bank import credit, debit
from sdk.errors import RpcError
from tests.integration.coordinator.cluster import TXC, Cluster, accounts, audit, tx_state
from tests.integration.http.conftest import http_bank
from tests.support.polling import eventually

NewDb = Callable[..., Awaitable[str]]
KEY = "branch-key-for-tests-0123456789"


@pytest.fixture(autouse=True)
def branch_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TXC_BRANCH_KEY", KEY)


async def test_a_transfer_between_a_grpc_and_an_http_participant(cluster: Cluster, new_db: NewDb) -> None:
    _, address = cluster.coordinator()
    db_a, db_b = await new_db(), await new_db()
    cluster.bank("bank-a", db_a, "A=100")
    bank_b = await http_bank(cluster, "bank-b", db_b, "B=0")
    async with cluster.client() as client:
        async with client.transaction(timeout=30) as tx:
            await tx.call(debit.on("bank-a"), account="A", amount=10)
            await tx.call(credit.on("bank-b"), account="B", amount=10)
        committed = tx.gid

        async def confirmed() -> bool:
            return await accounts(db_b) == {"B": (10, 0, 0)}

        await eventually(confirmed, what="the HTTP participant's confirm")
        assert await accounts(db_a) == {"A": (90, 0, 0)}
        assert [op for _g, _b, op, outcome in await audit(db_b, committed)] == ["try", "confirm"]

        # a try the HTTP participant refuses (no such account) rolls the whole transfer back
        with pytest.raises(RpcError) as refused:
            async with client.transaction(timeout=30) as tx:
                await tx.call(debit.on("bank-a"), account="A", amount=5)
                await tx.call(credit.on("bank-b"), account="nobody", amount=5)
        assert refused.value.code == grpc.StatusCode.FAILED_PRECONDITION, refused.value
        assert "no account 'nobody'" in refused.value.details

        async def rolled_back() -> bool:
            return await tx_state(cluster.store, tx.gid) == "ROLLED_BACK"

        await eventually(rolled_back, what="the refused transfer rolled back")
        assert await accounts(db_a) == {"A": (90, 0, 0)}
        assert await accounts(db_b) == {"B": (10, 0, 0)}

        # `txc call --gid` joins a live transaction with a try on the HTTP participant
        gid = f"txc-call-{bank_b.pid}"
        assert await client.begin(gid, timeout=60) == "BEGIN"
        args = ["call", "bank-b", "credit", "--json", '{"account": "B", "amount": 3}', "--gid", gid]
        args += ["--coordinator", address, "--registry", address]
        done = subprocess.run([TXC, *args], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        tried = json.loads(done.stdout)
        assert tried["result"] == {"incoming": 3}
        await client.commit(gid, receipts={tried["branch_id"]: tried["receipt"]})  # the HTTP try's receipt

        async def joined() -> bool:
            return await accounts(db_b) == {"B": (13, 0, 0)}

        await eventually(joined, what="the branch txc call added, confirmed over HTTP")

    await _forged_calls_are_refused(bank_b.listen, db_b)  # type: ignore[attr-defined]


async def _forged_calls_are_refused(base: str, db_b: str) -> None:
    """Unsigned or forged phase calls straight to the Python HTTP participant: 403, no effect, nothing audited."""
    before, audited = await accounts(db_b), await audit(db_b)
    async with httpx.AsyncClient() as http:
        for headers, why in [
            ({"Txc-Gid": "forged-1", "Txc-Branch-Id": "1"}, "unsigned"),
            ({"Txc-Gid": "forged-2", "Txc-Branch-Id": "1", "Txc-Branch-Signature": "0" * 64}, "bad branch signature"),
        ]:
            for action in ("credit", "credit.confirm", "credit.cancel"):
                reply = await http.post(f"{base}/{action}", json={"account": "B", "amount": 5}, headers=headers)
                assert reply.status_code == 403, reply.text
                assert reply.json()["code"] == "PERMISSION_DENIED"
                assert why in reply.json()["error"]
        reply = await http.post(f"{base}/no-such-action", json={})
        assert reply.status_code == 404 and reply.json()["code"] == "UNIMPLEMENTED"
        for garbage in (b"{not json", b"[" * 100_000):  # bad input: 400, and the participant keeps serving
            reply = await http.post(f"{base}/credit", content=garbage, headers={"Txc-Gid": "g", "Txc-Branch-Id": "1"})
            assert reply.status_code == 400 and reply.json()["code"] == "INVALID_ARGUMENT", reply.text
    assert await accounts(db_b) == before
    assert await audit(db_b) == audited  # refused before the barrier or any user code ran
