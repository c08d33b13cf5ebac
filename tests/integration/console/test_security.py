"""Who may do what through the console: actions need the admin token and the session's CSRF token; a
non-loopback listener needs TLS and a token unless told --insecure."""

from __future__ import annotations

import asyncio
import http.cookiejar
import re
import ssl
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Awaitable, Callable

from tests.integration.console.conftest import TOKEN, start_console
from tests.integration.coordinator.cluster import TXC, Cluster, tx_state
from tests.support import free_port, start_process
from tests.support.certs import make_pki
from tests.support.polling import wait_until

NewDb = Callable[..., Awaitable[str]]


class Visitor:
    """A browser without a browser: cookies kept, redirects followed, every status returned (not raised)."""

    def __init__(self, base: str, tls: ssl.SSLContext | None = None) -> None:
        self.base = base
        handlers: list[urllib.request.BaseHandler] = [urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())]
        if tls is not None:
            handlers.append(urllib.request.HTTPSHandler(context=tls))
        self.opener = urllib.request.build_opener(*handlers)

    def request(
        self, path: str, form: dict[str, str] | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, str]:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        req = urllib.request.Request(self.base + path, data=data, headers=headers or {})
        try:
            with self.opener.open(req, timeout=30) as reply:
                return reply.status, reply.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def csrf(self, path: str = "/login") -> str:
        status, html = self.request(path)
        found = re.search(r'name="csrf" value="([^"]+)"', html)
        assert found, f"{path} ({status}) has no CSRF field"
        return found.group(1)


def _abort_form(gid: str, csrf: str) -> dict[str, str]:
    return {"gid": gid, "action": "abort", "branch": "", "outcome": "", "confirmed": "yes", "csrf": csrf}


async def test_an_action_without_the_token_or_the_csrf_token_is_refused_and_changes_nothing(cluster: Cluster) -> None:
    _, address = cluster.coordinator()
    async with cluster.client() as client:
        await client.begin("console-open-1", 120)
    _, url = await asyncio.to_thread(start_console, cluster, address)

    def attempts() -> list[tuple[str, int]]:
        seen = []
        anonymous = Visitor(url)
        seen.append(("no login", anonymous.request("/tx/act", _abort_form("console-open-1", anonymous.csrf()))[0]))
        seen.append(
            (
                "wrong bearer",
                anonymous.request("/tx/act", _abort_form("console-open-1", ""), {"Authorization": "Bearer nope"})[0],
            )
        )
        wrong = Visitor(url)
        status, _html = wrong.request(
            "/login", {"csrf": wrong.csrf(), "name": "mallory", "token": "not-it", "next": "/"}
        )
        seen.append(("wrong token at login", status))
        seen.append(("after a failed login", wrong.request("/tx/act", _abort_form("console-open-1", wrong.csrf()))[0]))
        alice = Visitor(url)
        status, _ = alice.request("/login", {"csrf": alice.csrf(), "name": "alice", "token": TOKEN, "next": "/"})
        assert status == 200
        seen.append(("logged in, no CSRF token", alice.request("/tx/act", _abort_form("console-open-1", ""))[0]))
        seen.append(
            (
                "logged in, another session's CSRF token",
                alice.request("/tx/act", _abort_form("console-open-1", anonymous.csrf()))[0],
            )
        )
        seen.append(("login form without CSRF", Visitor(url).request("/login", {"name": "x", "token": TOKEN})[0]))
        return seen

    seen = await asyncio.to_thread(attempts)
    assert seen == [
        ("no login", 403),
        ("wrong bearer", 403),
        ("wrong token at login", 403),
        ("after a failed login", 403),
        ("logged in, no CSRF token", 403),
        ("logged in, another session's CSRF token", 403),
        ("login form without CSRF", 403),
    ]
    assert await tx_state(cluster.store, "console-open-1") == "BEGIN"  # nothing reached the coordinator

    def with_bearer() -> tuple[int, str]:
        return Visitor(url).request("/tx/act", _abort_form("console-open-1", ""), {"Authorization": f"Bearer {TOKEN}"})

    status, html = await asyncio.to_thread(with_bearer)
    assert status == 200 and ("now ROLLING_BACK" in html or "now ROLLED_BACK" in html), html[:2000]


async def test_a_loopback_console_answers_only_requests_for_a_loopback_host(cluster: Cluster) -> None:
    _, address = cluster.coordinator()
    _, url = await asyncio.to_thread(start_console, cluster, address)
    port = url.rsplit(":", 1)[1]

    def statuses() -> list[int]:
        visitor = Visitor(url)
        hosts = ("evil.example", f"localhost:{port}", f"127.0.0.1:{port}")  # a rebound name, then loopback ones
        return [visitor.request("/transactions", headers={"Host": host})[0] for host in hosts]

    assert await asyncio.to_thread(statuses) == [421, 200, 200]


async def test_a_console_without_a_token_can_show_but_never_act(cluster: Cluster) -> None:
    _, address = cluster.coordinator()
    async with cluster.client() as client:
        await client.begin("console-open-2", 120)
    _, url = await asyncio.to_thread(start_console, cluster, address, token=None)

    def attempt() -> tuple[int, int, str]:
        visitor = Visitor(url)
        shown = visitor.request("/tx?gid=console-open-2")[0]
        status, html = visitor.request("/tx/act", _abort_form("console-open-2", visitor.csrf()))
        return shown, status, html

    shown, status, html = await asyncio.to_thread(attempt)
    assert (shown, status) == (200, 403) and "holds no admin token" in html
    assert await tx_state(cluster.store, "console-open-2") == "BEGIN"


def test_a_non_loopback_listener_needs_tls_and_a_token_unless_insecure() -> None:
    address = f"0.0.0.0:{free_port()}"
    done = subprocess.run([TXC, "console", "--listen", address], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done
    assert "not a loopback address" in done.stderr and "--tls-cert" in done.stderr and "Traceback" not in done.stderr


async def test_on_a_non_loopback_address_with_tls_the_pages_need_a_login_or_the_token(cluster: Cluster) -> None:
    _, address = cluster.coordinator()
    async with cluster.client() as client:
        await client.begin("console-closed-1", 120)
    pki = make_pki(cluster.log_dir.parent / "pki")
    port = free_port()
    args = ["txc", "console", "--listen", f"0.0.0.0:{port}", "--coordinator", address]
    args += ["--tls-cert", pki.server_cert, "--tls-key", pki.server_key]
    proc = start_process(args, cluster.log_dir, "console-tls", env={"TXC_TOKEN": TOKEN})
    cluster.processes.append(proc)
    tls = ssl.create_default_context(cafile=pki.ca)
    url = f"https://127.0.0.1:{port}"

    def statuses() -> dict[str, int]:
        def up() -> bool:
            assert proc.alive(), proc.output()
            try:
                return Visitor(url, tls).request("/")[0] == 401
            except urllib.error.URLError:
                return False

        wait_until(up, timeout=30, what="the console answering over HTTPS")
        seen = {}
        stranger = Visitor(url, tls)
        for page in ("/", "/transactions", "/tx?gid=console-closed-1", "/sagas", "/registry", "/chaos"):
            seen[page] = stranger.request(page)[0]
        seen["bearer"] = stranger.request("/tx?gid=console-closed-1", headers={"Authorization": f"Bearer {TOKEN}"})[0]
        seen["wrong bearer"] = stranger.request("/", headers={"Authorization": "Bearer nope"})[0]
        bob = Visitor(url, tls)
        seen["login"] = bob.request(
            "/login", {"csrf": bob.csrf(), "name": "bob", "token": TOKEN, "next": "/tx?gid=console-closed-1"}
        )[0]
        seen["after login"] = bob.request("/transactions")[0]
        return seen

    assert await asyncio.to_thread(statuses) == {
        "/": 401,
        "/transactions": 401,
        "/tx?gid=console-closed-1": 401,
        "/sagas": 401,
        "/registry": 401,
        "/chaos": 401,
        "bearer": 200,
        "wrong bearer": 401,
        "login": 200,
        "after login": 200,
    }
