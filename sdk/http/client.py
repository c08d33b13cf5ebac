"""Client side of the HTTP/JSON contract (``sdk.http.wire``): one pooled keep-alive client (aiohttp) for every
HTTP participant, answers and failures mapped onto the sdk's one error vocabulary (``RpcError`` codes).

aiohttp rather than httpx: measured with 8 concurrent callers of one participant's try, httpx managed about a
third of the calls per second aiohttp does, and aiohttp about as many as the gRPC channel."""

from __future__ import annotations

import json
import ssl
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import grpc

from sdk.errors import ActionNotFound, RpcError, rpc_error
from sdk.http.wire import TRACEPARENT_HEADER, code_of, split_envelope
from sdk.rpc.context import current_traceparent, new_traceparent
from sdk.rpc.security import ClientSecurity

DEFAULT_TIMEOUT = 10.0
MAX_CONNECTIONS = 256  # per client, shared by every HTTP participant it calls
_JSON = {"content-type": "application/json"}

if TYPE_CHECKING:
    import aiohttp


def _ssl(security: ClientSecurity) -> ssl.SSLContext | bool:
    """https participants are checked against TXC_TLS_CA when given (else the system's CAs); under mutual
    TLS the client presents its own certificate."""
    if security.ca is None:
        return True
    context = ssl.create_default_context(cafile=security.ca)
    if security.cert and security.key:
        context.load_cert_chain(security.cert, security.key)
    return context


class HttpActionClient:
    """Calls generic actions of HTTP participants: ``POST {base}/{action}``, the branch in headers."""

    def __init__(self, security: ClientSecurity | None = None, default_timeout: float = DEFAULT_TIMEOUT) -> None:
        self.default_timeout = default_timeout
        self.security = security if security is not None else ClientSecurity.from_env()
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            import aiohttp  # here: every process has this client, few call HTTP participants (0.15 s to import)

            connector = aiohttp.TCPConnector(limit=MAX_CONNECTIONS, ssl=_ssl(self.security))
            self._session = aiohttp.ClientSession(connector=connector, trust_env=False)
        return self._session

    async def invoke_json(
        self,
        address: str,
        service: str,
        action: str,
        payload: Any,
        *,
        timeout: float | None = None,
        metadata: Sequence[tuple[str, str]] = (),
        retry_unavailable: bool = False,
    ) -> Any:
        """One attempt (the caller owns retries): the decoded JSON reply, or RpcError with the code the
        answer maps to (UNAVAILABLE when the participant cannot be reached, DEADLINE_EXCEEDED on timeout)."""
        import aiohttp

        del retry_unavailable  # HTTP callers fail over to the next endpoint; the driver retries with backoff
        headers, body = split_envelope(payload)
        headers.update(metadata)
        headers.update(_JSON)
        headers[TRACEPARENT_HEADER] = current_traceparent.get() or new_traceparent()
        url = f"{address.rstrip('/')}/{action}"
        try:
            data = json.dumps(body, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
        except (TypeError, ValueError) as exc:
            raise RpcError(grpc.StatusCode.INVALID_ARGUMENT, f"{url}: the body is not JSON ({exc})") from exc
        limit = aiohttp.ClientTimeout(total=self.default_timeout if timeout is None else timeout)
        # with --tls-service-names an https participant's certificate must name the service, not its address
        name = service if self.security.service_names and url.startswith("https:") else None
        try:
            async with self.session.post(url, data=data, headers=headers, timeout=limit, server_hostname=name) as reply:
                status, reason, content = reply.status, reply.reason, await reply.read()
        except TimeoutError as exc:
            raise rpc_error(grpc.StatusCode.DEADLINE_EXCEEDED, f"no answer from {url}", target=address) from exc
        except aiohttp.ClientError as exc:
            raise rpc_error(grpc.StatusCode.UNAVAILABLE, f"cannot reach {url}: {exc!r}", target=address) from exc
        try:
            decoded = json.loads(content) if content else None
        except ValueError:
            decoded = None
        if status < 300:
            if decoded is None and content:
                raise RpcError(grpc.StatusCode.INTERNAL, f"{url}: the answer is not JSON", target=address)
            return decoded
        code = code_of(status, decoded)
        if code is grpc.StatusCode.UNIMPLEMENTED:
            raise ActionNotFound(service, action, target=address)
        message = decoded.get("error") if isinstance(decoded, dict) else None
        details = str(message) if message else f"HTTP {status} {reason or ''}".rstrip()
        raise rpc_error(code, details[:2000], target=address)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
