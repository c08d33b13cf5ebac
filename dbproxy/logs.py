"""The proxy's log lines: text, or one JSON object per line (``--log-format json`` or ``TXC_LOG_FORMAT=json``) with
time, level, logger, message and, inside a traced statement, the trace id."""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime

LOG_FORMAT_ENV = "TXC_LOG_FORMAT"
TEXT_FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        trace_id = _trace_id()
        if trace_id is not None:
            line["trace_id"] = trace_id
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def _trace_id() -> str | None:
    from dbproxy.tracing import current_trace_id

    return current_trace_id()


def setup_logging(level: str, log_format: str | None) -> None:
    """Log to stderr; ``log_format`` (the flag) wins over ``TXC_LOG_FORMAT``; anything but text/json exits 2."""
    chosen = (log_format or os.environ.get(LOG_FORMAT_ENV) or "text").lower()
    if chosen not in ("text", "json"):
        where = "--log-format" if log_format else LOG_FORMAT_ENV
        print(f"dbproxy: {where}: expected text or json, got {chosen!r}", file=sys.stderr)
        sys.exit(2)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if chosen == "json" else logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
