"""The console's ASGI app: the routes, the session and access rules around them, and error pages.

Reads: open when ``settings.reads_open`` (a loopback listener, or one started with --insecure), otherwise
only for a logged-in session or a request bearing the admin token. Actions (POST): always a logged-in
session with the form's CSRF token, or the admin token as a bearer header (a script); anything else is
403 and reaches no coordinator."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from importlib import resources
from typing import Any

import grpc
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from console import actions, pages, views
from console.backend import Backend
from console.sessions import COOKIE, Session, Sessions, token_matches
from console.settings import ConsoleSettings
from sdk.errors import RpcError, TxcError
from sdk.rpc.security import is_loopback

log = logging.getLogger(__name__)

# HTTP status of a coordinator's answer, and what the page says
_STATUS = {
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.FAILED_PRECONDITION: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.UNAUTHENTICATED: 403,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}
# every page is ours and needs nothing from elsewhere: no script, style or frame from any other origin
_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def templates() -> Environment:
    env = Environment(
        loader=PackageLoader("console", "templates"),
        autoescape=select_autoescape(["html", "svg"], default=True, default_for_string=True),
    )
    env.filters["visible"] = views.visible
    env.filters["when"] = views.when
    env.globals["SHORT"] = views.SHORT
    return env


class Console:
    """What every handler reaches: settings, templates, the coordinator, the sessions."""

    def __init__(self, settings: ConsoleSettings) -> None:
        self.settings = settings
        self.env = templates()
        self.sessions = Sessions()
        self.backend: Backend | None = None

    @property
    def coordinator(self) -> Backend:
        assert self.backend is not None, "the console's backend opens with the app"
        return self.backend

    def session(self, request: Request) -> Session:
        session: Session = request.state.session
        return session

    def bearer_ok(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        return header.startswith("Bearer ") and token_matches(header[len("Bearer ") :], self.settings.token)

    def may_read(self, request: Request) -> bool:
        return self.settings.reads_open or self.session(request).logged_in or self.bearer_ok(request)

    def render(self, request: Request, template: str, status: int = 200, **values: Any) -> HTMLResponse:
        session = self.session(request)
        html = self.env.get_template(template).render(
            session=session,
            csrf=session.csrf,
            reads_open=self.settings.reads_open,
            has_token=self.settings.token is not None,
            path=request.url.path,
            **values,
        )
        return HTMLResponse(html, status_code=status)

    def error(self, request: Request, status: int, message: str) -> HTMLResponse:
        return self.render(request, "error.html", status=status, status_code=status, message=message)


Handler = Callable[[Console, Request], Awaitable[Response]]


def _route(console: Console, handler: Handler, *, read: bool = True) -> Callable[[Request], Awaitable[Response]]:
    """A handler with the session loaded (and its cookie set), the read rule applied, and the coordinator's
    errors turned into pages: one line in the log, never a traceback for a bad request."""

    async def endpoint(request: Request) -> Response:
        if console.settings.loopback_hosts_only and not is_loopback((request.url.hostname or "").strip("[]")):
            return PlainTextResponse("this console answers requests for a loopback host only", status_code=421)
        session = console.sessions.get(request.cookies.get(COOKIE))
        fresh = session is None
        request.state.session = session or console.sessions.new()
        try:
            if read and not console.may_read(request):
                here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                response: Response = console.render(request, "login.html", status=401, next=here)
            else:
                response = await handler(console, request)
        except RpcError as exc:
            status = _STATUS.get(exc.code, 502)
            log.info(
                "console: %s %s: coordinator said %s: %s", request.method, request.url.path, exc.code.name, exc.details
            )
            response = console.error(request, status, f"the coordinator answered {exc.code.name}: {exc.details}")
        except TxcError as exc:
            log.info("console: %s %s: %s", request.method, request.url.path, exc)
            response = console.error(request, 502, str(exc))
        session = request.state.session
        if fresh or request.cookies.get(COOKIE) != session.id:
            response.set_cookie(
                COOKIE, session.id, httponly=True, samesite="strict", secure=request.url.scheme == "https", path="/"
            )
        for name, value in _HEADERS.items():
            response.headers.setdefault(name, value)  # a page may set its own (the chaos report does)
        return response

    return endpoint


def create_app(settings: ConsoleSettings) -> Starlette:
    console = Console(settings)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        console.backend = Backend(settings.coordinators, settings.client_security)
        try:
            yield
        finally:
            await console.backend.close()

    static = resources.files("console") / "static"
    routes = [
        Route("/", _route(console, pages.overview)),
        Route("/transactions", _route(console, pages.transactions)),
        Route("/tx", _route(console, pages.transaction)),
        Route("/sagas", _route(console, pages.sagas)),
        Route("/saga", _route(console, pages.saga)),
        Route("/registry", _route(console, pages.registry)),
        Route("/chaos", _route(console, pages.chaos)),
        Route("/chaos/report", _route(console, pages.chaos_report)),
        Route("/tx/confirm", _route(console, actions.confirm)),
        Route("/tx/act", _route(console, actions.act, read=False), methods=["POST"]),
        Route("/login", _route(console, actions.login_form, read=False)),
        Route("/login", _route(console, actions.log_in, read=False), methods=["POST"]),
        Route("/logout", _route(console, actions.log_out, read=False), methods=["POST"]),
        Mount("/static", StaticFiles(directory=str(static)), name="static"),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.console = console
    return app
