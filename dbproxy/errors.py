"""Exception hierarchy of the proxy. Every error a client can see carries a MySQL error code and SQLSTATE."""

from __future__ import annotations

from sdk import errors as sdk_errors


class ProxyError(Exception):
    """Root of every dbproxy error; ``code`` and ``sqlstate`` are what the client receives."""

    code = 1105  # ER_UNKNOWN_ERROR
    sqlstate = "HY000"

    def __init__(self, message: str, *, code: int | None = None, sqlstate: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if sqlstate is not None:
            self.sqlstate = sqlstate


class ConfigError(ProxyError, sdk_errors.ConfigError):
    """The YAML configuration is invalid; ``problems`` lists each one as 'file:line: key: problem'. Also the sdk's
    ConfigError (as ``txcoord.errors.ConfigError`` is), so one ``except`` catches a bad setting of any process."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid configuration:\n  " + "\n  ".join(problems))
        self.problems = problems


class AccessDenied(ProxyError):
    code = 1045
    sqlstate = "28000"


class UnknownDatabase(ProxyError):
    code = 1049
    sqlstate = "42000"


class NoDatabaseSelected(ProxyError):
    code = 1046
    sqlstate = "3D000"

    def __init__(self) -> None:
        super().__init__("No database selected: connect with a database or run USE <database> first")


class NotSupported(ProxyError):
    """SQL the proxy cannot run correctly over shards (ER_NOT_SUPPORTED_YET): refused, never answered wrongly."""

    code = 1235
    sqlstate = "42000"

    def __init__(self, construct: str) -> None:
        super().__init__(f"This version of dbproxy doesn't yet support '{construct}'")
        self.construct = construct


class ParseError(ProxyError):
    code = 1064
    sqlstate = "42000"


class UnknownStatement(ProxyError):
    code = 1243  # ER_UNKNOWN_STMT_HANDLER
    sqlstate = "HY000"


class BackendUnavailable(ProxyError):
    """A backend cannot be reached or dropped the connection (ER_CONNECT_TO_FOREIGN_DATA_SOURCE)."""

    code = 1429
    sqlstate = "HY000"

    def __init__(self, backend: str, detail: str) -> None:
        super().__init__(f"Unable to connect to backend '{backend}': {detail}")
        self.backend = backend


class TooManyConnections(ProxyError):
    """Every connection the pool may open to a backend is in use (ER_CON_COUNT_ERROR)."""

    code = 1040
    sqlstate = "08004"


class BackendError(ProxyError):
    """An error packet a backend returned while the proxy needed its result (scatter, commit)."""

    def __init__(self, backend: str, code: int, sqlstate: str, message: str) -> None:
        super().__init__(message, code=code, sqlstate=sqlstate)
        self.backend = backend


class PartialCommit(ProxyError):
    """A multi-shard commit failed after some shards committed (no atomic commit yet, see xa/transactions.py)."""

    code = 1180  # ER_ERROR_DURING_COMMIT
    sqlstate = "HY000"


class OutcomeUnknown(ProxyError):
    """A COMMIT was sent but its answer lost (a backend's connection, or the coordinator's): it may have
    committed. Never reported as rolled back, because a client that retries would then apply it twice."""

    code = 1180  # ER_ERROR_DURING_COMMIT
    sqlstate = "HY000"


def commit_lost(backend: str, exc: ProxyError) -> OutcomeUnknown:
    return OutcomeUnknown(
        f"COMMIT outcome unknown: the connection to backend '{backend}' was lost while it committed "
        f"({exc.message}); the transaction may have committed there"
    )


class AccessRefused(ProxyError):
    """A statement outside what the user may do. MySQL's own message for it names the user and the client host,
    which the plan (shared by every session) does not know: ``{user}``/``{host}`` are filled in per session."""

    sqlstate = "42000"

    def __init__(self, template: str, *, code: int) -> None:
        super().__init__(template, code=code)
        self.template = template

    def for_client(self, user: str, host: str) -> ProxyError:
        message = self.template.replace("{user}", user).replace("{host}", host)
        return ProxyError(message, code=self.code, sqlstate=self.sqlstate)


def database_denied(database: str) -> AccessRefused:
    """ER_DBACCESS_DENIED_ERROR."""
    return AccessRefused(f"Access denied for user '{{user}}'@'{{host}}' to database '{database}'", code=1044)


def table_denied(command: str, database: str, table: str) -> AccessRefused:
    """ER_TABLEACCESS_DENIED_ERROR."""
    return AccessRefused(
        f"{command} command denied to user '{{user}}'@'{{host}}' for table `{database}`.`{table}`", code=1142
    )


def privilege_needed(privilege: str, construct: str) -> AccessRefused:
    """ER_SPECIFIC_ACCESS_DENIED_ERROR, naming the statement or construct that needs the privilege."""
    return AccessRefused(
        f"Access denied; you need (at least one of) the {privilege} privilege(s) for this operation ({construct})",
        code=1227,
    )


class KillDenied(ProxyError):
    code = 1094  # ER_NO_SUCH_THREAD
    sqlstate = "HY000"
