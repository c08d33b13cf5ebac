"""The connection phase: greeting, mysql_native_password authentication, initial database."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from dbproxy.errors import AccessDenied, ProxyError, UnknownDatabase, database_denied
from dbproxy.executor.channel import ClientChannel
from dbproxy.executor.context import ProxyContext
from dbproxy.executor.state import SessionState
from dbproxy.frontend.auth import check_native_password, new_scramble
from dbproxy.protocol.constants import SERVER_CAPABILITIES, Capabilities, ServerStatus
from dbproxy.protocol.packets import ok_payload, read_lenenc
from dbproxy.protocol.tls import start_tls
from dbproxy.router.dialects import DANGEROUS_COLLATIONS, check_client_charset

SERVER_VERSION = "5.5.5-10.11.0-MariaDB-dbproxy"
_AUTOCOMMIT = int(ServerStatus.SERVER_STATUS_AUTOCOMMIT)


async def handshake(ctx: ProxyContext, state: SessionState, client: ClientChannel) -> bool:
    """Greet the client, authenticate it (mysql_native_password) and select its database; False when refused."""
    scramble = new_scramble()
    caps = int(SERVER_CAPABILITIES) | (int(Capabilities.CLIENT_SSL) if ctx.tls is not None else 0)
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
    try:
        login = _parse_login(resp)
    except (IndexError, ValueError, struct.error):
        # malformed bytes from an unauthenticated peer: MySQL's answer, no traceback
        client.error(ProxyError("Bad handshake", code=1043, sqlstate="08S01"), seq + 1)
        await client.drain()
        return False
    if login.ssl:
        if ctx.tls is None:
            no_tls = ProxyError("dbproxy has no TLS configured; connect without SSL", code=1043, sqlstate="08S01")
            client.error(no_tls, seq + 1)
            return False
        # SSLRequest: the rest of the connection is TLS; the full handshake response comes over it
        await start_tls(client.stream, ctx.tls)
        client.writer = client.stream.writer
        state.tls = True
        seq, resp = await client.stream.read_packet()
        try:
            login = _parse_login(resp)
        except (IndexError, ValueError, struct.error):
            client.error(ProxyError("Bad handshake", code=1043, sqlstate="08S01"), seq + 1)
            await client.drain()
            return False
    state.charset = login.charset or 45
    state.found_rows = login.found_rows
    state.multi_statements = login.multi_statements
    state.user = login.user
    peer = client.writer.get_extra_info("peername")
    state.host = str(peer[0]) if isinstance(peer, tuple) and peer else "localhost"
    seq += 1
    auth = login.auth
    if login.plugin != "mysql_native_password":
        # ask the client to switch: the only method the proxy verifies
        client.stream.write(b"\xfe" + b"mysql_native_password\x00" + scramble + b"\x00", seq)
        seq, auth = await client.stream.read_packet()
        seq += 1
    spec = ctx.config.user(state.user)
    denied = spec is None or not check_native_password(spec.password, scramble, auth)
    if spec is not None and spec.require_tls and not state.tls:
        denied = True  # as MySQL's REQUIRE SSL: the same 1045 as a wrong password, nothing more to learn
    if denied or spec is None:
        client.error(
            AccessDenied(
                f"Access denied for user '{state.user}'@'{state.host}' (using password: {'YES' if auth else 'NO'})"
            ),
            seq,
        )
        await client.drain()
        return False
    charset = DANGEROUS_COLLATIONS.get(state.charset)
    if charset is not None:
        try:
            check_client_charset(charset)
        except ProxyError as exc:
            client.error(exc, seq)
            await client.drain()
            return False
    if spec.databases is not None:
        state.grants = {name.lower(): mode == "read_write" for name, mode in spec.databases.items()}
    if login.database is not None:
        db = ctx.schema.get(login.database)
        if db is None or not state.may_use(db.name):
            refusal: ProxyError = (
                UnknownDatabase(f"Unknown database '{login.database}'")
                if db is None and state.grants is None
                else database_denied(login.database).for_client(state.user, state.host)
            )
            client.error(refusal, seq)
            await client.drain()
            return False
        state.database = db.name
    client.stream.write(ok_payload(status=state.status), seq)
    return True


@dataclass(slots=True)
class Login:
    ssl: bool
    charset: int
    found_rows: bool
    multi_statements: bool
    user: str
    auth: bytes
    database: str | None
    plugin: str


def _parse_login(resp: bytes) -> Login:
    """The client's handshake response; IndexError/ValueError/struct.error when it is malformed."""
    client_caps, _max_packet, charset = struct.unpack_from("<IIB", resp, 0)
    if client_caps & Capabilities.CLIENT_SSL and len(resp) < 36:
        return Login(True, charset, False, False, "", b"", None, "")
    pos = 32
    end = resp.index(b"\x00", pos)
    user = resp[pos:end].decode("utf-8", "replace")
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
    if pos > len(resp) or len(auth) > 255:
        raise ValueError("auth data runs past the packet")
    database = None
    if client_caps & Capabilities.CLIENT_CONNECT_WITH_DB and pos < len(resp):
        end = resp.find(b"\x00", pos)
        end = len(resp) if end < 0 else end
        database = resp[pos:end].decode("utf-8", "replace") or None
        pos = end + 1
    plugin = "mysql_native_password"
    if client_caps & Capabilities.CLIENT_PLUGIN_AUTH and pos < len(resp):
        end = resp.find(b"\x00", pos)
        plugin = resp[pos : (len(resp) if end < 0 else end)].decode("utf-8", "replace") or plugin
    found_rows = bool(client_caps & Capabilities.CLIENT_FOUND_ROWS)
    multi = bool(client_caps & Capabilities.CLIENT_MULTI_STATEMENTS)
    return Login(False, charset, found_rows, multi, user, bytes(auth), database, plugin)
