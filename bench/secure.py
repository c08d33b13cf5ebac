"""`txc bench tcc --secure`: the benchmark with security on, as a deployment runs it — TLS on every server
(a throwaway CA made with the ``openssl`` command), a credentials file with one identity per process (the
bench client a caller, each bank a participant), and branch signatures."""

from __future__ import annotations

import secrets
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from sdk.errors import ConfigError
from sdk.rpc import ClientSecurity

CALLER = "bench-client"
BANKS = ("bank-a", "bank-b")


def _openssl(*args: str, cwd: Path) -> None:
    done = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise ConfigError(f"--secure: openssl {args[0]} failed: {done.stderr.strip()[:300]}")


def _pki(directory: Path) -> tuple[str, str, str]:
    """A CA and a certificate for 127.0.0.1 / localhost signed by it: (ca, cert, key) paths."""
    if shutil.which("openssl") is None:
        raise ConfigError("--secure: needs the openssl command to make the benchmark's throwaway certificates")
    directory.mkdir(parents=True, exist_ok=True)
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    ca = ("-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=bench CA")
    _openssl("req", "-x509", *ec, *ca, cwd=directory)
    _openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=bench", cwd=directory)
    (directory / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _openssl(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "server.pem", "-days", "2", "-extfile", "san.ext", cwd=directory,
    )  # fmt: skip
    return str(directory / "ca.pem"), str(directory / "server.pem"), str(directory / "server.key")


@dataclass
class SecureBench:
    """The files and credentials of one secure benchmark run."""

    ca: str
    cert: str
    key: str
    credentials: str
    tokens: dict[str, str] = field(default_factory=dict)

    @classmethod
    def create(cls, directory: Path) -> SecureBench:
        ca, cert, key = _pki(directory)
        tokens = {name: secrets.token_hex(24) for name in (CALLER, *BANKS)}
        lines = [f'[identity."{CALLER}"]', 'roles = ["caller"]', f'tokens = ["{tokens[CALLER]}"]']
        lines.append(f"enlists = [{', '.join(f'{chr(34)}{b}{chr(34)}' for b in BANKS)}]")
        for bank in BANKS:
            lines += [f'[identity."{bank}"]', 'roles = ["participant"]', f'tokens = ["{tokens[bank]}"]']
            lines.append(f'registers = ["{bank}"]')
        credentials = directory / "credentials.toml"
        credentials.write_text("\n".join(lines) + "\n")
        return cls(ca, cert, key, str(credentials), tokens)

    def coordinator_args(self) -> tuple[str, ...]:
        return ("--tls-cert", self.cert, "--tls-key", self.key, "--tls-ca", self.ca, "--credentials", self.credentials)

    def bank_env(self, bank: str) -> dict[str, str]:
        tls = {"TXC_TLS_CA": self.ca, "TXC_TLS_CERT": self.cert, "TXC_TLS_KEY": self.key}
        return {**tls, "TXC_TOKEN": self.tokens[bank]}

    def channel_credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(root_certificates=Path(self.ca).read_bytes())

    def client(self) -> ClientSecurity:
        return ClientSecurity(ca=self.ca, token=self.tokens[CALLER])

    def reader(self) -> ClientSecurity:
        """For the direct baseline calls and the read-only queries: TLS, no identity needed."""
        return ClientSecurity(ca=self.ca)
