"""The proxy's YAML configuration: listen address, users, backends, logical databases and their tables.

Validation errors name the file, the line, the key and the problem, and are raised together as one
``ConfigError`` so a user fixes the whole file in one go.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs, unquote, urlsplit

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from dbproxy.errors import ConfigError
from dbproxy.yaml_limits import check_expansion


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BackendDSN(_Model):
    """Where a backend lives: ``mysql://user:password@host:port/database``; a proxy next to its server can add
    ``?unix_socket=/run/mysqld/mysqld.sock`` (a Unix socket costs less than loopback TCP per round trip)."""

    host: str
    port: int
    user: str
    password: str
    database: str
    unix_socket: str | None = None

    @classmethod
    def parse(cls, dsn: str) -> BackendDSN:
        parts = urlsplit(dsn)
        if parts.scheme not in ("mysql", "mariadb"):
            raise ValueError(f"DSN {dsn!r} must start with mysql:// or mariadb://")
        database = parts.path.lstrip("/")
        if not parts.hostname or not database:
            raise ValueError(f"DSN {dsn!r} needs a host and a database: mysql://user:password@host:port/database")
        query = parse_qs(parts.query)
        unknown = set(query) - {"unix_socket"}
        if unknown:
            raise ValueError(f"DSN {dsn!r}: unknown option(s) {', '.join(sorted(unknown))} (known: unix_socket)")
        return cls(
            host=parts.hostname,
            port=parts.port or 3306,
            user=unquote(parts.username or "root"),
            password=unquote(parts.password or ""),
            database=database,
            unix_socket=query["unix_socket"][0] if "unix_socket" in query else None,
        )

    @property
    def address(self) -> str:
        return self.unix_socket or f"{self.host}:{self.port}"

    def __str__(self) -> str:
        return f"{self.address}/{self.database}"


class Node(_Model):
    """One shard of a sharded table: a backend and the physical table name there."""

    backend: str
    table: str


class ShardedTable(_Model):
    column: str = Field(min_length=1)
    algorithm: Literal["mod", "hash", "range"]
    nodes: list[Node] = Field(min_length=1)
    boundaries: list[int] = Field(default_factory=list)
    # The shard column is an AUTO_INCREMENT key: rows inserted without a value (column missing, NULL or 0)
    # get one from the proxy, since per-shard counters would put rows on the wrong shard. Off: such rows are
    # refused.
    auto_increment: bool = False

    @field_validator("nodes", mode="before")
    @classmethod
    def _nodes_from_strings(cls, value: Any) -> Any:
        # "ds0.sbtest1_0" is the compact form of {backend: ds0, table: sbtest1_0}
        if isinstance(value, list):
            out: list[Any] = []
            for item in value:
                if isinstance(item, str):
                    backend, sep, table = item.partition(".")
                    if not sep or not backend or not table:
                        raise ValueError(f"node {item!r} must be 'backend.table'")
                    out.append({"backend": backend, "table": table})
                else:
                    out.append(item)
            return out
        return value

    @model_validator(mode="after")
    def _boundaries_fit(self) -> ShardedTable:
        if self.algorithm == "range":
            if len(self.boundaries) != len(self.nodes) - 1:
                raise ValueError(
                    f"range sharding over {len(self.nodes)} nodes needs {len(self.nodes) - 1} boundaries, "
                    f"got {len(self.boundaries)}"
                )
            if self.boundaries != sorted(set(self.boundaries)):
                raise ValueError("range boundaries must be strictly increasing")
        elif self.boundaries:
            raise ValueError(f"boundaries only apply to algorithm 'range', not {self.algorithm!r}")
        return self


class Database(_Model):
    default_backend: str
    sharded_tables: dict[str, ShardedTable] = Field(default_factory=dict)
    broadcast_tables: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _no_overlap(self) -> Database:
        both = set(self.sharded_tables) & set(self.broadcast_tables)
        if both:
            raise ValueError(f"tables {sorted(both)} are both sharded and broadcast")
        return self


class PoolSettings(_Model):
    max_connections: int = Field(default=128, ge=1)  # per backend; mind the server's max_connections
    max_idle: int = Field(default=64, ge=0)
    connect_timeout: float = Field(default=3.0, gt=0)
    # innodb_lock_wait_timeout (seconds) for the proxy's backend sessions. Two transactions that lock rows on
    # two backends in opposite order deadlock where no single server can see it; only this timeout ends it
    # (the server default is 50 s). None keeps the server's setting.
    lock_wait_timeout: int | None = Field(default=None, ge=1)


class TransactionSettings(_Model):
    """How transactions that write on several backends commit.

    With ``coordinator`` set they are atomic: XA branches of a global transaction decided by a row in one of its
    backends (``decision_schema``), reported to the coordinator in batches; the proxy registers as ``service``. ``mode:
    best_effort`` says in so many words that they may commit partially (each backend committed in turn)."""

    mode: Literal["xa", "best_effort"] = "xa"
    coordinator: str | None = None  # HOST:PORT of a coordinator (a list: several sharing one store)
    registry: str | None = None  # where to register; default: the coordinator (it hosts the registry)
    service: str = Field(default="dbproxy", min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_.-]+$")
    listen: str = "127.0.0.1:0"  # gRPC address serving health (registered under `service`)
    advertise: str | None = None  # address registered for phase 2 when callers reach `listen` through a proxy
    # seconds a branch may stay prepared without a decision (seen by a recovering instance) before recovery
    # rolls it back; also the age at which recovery reports decision rows nobody reported
    timeout: float = Field(default=30.0, gt=0)
    recovery_interval: float = Field(default=5.0, gt=0)  # seconds between XA RECOVER scans
    # unused since commits are decided in a backend (the coordinator drives no phase 2 for the proxy); accepted
    # so that existing configurations still load
    phase2_delay: float = Field(default=2.0, ge=0)
    # Seconds a statement may wait for a row lock on one backend while its transaction holds a branch on
    # another; then the transaction is rolled back with error 1213 (deadlock). Two transactions locking rows
    # on two backends in opposite order deadlock where no server can see it: this ends it quickly instead of
    # after pool.lock_wait_timeout. Whole seconds (innodb_lock_wait_timeout); null: no bound.
    cross_backend_lock_wait: int | None = Field(default=5, ge=1)
    registry_ttl: float = Field(default=10.0, gt=0)
    # the database the proxy creates on every backend for the commit decisions of multi-backend transactions
    # (table xa_decision); the backend account needs CREATE, SELECT, INSERT, DELETE on it
    decision_schema: str = Field(default="txc_xa", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_]+$")

    @field_validator("coordinator", "registry", "advertise")
    @classmethod
    def _host_port(cls, value: str | None) -> str | None:
        if value is not None:
            for address in value.split(","):
                host, sep, port = address.strip().rpartition(":")
                if not sep or not host or not port.isdigit():
                    raise ValueError(f"{address!r} must be HOST:PORT")
        return value


class Limits(_Model):
    """What one client may make the proxy hold or wait for (MySQL's names where MySQL has the setting)."""

    max_allowed_packet: int = Field(default=16 * 1024 * 1024, ge=1024)  # bytes of one command, after login
    max_packet_before_login: int = Field(default=16 * 1024, ge=512)  # bytes of the handshake response
    handshake_timeout: float = Field(default=10.0, gt=0)  # seconds from connect to logged in
    wait_timeout: int = Field(default=28800, ge=1)  # seconds a logged-in client may idle (SET wait_timeout)
    max_connections: int = Field(default=1000, ge=1)  # client connections; beyond it error 1040
    max_parse_depth: int = Field(default=100, ge=8)  # nesting of parentheses in a statement
    # bytes of one session's answer the proxy keeps while the client is slow to read it; above it the proxy
    # stops reading from the backend until the client caught up
    client_buffer: int = Field(default=1024 * 1024, ge=16 * 1024)
    # seconds a client may take to send the rest of a packet it started (MySQL's net_read_timeout)
    net_read_timeout: float = Field(default=30.0, gt=0)


class TlsSettings(_Model):
    """TLS towards clients: PEM files of the proxy's certificate (chain) and private key."""

    cert: str
    key: str


class BackendAccount(_Model):
    """The MariaDB account a proxy user's backend connections log in as (the same on every backend), in place
    of the account in the backend DSNs. ``dbproxy grants`` prints the statements that create it with grants on
    exactly that user's physical databases: MariaDB's own grants are a second wall behind the proxy's checks."""

    user: str = Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_.$-]+$")
    password: str
    host: str = Field(default="%", min_length=1, max_length=255, pattern=r"^[A-Za-z0-9_.%:-]+$")


class UserSpec(_Model):
    """A proxy user. ``databases`` maps each logical database it may use to ``read_write`` or ``read_only``;
    omitted, the user may use every logical database, read-write (the form ``user: password`` means that)."""

    password: str
    databases: dict[str, Literal["read_write", "read_only"]] | None = None
    require_tls: bool = False
    backend_account: BackendAccount | None = None  # None: the account of the backend DSNs


def _valid_dsn(dsn: str) -> str:
    """Checked per entry, so an error names the backend (``backends.ds1``) and its line."""
    BackendDSN.parse(dsn)
    return dsn


class MetricsSettings(_Model):
    """Prometheus metrics (off unless this section is given): served on ``listen`` at /metrics."""

    listen: str

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or int(port) > 65535:
            raise ValueError(f"listen {value!r} must be HOST:PORT")
        return value


class ProxyConfig(_Model):
    listen: str = "127.0.0.1:3307"
    users: dict[str, str | UserSpec] = Field(min_length=1)
    backends: dict[str, Annotated[str, AfterValidator(_valid_dsn)]] = Field(min_length=1)
    databases: dict[str, Database] = Field(min_length=1)
    pool: PoolSettings = Field(default_factory=PoolSettings)
    limits: Limits = Field(default_factory=Limits)
    tls: TlsSettings | None = None
    transactions: TransactionSettings = Field(default_factory=TransactionSettings)
    metrics: MetricsSettings | None = None

    @field_validator("listen")
    @classmethod
    def _listen_is_host_port(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ValueError(f"listen {value!r} must be HOST:PORT")
        return value

    def user(self, name: str) -> UserSpec | None:
        spec = self.users.get(name)
        return UserSpec(password=spec) if isinstance(spec, str) else spec

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> ProxyConfig:
        if not (info.context or {}).get("semantic_later"):  # parse_config reports these with their lines
            problems = semantic_problems(self)
            if problems:
                raise ValueError(f"{'.'.join(str(p) for p in problems[0][0])}: {problems[0][1]}")
        return self

    @property
    def coordinated(self) -> bool:
        """Multi-backend commits go through the coordinator (XA)."""
        return self.transactions.coordinator is not None

    @property
    def listen_host(self) -> str:
        return self.listen.rpartition(":")[0]

    @property
    def listen_port(self) -> int:
        return int(self.listen.rpartition(":")[2])

    def backend_dsn(self, name: str) -> BackendDSN:
        return BackendDSN.parse(self.backends[name])


Path_ = tuple[str | int, ...]


def semantic_problems(config: ProxyConfig) -> list[tuple[Path_, str]]:
    """Problems across sections, each with the key path it belongs to: unknown backends and databases, a shard
    listed twice, one physical table behind two logical tables."""
    problems: list[tuple[Path_, str]] = []
    known_backends = ", ".join(sorted(config.backends))
    known_dbs = {d.lower() for d in config.databases}
    for user, spec in config.users.items():
        if isinstance(spec, UserSpec) and spec.require_tls and config.tls is None:
            problems.append((("users", user, "require_tls"), "requires TLS, but the config has no tls: {cert, key}"))
    if config.tls is not None:
        for field_name in ("cert", "key"):
            path = Path(getattr(config.tls, field_name))
            if not path.is_file():
                problems.append((("tls", field_name), f"no such file: {path}"))
    for user, spec in config.users.items():
        if isinstance(spec, UserSpec):
            for granted in spec.databases or {}:
                if granted.lower() not in known_dbs:
                    problems.append(
                        (
                            ("users", user, "databases", granted),
                            f"unknown logical database {granted!r} (known: {', '.join(sorted(config.databases))})",
                        )
                    )
    owner: dict[tuple[str, str, str], str] = {}  # (physical database, table) -> the logical table using it
    for name, db in config.databases.items():
        if db.default_backend not in config.backends:
            problems.append(
                (
                    ("databases", name, "default_backend"),
                    f"unknown backend {db.default_backend!r} (known: {known_backends})",
                )
            )
        for table, rule in db.sharded_tables.items():
            seen: dict[tuple[str, str], int] = {}
            for i, node in enumerate(rule.nodes):
                where: Path_ = ("databases", name, "sharded_tables", table, "nodes", i)
                if node.backend not in config.backends:
                    problems.append((where, f"unknown backend {node.backend!r} (known: {known_backends})"))
                    continue
                key = (node.backend, node.table.lower())
                if key in seen:
                    problems.append(
                        (where, f"node {node.backend}.{node.table} is listed twice (also node {seen[key]})")
                    )
                    continue
                seen[key] = i
                dsn = config.backend_dsn(node.backend)
                physical = (dsn.address, dsn.database, node.table.lower())
                other = owner.get(physical)
                if other is not None and other != f"{name}.{table}":
                    problems.append(
                        (where, f"physical table {dsn.database}.{node.table} is already a shard of {other}")
                    )
                owner[physical] = f"{name}.{table}"
    tx = config.transactions
    if len(config.backends) > 1 and tx.coordinator is None and tx.mode != "best_effort":
        problems.append(
            (
                ("transactions", "coordinator"),
                f"{len(config.backends)} backends need a coordinator for atomic multi-backend commits; set "
                "transactions.coordinator: HOST:PORT, or transactions.mode: best_effort to accept that a commit "
                "spanning backends may be partial",
            )
        )
    if tx.mode == "best_effort" and tx.coordinator is not None:
        problems.append((("transactions", "mode"), "best_effort and transactions.coordinator exclude each other"))
    return problems


def _duplicate_keys(node: yaml.Node, path: Path_, source: str) -> list[str]:
    """YAML lets a later key silently replace an earlier one; here that is an error at the second key."""
    out: list[str] = []
    if isinstance(node, yaml.MappingNode):
        first: dict[object, int] = {}
        for key, value in node.value:
            k = key.value
            here = (*path, k)
            if k in first:
                out.append(
                    f"{source}:{key.start_mark.line + 1}: {'.'.join(str(p) for p in here)}: "
                    f"duplicate key (first at line {first[k]})"
                )
            else:
                first[k] = key.start_mark.line + 1
            out += _duplicate_keys(value, here, source)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            out += _duplicate_keys(item, (*path, i), source)
    return out


def _line_index(node: yaml.Node, path: tuple[str | int, ...], out: dict[tuple[str | int, ...], int]) -> None:
    """Record the 1-based line of every key path so validation errors can point into the file."""
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            k = key.value
            out[(*path, k)] = key.start_mark.line + 1
            _line_index(value, (*path, k), out)
            out[(*path, k)] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _line_index(item, (*path, i), out)


def _nearest_line(lines: dict[tuple[str | int, ...], int], loc: tuple[str | int, ...]) -> int | None:
    for n in range(len(loc), -1, -1):
        key = tuple(str(p) if isinstance(p, str) else p for p in loc[:n])
        if key in lines:
            return lines[key]
    return None


def parse_config(text: str, source: str = "<string>") -> ProxyConfig:
    """Parse and validate YAML text; ``source`` names the file in error messages."""
    too_big = check_expansion(text, source)
    if too_big is not None:
        raise ConfigError([too_big])
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        raise ConfigError([f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}"]) from None
    if not isinstance(data, dict):
        raise ConfigError([f"{source}: the top level must be a mapping (listen, users, backends, databases)"])
    lines: dict[tuple[str | int, ...], int] = {}
    if root is not None:
        _line_index(root, (), lines)
        duplicates = _duplicate_keys(root, (), source)
        if duplicates:
            raise ConfigError(duplicates)
    try:
        config = ProxyConfig.model_validate(data, context={"semantic_later": True})
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
            key = ".".join(str(p) for p in loc) or "(top level)"
            line = _nearest_line(lines, loc)
            where = f"{source}:{line}" if line else source
            msg = err["msg"].removeprefix("Value error, ")
            problems.append(f"{where}: {key}: {msg}")
        raise ConfigError(problems) from None
    semantic = semantic_problems(config)
    if semantic:
        raise ConfigError(
            [
                f"{source}:{_nearest_line(lines, loc) or 1}: {'.'.join(str(p) for p in loc)}: {message}"
                for loc, message in semantic
            ]
        )
    return config


def load_config(path: str | Path) -> ProxyConfig:
    """Read and validate a proxy configuration file."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise ConfigError([f"{p}: cannot read: {exc.strerror}"]) from None
    return parse_config(text, str(p))
