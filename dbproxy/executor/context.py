"""What every session of one proxy shares: configuration, logical schema, backend pools, the committer that ends
multi-backend transactions, and the key generator. Sessions get this object instead of a reference to the server,
so nothing below the listening server depends on it. (The plan cache is the frontend's: the planner builds the
executor's plan classes, so it sits above the executor.)"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field

from dbproxy.backends.pool import Pools
from dbproxy.config import ProxyConfig
from dbproxy.executor.keys import KeyGenerator
from dbproxy.executor.state import SessionState
from dbproxy.router.dialects import DEFAULT_READING, Reading
from dbproxy.router.schema import LogicalSchema
from dbproxy.xa.transactions import Committer, SequentialCommitter


@dataclass(slots=True)
class ProxyContext:
    config: ProxyConfig
    schema: LogicalSchema
    pools: Pools
    committer: Committer
    keys: KeyGenerator = field(default_factory=KeyGenerator)
    # every logged-in client session by the proxy's own connection id (CONNECTION_ID(), KILL, SHOW PROCESSLIST)
    sessions: dict[int, SessionState] = field(default_factory=dict)
    tls: ssl.SSLContext | None = None  # offered to clients when the config has tls: {cert, key}
    reading: Reading = DEFAULT_READING  # how a new session's statements are read (the backends' sql_mode)

    @classmethod
    def build(cls, config: ProxyConfig, committer: Committer | None = None) -> ProxyContext:
        schema = LogicalSchema(config)
        tls = None
        if config.tls is not None:
            tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            tls.load_cert_chain(config.tls.cert, config.tls.key)
        return cls(
            tls=tls,
            config=config,
            schema=schema,
            pools=Pools(config),
            committer=committer or SequentialCommitter(),
        )

    def default_backend(self, database: str | None) -> str:
        """The backend that answers statements naming no sharded table in ``database`` (or the first database)."""
        db = self.schema.get(database) or next(iter(self.schema.databases.values()))
        return db.default_backend
