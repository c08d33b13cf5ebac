"""Mistakes reported as what they are (issue 23, Deliver 2): infrastructure failures in a phase are not business
refusals, a function the protocol cannot call is refused where it is decorated, and a failed TLS handshake names
the side to fix."""

from __future__ import annotations

from typing import Any

import asyncpg
import grpc
import pymysql
import pytest

from sdk import Participant, SagaContext, TccContext, TccDefinitionError, saga_step, tcc
from sdk.errors import RpcError
from sdk.infrastructure import is_infrastructure_failure
from sdk.rpc.tls_hints import tls_hint

FAILURE: dict[str, BaseException] = {}


@tcc(service="shop")
async def reserve(ctx: TccContext[Any], item: str) -> None:
    raise FAILURE["now"]


@reserve.confirm
async def _confirm(ctx: TccContext[Any], item: str) -> None: ...


@reserve.cancel
async def _cancel(ctx: TccContext[Any], item: str) -> None: ...


@saga_step
async def pack(ctx: SagaContext, item: str) -> None:
    raise FAILURE["now"]


@pytest.mark.parametrize(
    ("error", "infrastructure"),
    [
        (asyncpg.exceptions.UndefinedTableError('relation "txc_barrier" does not exist'), True),
        (asyncpg.exceptions.DeadlockDetectedError("deadlock"), True),
        (asyncpg.exceptions.InterfaceError("pool is closed"), True),
        (ConnectionRefusedError(111, "refused"), True),
        (pymysql.err.OperationalError(2003, "Can't connect"), True),
        (pymysql.err.ProgrammingError(1146, "Table 'shop.txc_barrier' doesn't exist"), True),
        (asyncpg.exceptions.CheckViolationError("balance >= 0"), False),
        (asyncpg.exceptions.RaiseError("out of stock"), False),
        (pymysql.err.IntegrityError(1062, "Duplicate entry"), False),
        (ValueError("out of stock"), False),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else str(v),
)
def test_infrastructure_failures_are_told_from_business_refusals(error: BaseException, infrastructure: bool) -> None:
    assert is_infrastructure_failure(error) is infrastructure


@pytest.mark.parametrize("name", ["reserve", "pack"])
async def test_a_phase_whose_database_is_missing_answers_unavailable_not_a_refusal(name: str) -> None:
    handler = Participant("shop", [reserve, pack]).handlers()[name]
    body = {"gid": "g1", "branch_id": "1", "args": {"item": "pen"}}
    FAILURE["now"] = asyncpg.exceptions.UndefinedTableError('relation "stock" does not exist')
    with pytest.raises(RpcError) as raised:
        await handler(body, None)
    assert raised.value.code == grpc.StatusCode.UNAVAILABLE
    assert "infrastructure failed: UndefinedTableError" in raised.value.details
    FAILURE["now"] = ValueError("out of stock")
    with pytest.raises(RpcError) as refused:
        await handler(body, None)
    assert refused.value.code == grpc.StatusCode.FAILED_PRECONDITION


def test_a_tcc_function_whose_first_parameter_is_not_the_context_is_refused_at_decoration() -> None:
    with pytest.raises(TccDefinitionError, match=r"'order_id' is annotated str; add `ctx: TccContext\[...\]`"):

        @tcc
        async def hold(order_id: str, quantity: int) -> None: ...


def test_handshake_hints_name_the_side_to_fix() -> None:
    san = tls_hint(
        "Custom verification check failed with error: UNAUTHENTICATED: Hostname Verification Check failed.",
        "127.0.0.2:7070",
    )
    assert "the server at 127.0.0.2:7070 has a certificate that does not name 127.0.0.2" in san
    assert "subjectAltName IP:127.0.0.2" in san
    plain_server = tls_hint("Tls handshake failed (TSI_PROTOCOL_FAILURE): SSL_ERROR_SSL: WRONG_VERSION_NUMBER", "h:1")
    assert "the server at h:1 does not serve TLS" in plain_server and "THAT SERVER needs TXC_TLS_CERT" in plain_server
    plain_client = tls_hint("failed to connect to all addresses; last error: UNAVAILABLE: Socket closed", "h:1")
    assert "THIS PROCESS must dial TLS" in plain_client
    other_ca = tls_hint("SSL_ERROR_SSL: BAD_SIGNATURE: certificate signature failure", "h:1")
    assert "not signed by the CA this process trusts" in other_ca
    assert tls_hint("connection refused", "h:1") == ""
