"""Branch signatures as pure logic: what a MAC binds, and what the participant's check refuses."""

from __future__ import annotations

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
