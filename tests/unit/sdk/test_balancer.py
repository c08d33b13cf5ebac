from __future__ import annotations

from collections import Counter

from sdk.registry import Balancer


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def picks(balancer: Balancer, n: int) -> Counter[str]:
    return Counter(balancer.pick() for _ in range(n))  # type: ignore[misc]


def test_equal_weights_are_exact_round_robin() -> None:
    balancer = Balancer()
    balancer.update(["a:1", "b:1", "c:1"])
    assert [balancer.pick() for _ in range(6)] == ["a:1", "b:1", "c:1", "a:1", "b:1", "c:1"]


def test_new_endpoint_ramps_linearly_during_warm_up() -> None:
    clock = FakeClock()
    balancer = Balancer(warmup=10.0, clock=clock)
    balancer.update(["a:1", "b:1"], initial=True)
    balancer.update(["a:1", "b:1", "new:1"])
    assert balancer.weight("a:1") == 1.0
    assert balancer.weight("new:1") == 0.05
    early = picks(balancer, 2050)
    assert early["new:1"] < 0.06 * early["a:1"]
    clock.now += 5.0
    assert balancer.weight("new:1") == 0.5
    clock.now += 5.0
    assert balancer.weight("new:1") == 1.0
    late = picks(balancer, 3000)
    assert late["new:1"] == late["a:1"] == late["b:1"] == 1000


def test_no_warm_up_means_full_weight_at_once() -> None:
    balancer = Balancer(warmup=0.0)
    balancer.update(["a:1"])
    balancer.update(["a:1", "b:1"])
    assert picks(balancer, 100) == Counter({"a:1": 50, "b:1": 50})


def test_marked_down_endpoint_is_skipped_until_its_penalty_passes() -> None:
    clock = FakeClock()
    balancer = Balancer(clock=clock)
    balancer.update(["a:1", "b:1"])
    balancer.mark_down("a:1", seconds=1.0)
    assert set(picks(balancer, 10)) == {"b:1"}
    clock.now += 1.5
    assert set(picks(balancer, 10)) == {"a:1", "b:1"}


def test_when_every_endpoint_is_down_they_are_still_tried() -> None:
    balancer = Balancer()
    balancer.update(["a:1"])
    balancer.mark_down("a:1")
    assert balancer.pick() == "a:1"
    assert balancer.pick(exclude=["a:1"]) is None


def test_removed_endpoints_are_forgotten() -> None:
    balancer = Balancer()
    balancer.update(["a:1", "b:1"])
    balancer.update(["b:1"])
    assert set(picks(balancer, 5)) == {"b:1"}
