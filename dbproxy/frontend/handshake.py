"""The connection phase: greeting, mysql_native_password authentication, initial database."""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from dbproxy.errors import AccessDenied, ProxyError, UnknownDatabase
from dbproxy.frontend.auth import check_native_password, new_scramble
from dbproxy.protocol.constants import SERVER_CAPABILITIES, Capabilities, ServerStatus
from dbproxy.protocol.packets import ok_payload, read_lenenc

if TYPE_CHECKING:
    from dbproxy.frontend.session import Session

SERVER_VERSION = "5.5.5-10.11.0-MariaDB-dbproxy"
_AUTOCOMMIT = int(ServerStatus.SERVER_STATUS_AUTOCOMMIT)


async def handshake(session: Session) -> bool:
    """Greet the client, authenticate it (mysql_native_password) and select its database; False when refused."""
    scramble = new_scramble()
    caps = int(SERVER_CAPABILITIES)
    greeting = (
        b"\x0a"
        + SERVER_VERSION.encode()
        + b"\x00"
        + struct.pack("<I", session.conn_id)
        + scramble[:8]
        + b"\x00"
        + struct.pack("<HBHH", caps & 0xFFFF, 45, _AUTOCOMMIT, caps >> 16)
        + bytes((21,))
        + b"\x00" * 10
        + scramble[8:]
        + b"\x00"
        + b"mysql_native_password\x00"
    )
    session.stream.write(greeting, 0)
    seq, resp = await session.stream.read_packet()
    client_caps, _max_packet, charset = struct.unpack_from("<IIB", resp, 0)
    if client_caps & Capabilities.CLIENT_SSL and len(resp) < 36:
        session._send_error(
            ProxyError("dbproxy does not support TLS; connect without SSL", code=1043, sqlstate="08S01"), seq + 1
        )
        return False
    session.charset = charset or 45
    session.found_rows = bool(client_caps & Capabilities.CLIENT_FOUND_ROWS)
    pos = 32
    end = resp.index(b"\x00", pos)
    session.user = resp[pos:end].decode("utf-8", "replace")
    pos = end + 1
    if client_caps & Capabilities.CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA:
        n, pos = read_lenenc(resp, pos)
        auth = resp[pos : pos + (n or 0)]
        pos += n or 0
    elif client_caps & Capabilities.CLIENT_SECURE_CONNECTION:
        n = resp[pos]
        auth = resp[pos + 1 : pos + 1 + n]
        pos += 1 + n
    else:
        end = resp.index(b"\x00", pos)
        auth = resp[pos:end]
        pos = end + 1
    database = None
    if client_caps & Capabilities.CLIENT_CONNECT_WITH_DB and pos < len(resp):
        end = resp.find(b"\x00", pos)
        end = len(resp) if end < 0 else end
        database = resp[pos:end].decode() or None
        pos = end + 1
    plugin = "mysql_native_password"
    if client_caps & Capabilities.CLIENT_PLUGIN_AUTH and pos < len(resp):
        end = resp.find(b"\x00", pos)
        plugin = resp[pos : (len(resp) if end < 0 else end)].decode() or plugin
    seq += 1
    if plugin != "mysql_native_password":
        # ask the client to switch: the only method the proxy verifies
        session.stream.write(b"\xfe" + b"mysql_native_password\x00" + scramble + b"\x00", seq)
        seq, auth = await session.stream.read_packet()
        seq += 1
    password = session.server.config.users.get(session.user)
    if password is None or not check_native_password(password, scramble, auth):
        peer = session.writer.get_extra_info("peername") or ("?",)
        session._send_error(
            AccessDenied(
                f"Access denied for user '{session.user}'@'{peer[0]}' (using password: {'YES' if auth else 'NO'})"
            ),
            seq,
        )
        await session._drain()
        return False
    if database is not None:
        if session.server.schema.get(database) is None:
            session._send_error(UnknownDatabase(f"Unknown database '{database}'"), seq)
            return False
        session.db = session.server.schema.get(database).name  # type: ignore[union-attr]
    session.stream.write(ok_payload(status=session.status), seq)
    return True
