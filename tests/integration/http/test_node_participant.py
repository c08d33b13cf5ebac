"""The Node.js example participant (examples/node) through the coordinator: transfers with a Python gRPC
participant under random failures and a SIGKILL of the Node process, its barrier answering duplicate, late and
out-of-order phases exactly as the Python barrier does, and its branch-signature check."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from demo.bank import credit, debit
from sdk.branch_mac import BranchSigner
from tests.integration.coordinator.cluster import Cluster, accounts, states
from tests.integration.http.conftest import http_bank, node_bank
from tests.support import free_port
from tests.support.polling import eventually

NewDb = Callable[..., Awaitable[str]]
KEY = "branch-key-for-tests-0123456789"
TERMINAL = {"COMMITTED", "ROLLED_BACK"}


@pytest.fixture(autouse=True)
def branch_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TXC_BRANCH_KEY", KEY)


@pytest.mark.slow
async def test_transfers_between_python_grpc_and_node_http_survive_failures_and_a_sigkill(
    cluster: Cluster, new_db: NewDb
) -> None:
    rest = f"127.0.0.1:{free_port()}"
    cluster.coordinator("--http-listen", rest, "--retry-max", "0.5")
    db_a, db_b = await new_db(), await new_db()
    cluster.bank("bank-a", db_a, "A=100000", "--fail-rate", "0.1")
    node = await node_bank(cluster, rest, "bank-b", db_b, "B=0", "--fail-rate", "0.1")
    total, started = 200, 0
    outcomes: dict[str, int] = {"committed": 0, "failed": 0}
    restarted = asyncio.Event()

    async def transfer(client: Any) -> None:
        try:
            async with client.transaction(timeout=30) as tx:
                amount = random.randint(1, 20)
                await tx.call(debit.on("bank-a"), account="A", amount=amount)
                await tx.call(credit.on("bank-b"), account="B", amount=amount)
            outcomes["committed"] += 1
        except Exception:
            outcomes["failed"] += 1  # a refused or failed try: the transaction rolls back

    async def worker(client: Any) -> None:
        nonlocal started
        while started < total:
            started += 1
            if started == total // 2:
                node.kill()  # SIGKILL half-way, then a new process on the same database
                await node_bank(cluster, rest, "bank-b", db_b, "B=0", "--fail-rate", "0.1")
                restarted.set()
            await transfer(client)

    async with cluster.client() as client:
        await asyncio.gather(*(worker(client) for _ in range(6)))
    assert restarted.is_set()
    assert outcomes["committed"] + outcomes["failed"] == total
    assert outcomes["committed"] > 0 and outcomes["failed"] > 0, outcomes  # failures were injected in both

    async def all_terminal() -> bool:
        counts = await states(cluster.store)
        return sum(counts.values()) >= total - 1 and set(counts) <= TERMINAL

    await eventually(all_terminal, timeout=90, what="every transaction terminal")
    a, b = await accounts(db_a), await accounts(db_b)
    assert a["A"][1:] == (0, 0) and b["B"][1:] == (0, 0), (a, b)  # nothing frozen, nothing still incoming
    assert a["A"][0] + b["B"][0] == 100000, (a, b)  # money conserved
    assert (await states(cluster.store)).get("COMMITTED", 0) >= outcomes["committed"]


def _signed(signer: BranchSigner, service: str, gid: str, branch: str, action: str, args: dict[str, Any]) -> Any:
    return {
        "Txc-Gid": gid,
        "Txc-Branch-Id": branch,
        "Txc-Branch-Signature": signer.sign(gid, branch, service, action, args),
    }


# Each scenario: phases sent in this order for one branch of "credit" (a try may come after its cancel).
SCENARIOS = {
    "duplicates": ["try", "try", "confirm", "confirm", "cancel"],
    "cancel_before_try": ["cancel", "try", "confirm", "cancel"],
    "confirm_without_try": ["confirm", "try", "cancel"],
    "cancel_then_late_confirm": ["try", "cancel", "cancel", "confirm"],
}


async def _play(base: str, service: str, run: str) -> dict[str, list[tuple[int, str]]]:
    """Per scenario, (status, barrier outcome or error code) of each phase sent; a phase answered with a valid
    try receipt (sdk.branch_mac: the same bytes from Node as from Python) is marked "+receipt"."""
    signer = BranchSigner(KEY.encode())
    args = {"account": "B", "amount": 7}
    seen: dict[str, list[tuple[int, str]]] = {}
    async with httpx.AsyncClient(timeout=30) as http:
        for name, ops in SCENARIOS.items():
            gid = f"{run}-{name}"
            for op in ops:
                action = "credit" if op == "try" else f"credit.{op}"
                reply = await http.post(
                    f"{base}/{action}", json=args, headers=_signed(signer, service, gid, "1", action, args)
                )
                body = reply.json()
                outcome = body.get("barrier") or body.get("code")
                if "receipt" in body:
                    assert signer.valid_receipt(body["receipt"], gid, "1"), (service, name, op, body)
                    outcome += "+receipt"
                seen.setdefault(name, []).append((reply.status_code, outcome))
    return seen


async def test_node_barrier_answers_disorder_exactly_as_the_python_barrier(cluster: Cluster, new_db: NewDb) -> None:
    rest = f"127.0.0.1:{free_port()}"
    cluster.coordinator("--http-listen", rest)
    db_python, db_node = await new_db(), await new_db()
    python = await http_bank(cluster, "bank-py", db_python, "B=0")
    node = await node_bank(cluster, rest, "bank-js", db_node, "B=0")
    from_python = await _play(python.listen, "bank-py", "py")  # type: ignore[attr-defined]
    from_node = await _play(node.listen, "bank-js", "js")  # type: ignore[attr-defined]
    assert from_node == from_python
    assert from_python == {
        "duplicates": [
            (200, "applied+receipt"),
            (200, "duplicate+receipt"),  # the first try's answer again, receipt included
            (200, "applied"),
            (200, "duplicate"),
            (409, "ABORTED"),
        ],
        "cancel_before_try": [(200, "empty_cancel"), (409, "ABORTED"), (409, "ABORTED"), (200, "duplicate")],
        "confirm_without_try": [(409, "ABORTED"), (409, "ABORTED"), (200, "empty_cancel")],
        "cancel_then_late_confirm": [(200, "applied+receipt"), (200, "applied"), (200, "duplicate"), (409, "ABORTED")],
    }
    # one applied credit (7) confirmed; every other branch left nothing behind
    assert await accounts(db_node) == await accounts(db_python) == {"B": (7, 0, 0)}


async def test_node_refuses_unsigned_and_forged_phase_calls(cluster: Cluster, new_db: NewDb) -> None:
    rest = f"127.0.0.1:{free_port()}"
    cluster.coordinator("--http-listen", rest)
    db = await new_db()
    node = await node_bank(cluster, rest, "bank-js", db, "B=50")
    args = {"account": "B", "amount": 5}
    other = BranchSigner(b"another-key-0123456789abcdef")
    async with httpx.AsyncClient(timeout=30) as http:
        for action in ("credit", "credit.confirm", "credit.cancel"):
            for headers, why in [
                ({"Txc-Gid": "forged", "Txc-Branch-Id": "1"}, "unsigned"),
                (_signed(other, "bank-js", "forged", "1", action, args), "bad branch signature"),
                # signed for another amount: the arguments are part of what is signed
                (_signed(BranchSigner(KEY.encode()), "bank-js", "forged", "1", action, {**args, "amount": 1}), "bad"),
            ]:
                reply = await http.post(f"{node.listen}/{action}", json=args, headers=headers)  # type: ignore[attr-defined]
                assert reply.status_code == 403, reply.text
                assert reply.json()["code"] == "PERMISSION_DENIED" and why in reply.json()["error"]
    assert await accounts(db) == {"B": (50, 0, 0)}
