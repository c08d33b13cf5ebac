"""A server's renewed TLS certificate is served from the next connection on, with no restart; files that do not
make a certificate and its key (one renewed, the other not yet; a broken file) leave the last good pair served."""

from __future__ import annotations

import os
import shutil
import socket
import ssl
from pathlib import Path

import grpc
from cryptography import x509

from sdk.registry import RegistryClient
from sdk.rpc import ClientSecurity
from tests.support import ChildProcess, free_port, start_process
from tests.support.certs import issue_server_certificate, make_pki
from tests.support.polling import wait_until


def _served_serial(address: str, ca: str) -> int:
    """The serial number of the certificate a new TLS connection to ``address`` is shown (as gRPC dials: h2)."""
    host, port = address.rsplit(":", 1)
    context = ssl.create_default_context(cafile=ca)
    context.set_alpn_protocols(["h2"])
    with (
        socket.create_connection((host, int(port)), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=host) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


def _replace(path: Path, data: bytes) -> None:
    """Write ``path`` as a certificate renewal tool does: a new file moved into place."""
    staged = path.with_suffix(".new")
    staged.write_bytes(data)
    os.replace(staged, path)


async def test_a_renewed_certificate_is_served_without_a_restart(
    tmp_path: Path, processes: list[ChildProcess]
) -> None:
    pki = make_pki(tmp_path / "pki")
    live = tmp_path / "live"
    live.mkdir()
    cert, key = live / "server.pem", live / "server.key"
    shutil.copy(pki.server_cert, cert)
    shutil.copy(pki.server_key, key)
    address = f"127.0.0.1:{free_port()}"
    args = ["txc", "registry", "--listen", address, "--tls-cert", str(cert), "--tls-key", str(key)]
    registry = start_process(args, tmp_path / "logs", "registry")
    processes.append(registry)
    registry.wait_serving(address, credentials=grpc.ssl_channel_credentials(Path(pki.ca).read_bytes()))
    first = x509.load_pem_x509_certificate(cert.read_bytes()).serial_number
    assert _served_serial(address, pki.ca) == first

    early = RegistryClient(address, security=ClientSecurity(ca=pki.ca), timeout=5.0)
    try:
        await early.register("svc", "127.0.0.1:1", 30.0)
        renewed_cert, renewed_key, renewed = issue_server_certificate(pki)
        _replace(key, renewed_key)  # the key first: until the certificate follows, the pair does not match
        _replace(cert, renewed_cert)
        wait_until(lambda: _served_serial(address, pki.ca) == renewed, 10, "the renewed certificate served")
        late = RegistryClient(address, security=ClientSecurity(ca=pki.ca), timeout=5.0)
        try:  # a new client dials the renewed certificate; the connection made before it goes on
            assert [e.service for e in await late.list_all()] == ["svc"]
            assert [e.service for e in await early.list_all()] == ["svc"]
        finally:
            await late.close(deregister=False)

        _replace(cert, b"-----BEGIN CERTIFICATE-----\nnot one\n-----END CERTIFICATE-----\n")
        other_cert, _other_key, _serial = issue_server_certificate(pki)
        assert _served_serial(address, pki.ca) == renewed  # broken: the last good pair is still served
        _replace(cert, other_cert)  # a certificate without its key
        assert _served_serial(address, pki.ca) == renewed
        log = wait_until(
            lambda: (t := registry.log_path.read_text()).count("cannot be served") >= 2 and t, 10, "two warnings"
        )
        assert "still serving the previous ones" in log
    finally:
        await early.close(deregister=True)
