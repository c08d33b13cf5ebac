"""A caller that catches every exception family the README lists (its "Errors" table), as a user writes it:
mypy must find nothing here, and tests/unit/sdk/test_error_families.py checks every listed name is caught."""

from __future__ import annotations

from typing import assert_type

import grpc

from sdk import (
    ActionNotFound,
    BarrierRefused,
    BusinessError,
    ConfigError,
    CoordinatorClient,
    DefinitionError,
    InfrastructureError,
    NoEndpoints,
    Refused,
    RegistryError,
    RollbackOnly,
    RpcError,
    SagaDefinitionError,
    SagaStepError,
    ServiceFault,
    TccArgumentError,
    TccContext,
    TccDefinitionError,
    TransportError,
    TryFailed,
    TxcError,
    UsageError,
    tcc,
)


class Conn:
    async def execute(self, query: str, *args: object) -> str:
        return "UPDATE 1"


@tcc(service="bank")
async def debit(ctx: TccContext[Conn], account: str, amount: int) -> int:
    return amount


@debit.confirm
async def _confirm(ctx: TccContext[Conn], account: str, amount: int) -> None: ...


@debit.cancel
async def _cancel(ctx: TccContext[Conn], account: str, amount: int) -> None: ...


async def transfer(client: CoordinatorClient) -> str:
    """One transaction, each family handled where the README says it belongs."""
    tx = client.transaction(timeout=30)
    try:
        async with tx:
            reserved = await tx.call(debit, account="A", amount=10)
            assert_type(reserved, int)
    except TryFailed as exc:  # the business refused a try: tell the user
        assert_type(exc.service, str)
        assert_type(exc.code, grpc.StatusCode)
        return f"refused by {exc.service}.{exc.action}: {exc.details}"
    except (RollbackOnly, BarrierRefused, Refused) as exc:
        assert_type(exc, RollbackOnly | BarrierRefused | Refused)
        return f"refused: {exc}"
    except BusinessError as exc:  # any other refusal
        return f"refused: {exc}"
    except NoEndpoints as exc:  # nobody serves the service (not deployed, misspelled)
        assert_type(exc.service, str)
        return f"retry later: {exc}"
    except ActionNotFound as exc:
        return f"fix the deployment: {exc.service}.{exc.action}"
    except (TransportError, ServiceFault) as exc:  # unreachable, timed out, a fault on the far side
        assert_type(exc.details, str)
        return f"retry later ({exc.code.name}): {exc.details}"
    except RegistryError as exc:  # the registry itself could not answer
        return f"retry later: {exc}"
    except InfrastructureError as exc:
        return f"retry later: {exc}"
    except (ConfigError, TccArgumentError, SagaDefinitionError) as exc:  # bugs: fix the code
        raise RuntimeError(f"a bug in the caller: {exc}") from exc
    except (DefinitionError, TccDefinitionError, SagaStepError) as exc:
        raise RuntimeError(f"a bug in the caller: {exc}") from exc
    except UsageError:
        raise
    return tx.state


async def start(client: CoordinatorClient) -> str:
    try:
        result = await client.start_saga("book_trip", {"user": "ann"}, wait=True)
    except BusinessError as exc:  # an unknown saga or an input that does not validate
        return f"refused: {exc}"
    except InfrastructureError as exc:
        return f"retry later: {exc}"
    except TxcError as exc:  # everything the sdk raises derives from TxcError
        assert isinstance(exc, UsageError | RpcError | BusinessError | InfrastructureError)
        raise
    return result.state
