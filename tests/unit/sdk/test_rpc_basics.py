from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from sdk.errors import ConfigError
from sdk.registry import validate_registration
from sdk.rpc import decode_json, encode_json, method_path, parse_address
from sdk.rpc.backoff import backoff_delays
from sdk.rpc.context import current_gid, outgoing_metadata, txn_context
from txcoord.sql_queries import load_queries


@pytest.mark.parametrize(
    ("text", "expected"),
    [("127.0.0.1:80", ("127.0.0.1", 80)), ("localhost:0", ("localhost", 0)), ("[::1]:7070", ("::1", 7070))],
)
def test_parse_address_accepts_host_port(text: str, expected: tuple[str, int]) -> None:
    assert parse_address(text) == expected


@pytest.mark.parametrize("text", ["", "localhost", ":80", "host:", "host:http", "host:70000", "bad host:1"])
def test_parse_address_names_the_field(text: str) -> None:
    with pytest.raises(ConfigError, match=r"^endpoint:"):
        parse_address(text, field="endpoint")


def test_registration_rules_name_the_field() -> None:
    with pytest.raises(ConfigError, match=r"^service:"):
        validate_registration(" ", "h:1", 1)
    with pytest.raises(ConfigError, match=r"^ttl_seconds:"):
        validate_registration("svc", "h:1", 0)
    validate_registration("svc", "h:1", 0.5)


def test_json_codec_round_trips_and_paths_name_service_and_action() -> None:
    value = {"account": "A", "amount": 10, "nested": [1, None, "é"]}
    assert decode_json(encode_json(value)) == value
    assert decode_json(b"") is None
    assert method_path("bank.Accounts", "debit") == "/bank.Accounts/debit"


def test_backoff_is_capped_exponential_with_jitter() -> None:
    delays = list(itertools.islice(backoff_delays(initial=0.1, maximum=1.0), 8))
    assert 0.08 <= delays[0] <= 0.12
    assert 0.16 <= delays[1] <= 0.24
    assert all(d <= 1.2 for d in delays)
    assert delays[-1] >= 0.8


def test_gid_context_is_added_to_outgoing_metadata_only_inside_the_block() -> None:
    assert outgoing_metadata(None) is None
    with txn_context(gid="g-1", traceparent="00-abc-def-01"):
        assert current_gid.get() == "g-1"
        assert ("txc-gid", "g-1") in outgoing_metadata(())
        assert ("txc-gid", "explicit") in outgoing_metadata([("txc-gid", "explicit")])
        assert len([k for k, _ in outgoing_metadata([("txc-gid", "explicit")]) if k == "txc-gid"]) == 1
    assert current_gid.get() is None


def test_named_queries_load_by_header(tmp_path: Path) -> None:
    path = tmp_path / "q.sql"
    path.write_text("-- preamble\n-- name: first\n-- why it exists\nSELECT 1;\n\n-- name: second\nSELECT $1\n")
    assert load_queries(path) == {"first": "SELECT 1", "second": "SELECT $1"}
    path.write_text("-- name: twice\nSELECT 1;\n-- name: twice\nSELECT 2;\n")
    with pytest.raises(ValueError, match="twice"):
        load_queries(path)
