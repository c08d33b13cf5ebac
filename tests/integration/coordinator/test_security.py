"""A coordinator (hosting the registry) started with TLS and a token, as a real process: a client without the
token cannot Register or Abort, one with it can; plaintext cannot reach it; a non-loopback listen without TLS
refuses to start. Certificates are made for the test by the openssl command line (no committed keys)."""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from sdk._proto import coordinator_pb2 as pb
from sdk._proto import coordinator_pb2_grpc, registry_pb2, registry_pb2_grpc
from sdk.rpc.security import Security, TokenClientInterceptor
from tests.integration.coordinator.cluster import TXC, Cluster, tx_state
from tests.support import ManagedProcess, free_port
from tests.support.polling import eventually
from tests.support.processes import start_process

TOKEN = "s3cret-token"


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture
def certs(tmp_path: Path) -> Path:
    d = tmp_path / "pki"
    d.mkdir()
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
             "-days", "1", "-subj", "/CN=txc test CA", cwd=d)  # fmt: skip
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
             "-subj", "/CN=localhost", cwd=d)  # fmt: skip
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", "server.pem", "-days", "1", "-extfile", "san.ext", cwd=d)  # fmt: skip
    return d


def _channel(address: str, certs: Path, token: str | None) -> grpc.aio.Channel:
    creds = Security(ca=str(certs / "ca.pem")).channel_credentials()
    assert creds is not None
    interceptors = [TokenClientInterceptor(token)] if token else []
    return grpc.aio.secure_channel(address, creds, interceptors=interceptors)


async def _serving(address: str, certs: Path) -> None:
    async def ready() -> bool:
        async with _channel(address, certs, None) as ch:
            try:
                reply = await health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=2)
            except grpc.aio.AioRpcError:
                return False
            return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)

    await eventually(ready, timeout=60, what="coordinator serving TLS")


async def test_tls_and_token_guard_register_and_abort(
    cluster: Cluster, certs: Path, processes: list[ManagedProcess]
) -> None:
    address = f"127.0.0.1:{free_port()}"
    args = [TXC, "coordinator", "--listen", address, "--store", cluster.store, "--node-id", "tls-node",
            "--tls-cert", str(certs / "server.pem"), "--tls-key", str(certs / "server.key"),
            "--tls-ca", str(certs / "ca.pem"), "--token", TOKEN]  # fmt: skip
    processes.append(start_process(args, cluster.log_dir, "coordinator-tls"))
    await _serving(address, certs)
    register = registry_pb2.RegisterRequest(service="bank", address="127.0.0.1:1", ttl_seconds=5)

    async with _channel(address, certs, None) as anonymous:
        with pytest.raises(grpc.aio.AioRpcError) as denied:
            await registry_pb2_grpc.RegistryStub(anonymous).Register(register, timeout=30)
        assert denied.value.code() is grpc.StatusCode.UNAUTHENTICATED
        stub = coordinator_pb2_grpc.CoordinatorStub(anonymous)
        await stub.Begin(pb.BeginRequest(gid="tls-1", timeout_seconds=60), timeout=30)  # not an admin call: open
        with pytest.raises(grpc.aio.AioRpcError) as denied:
            await stub.Abort(pb.QueryRequest(gid="tls-1"), timeout=30)
        assert denied.value.code() is grpc.StatusCode.UNAUTHENTICATED
    assert await tx_state(cluster.store, "tls-1") == "BEGIN"

    async with _channel(address, certs, TOKEN) as trusted:
        reply: Any = await registry_pb2_grpc.RegistryStub(trusted).Register(register, timeout=30)
        assert reply.endpoint.lease_id
        await coordinator_pb2_grpc.CoordinatorStub(trusted).Abort(pb.QueryRequest(gid="tls-1"), timeout=30)
    await eventually(lambda: _is(cluster.store, "tls-1", "ROLLED_BACK"), what="ROLLED_BACK")

    async with grpc.aio.insecure_channel(address) as plaintext:
        with pytest.raises(grpc.aio.AioRpcError):
            await coordinator_pb2_grpc.CoordinatorStub(plaintext).Query(pb.QueryRequest(gid="tls-1"), timeout=3)


async def _is(store: str, gid: str, state: str) -> bool:
    return await tx_state(store, gid) == state


async def test_plaintext_on_a_non_loopback_address_refuses_to_start(cluster: Cluster) -> None:
    args = [TXC, "coordinator", "--listen", f"0.0.0.0:{free_port()}", "--store", cluster.store]
    started = time.monotonic()
    done = await asyncio.to_thread(subprocess.run, args, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, (done.returncode, done.stderr, time.monotonic() - started)
    assert "--insecure" in done.stderr and "Traceback" not in done.stderr
