"""The RPC core every txcoord process links: server and client helpers on grpc.aio."""

from sdk.rpc.address import format_address, parse_address
from sdk.rpc.client import DEFAULT_TIMEOUT, ChannelPool, translate_error
from sdk.rpc.codec import decode_json, encode_json, method_path
from sdk.rpc.context import current_gid, current_traceparent, new_traceparent, txn_context
from sdk.rpc.security import ClientSecurity, ServerSecurity
from sdk.rpc.server import JsonHandler, RpcServer

__all__ = [
    "DEFAULT_TIMEOUT",
    "ChannelPool",
    "ClientSecurity",
    "JsonHandler",
    "RpcServer",
    "ServerSecurity",
    "current_gid",
    "current_traceparent",
    "decode_json",
    "encode_json",
    "format_address",
    "method_path",
    "new_traceparent",
    "parse_address",
    "translate_error",
    "txn_context",
]
