"""The coordinator's retry policy for what it delivers (phase 2; the bound also marks undeliverable saga
compensations for a person): the sdk's one backoff (``sdk.rpc.backoff.Backoff``) with a coordinator's limits."""

from __future__ import annotations

from dataclasses import dataclass

from sdk.rpc.backoff import Backoff


@dataclass(frozen=True)
class Retry(Backoff):
    """Capped exponential backoff; ``max_attempts`` 0 means retry forever."""

    initial: float = 0.1
    maximum: float = 30.0
    factor: float = 2.0
    max_attempts: int = 0
    # a branch whose service has no endpoint (or no such action) for this long is marked for a person
    unregistered_bound: float = 60.0

    def exhausted(self, failures: int) -> bool:
        return self.max_attempts > 0 and failures >= self.max_attempts
