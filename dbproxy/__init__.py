"""dbproxy: a MySQL endpoint that shards, routes and merges, so unmodified MySQL clients can shard."""

from __future__ import annotations

from dbproxy.config import ProxyConfig, load_config, parse_config
from dbproxy.errors import (
    AccessDenied,
    BackendError,
    BackendUnavailable,
    ConfigError,
    NotSupported,
    PartialCommit,
    ProxyError,
)
from dbproxy.frontend.server import ProxyServer
from dbproxy.xa.transactions import Committer, SequentialCommitter

__all__ = [
    "AccessDenied",
    "BackendError",
    "BackendUnavailable",
    "Committer",
    "ConfigError",
    "NotSupported",
    "PartialCommit",
    "ProxyConfig",
    "ProxyError",
    "ProxyServer",
    "SequentialCommitter",
    "load_config",
    "parse_config",
]
