"""Mistakes caught where they are made (issue 23, Deliver 2): a participant with no barrier table, one with a
function the protocol cannot call, one without a certificate under TLS: each refuses to start, naming the fix,
and registers nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from sdk.errors import TransportError
from sdk.registry import RegistryClient
from sdk.rpc import ClientSecurity, RpcServer, ServerSecurity
from tests.integration.coordinator.cluster import Cluster
from tests.support.certs import make_pki

SCRIPT = Path(__file__).with_name("mistaken_participant.py")
NewDb = Callable[..., Awaitable[str]]


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("TXC_")}
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=60, env={**base, **(env or {})}
    )


async def _registered(address: str) -> list[str]:
    registry = RegistryClient(address)
    try:
        return [e.service for e in await registry.list_all()]
    finally:
        await registry.close(deregister=False)


async def test_a_participant_without_its_barrier_table_refuses_to_start_naming_install(
    cluster: Cluster, new_db: NewDb
) -> None:
    _, address = cluster.coordinator()
    db = await new_db()
    done = _run("--mistake", "no-barrier-table", "--db", db, "--registry", address)
    assert done.returncode != 0, done
    last = done.stderr.strip().splitlines()[-1]
    assert "BarrierError: the barrier table txc_barrier is missing" in last, done.stderr
    assert "`await PgBarrier(pool).install()`" in last and "sdk/ddl/barrier_postgresql.sql" in last
    assert await _registered(address) == []


def test_a_tcc_function_without_its_context_refuses_at_decoration() -> None:
    done = _run("--mistake", "no-ctx")
    assert done.returncode != 0, done
    last = done.stderr.strip().splitlines()[-1]
    assert "TccDefinitionError" in last and "add `ctx: TccContext[...]` before it" in last, done.stderr
    assert "'item' is annotated str" in last


async def test_a_participant_without_a_certificate_under_tls_refuses_to_start(tmp_path: Path, new_db: NewDb) -> None:
    pki = make_pki(tmp_path / "pki")
    done = _run("--mistake", "plaintext-under-tls", "--db", await new_db(), env={"TXC_TLS_CA": pki.ca})
    assert done.returncode != 0, done
    last = done.stderr.strip().splitlines()[-1]
    assert "ConfigError: shop: the registry is dialled over TLS (TXC_TLS_CA is set)" in last, done.stderr
    assert "give it a certificate (TXC_TLS_CERT and TXC_TLS_KEY" in last


async def test_a_certificate_that_does_not_name_the_address_dialled_is_named_in_the_error(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")  # its server certificate names 127.0.0.1 and localhost only
    server = RpcServer(
        "127.0.0.2:0", name="registry", security=ServerSecurity(cert=pki.server_cert, key=pki.server_key)
    )
    await server.start()
    client = RegistryClient(server.address, security=ClientSecurity(ca=pki.ca), timeout=3.0)
    try:
        with pytest.raises(TransportError) as failed:
            await client.list_all()
    finally:
        await client.close(deregister=False)
        await server.stop(0)
    assert f"the server at {server.address} has a certificate that does not name 127.0.0.2" in str(failed.value)
    assert "subjectAltName IP:127.0.0.2" in str(failed.value)
