"""Log lines as JSON objects (``--log-format json`` or ``TXC_LOG_FORMAT=json``): one object per line with time,
level, logger and message, and the gid, branch and trace id of the call being served where they are known."""

from __future__ import annotations

import json
import logging
import os
import sys
from contextvars import ContextVar
from datetime import UTC, datetime

from sdk.errors import ConfigError
from sdk.rpc.context import current_gid, current_traceparent

LOG_FORMAT_ENV = "TXC_LOG_FORMAT"
LOG_FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

#: the branch a participant is running a phase of (the gid is ``sdk.rpc.context.current_gid``)
current_branch: ContextVar[str | None] = ContextVar("txc_branch", default=None)


def trace_id() -> str | None:
    """The current trace id: the active OpenTelemetry span's, else the incoming ``traceparent``'s."""
    from sdk.observability.tracing import current_trace_id  # tracing is optional; imported lazily

    found = current_trace_id()
    if found is not None:
        return found
    parent = current_traceparent.get()
    if parent is not None and len(parent) >= 35:
        return parent[3:35]
    return None


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        gid, branch, trace = current_gid.get(), current_branch.get(), trace_id()
        if gid is not None:
            line["gid"] = gid
        if branch is not None:
            line["branch"] = branch
        if trace is not None:
            line["trace_id"] = trace
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def log_format(given: str | None = None) -> str:
    """The chosen format: ``given`` (a flag), else ``TXC_LOG_FORMAT``, else text; anything else is refused."""
    chosen = (given or os.environ.get(LOG_FORMAT_ENV) or "text").lower()
    if chosen not in LOG_FORMATS:
        where = "--log-format" if given else LOG_FORMAT_ENV
        raise ConfigError(f"{where}: expected one of {', '.join(LOG_FORMATS)}, got {chosen!r}")
    return chosen


_json = False


def json_logs() -> bool:
    """Whether this process logs JSON (so code may put the gid in context for its lines)."""
    return _json


def setup_logging(level: int | str = logging.INFO, fmt: str | None = None, text_format: str = TEXT_FORMAT) -> None:
    """Configure the root logger on stderr in the chosen format (see :func:`log_format`)."""
    global _json
    handler = logging.StreamHandler(sys.stderr)
    if log_format(fmt) == "json":
        _json = True
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(text_format))
    logging.basicConfig(level=level, handlers=[handler], force=True)
