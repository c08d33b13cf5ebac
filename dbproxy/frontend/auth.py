"""mysql_native_password, server side."""

from __future__ import annotations

import hashlib
import hmac
import os


def new_scramble() -> bytes:
    # 20 bytes without NUL (the handshake carries it NUL-terminated)
    return bytes(b % 255 + 1 for b in os.urandom(20))


def check_native_password(password: str, scramble: bytes, response: bytes) -> bool:
    if not password:
        return response == b""
    if len(response) != 20:
        return False
    h1 = hashlib.sha1(password.encode()).digest()
    h2 = hashlib.sha1(h1).digest()
    h3 = hashlib.sha1(scramble + h2).digest()
    candidate = bytes(a ^ b for a, b in zip(response, h3, strict=True))
    return hmac.compare_digest(hashlib.sha1(candidate).digest(), h2)
