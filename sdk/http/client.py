"""Client side of the HTTP/JSON contract (``sdk.http.wire``): one pooled keep-alive ``httpx`` client for every
HTTP participant, answers and failures mapped onto the sdk's one error vocabulary (``RpcError`` codes)."""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from typing import Any

import grpc
import httpx

from sdk.errors import ActionNotFound, RpcError, rpc_error
from sdk.http.wire import TRACEPARENT_HEADER, code_of, split_envelope
from sdk.rpc.context import current_traceparent, new_traceparent
from sdk.rpc.security import ClientSecurity

DEFAULT_TIMEOUT = 10.0
MAX_CONNECTIONS = 256  # per client, shared by every HTTP participant it calls


def _verify(security: ClientSecurity) -> ssl.SSLContext | bool:
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
        self._client: httpx.AsyncClient | None = None

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            limits = httpx.Limits(max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS)
            self._client = httpx.AsyncClient(limits=limits, verify=_verify(self.security), trust_env=False)
        return self._client

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
        del retry_unavailable  # HTTP callers fail over to the next endpoint; the driver retries with backoff
        headers, body = split_envelope(payload)
        headers.update(metadata)
        headers[TRACEPARENT_HEADER] = current_traceparent.get() or new_traceparent()
        url = f"{address.rstrip('/')}/{action}"
        try:
            reply = await self.client.post(
                url, json=body, headers=headers, timeout=self.default_timeout if timeout is None else timeout
            )
        except httpx.TimeoutException as exc:
            raise rpc_error(grpc.StatusCode.DEADLINE_EXCEEDED, f"no answer from {url}", target=address) from exc
        except httpx.HTTPError as exc:
            raise rpc_error(grpc.StatusCode.UNAVAILABLE, f"cannot reach {url}: {exc!r}", target=address) from exc
        try:
            decoded = reply.json() if reply.content else None
        except ValueError:
            decoded = None
        if reply.status_code < 300:
            if decoded is None and reply.content:
                raise RpcError(grpc.StatusCode.INTERNAL, f"{url}: the answer is not JSON", target=address)
            return decoded
        code = code_of(reply.status_code, decoded)
        if code is grpc.StatusCode.UNIMPLEMENTED:
            raise ActionNotFound(service, action, target=address)
        message = decoded.get("error") if isinstance(decoded, dict) else None
        details = str(message) if message else f"HTTP {reply.status_code} {reply.reason_phrase}"
        raise rpc_error(code, details[:2000], target=address)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
