"""A connection that breaks under a call is a transport failure, whatever code gRPC's client side gives it."""

from __future__ import annotations

import grpc
import pytest
from grpc.aio import AioRpcError, Metadata

from sdk.errors import TransportError
from sdk.rpc.client import translate_error


def _failed(code: grpc.StatusCode, details: str) -> AioRpcError:
    return AioRpcError(code, Metadata(), Metadata(), details=details)


@pytest.mark.parametrize(
    "details",
    [
        "Internal error from Core",
        "connection was closed in the middle of operation",
        "unexpected connection_lost() call",
    ],
)
def test_a_broken_connection_reported_as_internal_is_unavailable(details: str) -> None:
    error = translate_error(_failed(grpc.StatusCode.INTERNAL, details), target="127.0.0.1:1")
    assert isinstance(error, TransportError)
    assert error.code == grpc.StatusCode.UNAVAILABLE and details in error.details


def test_a_servers_own_internal_answer_stays_internal() -> None:
    error = translate_error(_failed(grpc.StatusCode.INTERNAL, "participant failed: KeyError"))
    assert error.code == grpc.StatusCode.INTERNAL and not isinstance(error, TransportError)
