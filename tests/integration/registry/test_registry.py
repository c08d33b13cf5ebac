"""The registry with real `txc registry` processes, real participants and the real PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from collections.abc import AsyncIterator, Callable

import grpc
import pytest

from sdk import RpcError
from sdk._proto import registry_pb2, registry_pb2_grpc
from sdk.registry import RegistryClient, ServiceClient
from sdk.rpc import txn_context
from tests.integration.registry.conftest import StartEcho, StartRegistry
from tests.support import create_pg_database, drop_pg_database, free_port
from tests.support.polling import eventually
from txcoord.store.migrations import upgrade

TXC = [sys.executable, "-m", "txc"]


@pytest.fixture(params=["memory", "postgresql"])
async def store_url(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    if request.param == "memory":
        yield "memory"
        return
    dsn = await create_pg_database("txc_registry")
    await asyncio.to_thread(upgrade, dsn)
    yield dsn
    await drop_pg_database(dsn)


class Follower:
    """Follows ``client.watch(service)`` in the background, keeping every list it saw."""

    def __init__(self, client: RegistryClient, service: str) -> None:
        self.lists: list[list[str]] = []
        self._task = asyncio.create_task(self._run(client, service))

    async def _run(self, client: RegistryClient, service: str) -> None:
        async for endpoints in client.watch(service):
            self.lists.append(sorted(ep.address for ep in endpoints))

    @property
    def latest(self) -> list[str] | None:
        return self.lists[-1] if self.lists else None

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


async def test_sigkilled_endpoint_disappears_from_resolve_and_watchers_within_ttl_plus_1s(
    store_url: str,
    start_registry: StartRegistry,
    start_echo: StartEcho,
    registry_client: Callable[[str], RegistryClient],
) -> None:
    ttl = 1.0
    _, registry = start_registry(store_url)
    echo, echo_address = start_echo(registry, ttl=ttl)
    client = registry_client(registry)
    follower = Follower(client, "test.Echo")
    await eventually(lambda: follower.latest == [echo_address], timeout=5)

    echo.kill()
    await eventually(lambda: follower.latest == [], timeout=ttl + 1.0)
    assert await client.resolve("test.Echo") == []
    await follower.stop()


async def test_graceful_shutdown_deregisters_at_once(
    store_url: str,
    start_registry: StartRegistry,
    start_echo: StartEcho,
    registry_client: Callable[[str], RegistryClient],
) -> None:
    _, registry = start_registry(store_url)
    echo, echo_address = start_echo(registry, ttl=60.0)
    client = registry_client(registry)
    follower = Follower(client, "test.Echo")
    await eventually(lambda: follower.latest == [echo_address], timeout=5)

    assert echo.terminate() == 0
    # Far sooner than the 60 s lease: the endpoint deregistered itself on SIGTERM.
    await eventually(lambda: follower.latest == [], timeout=2.0)
    assert await client.resolve("test.Echo") == []
    await follower.stop()


async def test_watchers_see_register_and_deregister_within_200ms_memory_1s_postgresql(
    store_url: str, start_registry: StartRegistry, registry_client: Callable[[str], RegistryClient]
) -> None:
    bound = 0.2 if store_url == "memory" else 1.0
    _, registry = start_registry(store_url)
    watcher = Follower(registry_client(registry), "test.Watched")
    await eventually(lambda: follower_ready(watcher), timeout=5)
    holder = registry_client(registry)

    lease = await holder.register("test.Watched", "127.0.0.1:50001", ttl=30)
    await eventually(lambda: watcher.latest == ["127.0.0.1:50001"], timeout=bound)
    await holder.deregister(lease)
    await eventually(lambda: watcher.latest == [], timeout=bound)
    await watcher.stop()


def follower_ready(follower: Follower) -> bool:
    return follower.latest is not None


async def test_two_registry_servers_on_one_postgresql_share_registrations(
    registry_pg_dsn: str, start_registry: StartRegistry, registry_client: Callable[[str], RegistryClient]
) -> None:
    _, first = start_registry(registry_pg_dsn, name="registry-a")
    _, second = start_registry(registry_pg_dsn, name="registry-b")
    through_second = registry_client(second)
    watcher = Follower(through_second, "test.Shared")
    await eventually(lambda: follower_ready(watcher), timeout=5)

    await registry_client(first).register("test.Shared", "127.0.0.1:50002", ttl=30)
    assert [ep.address for ep in await through_second.resolve("test.Shared")] == ["127.0.0.1:50002"]
    await eventually(lambda: watcher.latest == ["127.0.0.1:50002"], timeout=1.0)
    await watcher.stop()


async def test_registry_restart_clients_reregister_and_rewatch_calls_fail_over_or_fail_fast(
    start_registry: StartRegistry, start_echo: StartEcho, registry_client: Callable[[str], RegistryClient]
) -> None:
    port = free_port()
    registry_proc, registry = start_registry("memory", port=port, name="registry-1")
    echo_a, address_a = start_echo(registry, ttl=2.0)
    _echo_b, address_b = start_echo(registry, ttl=2.0)
    client = registry_client(registry)
    follower = Follower(client, "test.Echo")
    service = ServiceClient(client, "test.Echo")
    await eventually(lambda: follower.latest == sorted([address_a, address_b]), timeout=5)
    assert (await service.invoke("echo", {"n": 0}, timeout=2))["payload"] == {"n": 0}

    registry_proc.kill()
    echo_a.kill()
    # Registry down, one endpoint dead: calls fail over to the live endpoint from the cached list.
    for n in range(20):
        reply = await service.invoke("echo", {"n": n}, timeout=2)
        assert reply["address"] == address_b

    # A service nobody has resolved yet cannot be found while the registry is down: it fails, by its deadline.
    loop = asyncio.get_running_loop()
    started = loop.time()
    fresh = ServiceClient(registry_client(registry), "test.Other")
    with pytest.raises(RpcError):
        await fresh.invoke("echo", {}, timeout=1.0)
    assert loop.time() - started < 1.0 + 1.5, "the call outlived its deadline"
    await fresh.close()

    # A new, empty registry on the same address: the surviving participant re-registers by itself and
    # the watcher resumes without user code.
    start_registry("memory", port=port, name="registry-2")
    await eventually(lambda: follower.latest == [address_b], timeout=10)
    assert [ep.address for ep in await client.resolve("test.Echo")] == [address_b]
    await service.close()
    await follower.stop()


async def test_round_robin_spreads_3000_calls_evenly_over_3_endpoints(
    start_registry: StartRegistry, start_echo: StartEcho, registry_client: Callable[[str], RegistryClient]
) -> None:
    _, registry = start_registry("memory")
    addresses = [start_echo(registry)[1] for _ in range(3)]
    client = registry_client(registry)
    service = ServiceClient(client, "test.Echo")
    await eventually(lambda: _has(service, 3), timeout=5)

    counts = dict.fromkeys(addresses, 0)
    for _ in range(3000 // 50):
        replies = await asyncio.gather(*(service.invoke("echo", {}) for _ in range(50)))
        for reply in replies:
            counts[reply["address"]] += 1
    assert sum(counts.values()) == 3000
    for address, count in counts.items():
        assert 900 <= count <= 1100, f"{address} got {count} of 3000 calls"
    await service.close()


async def _has(service: ServiceClient, n: int) -> bool:
    return len(await service.endpoints(timeout=1.0)) == n


async def test_warm_up_ramps_a_new_endpoint_in(
    start_registry: StartRegistry, start_echo: StartEcho, registry_client: Callable[[str], RegistryClient]
) -> None:
    _, registry = start_registry("memory")
    warm = [start_echo(registry)[1] for _ in range(2)]
    client = registry_client(registry)
    service = ServiceClient(client, "test.Echo", warmup=4.0)
    await eventually(lambda: _has(service, 2), timeout=5)

    _, newcomer = start_echo(registry)
    await eventually(lambda: _has(service, 3), timeout=5)
    early = [r["address"] for r in await asyncio.gather(*(service.invoke("echo", {}) for _ in range(300)))]
    assert early.count(newcomer) < 0.6 * early.count(warm[0]), "a warming endpoint got a full share at once"
    assert early.count(newcomer) > 0, "a warming endpoint must still get some traffic"

    late: list[str] = []

    async def full_share() -> bool:  # polled: the 4 s warm-up ends whenever the loaded machine gets there
        late[:] = [r["address"] for r in await asyncio.gather(*(service.invoke("echo", {}) for _ in range(300)))]
        return 80 <= late.count(newcomer) <= 120

    await eventually(full_share, timeout=30, interval=0.5)
    await service.close()


@pytest.mark.parametrize(
    ("request_fields", "field"),
    [
        ({"service": "", "address": "127.0.0.1:1", "ttl_seconds": 5}, "service"),
        ({"service": "svc", "address": "no-port", "ttl_seconds": 5}, "address"),
        ({"service": "svc", "address": "127.0.0.1:99999", "ttl_seconds": 5}, "address"),
        ({"service": "svc", "address": "127.0.0.1:1", "ttl_seconds": 0}, "ttl_seconds"),
        ({"service": "svc", "address": "127.0.0.1:1", "ttl_seconds": -3}, "ttl_seconds"),
    ],
)
async def test_bad_registration_is_invalid_argument_naming_the_field(
    start_registry: StartRegistry, request_fields: dict[str, object], field: str
) -> None:
    _, registry = start_registry("memory")
    async with grpc.aio.insecure_channel(registry) as channel:
        stub = registry_pb2_grpc.RegistryStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.Register(registry_pb2.RegisterRequest(**request_fields), timeout=5)  # type: ignore[arg-type]
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (caught.value.details() or "").startswith(f"{field}:")


@pytest.mark.parametrize("store", ["bogus://nowhere", "postgresql://postgres@127.0.0.1:1/none"])
def test_bad_store_url_exits_2_with_one_line_error(store: str) -> None:
    result = subprocess.run(
        [*TXC, "registry", "--listen", f"127.0.0.1:{free_port()}", "--store", store],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip() and " INFO " not in line]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("txc: ") and "Traceback" not in result.stderr


async def test_txc_call_and_ls_from_the_shell(start_registry: StartRegistry, start_echo: StartEcho) -> None:
    _, registry = start_registry("memory")
    _, echo_address = start_echo(registry)

    called = await asyncio.to_thread(
        subprocess.run,
        [*TXC, "call", "test.Echo", "echo", "--json", '{"amount": 10}', "--registry", registry],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert called.returncode == 0, called.stderr
    assert '"amount": 10' in called.stdout and echo_address in called.stdout

    missing = await asyncio.to_thread(
        subprocess.run,
        [*TXC, "call", "test.Echo", "transfer", "--registry", registry],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode == 2
    assert "'test.Echo'" in missing.stderr and "'transfer'" in missing.stderr

    listed = await asyncio.to_thread(
        subprocess.run, [*TXC, "registry", "ls", "--json", "--registry", registry], capture_output=True, text=True
    )
    assert listed.returncode == 0, listed.stderr
    assert '"service": "test.Echo"' in listed.stdout and echo_address in listed.stdout


async def test_sigterm_drains_in_flight_calls(
    start_registry: StartRegistry, start_echo: StartEcho, registry_client: Callable[[str], RegistryClient]
) -> None:
    _, registry = start_registry("memory")
    echo, _ = start_echo(registry)
    service = ServiceClient(registry_client(registry), "test.Echo")
    in_flight = asyncio.create_task(service.invoke("slow", {"seconds": 1.5}, timeout=10))
    await eventually(lambda: "slow call started" in echo.output(), timeout=10)  # the call is in the server now
    exit_code = await asyncio.to_thread(echo.terminate)
    reply = await in_flight
    assert reply["slept"] == 1.5
    assert exit_code == 0
    await service.close()


async def test_gid_and_trace_context_travel_in_metadata(
    start_registry: StartRegistry, start_echo: StartEcho, registry_client: Callable[[str], RegistryClient]
) -> None:
    _, registry = start_registry("memory")
    start_echo(registry)
    service = ServiceClient(registry_client(registry), "test.Echo")
    with txn_context(gid="gid-0001"):
        reply = await service.invoke("echo", {})
    assert reply["gid"] == "gid-0001"
    assert (await service.invoke("echo", {}))["gid"] is None
    await service.close()
