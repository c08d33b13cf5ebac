"""Branch signatures as pure logic: what a MAC binds, and what the participant's check refuses."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from sdk.branch_mac import BranchSigner, BranchVerifier
from sdk.errors import ConfigError
from sdk.tcc_wire import envelope

SIGNER = BranchSigner(b"k" * 32)


def test_the_mac_binds_every_field_and_ignores_json_key_order() -> None:
    mac = SIGNER.sign("g", "1", "bank", "debit", {"a": 1, "b": [1, 2]})
    assert SIGNER.verify(mac, "g", "1", "bank", "debit", {"b": [1, 2], "a": 1})
    for changed in (
        ("h", "1", "bank", "debit", {"a": 1, "b": [1, 2]}),
        ("g", "2", "bank", "debit", {"a": 1, "b": [1, 2]}),
        ("g", "1", "bank2", "debit", {"a": 1, "b": [1, 2]}),
        ("g", "1", "bank", "debit.confirm", {"a": 1, "b": [1, 2]}),
        ("g", "1", "bank", "debit", {"a": 2, "b": [1, 2]}),
        ("g1", "", "bank", "debit", {"a": 1, "b": [1, 2]}),  # fields cannot slide into each other
    ):
        assert not SIGNER.verify(mac, *changed)
    assert not BranchSigner(b"x" * 32).verify(mac, "g", "1", "bank", "debit", {"a": 1, "b": [1, 2]})


def test_a_receipt_binds_gid_and_branch_and_is_never_a_call_mac() -> None:
    receipt = SIGNER.receipt("g", "1")
    assert SIGNER.valid_receipt(receipt, "g", "1")
    assert len({receipt, SIGNER.receipt("h", "1"), SIGNER.receipt("g", "2"), SIGNER.receipt("g1", "")}) == 4
    assert SIGNER.receipt("g1", "") != SIGNER.receipt("g", "1")  # fields cannot slide into each other
    for wrong in (SIGNER.receipt("g", "2"), receipt.upper(), receipt[:-1], "", None, 5):
        assert not SIGNER.valid_receipt(wrong, "g", "1")
    assert not BranchSigner(b"x" * 32).valid_receipt(receipt, "g", "1")  # another key
    # a derived key: no call MAC of any action of the branch (nor the key's HMAC of the same bytes) equals it
    macs = {
        SIGNER.sign("g", "1", service, action, args)
        for service in ("bank", "")
        for action in ("debit", "")
        for args in ({}, None, {"amount": 1})
    }
    assert receipt not in macs
    framed = b"".join(len(f).to_bytes(4, "big") + f for f in (b"g", b"1"))
    assert receipt != hmac.new(b"k" * 32, framed, hashlib.sha256).hexdigest()


def test_the_verifier_names_unsigned_and_badly_signed_calls() -> None:
    verifier = BranchVerifier("bank", SIGNER)
    args = {"amount": 1}
    assert "unsigned" in (verifier.check("debit", envelope("g", "1", args)) or "")
    assert "bad branch signature" in (verifier.check("debit", envelope("g", "1", args, "00")) or "")
    assert "bad branch signature" in (verifier.check("debit", envelope("g", "1", args, 5)) or "")  # type: ignore[arg-type]
    good = SIGNER.sign("g", "1", "bank", "debit", args)
    assert verifier.check("debit", envelope("g", "1", args, good)) is None
    assert verifier.check("debit.confirm", envelope("g", "1", args, good)) is not None
    assert verifier.check("debit", "not an envelope") is None  # left to the handler's INVALID_ARGUMENT


def test_a_short_key_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="TXC_BRANCH_KEY"):
        BranchSigner(b"short")


def test_during_a_rotation_the_accepted_key_verifies_and_only_the_signing_key_signs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    old, new = b"old-branch-key-0123456789", b"new-branch-key-0123456789"
    args = {"amount": 1}
    by_old, by_new = BranchSigner(old), BranchSigner(new)
    rotating = BranchSigner(new, [old])
    assert rotating.sign("g", "1", "bank", "debit", args) == by_new.sign("g", "1", "bank", "debit", args)
    assert rotating.receipt("g", "1") == by_new.receipt("g", "1")
    for signer in (by_old, by_new):  # a process on either key is understood
        assert rotating.verify(signer.sign("g", "1", "bank", "debit", args), "g", "1", "bank", "debit", args)
        assert rotating.valid_receipt(signer.receipt("g", "1"), "g", "1")
    assert not rotating.verify(by_old.sign("g", "1", "bank", "debit", args), "g", "2", "bank", "debit", args)
    assert not by_old.verify(by_new.sign("g", "1", "bank", "debit", args), "g", "1", "bank", "debit", args)
    assert not by_old.valid_receipt(by_new.receipt("g", "1"), "g", "1")

    monkeypatch.setenv("TXC_BRANCH_KEY", new.decode())
    monkeypatch.setenv("TXC_BRANCH_KEY_ACCEPT", f" {old.decode()} , ")
    from_env = BranchSigner.from_env()
    assert from_env is not None and from_env.valid_receipt(by_old.receipt("g", "1"), "g", "1")
    monkeypatch.setenv("TXC_BRANCH_KEY_ACCEPT", "short")
    with pytest.raises(ConfigError, match="at least 16 bytes"):
        BranchSigner.from_env()
    monkeypatch.delenv("TXC_BRANCH_KEY")
    with pytest.raises(ConfigError, match="TXC_BRANCH_KEY_ACCEPT"):
        BranchSigner.from_env()
