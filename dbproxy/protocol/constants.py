"""Protocol constants; the enums come from mysql-mimic, the sets and masks are ours."""

from __future__ import annotations

from mysql_mimic.types import Capabilities, ColumnDefinition, ColumnType, Commands, ServerStatus

__all__ = [
    "BACKEND_CAPABILITIES",
    "INTEGER_TYPES",
    "MAX_PACKET",
    "NUMERIC_TYPES",
    "SERVER_CAPABILITIES",
    "Capabilities",
    "ColumnDefinition",
    "ColumnType",
    "Commands",
    "ServerStatus",
]

MAX_PACKET = 0xFFFFFF

# What the proxy offers its clients. No DEPRECATE_EOF, SSL, compression or LOCAL INFILE: backend result packets
# are relayed byte for byte, so both sides must speak the same dialect of result sets (EOF-terminated).
SERVER_CAPABILITIES = (
    Capabilities.CLIENT_LONG_PASSWORD
    | Capabilities.CLIENT_FOUND_ROWS
    | Capabilities.CLIENT_LONG_FLAG
    | Capabilities.CLIENT_CONNECT_WITH_DB
    | Capabilities.CLIENT_PROTOCOL_41
    | Capabilities.CLIENT_INTERACTIVE
    | Capabilities.CLIENT_TRANSACTIONS
    | Capabilities.CLIENT_SECURE_CONNECTION
    | Capabilities.CLIENT_MULTI_STATEMENTS
    | Capabilities.CLIENT_MULTI_RESULTS
    | Capabilities.CLIENT_PS_MULTI_RESULTS
    | Capabilities.CLIENT_PLUGIN_AUTH
    | Capabilities.CLIENT_CONNECT_ATTRS
    | Capabilities.CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA
)

# What the proxy asks of its backends (FOUND_ROWS is added per pool when the client asked for it).
BACKEND_CAPABILITIES = (
    Capabilities.CLIENT_LONG_PASSWORD
    | Capabilities.CLIENT_LONG_FLAG
    | Capabilities.CLIENT_CONNECT_WITH_DB
    | Capabilities.CLIENT_PROTOCOL_41
    | Capabilities.CLIENT_TRANSACTIONS
    | Capabilities.CLIENT_SECURE_CONNECTION
    | Capabilities.CLIENT_MULTI_RESULTS
    | Capabilities.CLIENT_PS_MULTI_RESULTS
    | Capabilities.CLIENT_PLUGIN_AUTH
    | Capabilities.CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA
)

INTEGER_TYPES = frozenset(
    {ColumnType.TINY, ColumnType.SHORT, ColumnType.LONG, ColumnType.LONGLONG, ColumnType.INT24, ColumnType.YEAR}
)
NUMERIC_TYPES = INTEGER_TYPES | {ColumnType.DECIMAL, ColumnType.NEWDECIMAL, ColumnType.FLOAT, ColumnType.DOUBLE}
