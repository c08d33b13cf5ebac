"""What TCC and sagas share in the coordinator (txcoord.engine): the gids driven here, the one error-to-status
mapping, the retry policy on the sdk's one backoff."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import grpc

from sdk.rpc.backoff import Backoff, backoff_delays
from sdk.saga import RetryPolicy
from txcoord.engine.answers import failure, status_of
from txcoord.engine.driven import DrivenHere
from txcoord.engine.retry import Retry
from txcoord.errors import ConfigError, InvalidState, StoreUnavailable, TransactionNotFound
from txcoord.saga.errors import SagaNotFound, VersionConflict
from txcoord.store.outage import OutageLog


async def test_a_gid_counts_as_driven_from_its_reservation_to_the_end_of_its_task() -> None:
    driven = DrivenHere("test")
    release = asyncio.Event()
    ended: list[str] = []
    with driven.reserved("g"):
        assert driven.active == ["g"] and driven.is_active("g") and not driven.running("g")
        driven.start("g", release.wait(), ended=ended.append)  # type: ignore[arg-type]
        assert driven.running("g")
    assert driven.active == ["g"]
    release.set()
    while driven.is_active("g"):
        await asyncio.sleep(0.001)
    assert ended == ["g"] and driven.active == []


async def test_close_cancels_what_is_driven() -> None:
    driven = DrivenHere("test")
    driven.start("g", asyncio.sleep(3600))  # type: ignore[arg-type]
    await driven.close()
    await asyncio.sleep(0)
    assert driven.active == []


def test_every_coordinator_error_answers_with_its_own_status() -> None:
    assert status_of(TransactionNotFound("g")) == grpc.StatusCode.NOT_FOUND
    assert status_of(SagaNotFound("trip")) == grpc.StatusCode.NOT_FOUND
    assert status_of(InvalidState("g", "COMMITTED", "roll back")) == grpc.StatusCode.FAILED_PRECONDITION
    assert status_of(VersionConflict("trip", 2)) == grpc.StatusCode.ALREADY_EXISTS
    assert status_of(StoreUnavailable("down")) == grpc.StatusCode.UNAVAILABLE
    assert status_of(ConnectionResetError()) == grpc.StatusCode.UNAVAILABLE
    assert status_of(ConfigError("bad")) == grpc.StatusCode.INTERNAL
    assert status_of(KeyError("bug")) == grpc.StatusCode.INTERNAL


def test_a_store_outage_is_unavailable_and_reported_once() -> None:
    outage = OutageLog()
    code, message = failure(ConnectionRefusedError("refused"), outage)
    assert code == grpc.StatusCode.UNAVAILABLE and message.startswith("coordinator store unavailable, retry:")
    assert outage.down


def test_the_coordinators_config_error_is_the_sdks() -> None:
    import sdk.errors

    assert isinstance(ConfigError("x"), sdk.errors.ConfigError)


def test_one_backoff_under_every_retry_policy() -> None:
    assert Retry().delay(3) == Backoff(0.1, 30.0).delay(3) == 0.4
    assert RetryPolicy(attempts=5, backoff=0.5, max_backoff=10.0).delay(6) == Backoff(0.5, 10.0).delay(6) == 10.0
    first = next(backoff_delays(initial=1.0, maximum=4.0))
    assert 0.8 <= first <= 1.2


def test_a_failpoint_is_off_unless_its_variable_names_it() -> None:
    code = (
        "from sdk.failpoints import Failpoints; f = Failpoints('TXC_TEST_FP');"
        "print(f.broken('a'), f.broken('b'), f.broken('c'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env={"TXC_TEST_FP": "a,b"}, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["True", "True", "False"]
