"""Branch signatures: a participant serves only branches the coordinator registered, checked locally.

The coordinator holds a key shared with the participants (``TXC_BRANCH_KEY``; never sent over the wire). When
it registers a branch it returns the MAC of the try: HMAC-SHA256 over (gid, branch id, service, the action
called, SHA-256 of the canonical JSON of the arguments). The caller carries it in the try's body (``"mac"``);
the coordinator signs each confirm and cancel it sends (``debit.confirm``, ``debit.cancel``) and each saga step
and compensation it drives the same way, so a caller that saw its try's MAC still cannot confirm or cancel by
itself. The participant recomputes the MAC and refuses
a call whose MAC is missing or wrong before any of its code or its barrier runs: no round trip, no effect.

The other way round, a try that applied (or a repeat of one, answered "duplicate") is answered with a **receipt**:
HMAC-SHA256 over (gid, branch id), with a key derived from the branch key (so no receipt is ever the MAC of a
call). The caller hands the receipts to the coordinator with its commit; a coordinator that signs rolls back a
commit with a TCC branch that has no valid receipt instead of confirming a branch whose try did not succeed.

Key distribution: the operator puts the same secret (at least 16 bytes; e.g. ``openssl rand -hex 32``) in the
environment of the coordinators and of every participant, as it does for ``TXC_TOKEN``. No key on a
participant means "not verified" (the loopback demo without a key); it says so once in its log. A rotation adds
the other key to ``TXC_BRANCH_KEY_ACCEPT`` (verified, never used to sign) for its duration
(docs/security.md#rotation)."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
from collections.abc import Sequence
from typing import Any

from sdk.errors import ConfigError

KEY_ENV = "TXC_BRANCH_KEY"
# keys verified beside it, comma-separated, while the branch key is rotated (docs/security.md#rotation)
ACCEPT_ENV = "TXC_BRANCH_KEY_ACCEPT"
MAC_FIELD = "mac"
RECEIPT_FIELD = "receipt"  # a try's reply: the participant's proof that the try applied
# what the receipt key is derived with: a receipt can never equal a call MAC of any action
RECEIPT_LABEL = b"txc try receipt"
MIN_KEY_BYTES = 16

log = logging.getLogger(__name__)


def payload_digest(args: Any) -> bytes:
    """SHA-256 of the arguments' canonical JSON (sorted keys, no spaces, ASCII): the same bytes on both sides
    whatever order or spacing the JSON travelled in."""
    canonical = json.dumps(args, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return hashlib.sha256(canonical.encode()).digest()


def _framed(*fields: str) -> bytes:
    """Each field after its length, so no two different tuples can run together into the same bytes."""
    return b"".join(len(b).to_bytes(4, "big") + b for b in (f.encode() for f in fields))


class BranchSigner:
    """Signs (coordinator) and verifies (participant) branch calls with one shared key."""

    def __init__(self, key: bytes, accepted: Sequence[bytes] = ()) -> None:
        """``key`` signs (and verifies); ``accepted``: keys that are only verified, while a key is rotated in
        or out (``TXC_BRANCH_KEY_ACCEPT``)."""
        for k in (key, *accepted):
            if len(k) < MIN_KEY_BYTES:
                raise ConfigError(f"{KEY_ENV}: the branch key must be at least {MIN_KEY_BYTES} bytes")
        self._key = key
        self._receipt_key = _receipt_key(key)
        self._accepted = tuple(accepted)
        self._accepted_receipt_keys = tuple(_receipt_key(k) for k in accepted)

    @classmethod
    def from_env(cls) -> BranchSigner | None:
        """The signer for ``TXC_BRANCH_KEY`` (and ``TXC_BRANCH_KEY_ACCEPT``), or None when it is unset (signing
        off)."""
        value = os.environ.get(KEY_ENV)
        accepted = [k.strip().encode() for k in os.environ.get(ACCEPT_ENV, "").split(",") if k.strip()]
        if accepted and not value:
            raise ConfigError(f"{ACCEPT_ENV}: keys to accept beside {KEY_ENV}, which is not set")
        return cls(value.encode(), accepted) if value else None

    def sign(self, gid: str, branch_id: str, service: str, action: str, args: Any) -> str:
        """``action`` is the generic action called: ``debit`` (try), ``debit.confirm``, a saga step's name."""
        return _call_mac(self._key, gid, branch_id, service, action, payload_digest(args))

    def receipt(self, gid: str, branch_id: str) -> str:
        """The participant's proof that the try of (gid, branch) applied. Nothing more is covered: the
        registration it belongs to never changes, and the coordinator checks it without reading the branch."""
        return hmac.digest(self._receipt_key, _framed(gid, branch_id), "sha256").hex()

    def valid_receipt(self, receipt: object, gid: str, branch_id: str) -> bool:
        if not isinstance(receipt, str):
            return False
        if hmac.compare_digest(receipt.encode(), self.receipt(gid, branch_id).encode()):
            return True
        message = _framed(gid, branch_id)
        return any(  # made with a key being rotated
            hmac.compare_digest(receipt.encode(), hmac.digest(k, message, "sha256").hex().encode())
            for k in self._accepted_receipt_keys
        )

    def verify(self, mac: object, gid: str, branch_id: str, service: str, action: str, args: Any) -> bool:
        if not isinstance(mac, str):
            return False
        try:
            digest = payload_digest(args)
        except (TypeError, ValueError):  # arguments that are not JSON (NaN, ...) cannot have been registered
            return False
        for key in (self._key, *self._accepted):  # the signing key first: the others only during a rotation
            if hmac.compare_digest(mac.encode(), _call_mac(key, gid, branch_id, service, action, digest).encode()):
                return True
        return False


def _receipt_key(key: bytes) -> bytes:
    return hmac.digest(key, RECEIPT_LABEL, "sha256")


def _call_mac(key: bytes, gid: str, branch_id: str, service: str, action: str, digest: bytes) -> str:
    return hmac.digest(key, _framed(gid, branch_id, service, action) + digest, "sha256").hex()  # one-shot: C


class BranchVerifier:
    """The participant's check, called from one place in ``sdk.participant``: raise on an unregistered call."""

    def __init__(self, service: str, signer: BranchSigner) -> None:
        self.service = service
        self.signer = signer

    def check(self, action: str, body: Any) -> str | None:
        """None when the call may run, else the reason it must be refused. A body that is not an envelope is
        left to the handler, which refuses it as INVALID_ARGUMENT."""
        if not isinstance(body, dict):
            return None
        gid, branch_id, args = body.get("gid"), body.get("branch_id"), body.get("args", {})
        if not isinstance(gid, str) or not isinstance(branch_id, str):
            return None
        where = f"{self.service}.{action} of {gid[:40]}/{branch_id[:40]}"
        mac = body.get(MAC_FIELD)
        if mac is None:
            return (
                f"{where}: unsigned call refused; only branches the coordinator registered are served "
                "(run it inside a transaction, e.g. `txc call --gid GID`)"
            )
        if not self.signer.verify(mac, gid, branch_id, self.service, action, args):
            return f"{where}: bad branch signature refused (not registered by the coordinator, or {KEY_ENV} differs)"
        return None


def warn_unverified(service: str) -> None:
    log.warning(
        "%s: %s is not set, so calls are not checked against the coordinator's registrations "
        "(fine for a loopback demo only)",
        service,
        KEY_ENV,
    )
