"""What a person does: log in with the admin token, confirm an action on a transaction, and have it done.

An action is two steps: a GET shows what will happen (and to what) with a form; only that form's POST, with
the session's CSRF token and ``confirmed``, calls the coordinator. The coordinator records the action in the
transaction's timeline with the actor: "console: NAME" (the name given at login), or "console: token" for a
script that sent the token as a bearer header. A transaction's actions are `txc tx retry/abort/resolve`; a
saga marked for a person has `txc saga retry` and `txc saga resolve --step S [--output JSON]`."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from console import views
from console.sessions import token_matches
from sdk.saga.client import NO_OUTPUT

if TYPE_CHECKING:
    from console.app import Console

ACTIONS = tuple(views.LABELS)
MAX_NAME = 80


def _action_of(values: dict[str, str]) -> tuple[views.Action | None, str]:
    name = values.get("action", "")
    if name not in ACTIONS:
        return None, f"action: expected one of {', '.join(ACTIONS)}"
    outcomes = views.OUTCOMES.get(name)
    if outcomes is None:
        return views.action(name), ""
    branch, outcome = values.get("branch", ""), values.get("outcome", "")
    if not branch:
        return None, "branch: which branch (or saga step) to resolve"
    if outcome not in outcomes:
        return None, f"outcome: expected one of {', '.join(outcomes)}"
    return views.action(name, branch, outcome), ""


def _output(action: views.Action, form: dict[str, str]) -> tuple[Any, str]:
    """(the output a forward step completed by hand returned, or NO_OUTPUT; a problem with it to show)."""
    text = form.get("output", "").strip()
    if action.outcome != "completed" or not text:
        return NO_OUTPUT, ""
    try:
        return json.loads(text), ""
    except ValueError as exc:
        return NO_OUTPUT, f"output: not JSON ({exc})"


async def confirm(console: Console, request: Request) -> Response:
    values = dict(request.query_params)
    action, problem = _action_of(values)
    gid = values.get("gid", "")
    if action is None or not gid:
        return console.error(request, 400, problem or "gid: which transaction")
    detail = await console.coordinator.main.query(gid)
    return console.render(request, "confirm.html", tx=detail.transaction, action=action)


def _actor(console: Console, request: Request, form: dict[str, str]) -> str | None:
    """Who acts, or None if the request may not act: a logged-in session whose CSRF token the form carries,
    or the admin token as a bearer header."""
    if console.settings.token is None:
        return None
    if console.bearer_ok(request):
        return "console: token"
    session = console.session(request)
    if session.logged_in and session.csrf_matches(form.get("csrf", "")):
        return session.actor
    return None


async def act(console: Console, request: Request) -> Response:
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    actor = _actor(console, request, form)
    if actor is None:
        why = (
            "this console holds no admin token (start it with --token or TXC_TOKEN)"
            if console.settings.token is None
            else "an action needs a login with the admin token and the form of this session"
        )
        return console.error(request, 403, why)
    action, problem = _action_of(form)
    gid = form.get("gid", "")
    if action is None or not gid:
        return console.error(request, 400, problem or "gid: which transaction")
    if form.get("confirmed") != "yes":
        return console.error(request, 400, "confirmed: an action runs only from its confirmation form")
    output, problem = _output(action, form)
    if problem:
        return console.error(request, 400, problem)
    client = console.coordinator.main
    if action.name == "retry":
        state = await client.retry(gid, actor)
    elif action.name == "abort":
        state = await client.abort(gid, actor)
    elif action.name == "resolve":
        state = await client.resolve(gid, action.branch, action.outcome, actor)
    elif action.name == "saga-retry":
        state = (await client.sagas.retry(gid, actor)).state
    else:
        state = (await client.sagas.resolve(gid, action.branch, actor, output=output)).state
    done = f"{action.label} ({action.branch}): now {state}" if action.branch else f"{action.label}: now {state}"
    page = "/saga?" if action.on_saga else "/tx?"
    return RedirectResponse(page + urlencode({"gid": gid, "done": done}), status_code=303)


async def login_form(console: Console, request: Request) -> Response:
    return console.render(request, "login.html", next=request.query_params.get("next", "/"))


def _safe_next(target: str) -> str:
    """Only a path of this console (never another site)."""
    return target if target.startswith("/") and not target.startswith("//") and "\\" not in target else "/"


async def log_in(console: Console, request: Request) -> Response:
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    session = console.session(request)
    if not session.csrf_matches(form.get("csrf", "")):
        return console.error(request, 403, "the form is stale: load the login page again")
    name = views.visible(form.get("name", "").strip())[:MAX_NAME] or "anonymous"
    if not token_matches(form.get("token", ""), console.settings.token):
        return console.render(request, "login.html", status=403, next=form.get("next", "/"), failed=True)
    request.state.session = console.sessions.log_in(session, f"console: {name}")
    return RedirectResponse(_safe_next(form.get("next", "/")), status_code=303)


async def log_out(console: Console, request: Request) -> Response:
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    session = console.session(request)
    if not session.csrf_matches(form.get("csrf", "")):
        return console.error(request, 403, "the form is stale: load the page again")
    console.sessions.end(session)
    request.state.session = console.sessions.new()
    return RedirectResponse("/", status_code=303)
