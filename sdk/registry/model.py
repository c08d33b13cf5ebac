"""What the registry hands out: endpoints of a service and the leases that keep them registered."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from sdk._proto import registry_pb2
from sdk.errors import ConfigError
from sdk.http.wire import GRPC, HTTP, PROTOCOL_KEY, is_http_address
from sdk.rpc.address import parse_address

#: endpoint metadata key: the comma-separated action names a participant serves (``txc saga register`` checks
#: a saga's actions against it)
ACTIONS_KEY = "actions"


@dataclass(frozen=True)
class Endpoint:
    service: str
    address: str
    lease_id: str = ""
    registered_at: float = 0.0
    expires_at: float = 0.0
    metadata: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    @classmethod
    def from_proto(cls, msg: registry_pb2.Endpoint) -> Endpoint:
        return cls(msg.service, msg.address, msg.lease_id, msg.registered_at, msg.expires_at, dict(msg.metadata))

    def to_proto(self) -> registry_pb2.Endpoint:
        return registry_pb2.Endpoint(
            service=self.service,
            address=self.address,
            lease_id=self.lease_id,
            registered_at=self.registered_at,
            expires_at=self.expires_at,
            metadata=self.metadata,
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "service": self.service,
            "address": self.address,
            "lease_id": self.lease_id,
            "registered_at": self.registered_at,
            "expires_at": self.expires_at,
            "metadata": self.metadata,
        }


def validate_registration(
    service: str, address: str, ttl_seconds: float, metadata: Mapping[str, str] | None = None
) -> None:
    """The registry's input rules, shared by client and server so both name the same field. An endpoint's
    protocol (metadata ``protocol``) is ``grpc`` (the default: address ``host:port``) or ``http`` (address: the
    participant's base URL, ``http(s)://host:port/path``)."""
    if not service or not service.strip():
        raise ConfigError("service: must not be empty")
    protocol = (metadata or {}).get(PROTOCOL_KEY, HTTP if is_http_address(address) else GRPC)
    if protocol == HTTP:
        _base_url(address)
    elif protocol == GRPC:
        parse_address(address, field="address")
    else:
        raise ConfigError(f"metadata.{PROTOCOL_KEY}: must be {GRPC!r} or {HTTP!r}, got {protocol[:40]!r}")
    if not ttl_seconds > 0:
        raise ConfigError(f"ttl_seconds: must be > 0, got {ttl_seconds}")


def _base_url(address: str) -> None:
    url = urlsplit(address)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise ConfigError(
            f"address: an http endpoint's address is its base URL (http://host:port/path), got {address[:80]!r}"
        )
    if url.query or url.fragment:
        raise ConfigError("address: a base URL has no query or fragment")
    try:
        url.port  # noqa: B018 - raises on a port that is not a number
    except ValueError as exc:
        raise ConfigError(f"address: {exc}") from exc


@dataclass
class Lease:
    """A registration the client keeps alive; ``lease_id`` survives re-registration after a registry restart."""

    service: str
    address: str
    ttl: float
    metadata: dict[str, str]
    lease_id: str = ""
    expires_at: float = 0.0
