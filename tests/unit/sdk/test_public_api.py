"""The public surface of ``sdk``: what a user imports, pinned so it changes only on purpose."""

from __future__ import annotations

import subprocess
import sys

import sdk

PUBLIC = [
    "ActionCall",
    "ActionNotFound",
    "ActionReply",
    "BarrierOutcome",
    "BarrierRefused",
    "BusinessError",
    "ClientSecurity",
    "ConfigError",
    "CoordinatorClient",
    "DefinitionError",
    "GlobalTransaction",
    "InfrastructureError",
    "Interceptor",
    "MySqlBarrier",
    "NoEndpoints",
    "Participant",
    "PgBarrier",
    "Proceed",
    "Refused",
    "RegistryError",
    "RetryLater",
    "RollbackOnly",
    "RpcError",
    "SagaContext",
    "SagaDefinition",
    "SagaDefinitionError",
    "SagaResult",
    "SagaStep",
    "SagaStepError",
    "ServiceFault",
    "TccAction",
    "TccArgumentError",
    "TccContext",
    "TccDefinitionError",
    "TransportError",
    "TryFailed",
    "TxcError",
    "UsageError",
    "load_saga",
    "participant_metrics",
    "saga_step",
    "setup_logging",
    "tcc",
]


def test_public_api_of_sdk_changes_only_on_purpose() -> None:
    assert sorted(sdk.__all__) == PUBLIC
    for name in sdk.__all__:
        assert getattr(sdk, name) is not None, name
    assert set(dir(sdk)) >= set(PUBLIC)


def test_process_plumbing_is_not_at_the_top_of_sdk() -> None:
    for name in ("ChannelPool", "RpcServer", "ServiceServer", "Lease", "txn_context", "current_gid", "RegistryClient"):
        assert name not in sdk.__all__
        assert not hasattr(sdk, name), f"sdk.{name} is plumbing: import it from its submodule"


def test_importing_sdk_loads_neither_pydantic_nor_protobuf_until_a_name_is_used() -> None:
    probe = (
        "import sys, sdk\n"
        "heavy = sorted(m for m in ('pydantic', 'google.protobuf', 'asyncpg', 'aiomysql') if m in sys.modules)\n"
        "print(','.join(heavy))\n"
        "sdk.CoordinatorClient\n"
        "print('google.protobuf' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[0] == "", f"import sdk loaded {out[0]}"
    assert out[1] == "True"  # the name still resolves to the real thing, loaded on first use
