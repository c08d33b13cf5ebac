"""What to do about a failed TLS handshake, named for the side that is misconfigured.

gRPC reports every handshake failure as UNAVAILABLE with a low-level text; this reads that text and says
which process needs which setting (see docs/security.md)."""

from __future__ import annotations

from sdk.rpc.address import parse_address
from sdk.rpc.security import CA_ENV, CERT_ENV, KEY_ENV


def _host(target: str) -> str:
    try:
        return parse_address(target)[0] if target else "the address dialled"
    except ValueError:
        return target


def tls_hint(details: str, target: str = "") -> str:
    """A sentence to append to ``details``, or "" when it is not a handshake failure."""
    server = f"the server at {target}" if target else "the server"
    if "Hostname Verification Check failed" in details:
        host = _host(target)
        kind = "IP" if host[:1].isdigit() or ":" in host else "DNS"
        return (
            f"; {server} has a certificate that does not name {host}: reissue THAT SERVER's certificate with "
            f"subjectAltName {kind}:{host} (the name or address its callers dial), see docs/security.md"
        )
    if "WRONG_VERSION_NUMBER" in details or "wrong version number" in details:
        return (
            f"; {server} does not serve TLS while this process dials TLS ({CA_ENV} is set): THAT SERVER needs "
            f"{CERT_ENV} and {KEY_ENV} (or --tls-cert/--tls-key), see docs/security.md"
        )
    if any(text in details for text in ("BAD_SIGNATURE", "CERTIFICATE_VERIFY_FAILED", "unable to get local issuer")):
        return (
            f"; {server}'s certificate is not signed by the CA this process trusts: give THIS PROCESS the CA that "
            f"signed it ({CA_ENV} / --tls-ca), or that server a certificate from this CA"
        )
    if "Socket closed" in details or "handshake" in details.lower():
        return (
            f"; if {server} serves TLS, THIS PROCESS must dial TLS: give it the CA ({CA_ENV} / --tls-ca); "
            "if it does not, do not"
        )
    return ""
