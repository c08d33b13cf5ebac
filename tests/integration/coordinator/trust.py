"""A deployment with security on, for the attack tests: TLS everywhere, a credentials file with one identity
per caller, participant, proxy and operator, and a branch key — real processes, as an operator runs them."""

from __future__ import annotations

import secrets
import sys
from collections.abc import Awaitable
from pathlib import Path

import grpc
import pytest

from sdk.coordinator_client import CoordinatorClient
from sdk.errors import RpcError
from sdk.registry import RegistryClient
from sdk.rpc import ClientSecurity
from tests.integration.coordinator.cluster import TXC, Cluster
from tests.support import ChildProcess, free_port, start_process
from tests.support.certs import Pki

# name -> (roles, enlists, registers)
IDENTITIES: dict[str, tuple[list[str], list[str], list[str]]] = {
    "ops": (["admin"], [], []),
    "shop": (["caller"], ["bank-a", "bank-b"], []),
    "mallory": (["caller"], ["bank-a", "bank-b"], []),
    "bank-a": (["participant"], [], ["bank-a"]),
    "bank-b": (["participant"], [], ["bank-b"]),
    "proxy": (["proxy"], ["proxy-xa"], ["proxy-xa"]),
}


def _toml_list(values: list[str]) -> str:
    return "[" + ", ".join(f'"{v}"' for v in values) + "]"


class SecureDeployment:
    """One coordinator (hosting the registry) and bank participants, each process with its own identity."""

    def __init__(self, cluster: Cluster, pki: Pki, directory: Path) -> None:
        self.cluster = cluster
        self.pki = pki
        self.tokens = {name: f"{name}-{secrets.token_hex(16)}" for name in IDENTITIES}
        self.branch_key = secrets.token_hex(32)
        self.credentials = directory / "credentials.toml"
        self.write_credentials()
        self.address = ""

    def write_credentials(self, extra_tokens: dict[str, list[str]] | None = None) -> None:
        lines = []
        for name, (roles, enlists, registers) in IDENTITIES.items():
            tokens = [self.tokens[name], *(extra_tokens or {}).get(name, [])]
            lines += [f'[identity."{name}"]', f"roles = {_toml_list(roles)}", f"tokens = {_toml_list(tokens)}"]
            if enlists:
                lines.append(f"enlists = {_toml_list(enlists)}")
            if registers:
                lines.append(f"registers = {_toml_list(registers)}")
        self.credentials.write_text("\n".join(lines) + "\n")

    def _env(self, identity: str) -> dict[str, str]:
        # a certificate naming the service when the PKI has one, else the shared server certificate
        cert, key = self.pki.services.get(identity, (self.pki.server_cert, self.pki.server_key))
        return {
            "TXC_TLS_CA": self.pki.ca,
            "TXC_TLS_CERT": cert,
            "TXC_TLS_KEY": key,
            "TXC_TOKEN": self.tokens[identity],
            "TXC_BRANCH_KEY": self.branch_key,
        }

    def tls_credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(root_certificates=Path(self.pki.ca).read_bytes())

    def coordinator(self, *extra: str, host: str = "127.0.0.1") -> str:
        """``host``: the address it listens on (a non-loopback one needs a server certificate naming it)."""
        self.address = f"{host}:{free_port()}"
        args = [TXC, "coordinator", "--listen", self.address, "--store", self.cluster.store, "--scan-interval", "0.2"]
        args += ["--tls-cert", self.pki.server_cert, "--tls-key", self.pki.server_key, "--tls-ca", self.pki.ca]
        args += ["--credentials", str(self.credentials), *extra]
        env = {"TXC_BRANCH_KEY": self.branch_key}
        proc = start_process(args, self.cluster.log_dir, "coordinator-secure", env=env)
        self.cluster.processes.append(proc)
        proc.wait_serving(self.address, credentials=self.tls_credentials())
        self.cluster.registry = self.address
        return self.address

    def bank(self, service: str, db: str, accounts: str, *extra: str, listen: str | None = None) -> ChildProcess:
        listen = listen or f"127.0.0.1:{free_port()}"
        args = [sys.executable, "-m", "demo.bank", "--service", service, "--db", db, "--registry", self.address]
        args += ["--listen", listen, "--accounts", accounts, "--ttl", "2", "--audit", *extra]
        proc = start_process(args, self.cluster.log_dir, service, env=self._env(service))
        proc.listen = listen  # type: ignore[attr-defined]
        self.cluster.processes.append(proc)
        proc.wait_serving(listen, credentials=self.tls_credentials())
        return proc

    def security(self, identity: str | None) -> ClientSecurity:
        return ClientSecurity(ca=self.pki.ca, token=self.tokens[identity] if identity else None)

    def client(self, identity: str | None) -> CoordinatorClient:
        return CoordinatorClient(self.address, timeout=10.0, security=self.security(identity))

    def registry(self, identity: str | None) -> RegistryClient:
        return RegistryClient(self.address, security=self.security(identity), timeout=5.0)


async def refused(work: Awaitable[object]) -> RpcError:
    """The error ``work`` fails with (it must fail)."""
    with pytest.raises(RpcError) as raised:
        await work
    return raised.value
