"""Input rules at the coordinator's and registry's edge, checked before anything is durable.

Every violation is an :class:`InvalidArgument` whose message starts with the field's name and quotes at most a
short prefix of the input (a 100k-character gid must not turn into a 100k-character error, which gRPC cannot
even send as trailing metadata). Gids and branch ids travel as gRPC metadata (``txc-gid``) and as barrier keys
(VARCHAR(128) / VARCHAR(64)), hence printable ASCII with bounded lengths."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from txcoord.errors import InvalidArgument

MAX_GID = 128
MAX_BRANCH_ID = 64
MAX_NAME = 128
MAX_PAYLOAD_BYTES = 1 << 20
MAX_PAYLOAD_DEPTH = 32
MAX_REASON = 1000
MAX_TTL = 3600.0
MAX_METADATA_ENTRIES = 32
MAX_METADATA_BYTES = 4096
MAX_RECEIPTS = 10_000  # a commit's try receipts: one per branch
_PREFIX = 24

_KEY_RE = re.compile(r"[\x21-\x7e]+")  # printable ASCII, no space
_SERVICE_RE = re.compile(r"[A-Za-z][A-Za-z0-9_.\-]*")
# no dot: "debit.confirm" names a phase of "debit", never a try of its own
_ACTION_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")


def shown(value: object) -> str:
    """A short, printable quotation of a bad input: never more than a prefix of it."""
    text = value if isinstance(value, str) else repr(value)
    head = text[:_PREFIX].encode("ascii", "backslashreplace").decode("ascii")
    more = f"... ({len(text)} characters)" if len(text) > _PREFIX else ""
    return repr(head) + more


def _bounded(field: str, value: str, limit: int) -> None:
    """Not empty and at most ``limit`` characters: the first checks of every name and key."""
    if not value:
        raise InvalidArgument(f"{field}: must not be empty")
    if len(value) > limit:
        raise InvalidArgument(f"{field}: at most {limit} characters, got {len(value)}: {shown(value)}")


def _key(field: str, value: str, limit: int) -> str:
    _bounded(field, value, limit)
    if not _KEY_RE.fullmatch(value):
        raise InvalidArgument(f"{field}: printable ASCII without spaces only, got {shown(value)}")
    return value


def gid(value: str, field: str = "gid") -> str:
    return _key(field, value, MAX_GID)


def branch_id(value: str, field: str = "branch_id") -> str:
    return _key(field, value, MAX_BRANCH_ID)


def service(value: str, field: str = "service") -> str:
    _bounded(field, value, MAX_NAME)
    if not _SERVICE_RE.fullmatch(value):
        raise InvalidArgument(f"{field}: letters, digits, '_', '.', '-', starting with a letter; got {shown(value)}")
    return value


def action(value: str, field: str = "action") -> str:
    _bounded(field, value, MAX_NAME)
    if "." in value:
        raise InvalidArgument(
            f"{field}: {shown(value)} names a phase of another action; register the try's name (e.g. 'debit')"
        )
    if not _ACTION_RE.fullmatch(value):
        raise InvalidArgument(f"{field}: letters, digits, '_', '-', not starting with a digit; got {shown(value)}")
    return value


def _depth_and_text(field: str, value: Any, depth: int = 1) -> None:
    if depth > MAX_PAYLOAD_DEPTH:
        raise InvalidArgument(f"{field}: nested deeper than {MAX_PAYLOAD_DEPTH} levels")
    if isinstance(value, str):
        _text(field, value)
    elif isinstance(value, dict):
        for key, item in value.items():
            _text(field, key)
            _depth_and_text(field, item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _depth_and_text(field, item, depth + 1)
    elif isinstance(value, float) and not math.isfinite(value):
        raise InvalidArgument(f"{field}: numbers must be finite (no NaN or Infinity)")


def json_value(value: Any, field: str) -> Any:
    """A decoded JSON value from outside (a participant's step output) that the store can keep: bounded depth,
    strings without NUL or lone surrogates, finite numbers. Returns it unchanged."""
    try:
        _depth_and_text(field, value)
    except RecursionError:
        raise InvalidArgument(f"{field}: nested deeper than {MAX_PAYLOAD_DEPTH} levels") from None
    return value


def text(value: str, field: str, limit: int = MAX_NAME) -> str:
    """Free text a store and a log can carry: at most ``limit`` characters, no NUL, no lone surrogate."""
    if len(value) > limit:
        raise InvalidArgument(f"{field}: at most {limit} characters, got {len(value)}")
    _text(field, value)
    return value


def _text(field: str, value: str) -> None:
    if "\x00" in value:
        raise InvalidArgument(f"{field}: strings must not contain NUL (\\u0000)")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidArgument(f"{field}: strings must be valid Unicode (a lone surrogate such as \\ud800)") from None


def payload(raw: bytes | str, field: str = "payload_json") -> str:
    """The payload as JSON text: a JSON object, valid UTF-8, bounded size and depth, no NUL, no lone surrogate.
    Empty means ``{}``."""
    return json_text(raw, field, object_only=True)


def json_text(raw: bytes | str, field: str, *, object_only: bool = False) -> str:
    """JSON text that is valid UTF-8, bounded in size and depth, with no NUL and no lone surrogate (a JSON
    object if ``object_only``). Empty means ``{}``."""
    if len(raw) > MAX_PAYLOAD_BYTES:
        raise InvalidArgument(f"{field}: at most {MAX_PAYLOAD_BYTES} bytes, got {len(raw)}")
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidArgument(f"{field}: not valid UTF-8 (byte {exc.start})") from None
    else:
        text = raw
    if not text:
        return "{}"
    if "\x00" in text:
        raise InvalidArgument(f"{field}: must not contain NUL")
    try:
        value = json.loads(text)
    except RecursionError:
        raise InvalidArgument(f"{field}: nested deeper than {MAX_PAYLOAD_DEPTH} levels") from None
    except ValueError as exc:
        raise InvalidArgument(f"{field}: not JSON ({str(exc)[:80]})") from None
    if object_only and not isinstance(value, dict):
        raise InvalidArgument(f"{field}: must be a JSON object (the action's arguments), got {type(value).__name__}")
    _depth_and_text(field, value)
    return text


def reason(value: str, field: str = "reason") -> str:
    """A free-text reason: stored cut to a bound, never refused (it explains a rollback that must happen)."""
    cleaned = value.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")
    return cleaned[:MAX_REASON]


def ttl(value: float, field: str = "ttl_seconds") -> float:
    if not (math.isfinite(value) and 0 < value <= MAX_TTL):
        raise InvalidArgument(f"{field}: must be in (0, {MAX_TTL:.0f}] seconds, got {shown(str(value))}")
    return value


def metadata(value: Mapping[str, str], field: str = "metadata") -> dict[str, str]:
    if len(value) > MAX_METADATA_ENTRIES:
        raise InvalidArgument(f"{field}: at most {MAX_METADATA_ENTRIES} entries, got {len(value)}")
    size = sum(len(k.encode()) + len(v.encode()) for k, v in value.items())
    if size > MAX_METADATA_BYTES:
        raise InvalidArgument(f"{field}: at most {MAX_METADATA_BYTES} bytes in all, got {size}")
    for key, item in value.items():
        if "\x00" in key or "\x00" in item:
            raise InvalidArgument(f"{field}: must not contain NUL")
    return dict(value)


def receipts(value: Mapping[str, str]) -> Mapping[str, str]:
    """A commit's try receipts (branch id -> receipt): bounded, since each is checked with an HMAC. A key
    that is no branch id, or a receipt that is wrong, just proves nothing."""
    if len(value) > MAX_RECEIPTS:
        raise InvalidArgument(f"receipts: at most {MAX_RECEIPTS} (one per branch), got {len(value)}")
    return value
