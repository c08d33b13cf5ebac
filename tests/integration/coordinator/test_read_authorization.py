"""Issue #16: "read-only methods may stay open on loopback; nothing that changes state is open once security is
on". The read-only methods (Query, List, Activity, QuerySaga, ListSagaDefinitions, the registry's Resolve, Watch
and List) show payloads and lease ids: beyond loopback they need a credential, any identity's; on a listener
bound to loopback only they stay open. Through a real TLS coordinator with credentials on the host's own
non-loopback address, its REST front on the same address, and a second one on loopback sharing the store."""

from __future__ import annotations

import socket
import ssl
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc
import httpx
import pytest

from demo.bank import credit, debit
from sdk.coordinator_client import CoordinatorClient
from sdk.errors import RpcError
from sdk.rpc import ClientSecurity
from tests.integration.coordinator.cluster import Cluster, accounts
from tests.integration.coordinator.trust import SecureDeployment
from tests.support import free_port
from tests.support.certs import make_pki
from tests.support.polling import eventually

NewDb = Callable[..., Awaitable[str]]


def _own_address() -> str | None:
    """One of this host's non-loopback IPv4 addresses (`hostname -I`), if it has one."""
    try:
        done = subprocess.run(["hostname", "-I"], capture_output=True, text=True, timeout=10)
    except OSError:
        return None
    for word in done.stdout.split():
        try:
            socket.inet_pton(socket.AF_INET, word)
        except OSError:
            continue
        if not word.startswith("127."):
            return word
    return None


async def _code(work: Awaitable[object]) -> grpc.StatusCode:
    with pytest.raises(RpcError) as raised:
        await work
    return raised.value.code


async def test_read_only_methods_need_a_credential_beyond_loopback_and_stay_open_on_it(
    cluster: Cluster, new_db: NewDb, tmp_path: Path
) -> None:
    host = _own_address()
    if host is None:
        pytest.skip("this host has no non-loopback IPv4 address to listen on")
    pki = make_pki(tmp_path / "pki", addresses=[host])
    secure = SecureDeployment(cluster, pki, tmp_path)
    rest = f"{host}:{free_port()}"
    address = secure.coordinator("--http-listen", rest, host=host)
    assert not address.startswith("127.")
    db_a, db_b = await new_db(), await new_db()
    # participants register and keep their leases through the non-loopback registry with their own tokens
    secure.bank("bank-a", db_a, "A=100")
    secure.bank("bank-b", db_b, "B=0")

    # A transfer: the caller resolves the participants through the registry with its token, and the
    # coordinator's phase 2 resolves them through the registry it hosts.
    async with secure.client("shop") as shop, shop.transaction(timeout=60) as tx:
        await tx.call(debit.on("bank-a"), account="A", amount=10)
        await tx.call(credit.on("bank-b"), account="B", amount=10)

    async def settled() -> bool:
        return (await accounts(db_a), await accounts(db_b)) == ({"A": (90, 0, 0)}, {"B": (10, 0, 0)})

    await eventually(settled, what="the transfer confirmed on both banks")

    # No credential, or a forged one: every read-only method is refused.
    registry = secure.registry(None)
    async with secure.client(None) as anonymous:
        assert await _code(anonymous.list()) == grpc.StatusCode.UNAUTHENTICATED
        assert await _code(anonymous.query(tx.gid)) == grpc.StatusCode.UNAUTHENTICATED
        assert await _code(anonymous.activity()) == grpc.StatusCode.UNAUTHENTICATED
        assert await _code(anonymous.saga("no-such-saga")) == grpc.StatusCode.UNAUTHENTICATED
        assert await _code(registry.resolve("bank-a")) == grpc.StatusCode.UNAUTHENTICATED
        assert await _code(registry.list_all()) == grpc.StatusCode.UNAUTHENTICATED
    await registry.close(deregister=False)
    forged = ClientSecurity(ca=pki.ca, token="not-a-token-of-anyone-here")
    async with CoordinatorClient(address, timeout=10.0, security=forged) as stranger:
        assert await _code(stranger.list()) == grpc.StatusCode.PERMISSION_DENIED
        assert await _code(stranger.query(tx.gid)) == grpc.StatusCode.PERMISSION_DENIED

    # Any identity the credentials know reads, whatever its role: a caller, a participant, an operator.
    for identity in ("shop", "bank-a", "ops"):
        registry = secure.registry(identity)
        try:
            async with secure.client(identity) as reader:
                assert (await reader.query(tx.gid)).transaction.state == "COMMITTED", identity
                assert tx.gid in [t.gid for t in (await reader.list()).transactions], identity
                assert [e.service for e in await registry.resolve("bank-a")] == ["bank-a"], identity
        finally:
            await registry.close(deregister=False)

    # The REST front on the same non-loopback address: the same rule.
    verify = ssl.create_default_context(cafile=pki.ca)
    async with httpx.AsyncClient(base_url=f"https://{rest}", verify=verify, timeout=30) as http:
        reply = await http.get(f"/v1/transactions/{tx.gid}")
        assert reply.status_code == 401 and reply.json()["code"] == "UNAUTHENTICATED", reply.text
        reply = await http.get(f"/v1/transactions/{tx.gid}", headers={"authorization": "Bearer forged"})
        assert reply.status_code == 403, reply.text
        shop_token = {"authorization": f"Bearer {secure.tokens['shop']}"}
        reply = await http.get(f"/v1/transactions/{tx.gid}", headers=shop_token)
        assert reply.status_code == 200 and reply.json()["transaction"]["state"] == "COMMITTED", reply.text

    # A coordinator on loopback only, same credentials and store: reads stay open there, writes do not.
    (tmp_path / "loopback").mkdir()
    on_loopback = SecureDeployment(cluster, pki, tmp_path / "loopback")
    local = on_loopback.coordinator()
    async with CoordinatorClient(local, timeout=10.0, security=ClientSecurity(ca=pki.ca)) as anonymous:
        assert (await anonymous.query(tx.gid)).transaction.state == "COMMITTED"
        assert tx.gid in [t.gid for t in (await anonymous.list()).transactions]
        assert await _code(anonymous.begin("read-only-means-read-only", 60)) == grpc.StatusCode.UNAUTHENTICATED
