"""The second wall: MariaDB accounts whose grants reach only what each proxy user may reach.

``dbproxy grants --config proxy.yaml`` prints, per backend server, the ``CREATE USER`` and ``GRANT`` statements
for every ``users.<name>.backend_account``: privileges on exactly the physical databases behind the logical
databases that user may use, read-only ones with ``SELECT`` alone. A statement that got past the proxy's own
checks still meets the server's.
"""

from __future__ import annotations

from dataclasses import dataclass

from dbproxy.config import BackendAccount, ProxyConfig
from dbproxy.router.schema import LogicalSchema

# what a read-write proxy user's statements need; nothing global, no FILE, PROCESS, SUPER, CREATE ROUTINE or
# GRANT OPTION (what the proxy refuses is refused by the server too)
READ_WRITE = (
    "SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, ALTER, INDEX, CREATE VIEW, SHOW VIEW, "
    "CREATE TEMPORARY TABLES, TRIGGER, REFERENCES"
)
READ_ONLY = "SELECT"


@dataclass(frozen=True, slots=True)
class AccountGrants:
    """One backend account on one server: the physical databases it gets, read-write or not."""

    server: str  # host:port (or socket) of the backend server
    backends: tuple[str, ...]  # the config's backend names on that server
    account: BackendAccount
    databases: dict[str, bool]  # physical database -> read-write

    def statements(self) -> list[str]:
        who = f"{_string(self.account.user)}@{_string(self.account.host)}"
        # CREATE OR REPLACE drops what the account had before: it ends up with exactly these grants
        out = [f"CREATE OR REPLACE USER {who} IDENTIFIED BY {_string(self.account.password)}"]
        for database, read_write in sorted(self.databases.items()):
            privileges = READ_WRITE if read_write else READ_ONLY
            out.append(f"GRANT {privileges} ON {_database_pattern(database)}.* TO {who}")
        return out


def account_grants(config: ProxyConfig) -> list[AccountGrants]:
    """Every backend account's grants, per server, in config order."""
    schema = LogicalSchema(config)
    out: list[AccountGrants] = []
    for name in config.users:
        spec = config.user(name)
        if spec is None or spec.backend_account is None:
            continue
        granted = None if spec.databases is None else {d.lower(): m for d, m in spec.databases.items()}
        per_server: dict[str, tuple[list[str], dict[str, bool]]] = {}
        for logical in config.databases:
            mode = "read_write" if granted is None else granted.get(logical.lower())
            if mode is None:
                continue
            db = schema.get(logical)
            assert db is not None
            for backend in db.backends:
                dsn = config.backend_dsn(backend)
                backends, databases = per_server.setdefault(dsn.address, ([], {}))
                if backend not in backends:
                    backends.append(backend)
                databases[dsn.database] = databases.get(dsn.database, False) or mode == "read_write"
        for server, (backends, databases) in per_server.items():
            out.append(AccountGrants(server, tuple(backends), spec.backend_account, databases))
    return out


def grants_script(config: ProxyConfig) -> str:
    """The SQL ``dbproxy grants`` prints: one block per account and server, run there as an administrator."""
    blocks = []
    for grants in account_grants(config):
        head = f"-- on {grants.server} (backends {', '.join(grants.backends)}): {grants.account.user}"
        blocks.append("\n".join([head, *(f"{s};" for s in grants.statements())]))
    if not blocks:
        return "-- no user has a backend_account: every session uses the account in its backend DSN\n"
    return "\n\n".join(blocks) + "\n"


def _string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def _database_pattern(name: str) -> str:
    """A database name in GRANT ... ON db.*, where '_' and '%' are wildcards: escaped, so `shop_0` is not also
    `shopX0`."""
    escaped = name.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%")
    return "`" + escaped.replace("`", "``") + "`"
