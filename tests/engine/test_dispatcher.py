"""Dispatcher: queue, credit, leases, re-queues, exactly-once results."""

from __future__ import annotations

import math

import anyio
import pytest

from segevo.engine.actors.dispatcher import Dispatcher, Refused, TaskRecord

pytestmark = pytest.mark.anyio


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _tasks(*ids: int) -> list[TaskRecord]:
    return [TaskRecord(i, [i, i + 1], math.nan, 1.0, -1, 0.0) for i in ids]


def _received(worker) -> list[int]:
    out = []
    while True:
        try:
            out.append(worker.inbox.receive_nowait().id)
        except anyio.WouldBlock:
            return out


def _dispatcher(**kw):
    events = []
    clock = Clock()
    d = Dispatcher(lease_s=10.0, clock=clock, on_event=lambda e, **f: events.append((e, f)), **kw)
    return d, clock, events


async def test_tasks_go_to_workers_with_credit_round_robin():
    d, _, _ = _dispatcher()
    a = d.register("a", remote=True, credit_limit=4)
    b = d.register("b", remote=True, credit_limit=4)
    d.grant(a, 2)
    d.grant(b, 1)
    d.submit(_tasks(1, 2, 3, 4, 5))
    assert _received(a) == [1, 3] and _received(b) == [2]
    assert d.queued == 2 and d.leased == 3 and d.pending == 5
    # A result frees a slot: the next queued task goes out at once.
    accepted = d.complete(b, 2, 0.9, 5.0)
    assert accepted.task.id == 2 and accepted.evaluator == "b" and accepted.lat_ms == 5.0
    assert _received(b) == [4]
    assert d.pending == 4


async def test_credit_is_capped_by_the_limit():
    d, _, _ = _dispatcher()
    a = d.register("a", remote=True, credit_limit=2)
    d.grant(a, 50)
    d.submit(_tasks(*range(10)))
    assert _received(a) == [0, 1]
    assert a.credit == 0


async def test_disconnect_requeues_at_the_front():
    d, _, events = _dispatcher()
    a = d.register("a", remote=True, credit_limit=2)
    d.grant(a, 2)
    d.submit(_tasks(1, 2, 3))
    assert _received(a) == [1, 2]
    d.unregister(a, "connection lost")
    assert d.queued == 3 and d.leased == 0
    b = d.register("b", remote=True, credit_limit=3)
    d.grant(b, 3)
    assert _received(b) == [1, 2, 3]
    assert ("requeued", {"tasks": [1, 2], "evaluator": "a", "reason": "connection lost"}) in events


async def test_expired_lease_requeues_and_heartbeat_renews():
    d, clock, events = _dispatcher()
    a = d.register("a", remote=True, credit_limit=2)
    d.grant(a, 2)
    d.submit(_tasks(1, 2))
    _received(a)
    clock.now += 8
    d.heartbeat(a)  # renews both leases to now + 10
    clock.now += 8
    assert d.expire() == []
    clock.now += 3
    expired = d.expire()
    assert sorted(t.id for t in expired) == [1, 2]
    assert d.queued == 2 and d.leased == 0
    assert [e for e, _ in events].count("lease_expired") == 2


async def test_task_timeout_caps_renewals():
    d, clock, _ = _dispatcher(task_timeout_s=15.0)
    a = d.register("a", remote=True, credit_limit=1)
    d.grant(a, 1)
    d.submit(_tasks(1))
    _received(a)
    for _ in range(3):
        clock.now += 6
        d.heartbeat(a)
    assert [t.id for t in d.expire()] == [1]


async def test_local_workers_hold_leases_without_heartbeats():
    d, clock, _ = _dispatcher()
    w = d.register("local", remote=False, credit_limit=1)
    d.grant(w, 1)
    d.submit(_tasks(1))
    clock.now += 1e6
    assert d.expire() == []


async def test_exactly_once_late_duplicates_are_refused():
    d, clock, _ = _dispatcher()
    a = d.register("a", remote=True, credit_limit=1)
    b = d.register("b", remote=True, credit_limit=1)
    d.grant(a, 1)
    d.submit(_tasks(1))
    _received(a)
    clock.now += 11
    d.expire()  # a hangs; its task goes to b
    d.grant(b, 1)
    assert _received(b) == [1]
    # a comes back first: its result is the one archived...
    assert d.complete(a, 1, 0.8, None).task.id == 1
    assert 1 in d.completed_ids and b.leased == {}
    # ...and b's copy is refused as a duplicate.
    with pytest.raises(Refused, match="duplicate"):
        d.complete(b, 1, 0.8, None)
    assert d.pending == 0


async def test_result_for_a_task_never_given_or_unknown_is_refused():
    d, _, _ = _dispatcher()
    a = d.register("a", remote=True, credit_limit=1)
    d.submit(_tasks(1))  # queued, a has no credit yet
    with pytest.raises(Refused, match="never handed out"):
        d.complete(a, 1, 0.5, None)
    with pytest.raises(Refused, match="unknown"):
        d.complete(a, 99, 0.5, None)
    assert d.pending == 1


async def test_nan_accuracy_is_refused_and_the_task_requeued_then_abandoned():
    d, _, events = _dispatcher(max_attempts=2)
    a = d.register("a", remote=True, credit_limit=1)
    d.grant(a, 1)
    d.submit(_tasks(1))
    assert _received(a) == [1]
    with pytest.raises(Refused, match="not a finite number"):
        d.complete(a, 1, math.nan, None)
    assert _received(a) == [1]  # re-queued and handed out again (credit came back)
    with pytest.raises(Refused):
        d.complete(a, 1, 0.5, -3.0)  # negative latency: second failure
    assert d.pending == 0 and d.abandoned == {1: [1, 2]}
    assert any(e == "abandoned" for e, _ in events)
    with pytest.raises(Refused, match="abandoned"):
        d.complete(a, 1, 0.5, None)


async def test_failure_report_requeues():
    d, _, _ = _dispatcher()
    a = d.register("a", remote=True, credit_limit=1)
    b = d.register("b", remote=True, credit_limit=1)
    d.grant(a, 1)
    d.submit(_tasks(1))
    _received(a)
    d.fail(a, 1, "out of memory")
    # The report returned a's credit, so the re-queued task goes straight back out.
    assert _received(a) == [1]
    assert d.pending == 1 and d.tasks[1].attempts == 1
    d.fail(a, 1, "out of memory again")
    d.unregister(a, "gone")
    d.grant(b, 1)
    assert _received(b) == [1]


async def test_submitting_a_known_task_twice_is_an_error():
    d, _, _ = _dispatcher()
    d.submit(_tasks(1))
    with pytest.raises(ValueError, match="already known"):
        d.submit(_tasks(1))


async def test_state_round_trip():
    task = TaskRecord(5, [1, 2, 3], math.nan, 4.5, 2, 123.0, attempts=1, given=True)
    back = TaskRecord.from_state(task.to_state())
    assert (back.id, back.x, back.lat_pred_ms, back.predictor_version, back.attempts) == (
        5,
        [1, 2, 3],
        4.5,
        2,
        1,
    )
    assert math.isnan(back.acc_pred) and back.given
