"""tandem.deadline: coarse per-loop deadlines behave like asyncio.timeout."""

from __future__ import annotations

import asyncio
import time

import pytest

from tandem import deadline as dl
from tandem.deadline import RESOLUTION, Deadline


async def test_a_wait_that_outlives_its_deadline_raises_timeout_error() -> None:
    start = time.perf_counter()
    with pytest.raises(TimeoutError):
        with Deadline(0.1):
            await asyncio.sleep(5)
    elapsed = time.perf_counter() - start
    assert 0.1 <= elapsed < 0.1 + RESOLUTION + 0.5  # fires late by at most one tick (plus scheduling)


async def test_a_block_that_finishes_in_time_is_untouched_and_leaves_nothing_armed() -> None:
    with Deadline(1.0):
        await asyncio.sleep(0.01)
    loop = asyncio.get_running_loop()
    ticker = dl._tickers[loop]
    assert not ticker.active
    await asyncio.sleep(RESOLUTION * 3)  # the ticker stops once nothing waits, and lets go of the loop
    assert ticker.handle is None and loop not in dl._tickers
    with pytest.raises(TimeoutError), Deadline(0.05):  # and starts again when needed
        await asyncio.sleep(1)


async def test_one_deadline_re_arms_at_each_entry() -> None:
    deadline = Deadline(0.15)
    for _ in range(4):  # 4 x 0.1 s in all: more than the 0.15 s, but each wait is within it
        with deadline:
            await asyncio.sleep(0.1)
    with pytest.raises(TimeoutError), deadline:
        await asyncio.sleep(1)


async def test_time_outside_the_block_does_not_count() -> None:
    deadline = Deadline(0.1)
    with deadline:
        await asyncio.sleep(0)
    await asyncio.sleep(0.3)  # e.g. the consumer of a stream, between two reads
    with deadline:
        await asyncio.sleep(0.01)


async def test_nested_deadlines_the_inner_one_fires_first() -> None:
    with Deadline(5):
        with pytest.raises(TimeoutError):
            with Deadline(0.05):
                await asyncio.sleep(5)
        await asyncio.sleep(0.01)  # the outer block goes on


async def test_an_outside_cancel_stays_a_cancel() -> None:
    async def waiter() -> None:
        with Deadline(5):
            await asyncio.sleep(5)

    task = asyncio.create_task(waiter())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_an_outside_cancel_at_the_same_time_as_the_deadline_stays_a_cancel() -> None:
    async def waiter() -> None:
        deadline = Deadline(5)
        with deadline:
            deadline.expire()  # as the ticker would
            asyncio.current_task().cancel()  # type: ignore[union-attr]
            await asyncio.sleep(1)

    with pytest.raises(asyncio.CancelledError):
        await asyncio.create_task(waiter())


async def test_many_deadlines_each_fire_on_time() -> None:
    async def wait(limit: float) -> str:
        try:
            with Deadline(limit):
                await asyncio.sleep(0.3)
        except TimeoutError:
            return "timeout"
        return "done"

    results = await asyncio.gather(*(wait(0.05 if i % 2 else 2.0) for i in range(200)))
    assert results == ["done" if i % 2 == 0 else "timeout" for i in range(200)]


def test_outside_a_task_is_an_error() -> None:
    with pytest.raises(RuntimeError):
        Deadline(1)
