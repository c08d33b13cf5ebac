"""The built-in nemeses, one per ``--faults`` kind. Each plans its target from the seeded random generator
(so the schedule can be replayed), injects, heals, and returns evidence that the fault really happened."""

from __future__ import annotations

import asyncio
import random
from typing import Any

from chaos.netproxy import Fault
from chaos.registry import nemesis
from chaos.system import LEASE, System


class _Base:
    kind = ""

    def unavailable(self, system: System) -> str | None:
        return None

    def duration(self, system: System, rng: random.Random) -> float:
        return rng.uniform(2.0, 4.0)


class _Kill(_Base):
    """SIGKILL one process of a group; restart it at heal."""

    def procs(self, system: System) -> list[Any]:
        raise NotImplementedError

    def unavailable(self, system: System) -> str | None:
        return None if self.procs(system) else f"this workload runs no process {self.kind} could kill"

    def plan(self, system: System, rng: random.Random) -> dict[str, Any]:
        return {"target": rng.choice(self.procs(system)).name}

    def _find(self, system: System, name: str) -> Any:
        return next(p for p in self.procs(system) if p.name == name)

    async def inject(self, system: System, plan: dict[str, Any]) -> dict[str, Any]:
        proc = self._find(system, plan["target"])
        pid = proc.pid if proc.alive() else None
        code = await asyncio.to_thread(proc.kill)
        return {"pid": pid, "returncode": code}

    async def heal(self, system: System, plan: dict[str, Any]) -> dict[str, Any]:
        proc = self._find(system, plan["target"])
        await proc.restart()
        return {"restarted_pid": proc.pid}


@nemesis("kill-coordinator")
class KillCoordinator(_Kill):
    kind = "kill-coordinator"

    def procs(self, system: System) -> list[Any]:
        return system.coordinators


@nemesis("kill-participant")
class KillParticipant(_Kill):
    kind = "kill-participant"

    def procs(self, system: System) -> list[Any]:
        return system.participants


@nemesis("kill-proxy")
class KillProxy(_Kill):
    kind = "kill-proxy"

    def procs(self, system: System) -> list[Any]:
        return system.dbproxies

    def unavailable(self, system: System) -> str | None:
        if system.dbproxies:
            return None
        return "kill-proxy applies to workloads with dbproxy instances (bank-xa); this workload runs none"


class _KillServer(_Base):
    def server(self, system: System) -> Any:
        raise NotImplementedError

    def plan(self, system: System, rng: random.Random) -> dict[str, Any]:
        return {"target": self.server(system).name}

    async def inject(self, system: System, plan: dict[str, Any]) -> dict[str, Any]:
        server = self.server(system)
        pid = server.proc.pid if server.alive() else None
        code = await asyncio.to_thread(server.kill)
        return {"pid": pid, "returncode": code, "port": server.port}

    async def heal(self, system: System, plan: dict[str, Any]) -> dict[str, Any]:
        server = self.server(system)
        await asyncio.to_thread(server.restart)
        return {"restarted_pid": server.proc.pid}


@nemesis("kill-store")
class KillStore(_KillServer):
    """SIGKILL the coordinators' PostgreSQL (the harness's own), then restart it: crash recovery from WAL."""

    kind = "kill-store"

    def server(self, system: System) -> Any:
        return system.store


@nemesis("kill-mysql")
class KillMysql(_KillServer):
    """SIGKILL the harness's own MariaDB (never the machine's), then restart it."""

    kind = "kill-mysql"

    def server(self, system: System) -> Any:
        return system.mysql

    def unavailable(self, system: System) -> str | None:
        return None if system.mysql is not None else "this workload keeps nothing in MariaDB"


@nemesis("pause")
class Pause(_Base):
    """SIGSTOP a coordinator for longer than its lease: its peer takes its work over while it still believes
    it owns it; SIGCONT lets it wake up to find out."""

    kind = "pause"

    def duration(self, system: System, rng: random.Random) -> float:
        return LEASE * rng.uniform(1.5, 2.2)

    def plan(self, system: System, rng: random.Random) -> dict[str, Any]:
        return {"target": rng.choice(system.coordinators).name}

    async def inject(self, system: System, plan: dict[str, Any]) -> dict[str, Any]:
        import psutil

        proc = next(p for p in system.coordinators if p.name == plan["target"])
        proc.pause()
        await asyncio.sleep(0.2)
        return {"pid": proc.pid, "status": psutil.Process(proc.pid).status()}

    async def heal(self, system: System, plan: dict[str, Any]) -> dict[str, Any]:
        proc = next(p for p in system.coordinators if p.name == plan["target"])
        proc.resume()
        return {"resumed": proc.alive()}


class _Net(_Base):
    fault = ""

    def plan(self, system: System, rng: random.Random) -> dict[str, Any]:
        # links with traffic in steady state (a caller link of a coordinator, a store link, a participant link)
        return {"link": rng.choice(sorted(system.links)), **self.params(rng)}

    def params(self, rng: random.Random) -> dict[str, Any]:
        return {}

    async def inject(self, system: System, plan: dict[str, Any]) -> dict[str, Any]:
        link = system.links[plan["link"]]
        before = link.stats.snapshot()
        link.set(Fault(self.fault, plan.get("delay", 0.0), plan.get("direction", "")))
        return {"stats_before": before}

    async def heal(self, system: System, plan: dict[str, Any]) -> dict[str, Any]:
        link = system.links[plan["link"]]
        link.heal()
        return {"stats_after": link.stats.snapshot()}


@nemesis("net-latency")
class NetLatency(_Net):
    kind, fault = "net-latency", "latency"

    def params(self, rng: random.Random) -> dict[str, Any]:
        return {"delay": round(rng.uniform(0.1, 0.5), 3)}


@nemesis("net-reset")
class NetReset(_Net):
    kind, fault = "net-reset", "reset"


@nemesis("net-blackhole")
class NetBlackhole(_Net):
    kind, fault = "net-blackhole", "blackhole"


@nemesis("net-partition")
class NetPartition(_Net):
    """One-way: requests get through and replies do not (backward), or the reverse (forward)."""

    kind, fault = "net-partition", "partition"

    def params(self, rng: random.Random) -> dict[str, Any]:
        return {"direction": rng.choice(["forward", "backward"])}


@nemesis("clock-skew")
class ClockSkew(_Base):
    """Coordinator 2 runs under libfaketime; its wall clock jumps by ``offset`` seconds for the window."""

    kind = "clock-skew"

    def unavailable(self, system: System) -> str | None:
        return None if system.skewed is not None else "no coordinator runs under faketime"

    def plan(self, system: System, rng: random.Random) -> dict[str, Any]:
        return {"target": "coord-2", "offset": rng.choice([-1, 1]) * rng.randint(5, 60)}

    async def inject(self, system: System, plan: dict[str, Any]) -> dict[str, Any]:
        system.set_skew(plan["offset"])
        return {"observed_offset": await _observed_offset(system)}

    async def heal(self, system: System, plan: dict[str, Any]) -> dict[str, Any]:
        system.set_skew(0)
        return {"observed_offset_after": await _observed_offset(system)}


async def _observed_offset(system: System) -> float | None:
    """The skewed coordinator's clock as a process under the same libfaketime settings reads it, minus ours."""
    import sys
    import time

    assert system.skewed is not None
    await asyncio.sleep(1.2)  # libfaketime re-reads the offset file once a second
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "import time; print(time.time())",
        env=system.skewed.env, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await proc.communicate()
    try:
        return round(float(out) - time.time(), 1)
    except ValueError:
        return None
