"""HTTP/JSON beside gRPC: the participant contract (``wire``), the client the coordinator and callers use
(``client``), and participants served as ASGI apps (``asgi``, ``serve``). See docs/http.md.

The serving side is imported on first use: every sdk user gets the client (the registry's calls go through
it), only HTTP participants load Starlette and uvicorn."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sdk.http.client import HttpActionClient

if TYPE_CHECKING:
    from sdk.http.asgi import ActionApp, ParticipantApp
    from sdk.http.serve import serve_http

__all__ = ["ActionApp", "HttpActionClient", "ParticipantApp", "serve_http"]


def __getattr__(name: str) -> Any:
    if name in ("ActionApp", "ParticipantApp"):
        from sdk.http import asgi

        return getattr(asgi, name)
    if name == "serve_http":
        from sdk.http.serve import serve_http

        return serve_http
    raise AttributeError(f"module 'sdk.http' has no attribute {name!r}")
