"""Transport trust through real processes: TLS on the coordinator, its hosted registry and a participant,
the token on registry writes and admin calls, mutual TLS, and a non-loopback listener that refuses plaintext."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc
import pytest

from demo.bank import credit, debit
from sdk.coordinator_client import CoordinatorClient
from sdk.errors import RpcError
from sdk.registry import RegistryClient
from sdk.rpc import ClientSecurity
from tests.integration.coordinator.cluster import TXC, Cluster, accounts, tx_state
from tests.support import ChildProcess, free_port, start_process
from tests.support.certs import Pki, make_pki
from tests.support.polling import eventually

NewDb = Callable[..., Awaitable[str]]
TOKEN = "s3cret-token-for-tests"


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path / "pki")


def _credentials(pki: Pki, *, client_cert: bool = False) -> grpc.ChannelCredentials:
    return grpc.ssl_channel_credentials(
        root_certificates=Path(pki.ca).read_bytes(),
        private_key=Path(pki.client_key).read_bytes() if client_cert else None,
        certificate_chain=Path(pki.client_cert).read_bytes() if client_cert else None,
    )


def _tls_env(pki: Pki, token: str = TOKEN) -> dict[str, str]:
    """What every process of a TLS deployment gets: its certificate, the CA and the token."""
    return {"TXC_TLS_CA": pki.ca, "TXC_TLS_CERT": pki.server_cert, "TXC_TLS_KEY": pki.server_key, "TXC_TOKEN": token}


def _txc(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("TXC_")}
    return subprocess.run([TXC, *args], capture_output=True, text=True, timeout=60, env={**base, **(env or {})})


def _start_tls_coordinator(cluster: Cluster, pki: Pki) -> tuple[ChildProcess, str]:
    address = f"127.0.0.1:{free_port()}"
    args = [TXC, "coordinator", "--listen", address, "--store", cluster.store, "--scan-interval", "0.2"]
    args += ["--tls-cert", pki.server_cert, "--tls-key", pki.server_key, "--tls-ca", pki.ca, "--token", TOKEN]
    proc = start_process(args, cluster.log_dir, "coordinator-tls")
    cluster.processes.append(proc)
    proc.wait_serving(address, credentials=_credentials(pki))
    cluster.registry = address
    return proc, address


async def _code_of(work: Awaitable[object]) -> grpc.StatusCode:
    with pytest.raises(RpcError) as raised:
        await work
    return raised.value.code


async def test_tls_coordinator_needs_the_token_for_registry_writes_and_admin(
    cluster: Cluster, new_db: NewDb, pki: Pki
) -> None:
    _, address = _start_tls_coordinator(cluster, pki)

    # A plaintext client cannot talk to a TLS server at all, not even a read.
    plain = RegistryClient(address, security=ClientSecurity(), timeout=2.0)
    try:
        assert await _code_of(plain.list_all()) == grpc.StatusCode.UNAVAILABLE
    finally:
        await plain.close(deregister=False)

    # Over TLS without the token: reads are open, writes are refused before they reach the store.
    anonymous = RegistryClient(address, security=ClientSecurity(ca=pki.ca))
    wrong = RegistryClient(address, security=ClientSecurity(ca=pki.ca, token="not-the-token"))
    try:
        assert await anonymous.list_all() == []
        assert await _code_of(anonymous.register("bank-x", "127.0.0.1:1", 5.0)) == grpc.StatusCode.UNAUTHENTICATED
        assert await _code_of(wrong.register("bank-x", "127.0.0.1:1", 5.0)) == grpc.StatusCode.PERMISSION_DENIED
        assert await anonymous.list_all() == []
    finally:
        await anonymous.close(deregister=False)
        await wrong.close(deregister=False)

    # A participant with the deployment's certificate and token registers and serves over TLS.
    db_a, db_b = await new_db(), await new_db()
    for service, db, account in (("bank-a", db_a, "A=100"), ("bank-b", db_b, "B=0")):
        listen = f"127.0.0.1:{free_port()}"
        args = [sys.executable, "-m", "demo.bank", "--service", service, "--db", db, "--registry", address]
        args += ["--listen", listen, "--accounts", account, "--ttl", "2"]
        proc = start_process(args, cluster.log_dir, service, env=_tls_env(pki))
        cluster.processes.append(proc)
        proc.wait_serving(listen, credentials=_credentials(pki))

    tls = ClientSecurity(ca=pki.ca, token=TOKEN)
    async with CoordinatorClient(address, security=tls) as client:
        # A whole transfer over TLS: register, tries, commit, and phase 2 from the coordinator.
        async with client.transaction(timeout=30) as tx:
            await tx.call(debit.on("bank-a"), account="A", amount=10)
            await tx.call(credit.on("bank-b"), account="B", amount=10)

        async def committed() -> bool:
            return await tx_state(cluster.store, tx.gid) == "COMMITTED"

        await eventually(committed, what="COMMITTED over TLS")
        assert (await accounts(db_a))["A"][0] == 90

        # Abort is an admin call: refused without the token, with no effect on the transaction; so is
        # beginning one (nothing that changes state is open once security is on).
        pending = client.transaction(timeout=60)
        await pending.call(debit.on("bank-a"), account="A", amount=5)
        async with CoordinatorClient(address, security=ClientSecurity(ca=pki.ca)) as anonymous_client:
            assert await _code_of(anonymous_client.abort(pending.gid)) == grpc.StatusCode.UNAUTHENTICATED
            assert await _code_of(anonymous_client.begin("g-anonymous")) == grpc.StatusCode.UNAUTHENTICATED
        assert await tx_state(cluster.store, pending.gid) == "BEGIN"

        # The CLI: without the token a one-line refusal, exit 2; with it the abort happens.
        refused = await asyncio.to_thread(
            _txc, "--tls-ca", pki.ca, "tx", "abort", pending.gid, "--coordinator", address
        )
        assert refused.returncode == 2, refused
        assert "UNAUTHENTICATED" in refused.stderr and "Traceback" not in refused.stderr
        assert await tx_state(cluster.store, pending.gid) == "BEGIN"
        done = await asyncio.to_thread(
            _txc, "tx", "abort", pending.gid, "--coordinator", address, env={"TXC_TLS_CA": pki.ca, "TXC_TOKEN": TOKEN}
        )
        assert done.returncode == 0, done.stderr

        async def rolled_back() -> bool:
            return await tx_state(cluster.store, pending.gid) == "ROLLED_BACK"

        await eventually(rolled_back, what="ROLLED_BACK after an authorised abort")
    assert (await accounts(db_a))["A"] == (90, 0, 0)


async def test_mutual_tls_refuses_a_client_without_a_certificate(
    tmp_path: Path, processes: list[ChildProcess], pki: Pki
) -> None:
    address = f"127.0.0.1:{free_port()}"
    args = [TXC, "registry", "--listen", address, "--tls-cert", pki.server_cert, "--tls-key", pki.server_key]
    args += ["--tls-ca", pki.ca, "--tls-client-auth"]
    proc = start_process(args, tmp_path / "logs", "registry-mtls")
    processes.append(proc)
    proc.wait_serving(address, credentials=_credentials(pki, client_cert=True))

    no_cert = RegistryClient(address, security=ClientSecurity(ca=pki.ca, token=TOKEN), timeout=2.0)
    try:
        assert await _code_of(no_cert.register("svc", "127.0.0.1:1", 5.0)) == grpc.StatusCode.UNAVAILABLE
    finally:
        await no_cert.close(deregister=False)
    # Under mutual TLS the certificate is the identity: no token needed.
    with_cert = RegistryClient(address, security=ClientSecurity(ca=pki.ca, cert=pki.client_cert, key=pki.client_key))
    try:
        await with_cert.register("svc", "127.0.0.1:1", 5.0)
        assert [ep.service for ep in await with_cert.list_all()] == ["svc"]
    finally:
        await with_cert.close(deregister=True)


def test_a_non_loopback_listener_refuses_to_start_insecure(pki: Pki) -> None:
    address = f"0.0.0.0:{free_port()}"
    plain = _txc("registry", "--listen", address)
    assert plain.returncode == 2
    assert plain.stderr.strip().count("\n") == 0 and "--insecure" in plain.stderr, plain.stderr
    assert "not a loopback address" in plain.stderr and "Traceback" not in plain.stderr
    # TLS alone is not enough there: registry writes would be open to anyone who can connect.
    no_token = _txc("registry", "--listen", address, "--tls-cert", pki.server_cert, "--tls-key", pki.server_key)
    assert no_token.returncode == 2 and "--token" in no_token.stderr, no_token.stderr
    coordinator = _txc("coordinator", "--listen", address, "--store", "postgresql://127.0.0.1:1/none")
    assert coordinator.returncode == 2 and "not a loopback address" in coordinator.stderr, coordinator.stderr


async def test_under_mutual_tls_the_certificate_name_is_the_identity(
    tmp_path: Path, processes: list[ChildProcess], pki: Pki
) -> None:
    credentials = tmp_path / "credentials.toml"
    # make_pki's client certificate is named "txcoord client": a participant that may register only "svc"
    credentials.write_text(
        '[identity.client]\nroles = ["participant"]\ncertificates = ["txcoord client"]\nregisters = ["svc"]\n'
    )
    address = f"127.0.0.1:{free_port()}"
    args = [TXC, "registry", "--listen", address, "--tls-cert", pki.server_cert, "--tls-key", pki.server_key]
    args += ["--tls-ca", pki.ca, "--tls-client-auth", "--credentials", str(credentials)]
    proc = start_process(args, tmp_path / "logs", "registry-mtls-identities")
    processes.append(proc)
    proc.wait_serving(address, credentials=_credentials(pki, client_cert=True))
    client = RegistryClient(address, security=ClientSecurity(ca=pki.ca, cert=pki.client_cert, key=pki.client_key))
    try:
        await client.register("svc", "127.0.0.1:1", 5.0)
        assert await _code_of(client.register("other", "127.0.0.1:2", 5.0)) == grpc.StatusCode.PERMISSION_DENIED
        assert [ep.service for ep in await client.list_all()] == ["svc"]
    finally:
        await client.close(deregister=True)
