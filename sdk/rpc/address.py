"""``host:port`` endpoint addresses, validated once at the edge."""

from __future__ import annotations

from sdk.errors import ConfigError


def parse_address(address: str, *, field: str = "address") -> tuple[str, int]:
    """Split ``host:port`` (``[v6]:port`` too); raise ConfigError naming ``field`` when malformed."""
    if not address or ":" not in address:
        raise ConfigError(f"{field}: expected HOST:PORT, got {address!r}")
    host, _, port_text = address.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host or any(ch.isspace() for ch in host):
        raise ConfigError(f"{field}: expected HOST:PORT with a host name, got {address!r}")
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ConfigError(f"{field}: port must be a number 0-65535, got {address!r}")
    return host, int(port_text)


def format_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
