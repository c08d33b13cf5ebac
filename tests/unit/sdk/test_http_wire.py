"""The HTTP contract's pieces: one error vocabulary over both transports, the branch envelope in headers, and
what a registry entry's protocol says about its address."""

from __future__ import annotations

import grpc
import pytest

from sdk.errors import ConfigError
from sdk.http.wire import code_of, join_envelope, split_envelope, status_of
from sdk.registry import validate_registration
from txcoord.tcc.phase2 import refusal, try_never_applied


def test_every_code_travels_as_a_status_and_comes_back_as_itself_or_its_family() -> None:
    for code in grpc.StatusCode:
        if code is grpc.StatusCode.OK:
            continue
        status = status_of(code)
        assert 400 <= status < 600, code
        assert code_of(status, {"code": code.name, "error": "x"}) is code  # named: exactly itself
    # a participant that only sets the status (another language) still lands in the right family
    assert code_of(409, {}) is grpc.StatusCode.ABORTED
    assert code_of(422, None) is grpc.StatusCode.FAILED_PRECONDITION
    assert code_of(503, "text") is grpc.StatusCode.UNAVAILABLE
    assert code_of(418, {}) is grpc.StatusCode.INVALID_ARGUMENT  # any other 4xx: not retried
    assert code_of(599, {}) is grpc.StatusCode.INTERNAL  # any other 5xx: retried
    assert code_of(500, {"code": "OK"}) is grpc.StatusCode.INTERNAL  # a failure never reads as success


def test_a_barrier_refusal_over_http_is_not_retried_and_a_missing_try_reverses_the_commit() -> None:
    from sdk.errors import rpc_error

    error = rpc_error(code_of(409, {}), "debit.confirm of 1: confirm ... refused: its try never applied")
    assert refusal(error) and try_never_applied(error)


def test_the_branch_travels_in_headers_and_comes_back_as_the_same_envelope() -> None:
    body = {"gid": "g1", "branch_id": "2", "args": {"amount": 5}, "mac": "ab" * 32, "output": {"id": "x"}}
    headers, args = split_envelope(body)
    assert args == {"amount": 5}
    assert headers["txc-gid"] == "g1" and headers["txc-branch-signature"] == "ab" * 32
    assert join_envelope(headers, args) == body
    batch = {"items": [body]}
    assert split_envelope(batch) == ({}, batch) and join_envelope({}, batch) == batch
    with pytest.raises(ValueError, match="txc-step-output"):
        join_envelope({"txc-gid": "g", "txc-step-output": "{not json"}, {})


@pytest.mark.parametrize(
    ("address", "metadata", "wrong"),
    [
        ("http://127.0.0.1:8080/bank", {"protocol": "grpc"}, "address"),
        ("127.0.0.1:8080", {"protocol": "http"}, "base URL"),
        ("ftp://host/x", {}, "address"),
        ("http://host:notaport/x", {"protocol": "http"}, "port"),
        ("http://host/x?y=1", {"protocol": "http"}, "query"),
        ("127.0.0.1:1", {"protocol": "smtp"}, "metadata.protocol"),
    ],
)
def test_an_endpoints_protocol_decides_what_its_address_must_be(
    address: str, metadata: dict[str, str], wrong: str
) -> None:
    with pytest.raises(ConfigError, match=wrong):
        validate_registration("bank", address, 5, metadata)


def test_http_endpoints_register_their_base_url() -> None:
    validate_registration("bank", "https://bank.internal:8443/txc", 5, {"protocol": "http"})
    validate_registration("bank", "http://127.0.0.1:1", 5, None)  # a URL is an http endpoint
    validate_registration("bank", "127.0.0.1:1", 5, {})
