"""The asyncio bridge on its own (trio_hedge/venues/ccxt/_bridge.py): calls, cancellation both ways, errors with their
type, streams (lossless and conflated, a producer faster than its consumer), shutdown with calls in flight. Real
time: the asyncio loop runs in its own thread, so these tests use small real sleeps under ``fail_after`` deadlines.
"""

from __future__ import annotations

import asyncio
import threading

import pytest
import trio

from trio_hedge.venues.ccxt._bridge import AsyncioCancelled, BridgeClosed, open_asyncio_bridge


class Boom(ValueError):
    pass


async def test_call_returns_the_coroutines_value_from_the_loop_thread() -> None:
    async def where(x: int) -> tuple[int, str]:
        await asyncio.sleep(0)
        return x * 2, threading.current_thread().name

    with trio.fail_after(10):
        async with open_asyncio_bridge() as bridge:
            value, thread = await bridge.call(where, 21)
    assert value == 42 and thread == bridge.thread_name != threading.current_thread().name


async def test_an_asyncio_exception_surfaces_in_trio_with_its_type() -> None:
    async def fails() -> None:
        await asyncio.sleep(0.001)
        raise Boom("bad symbol XYZ")

    with trio.fail_after(10):
        async with open_asyncio_bridge() as bridge:
            with pytest.raises(Boom, match="bad symbol XYZ"):
                await bridge.call(fails)
            assert await bridge.call(asyncio.sleep, 0, "still usable") == "still usable"


async def test_trio_cancellation_cancels_the_asyncio_task_and_waits_for_it() -> None:
    state: list[str] = []

    async def slow() -> None:
        state.append("started")
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            await asyncio.sleep(0.05)  # cleanup the caller must wait for
            state.append("cancelled")
            raise

    with trio.fail_after(10):
        async with open_asyncio_bridge() as bridge:
            with trio.move_on_after(0.1) as scope:
                await bridge.call(slow)
            # the call returned only once the asyncio task had ended: its cleanup is done
            assert scope.cancelled_caught and state == ["started", "cancelled"]


async def test_asyncio_side_cancellation_surfaces_as_asyncio_cancelled() -> None:
    async def cancelled_by_asyncio() -> None:
        asyncio.current_task().cancel()  # type: ignore[union-attr]
        await asyncio.sleep(1)

    with trio.fail_after(10):
        async with open_asyncio_bridge() as bridge:
            with pytest.raises(AsyncioCancelled):
                await bridge.call(cancelled_by_asyncio)


async def test_lossless_stream_never_drops_and_the_producer_waits() -> None:
    produced: list[int] = []
    counter = iter(range(10_000))

    async def next_event() -> int:
        n = next(counter)
        produced.append(n)
        return n

    with trio.fail_after(20):
        async with open_asyncio_bridge() as bridge:
            async with bridge.open_stream(next_event, capacity=4) as stream:
                await trio.sleep(0.2)  # the producer is far faster than a consumer that is not reading
                # it stopped at the channel's capacity (4 held, 1 waiting for room), nothing lost
                assert len(stream) <= 5 and len(produced) <= 6
                got = [await stream.receive() for _ in range(200)]
    assert got == list(range(200))


async def test_conflated_stream_keeps_only_the_latest() -> None:
    async def next_book(state: list[int]) -> int:
        state[0] += 1
        await asyncio.sleep(0.001)
        return state[0]

    with trio.fail_after(20):
        async with open_asyncio_bridge() as bridge:
            async with bridge.open_stream(next_book, [0], capacity=8, conflate=True) as stream:
                await trio.sleep(0.2)
                first = await stream.receive()
                assert stream.replaced > 10 and first > 10  # books it never read were replaced
                second = await stream.receive()
    assert second > first  # a newer book, never an older one


async def test_a_producer_error_ends_the_stream_after_its_items() -> None:
    items = iter([1, 2])

    async def produce() -> int:
        try:
            return next(items)
        except StopIteration:
            raise Boom("stream lost") from None

    with trio.fail_after(10):
        async with open_asyncio_bridge() as bridge:
            async with bridge.open_stream(produce, capacity=8) as stream:
                assert [await stream.receive(), await stream.receive()] == [1, 2]
                with pytest.raises(Boom, match="stream lost"):
                    await stream.receive()


async def test_shutdown_with_calls_in_flight_closes_clients_and_joins_the_thread() -> None:
    closed: list[str] = []
    outcomes: list[str] = []

    async def never() -> None:
        await asyncio.sleep(3600)

    async def close_client() -> None:
        closed.append("closed")

    async def caller(bridge: object, task_status: trio.TaskStatus[None]) -> None:
        task_status.started()
        try:
            await bridge.call(never)  # type: ignore[attr-defined]
        except trio.Cancelled:
            outcomes.append("cancelled")
            raise

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            async with open_asyncio_bridge(close_s=2.0) as bridge:
                bridge.add_closer(close_client)
                for _ in range(3):
                    await nursery.start(caller, bridge)
                await trio.sleep(0.05)
                nursery.cancel_scope.cancel()  # the callers go first, then the bridge shuts down
    assert outcomes == ["cancelled"] * 3 and closed == ["closed"]
    assert not any(t.name == bridge.thread_name for t in threading.enumerate())
    with pytest.raises(BridgeClosed):
        await bridge.call(never)


async def test_shutdown_while_a_call_is_still_running_on_the_loop() -> None:
    async def never() -> None:
        await asyncio.sleep(3600)

    with trio.fail_after(10):
        async with open_asyncio_bridge(close_s=1.0) as bridge:
            future = bridge._start(never)  # a task nobody awaits: the shutdown cancels it
        assert future.cancelled() or future.done()
    assert not any(t.name == bridge.thread_name for t in threading.enumerate())


async def test_nested_users_share_one_loop_thread() -> None:
    async def name() -> str:
        return threading.current_thread().name

    with trio.fail_after(10):
        async with open_asyncio_bridge() as a, open_asyncio_bridge() as b:
            assert a is b and await a.call(name) == await b.call(name)
        assert not a.running
