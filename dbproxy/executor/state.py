"""The state of one client session, in one place: who it is, its database, autocommit, character set, the
session variables it set (replayed on every backend connection it uses) and its bound transaction."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from dbproxy.protocol.charsets import UTF8_COLLATIONS
from dbproxy.protocol.constants import ServerStatus
from dbproxy.router.dialects import DEFAULT_READING, Reading
from dbproxy.xa.transactions import SessionTransaction

_IN_TRANS = int(ServerStatus.SERVER_STATUS_IN_TRANS)
_AUTOCOMMIT = int(ServerStatus.SERVER_STATUS_AUTOCOMMIT)


@dataclass(slots=True)
class SessionState:
    conn_id: int
    txn: SessionTransaction
    user: str = ""
    database: str | None = None
    autocommit: bool = True
    charset: int = 45  # the client's collation id (handshake or SET NAMES)
    found_rows: bool = False  # CLIENT_FOUND_ROWS: backend connections must be opened with the same flag
    variables: tuple[str, ...] = ()  # SET statements, in order, replayed on backend connections
    last_insert_id: int = 0
    multi_statements: bool = False  # CLIENT_MULTI_STATEMENTS / COM_SET_OPTION: "a; b" is two statements
    more: int = 0  # SERVER_MORE_RESULTS_EXISTS while a multi-statement text has statements left
    mode_status: int = 0  # SERVER_STATUS_NO_BACKSLASH_ESCAPES when the session's sql_mode has it
    reading: Reading = DEFAULT_READING  # how MariaDB reads this session's statements (its sql_mode)
    slots: dict[str, str] = field(default_factory=dict)  # USER()/CONNECTION_ID() values statements carry
    tls: bool = False  # the client connection is encrypted
    host: str = "?"  # the client's address, as MySQL names it in access errors
    # logical database (lower-case) -> read-write?; None: every logical database, read-write
    grants: dict[str, bool] | None = None
    command: str = "Connect"  # what SHOW PROCESSLIST shows: Connect, Sleep, Query
    info: str | None = None  # the statement running now
    wait_timeout: int = 28800  # seconds idle before the proxy closes the connection (SET wait_timeout)
    since: float = 0.0  # monotonic time the current command started
    close: Callable[[], None] | None = field(default=None, repr=False)  # KILL of this session

    def may_use(self, database: str) -> bool:
        return self.grants is None or database.lower() in self.grants

    @property
    def status(self) -> int:
        """The server status bits every OK/EOF this session sends carries."""
        return (
            (_AUTOCOMMIT if self.autocommit else 0)
            | (_IN_TRANS if self.txn.active else 0)
            | self.more
            | self.mode_status
        )

    @property
    def literal_sql_mode(self) -> bool:
        """Literals must stay as the client wrote them: sql_mode was set (ANSI_QUOTES/NO_BACKSLASH_ESCAPES may
        change what a literal is), or the client's character set is not UTF-8 (its bytes are only meaningful
        as text in that character set, never re-rendered by the proxy)."""
        return (
            self.charset not in UTF8_COLLATIONS
            or self.reading != DEFAULT_READING
            or any("sql_mode" in v.lower() for v in self.variables)
        )

    def reset(self) -> None:
        """COM_RESET_CONNECTION: back to a fresh session's settings (the transaction is ended by the caller)."""
        self.variables = ()
        self.autocommit = True
        self.mode_status = 0
        self.reading = DEFAULT_READING
