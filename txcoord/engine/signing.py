"""The one place the coordinator signs branch calls (``sdk.branch_mac``): a TCC try's MAC returned at
registration, each confirm / cancel it delivers, each saga step and compensation it sends; and where it checks
the try receipts a commit carries."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sdk.branch_mac import BranchSigner


class BranchSigning:
    def __init__(self, signer: BranchSigner | None) -> None:
        self.signer = signer  # None: signing off (no TXC_BRANCH_KEY)

    @property
    def on(self) -> bool:
        return self.signer is not None

    def mac(self, gid: str, branch_id: str, service: str, action: str, args: Any) -> str:
        """The MAC of a call of ``action`` (the generic action name called: ``debit``, ``debit.confirm``, a saga
        step's action); empty with signing off."""
        return "" if self.signer is None else self.signer.sign(gid, branch_id, service, action, args)

    def receipted(self, gid: str, receipts: Mapping[str, str]) -> frozenset[str] | None:
        """The branches of ``gid`` whose receipt is valid (constant-time compare), for the commit decision to
        check against its TCC branches; None with signing off (nothing is checked)."""
        if self.signer is None:
            return None
        signer = self.signer
        return frozenset(b for b, receipt in receipts.items() if signer.valid_receipt(receipt, gid, b))
