"""A participant interceptor that makes the phase call's gid and branch known to log lines (contextvars) and to
the gRPC server span it runs in (``txc.gid``, ``txc.branch_id``, ``txc.op``). Installed by ``Participant.serve``
when tracing is on or logs are JSON."""

from __future__ import annotations

from sdk.interceptors import ActionCall, ActionReply, Interceptor, Proceed
from sdk.observability.json_logs import current_branch
from sdk.observability.tracing import current_span, tracing_enabled
from sdk.rpc.context import current_gid


def call_context() -> Interceptor:
    traced = tracing_enabled()

    async def known(call: ActionCall, proceed: Proceed) -> ActionReply:
        if traced:
            span = current_span()
            span.set_attribute("txc.gid", call.gid)
            span.set_attribute("txc.branch_id", call.branch_id)
            span.set_attribute("txc.op", call.op)
        gid_token, branch_token = current_gid.set(call.gid), current_branch.set(call.branch_id)
        try:
            return await proceed(call)
        finally:
            current_branch.reset(branch_token)
            current_gid.reset(gid_token)

    return known
