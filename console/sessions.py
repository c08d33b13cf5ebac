"""Who is at the browser: a session per cookie, each with its CSRF token and, after a login, its actor.

Sessions live in this process's memory (a console is one process; a restart logs everyone out, which is
fine for an operator's tool). The cookie is HttpOnly and SameSite=Strict; every form carries the session's
CSRF token, compared in constant time. A login proves the admin token (the one the console itself holds and
sends to the coordinator): the person types it once, and gives a name the timeline records with each action."""

from __future__ import annotations

import hmac
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass, field

COOKIE = "txc_console"
MAX_SESSIONS = 10_000  # the oldest go first: a flood of cookie-less requests cannot grow memory without bound
SESSION_SECONDS = 12 * 3600.0


@dataclass
class Session:
    id: str
    csrf: str
    created: float = field(default_factory=time.monotonic)
    actor: str | None = None  # set by a login with the admin token: "console: NAME"

    @property
    def logged_in(self) -> bool:
        return self.actor is not None

    def csrf_matches(self, given: str) -> bool:
        return hmac.compare_digest(given.encode(), self.csrf.encode())


def _new_id() -> str:
    return secrets.token_urlsafe(32)


class Sessions:
    def __init__(self) -> None:
        self._by_id: OrderedDict[str, Session] = OrderedDict()

    def get(self, session_id: str | None) -> Session | None:
        session = self._by_id.get(session_id or "")
        if session is None:
            return None
        if time.monotonic() - session.created > SESSION_SECONDS:
            del self._by_id[session.id]
            return None
        return session

    def new(self) -> Session:
        session = Session(_new_id(), secrets.token_urlsafe(32))
        self._by_id[session.id] = session
        while len(self._by_id) > MAX_SESSIONS:
            self._by_id.popitem(last=False)
        return session

    def log_in(self, session: Session, actor: str) -> Session:
        """A fresh session (new id and CSRF token) for the person who proved the token: an id set before the
        login (say, by someone else) is worth nothing after it."""
        self.end(session)
        fresh = self.new()
        fresh.actor = actor
        return fresh

    def end(self, session: Session) -> None:
        self._by_id.pop(session.id, None)


def token_matches(given: str, token: str | None) -> bool:
    return token is not None and hmac.compare_digest(given.encode(), token.encode())
