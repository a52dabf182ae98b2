"""The consumer's budget for rebuilding a Kafka client after a fatal error (pure logic)."""

from __future__ import annotations

from consumers.kafka_consumer import RebuildBudget


def test_each_rebuild_waits_twice_as_long_until_the_budget_is_spent() -> None:
    budget = RebuildBudget(limit=3, window=600.0, first_wait=1.0)
    assert [budget.next_wait(t) for t in (0.0, 10.0, 20.0)] == [1.0, 2.0, 4.0]
    assert budget.next_wait(30.0) is None  # a fourth fatal error within the window: give up
    assert budget.next_wait(599.0) is None


def test_rebuilds_older_than_the_window_are_forgotten() -> None:
    budget = RebuildBudget(limit=2, window=60.0, first_wait=0.5)
    assert budget.next_wait(0.0) == 0.5
    assert budget.next_wait(30.0) == 1.0
    assert budget.next_wait(59.0) is None
    assert budget.next_wait(61.0) == 1.0  # the one at 0 s left the window, the one at 30 s not
    assert budget.next_wait(100.0) == 1.0  # only the one at 61 s is still within 60 s
    assert budget.next_wait(110.0) is None
    assert budget.next_wait(200.0) == 0.5  # a quiet window starts over
