"""A MySQL client on a bare socket, for tests that must send bytes no driver would."""

from __future__ import annotations

import contextlib
import hashlib
import socket
import struct

CLIENT_LONG_PASSWORD = 1
CLIENT_CONNECT_WITH_DB = 8
CLIENT_PROTOCOL_41 = 512
CLIENT_SECURE_CONNECTION = 32768
CLIENT_PLUGIN_AUTH = 1 << 19


def frame(payload: bytes, seq: int) -> bytes:
    return len(payload).to_bytes(3, "little") + bytes((seq & 0xFF,)) + payload


def native_password(password: str, scramble: bytes) -> bytes:
    if not password:
        return b""
    h1 = hashlib.sha1(password.encode()).digest()
    h2 = hashlib.sha1(h1).digest()
    h3 = hashlib.sha1(scramble + h2).digest()
    return bytes(a ^ b for a, b in zip(h1, h3, strict=True))


class RawClient:
    def __init__(self, port: int, timeout: float = 10.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def _recv(self, n: int) -> bytes:
        while len(self.buf) < n:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("closed by the proxy")
            self.buf += data
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_packet(self) -> tuple[int, bytes]:
        header = self._recv(4)
        length = int.from_bytes(header[:3], "little")
        return header[3], self._recv(length)

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def greeting(self) -> bytes:
        """Read the greeting; return the 20-byte scramble."""
        _, payload = self.read_packet()
        assert payload[0] == 0x0A, payload[:10]
        pos = payload.index(b"\x00", 1) + 1 + 4
        first = payload[pos : pos + 8]
        pos += 8 + 1 + 2 + 1 + 2 + 2 + 1 + 10
        second = payload[pos : pos + 12]
        return first + second

    def login(self, user: str, password: str, database: str | None) -> bytes:
        """Log in; return the proxy's answer payload (OK or ERR)."""
        scramble = self.greeting()
        caps = CLIENT_LONG_PASSWORD | CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH
        if database:
            caps |= CLIENT_CONNECT_WITH_DB
        auth = native_password(password, scramble)
        body = struct.pack("<IIB", caps, 1 << 24, 45) + b"\x00" * 23 + user.encode() + b"\x00"
        body += bytes((len(auth),)) + auth
        if database:
            body += database.encode() + b"\x00"
        body += b"mysql_native_password\x00"
        self.send_raw(frame(body, 1))
        return self.read_packet()[1]

    def command(self, payload: bytes) -> bytes:
        """Send one command; return the first packet of the answer."""
        self.send_raw(frame(payload, 0))
        return self.read_packet()[1]

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


def error_code(payload: bytes) -> int | None:
    return struct.unpack_from("<H", payload, 1)[0] if payload[:1] == b"\xff" else None
