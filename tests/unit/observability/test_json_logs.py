"""Log lines as JSON objects: time, level, logger, message, and the gid, branch and trace id where known."""

from __future__ import annotations

import json
import logging

import pytest

from dbproxy.logs import JsonFormatter as ProxyJsonFormatter
from sdk.errors import ConfigError
from sdk.observability import JsonFormatter, current_branch, log_format
from sdk.rpc.context import txn_context

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def _record(message: str = "confirm failed for %s", *args: object) -> logging.LogRecord:
    return logging.LogRecord("txcoord.engine", logging.WARNING, __file__, 1, message, args or ("g1",), None)


def test_a_line_is_one_json_object_with_time_level_logger_and_message() -> None:
    line = JsonFormatter().format(_record())
    assert "\n" not in line
    parsed = json.loads(line)
    assert parsed["level"] == "WARNING" and parsed["logger"] == "txcoord.engine"
    assert parsed["message"] == "confirm failed for g1"
    assert parsed["time"].endswith("+00:00")
    assert "gid" not in parsed and "branch" not in parsed and "trace_id" not in parsed


def test_the_gid_branch_and_trace_id_of_the_call_being_served_are_in_the_line() -> None:
    token = current_branch.set("2")
    try:
        with txn_context("g1", TRACEPARENT):
            parsed = json.loads(JsonFormatter().format(_record()))
    finally:
        current_branch.reset(token)
    assert parsed["gid"] == "g1"
    assert parsed["branch"] == "2"
    assert parsed["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"


def test_a_multi_line_message_and_a_traceback_stay_on_one_line() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "two\nlines", None, sys.exc_info())
    line = JsonFormatter().format(record)
    assert "\n" not in line
    assert "ValueError: boom" in json.loads(line)["exception"]


def test_the_format_comes_from_the_flag_else_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TXC_LOG_FORMAT", "json")
    assert log_format(None) == "json"
    assert log_format("text") == "text"
    monkeypatch.setenv("TXC_LOG_FORMAT", "xml")
    with pytest.raises(ConfigError, match=r"TXC_LOG_FORMAT: expected one of text, json, got 'xml'"):
        log_format(None)


def test_the_proxy_writes_the_same_fields() -> None:
    parsed = json.loads(ProxyJsonFormatter().format(_record()))
    assert set(parsed) == {"time", "level", "logger", "message"}
