"""Capacity admission: FIFO, no starvation, shrink and release, cancellation."""

from __future__ import annotations

import asyncio

import pytest

from bench.emulator.capacity import HOST_RESERVE_VCPUS, Admission, sandbox_capacity


def test_capacity_is_the_host_less_the_reserve() -> None:
    assert sandbox_capacity(2) == pytest.approx(2 - HOST_RESERVE_VCPUS)
    assert sandbox_capacity(8, reserve=1.0) == 7.0
    assert sandbox_capacity(1, reserve=1.0) == pytest.approx(0.1)  # never zero


def _run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def test_work_that_fits_starts_at_once_and_the_rest_waits_in_arrival_order() -> None:
    async def scenario() -> list[str]:
        gate = Admission(1.5)
        order: list[str] = []
        first = await gate.acquire(1.0)
        assert first.queued_ms == 0.0 and gate.in_use == 1.0

        async def wait_for(name: str, demand: float) -> None:
            ticket = await gate.acquire(demand)
            order.append(name)
            ticket.release()

        # "big" arrives first and does not fit; "small" would fit, but must not overtake.
        big = asyncio.create_task(wait_for("big", 1.0))
        await asyncio.sleep(0)
        small = asyncio.create_task(wait_for("small", 0.25))
        await asyncio.sleep(0)
        assert gate.waiting == 2 and order == []
        first.release()
        await asyncio.gather(big, small)
        assert gate.in_use == 0.0 and gate.waited == 2
        return order

    assert _run(scenario()) == ["big", "small"]


def test_a_shrunk_ticket_lets_the_next_one_in_and_the_wait_is_measured() -> None:
    async def scenario() -> tuple[float, float]:
        gate = Admission(1.5)
        init = await gate.acquire(1.0)
        waiter = asyncio.create_task(gate.acquire(1.0))
        await asyncio.sleep(0.02)
        assert not waiter.done()
        init.shrink(0.29)  # init over, the invocation runs at 512/1769 of a CPU
        second = await waiter
        init.release()
        second.release()
        return second.queued_ms, gate.peak

    queued, peak = _run(scenario())
    assert queued >= 15.0
    assert peak <= 1.5


def test_demand_above_capacity_runs_alone_instead_of_never() -> None:
    async def scenario() -> float:
        gate = Admission(1.5)
        huge = await gate.acquire(5.8)  # 10 GB: more than the host can give
        assert gate.in_use == 1.5
        small = asyncio.create_task(gate.acquire(0.1))
        await asyncio.sleep(0)
        assert not small.done()
        huge.release()
        return (await small).demand

    assert _run(scenario()) == 0.1


def test_a_cancelled_waiter_leaves_the_queue_and_unblocks_the_next() -> None:
    async def scenario() -> bool:
        gate = Admission(1.0)
        held = await gate.acquire(0.6)
        blocked = asyncio.create_task(gate.acquire(1.0))  # head of the queue
        await asyncio.sleep(0)
        behind = asyncio.create_task(gate.acquire(0.4))  # fits, but queued behind the head
        await asyncio.sleep(0)
        assert not behind.done()
        blocked.cancel()
        with pytest.raises(asyncio.CancelledError):
            await blocked
        ticket = await asyncio.wait_for(behind, 1.0)
        ticket.release()
        held.release()
        return gate.in_use == 0.0 and gate.waiting == 0

    assert _run(scenario())
