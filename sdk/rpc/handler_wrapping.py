"""Server interceptors that wrap each method's handler once: the wrapping is built on a method's first call and
served from a cache after that (grpc.aio asks the interceptors for every call)."""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable

import grpc


class HandlerWrappingInterceptor(grpc.aio.ServerInterceptor, abc.ABC):
    """Subclasses say how one handler is wrapped (``wrap``); this caches the result per method."""

    def __init__(self) -> None:
        self._cache: dict[str, grpc.RpcMethodHandler] = {}

    @abc.abstractmethod
    def wrap(self, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler: ...

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        method = handler_call_details.method
        cached = self._cache.get(method)
        if cached is not None:
            return cached
        handler = await continuation(handler_call_details)
        if handler is None:  # an unknown method: grpc answers UNIMPLEMENTED
            return handler
        wrapped = self.wrap(handler)
        self._cache[method] = wrapped
        return wrapped
