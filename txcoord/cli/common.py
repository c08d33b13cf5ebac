"""What every `txc` command shares: async entry, one-line errors (no traceback), logging, JSON output."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from collections.abc import Coroutine
from typing import Any, NoReturn, TypeVar

import typer

from sdk.errors import TxcError
from txcoord.errors import CoordinatorError

T = TypeVar("T")
DEFAULT_REGISTRY = os.environ.get("TXC_REGISTRY", "127.0.0.1:7070")


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``txc: message`` on one line to stderr and exit with ``code`` (2: bad input or configuration)."""
    typer.echo(f"txc: {message}", err=True)
    raise typer.Exit(code)


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` on a fresh event loop; txcoord and sdk errors become one line on stderr and exit 2."""
    try:
        return asyncio.run(main)
    except (CoordinatorError, TxcError) as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, default=str))
