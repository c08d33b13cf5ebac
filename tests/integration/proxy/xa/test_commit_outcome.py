"""A COMMIT whose answer is lost may have committed: the proxy must say "outcome unknown", never "rolled back"
(a client that believes a rollback retries, and the money moves twice). Found by the bank-xa chaos workload.

The loss is real: ds0's connections go through a fault-injecting TCP link; the backend's replies are held
while the COMMIT reaches MariaDB and commits, then every connection of the link is reset."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pymysql
import pytest

from chaos.netproxy import Fault, Link
from tests.integration.proxy.xa.rig import XaRig, connect, direct, wait_for

pytestmark = pytest.mark.timeout(120)


class ThreadedLink:
    """A :class:`chaos.netproxy.Link` served by an event loop of its own thread (the proxy tests are sync)."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.link = Link("ds0", target)
        asyncio.run_coroutine_threadsafe(self.link.start(), self.loop).result(10)

    @property
    def port(self) -> int:
        return self.link.port

    def set(self, fault: Fault) -> None:
        self.loop.call_soon_threadsafe(self.link.set, fault)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.link.close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture
def ds0_link() -> Iterator[ThreadedLink]:
    link = ThreadedLink(("127.0.0.1", 3306))
    try:
        yield link
    finally:
        link.close()


def _balance(rig: XaRig, account: int) -> int:
    with direct(rig.shard_dbs[0]).cursor() as cur:
        cur.execute("SELECT balance FROM acct_0 WHERE id = %s", (account,))
        row = cur.fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.parametrize("mode", ["xa", "best_effort"])
def test_a_commit_whose_answer_is_lost_is_reported_as_outcome_unknown(
    rig: XaRig, ds0_link: ThreadedLink, mode: str
) -> None:
    backends = {"ds0": f"mysql://root:@127.0.0.1:{ds0_link.port}/{rig.shard_dbs[0]}", "ds1": rig.shard_dbs[1]}
    _, port = rig.start_proxy(backends=backends) if mode == "xa" else rig.start_best_effort_proxy(backends)
    conn = connect(port, read_timeout=60)
    outcome: list[BaseException | None] = []
    with conn.cursor() as cur:
        cur.execute("BEGIN")
        cur.execute("UPDATE acct SET balance = balance - 30 WHERE id = 0")  # ids 0 and 2 live on ds0
        cur.execute("UPDATE acct SET balance = balance + 30 WHERE id = 2")
        ds0_link.set(Fault("partition", direction="backward"))  # requests pass, replies are held

        def commit() -> None:
            try:
                cur.execute("COMMIT")
                outcome.append(None)
            except pymysql.err.MySQLError as exc:
                outcome.append(exc)

        committer = threading.Thread(target=commit)
        committer.start()
        wait_for(lambda: _balance(rig, 0) == 70, 20, "the COMMIT to reach MariaDB and commit")
        ds0_link.set(Fault("reset"))  # the reply is lost with the connection
        committer.join(30)
    assert outcome and isinstance(outcome[0], pymysql.err.MySQLError), outcome
    code, message = outcome[0].args[0], str(outcome[0].args[1])
    assert code == 1180 and "outcome unknown" in message and "rolled back" not in message, outcome[0]
    assert _balance(rig, 0) == 70 and _balance(rig, 2) == 130  # it did commit: "rolled back" would have lied
