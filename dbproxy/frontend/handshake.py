"""The connection phase: greeting, mysql_native_password authentication, initial database."""

from __future__ import annotations

import struct

from dbproxy.context import ProxyContext
from dbproxy.errors import AccessDenied, ProxyError, UnknownDatabase
from dbproxy.executor.channel import ClientChannel
from dbproxy.executor.state import SessionState
from dbproxy.frontend.auth import check_native_password, new_scramble
from dbproxy.protocol.constants import SERVER_CAPABILITIES, Capabilities, ServerStatus
from dbproxy.protocol.packets import ok_payload, read_lenenc

SERVER_VERSION = "5.5.5-10.11.0-MariaDB-dbproxy"
_AUTOCOMMIT = int(ServerStatus.SERVER_STATUS_AUTOCOMMIT)


async def handshake(ctx: ProxyContext, state: SessionState, client: ClientChannel) -> bool:
    """Greet the client, authenticate it (mysql_native_password) and select its database; False when refused."""
    scramble = new_scramble()
    caps = int(SERVER_CAPABILITIES)
    greeting = (
        b"\x0a"
        + SERVER_VERSION.encode()
        + b"\x00"
        + struct.pack("<I", state.conn_id)
        + scramble[:8]
        + b"\x00"
        + struct.pack("<HBHH", caps & 0xFFFF, 45, _AUTOCOMMIT, caps >> 16)
        + bytes((21,))
        + b"\x00" * 10
        + scramble[8:]
        + b"\x00"
        + b"mysql_native_password\x00"
    )
    client.stream.write(greeting, 0)
    seq, resp = await client.stream.read_packet()
    client_caps, _max_packet, charset = struct.unpack_from("<IIB", resp, 0)
    if client_caps & Capabilities.CLIENT_SSL and len(resp) < 36:
        client.error(
            ProxyError("dbproxy does not support TLS; connect without SSL", code=1043, sqlstate="08S01"), seq + 1
        )
        return False
    state.charset = charset or 45
    state.found_rows = bool(client_caps & Capabilities.CLIENT_FOUND_ROWS)
    pos = 32
    end = resp.index(b"\x00", pos)
    state.user = resp[pos:end].decode("utf-8", "replace")
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
        client.stream.write(b"\xfe" + b"mysql_native_password\x00" + scramble + b"\x00", seq)
        seq, auth = await client.stream.read_packet()
        seq += 1
    password = ctx.config.users.get(state.user)
    if password is None or not check_native_password(password, scramble, auth):
        peer = client.writer.get_extra_info("peername") or ("?",)
        client.error(
            AccessDenied(
                f"Access denied for user '{state.user}'@'{peer[0]}' (using password: {'YES' if auth else 'NO'})"
            ),
            seq,
        )
        await client.drain()
        return False
    if database is not None:
        if ctx.schema.get(database) is None:
            client.error(UnknownDatabase(f"Unknown database '{database}'"), seq)
            return False
        state.database = ctx.schema.get(database).name  # type: ignore[union-attr]
    client.stream.write(ok_payload(status=state.status), seq)
    return True
