"""The coordinator's receipt check (txcoord.engine.signing): which branches a commit proved were tried."""

from __future__ import annotations

import pytest

from sdk.branch_mac import BranchSigner
from txcoord.engine.signing import BranchSigning
from txcoord.errors import InvalidArgument
from txcoord.validation import MAX_RECEIPTS, receipts

SIGNER = BranchSigner(b"k" * 32)


def test_only_valid_receipts_of_this_gid_count_and_signing_off_checks_nothing() -> None:
    signing = BranchSigning(SIGNER)
    given = {
        "1": SIGNER.receipt("g", "1"),  # valid
        "2": SIGNER.receipt("g", "1"),  # branch 1's shown for branch 2
        "3": SIGNER.receipt("other", "3"),  # another transaction's
        "4": SIGNER.sign("g", "4", "bank", "debit", {}),  # the try's MAC is no receipt
        "5": "",
    }
    assert signing.receipted("g", given) == frozenset({"1"})
    assert BranchSigning(None).receipted("g", given) is None


def test_a_commit_carries_at_most_one_receipt_per_branch_limit() -> None:
    assert receipts({"1": "x"}) == {"1": "x"}
    with pytest.raises(InvalidArgument, match="receipts: at most"):
        receipts({str(n): "x" for n in range(MAX_RECEIPTS + 1)})
