"""The logical schema the router sees: per logical database, its sharded, broadcast and default tables."""

from __future__ import annotations

from dataclasses import dataclass

from dbproxy.config import Database, ProxyConfig, ShardedTable
from dbproxy.router.physical_names import BackendAccounts, PhysicalNames
from dbproxy.router.rules import ShardRule


@dataclass(frozen=True)
class ShardedInfo:
    name: str
    config: ShardedTable
    rule: ShardRule

    @property
    def column(self) -> str:
        return self.config.column.lower()


@dataclass(frozen=True)
class LogicalDatabase:
    name: str
    default_backend: str
    sharded: dict[str, ShardedInfo]  # lower-case logical name -> info
    broadcast: frozenset[str]
    backends: tuple[str, ...]  # every backend holding a table of this database (broadcast tables live on all)
    default_database: str  # the physical database of the default backend

    @classmethod
    def build(cls, name: str, db: Database, default_database: str) -> LogicalDatabase:
        sharded = {t.lower(): ShardedInfo(t, cfg, ShardRule(cfg)) for t, cfg in db.sharded_tables.items()}
        backends = [db.default_backend]
        for info in sharded.values():
            for node in info.config.nodes:
                if node.backend not in backends:
                    backends.append(node.backend)
        broadcast = frozenset(t.lower() for t in db.broadcast_tables)
        return cls(name, db.default_backend, sharded, broadcast, tuple(backends), default_database)

    def physical_names(self, backend: str) -> set[str]:
        """Physical shard-table names on ``backend`` (hidden from SHOW TABLES)."""
        return {
            node.table.lower()
            for info in self.sharded.values()
            for node in info.config.nodes
            if node.backend == backend
        }

    def logical_names(self) -> dict[bytes, bytes]:
        """What information_schema answers from the default backend are translated back with: its physical
        database and the physical shard tables it holds, to the logical names."""
        names = {self.default_database.encode(): self.name.encode()}
        for info in self.sharded.values():
            for node in info.config.nodes:
                if node.backend == self.default_backend:
                    names[node.table.encode()] = info.name.encode()
        return names


class LogicalSchema:
    def __init__(self, config: ProxyConfig) -> None:
        self.databases = {
            name.lower(): LogicalDatabase.build(name, db, config.backend_dsn(db.default_backend).database)
            for name, db in config.databases.items()
        }
        # what backends' answers are translated with, per logical database (lower-case name)
        # the backend accounts (DSNs' and users' own): errors that name one name the client's user instead
        accounts = {config.backend_dsn(name).user for name in config.backends}
        accounts |= {
            spec.backend_account.user
            for spec in config.users.values()
            if not isinstance(spec, str) and spec.backend_account is not None
        }
        self.accounts = BackendAccounts(frozenset(accounts))
        self.physical: dict[str, PhysicalNames] = {}
        for key, db in self.databases.items():
            dbs = {config.backend_dsn(b).database.encode(): db.name.encode() for b in db.backends}
            tables = {
                node.table.encode(): info.name.encode() for info in db.sharded.values() for node in info.config.nodes
            }
            self.physical[key] = PhysicalNames(dbs, tables, self.accounts)
        # backend -> its physical database (what a statement naming a logical database is sent with on it)
        self.backend_databases = {name: config.backend_dsn(name).database for name in config.backends}

    def physical_names(self, name: str | None) -> PhysicalNames | None:
        return self.physical.get(name.lower()) if name else None

    def get(self, name: str | None) -> LogicalDatabase | None:
        return self.databases.get(name.lower()) if name else None
