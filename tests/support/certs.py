"""Certificates made at test time (a CA, a server certificate for 127.0.0.1/localhost, a client certificate)
so the TLS tests need no files checked in and nothing expires in the repository."""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class Pki:
    ca: str
    server_cert: str
    server_key: str
    client_cert: str
    client_key: str
    services: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (cert, key) naming it


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> str:
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(path)


def _write_cert(cert: x509.Certificate, path: Path) -> str:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return str(path)


def _leaf(
    ca: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    common_name: str,
    names: Sequence[str] = ("localhost",),
    ips: Sequence[str] = (),
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    now = datetime.datetime.now(datetime.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    *(x509.DNSName(n) for n in names),
                    *(x509.IPAddress(ipaddress.ip_address(ip)) for ip in ("127.0.0.1", *ips)),
                ]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return cert, key


def make_pki(directory: Path, services: Sequence[str] = (), addresses: Sequence[str] = ()) -> Pki:
    """``services``: also a certificate per service name, with that name as a DNS name (and 127.0.0.1).
    ``addresses``: IP addresses the server certificate names besides 127.0.0.1 (a non-loopback listener).
    The CA's key stays in the directory (``ca.key``) for :func:`issue_server_certificate`."""
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("txcoord test CA"))
        .issuer_name(_name("txcoord test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    _write_key(ca_key, directory / "ca.key")

    def leaf(
        common_name: str, stem: str, names: Sequence[str] = ("localhost",), ips: Sequence[str] = ()
    ) -> tuple[str, str]:
        cert, key = _leaf(ca, ca_key, common_name, names, ips)
        return _write_cert(cert, directory / f"{stem}.pem"), _write_key(key, directory / f"{stem}.key")

    server_cert, server_key = leaf("txcoord server", "server", ips=addresses)
    client_cert, client_key = leaf("txcoord client", "client")
    named = {name: leaf(name, f"service-{name}", (name,)) for name in services}
    return Pki(_write_cert(ca, directory / "ca.pem"), server_cert, server_key, client_cert, client_key, named)


def issue_server_certificate(pki: Pki, common_name: str = "txcoord server") -> tuple[bytes, bytes, int]:
    """A new server certificate (127.0.0.1, localhost) from ``pki``'s CA: its PEM, its key's PEM, its serial."""
    directory = Path(pki.ca).parent
    ca = x509.load_pem_x509_certificate(Path(pki.ca).read_bytes())
    ca_key = serialization.load_pem_private_key((directory / "ca.key").read_bytes(), password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    cert, key = _leaf(ca, ca_key, common_name)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem, cert.serial_number
