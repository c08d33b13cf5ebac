"""Identities from a credentials file: what a bad file says, who a credential stands for, and rotation."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sdk.errors import ConfigError
from sdk.rpc.authorization import RULES, Rule, needs_no_credential, wrong_identity
from sdk.rpc.identities import Identities, Role, parse_credentials

GOOD = """
[identity.shop]
roles = ["caller"]
tokens = ["shop-token-0123456789"]
enlists = ["bank-a"]

[identity."bank-a"]
roles = ["participant"]
tokens = ["bank-a-token-0123456789"]
certificates = ["bank-a.internal"]
registers = ["bank-a"]
"""


def test_a_credential_stands_for_its_identity_and_what_it_may_do() -> None:
    parsed = parse_credentials(GOOD)
    identities = Identities(None, "legacy-admin-token-0123")
    identities._parsed = parsed  # as if read from a file
    shop = identities.by_token("shop-token-0123456789")
    assert shop is not None and shop.roles == {Role.CALLER} and not shop.admin
    assert shop.may_enlist("bank-a") and not shop.may_enlist("bank-b") and not shop.may_register("bank-a")
    bank = identities.by_certificate(["something", "bank-a.internal"])
    assert bank is not None and bank.name == "bank-a" and bank.may_register("bank-a")
    legacy = identities.by_token("legacy-admin-token-0123")
    assert legacy is not None and legacy.admin and legacy.may_enlist("anything")
    assert identities.by_token("nobody-0123456789") is None


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[identity.x]\nroles = ['caller']\n", "give it tokens or certificates"),
        ("[identity.x]\nroles = ['boss']\ntokens = ['0123456789abcdef']\n", "roles must be among"),
        ("[identity.x]\nroles = ['caller']\ntokens = ['short']\n", "at least 16 characters"),
        ("[identity.x]\nroles = ['caller']\ntokens = ['0123456789abcdef']\ncolour = 1\n", "unknown key 'colour'"),
        ("[identities.x]\n", "unknown section 'identities'"),
        ("[identity.x\n", "not valid TOML"),
        (
            "[identity.x]\nroles=['caller']\ntokens=['0123456789abcdef']\n"
            "[identity.y]\nroles=['caller']\ntokens=['0123456789abcdef']\n",
            "given to two identities",
        ),
    ],
)
def test_a_bad_credentials_file_is_refused_naming_what_is_wrong(text: str, named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        parse_credentials(text, "creds.toml")


def test_a_changed_file_is_re_read_and_a_broken_one_keeps_the_identities_before(tmp_path: Path) -> None:
    path = tmp_path / "credentials.toml"
    path.write_text(GOOD)
    identities = Identities(path)
    assert identities.by_token("shop-token-0123456789") is not None
    path.write_text(GOOD.replace("shop-token-0123456789", "shop-token-rotated-0123"))
    os.utime(path, ns=(1, 1))  # a different stamp, whatever the clock's resolution
    identities._next_check = 0.0  # the once-a-second look is due
    assert identities.by_token("shop-token-rotated-0123") is not None
    assert identities.by_token("shop-token-0123456789") is None  # revoked
    path.write_text("[identity.x\n")
    os.utime(path, ns=(2, 2))
    identities._next_check = 0.0
    assert identities.by_token("shop-token-rotated-0123") is not None  # a typo does not lock everyone out
    with pytest.raises(ConfigError, match="--credentials"):
        Identities(path)  # at start-up a broken file is an error


def test_read_only_methods_are_open_on_loopback_only_and_take_any_identity_beyond_it() -> None:
    """The one decision the gRPC interceptor and the REST front share (sdk.rpc.authorization)."""
    reads = {path for path, rule in RULES.items() if rule is Rule.READ}
    assert "/txcoord.coordinator.v1.Coordinator/List" in reads and "/txcoord.registry.v1.Registry/Resolve" in reads
    assert needs_no_credential(Rule.READ, loopback=True) and not needs_no_credential(Rule.READ, loopback=False)
    for rule in (Rule.CALLER, Rule.PARTICIPANT, Rule.PROXY, Rule.ADMIN):  # loopback opens only reads
        assert not needs_no_credential(rule, loopback=True)
    identities = Identities(None, "legacy-admin-token-0123")
    identities._parsed = parse_credentials(GOOD)
    internal = identities.by_token(identities.internal("coordinator (hosted registry)"))
    for identity in (identities.by_token("shop-token-0123456789"), identities.by_token("bank-a-token-0123456789")):
        assert identity is not None and wrong_identity(Rule.READ, identity, "m") is None
    assert internal is not None and internal.roles == frozenset()
    assert wrong_identity(Rule.READ, internal, "m") is None  # an identity with no role reads ...
    assert (
        wrong_identity(Rule.CALLER, internal, "m")
        == "m: identity 'coordinator (hosted registry)' is not a caller or proxy"
    )
