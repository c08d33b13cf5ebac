"""Is an exception raised inside a phase the business saying no, or the participant's own infrastructure
failing (its database down, a table missing, a deadlock)? Only the first is a refusal.

A try or a saga action that raises is answered FAILED_PRECONDITION: the caller rolls back, the saga
compensates, nobody retries. That is right for "insufficient funds" and wrong for "connection refused" or
"relation txc_barrier does not exist": those are answered UNAVAILABLE, like a transport failure, so the
caller sees an ``InfrastructureError`` and the coordinator retries a saga step instead of compensating.

No database driver is imported: drivers are recognised by what their errors carry (a PostgreSQL SQLSTATE
on asyncpg's and psycopg's errors, the DB-API class names of pymysql / aiomysql)."""

from __future__ import annotations

import logging

import grpc

from sdk.errors import RpcError

log = logging.getLogger(__name__)

# SQLSTATE classes that say nothing about the business: connection (08), access rule / undefined object (42),
# resources (53, 54), object state (55), operator intervention (57), system (58), internal (XX), transaction
# rollback: serialization failure and deadlock (40), invalid catalog / schema (3D, 3F), authorization (28)
_SQLSTATE_CLASSES = frozenset({"08", "42", "53", "54", "55", "57", "58", "XX", "40", "3D", "3F", "28"})
# DB-API classes (PEP 249) that are infrastructure; IntegrityError and DataError are the business's answer
_DBAPI_CLASSES = frozenset({"OperationalError", "InterfaceError", "InternalError", "ProgrammingError"})
_DRIVERS = ("asyncpg", "psycopg", "pymysql", "aiomysql", "MySQLdb", "sqlite3")


def is_infrastructure_failure(exc: BaseException) -> bool:
    """True for a failure of the participant's infrastructure rather than a business refusal."""
    if isinstance(exc, OSError | TimeoutError | ConnectionError):
        return True
    sqlstate = getattr(exc, "sqlstate", None)
    if isinstance(sqlstate, str) and len(sqlstate) == 5:
        return sqlstate[:2] in _SQLSTATE_CLASSES
    return any(c.__module__.split(".")[0] in _DRIVERS and c.__name__ in _DBAPI_CLASSES for c in type(exc).__mro__)


def infrastructure_refusal(where: str, exc: BaseException) -> RpcError:
    """The UNAVAILABLE answer for an infrastructure failure in ``where`` (one log line, no traceback)."""
    text = f"{type(exc).__name__}: {exc}"
    log.warning("%s: infrastructure failure (answered UNAVAILABLE, not a refusal): %s", where, text)
    return RpcError(grpc.StatusCode.UNAVAILABLE, f"{where}: the participant's infrastructure failed: {text}")
