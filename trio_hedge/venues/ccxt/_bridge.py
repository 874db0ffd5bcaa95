"""The asyncio bridge: the one place in ``trio_hedge/`` where asyncio runs (``tests/test_layers.py`` checks that no
other module imports it).

ccxt's async clients (``ccxt.pro``) run on asyncio; trio_hedge's event loop stays pure Trio. This module runs one
asyncio event loop in one dedicated thread per process, started when the first ccxt venue opens
(:func:`open_asyncio_bridge`, reference-counted: later venues share it, the last one out stops it), through anyio's
blocking portal (``anyio.from_thread.start_blocking_portal(backend="asyncio")``, https://anyio.readthedocs.io/en/
stable/threads.html#calling-asynchronous-code-from-an-external-thread).

* A call (:meth:`AsyncioBridge.call`): the coroutine is started on the loop with ``portal.start_task_soon``; when it
  ends, the asyncio side wakes the waiting Trio task through ``TrioToken.run_sync_soon`` (no worker thread is
  parked per call). A Trio cancellation cancels the asyncio task and waits for it to end, shielded, for at most
  ``cancel_wait_s``, so no request outlives the scope that asked for it (past that bound the task is left to
  finish on its own and a warning is logged). An exception of the coroutine surfaces in Trio as itself (its type
  and message); the asyncio task cancelled from its own side surfaces as :class:`AsyncioCancelled`.
* A stream (:meth:`AsyncioBridge.open_stream`): an asyncio producer calls one coroutine function over and over and
  hands each result to a bounded Trio channel (:class:`BridgeStream`); the next call is started the moment one
  returns (one call always waiting: a ccxt.pro ``watch_*`` wakes only a caller that waits when its message comes).
  Lossless (order and fill events): when the
  channel is full the producer waits until the consumer takes one (nothing is dropped). Conflated (book updates):
  the channel holds only the latest item, an older one unread is replaced; on the loop thread at most one
  hand-over to the Trio thread is in flight, and it carries the latest item when it runs (a burst costs one
  cross-thread wake-up, not one per item). An exception of the producer ends the
  stream: the consumer receives the items before it, then the exception.
* Shutdown (leaving :func:`open_asyncio_bridge`): the registered closers run (``exchange.close()`` of each ccxt
  client), then the portal stops with its remaining tasks cancelled and the thread is joined, all within
  ``close_s``; a thread still running past it is abandoned (a daemon thread) and logged.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import Future
from contextlib import AbstractContextManager, asynccontextmanager
from typing import Any, Generic, TypeVar

import anyio.from_thread
import outcome
import trio
from loguru import logger

T = TypeVar("T")

CANCEL_WAIT_S = 2.0
"""How long a cancelled call waits for its asyncio task to end (shielded), seconds."""


class AsyncioCancelled(Exception):
    """The asyncio task of a call or stream was cancelled on the asyncio side (the loop is stopping, or the
    library cancelled its own future); the Trio caller was not cancelled."""


class BridgeClosed(Exception):
    """The bridge is not running (closed, or never opened): no call can be made."""


def _wake(token: trio.lowlevel.TrioToken, fn: Callable[[], object]) -> None:
    try:
        token.run_sync_soon(fn)
    except trio.RunFinishedError:  # the Trio run ended; nobody waits any more
        pass


class _Task:
    """One coroutine run on the loop for Trio: its outcome, and a cancel that is edge-triggered as asyncio's own
    (``Task.cancel``: one ``CancelledError``, the coroutine may clean up with awaits), unlike the level-triggered
    cancel scope anyio would use on a cancelled portal future."""

    __slots__ = ("box", "task", "cancelled")

    def __init__(self) -> None:
        self.box: list[outcome.Outcome[Any]] = []
        self.task: asyncio.Task[Any] | None = None
        self.cancelled = False

    def cancel(self) -> None:
        """On the loop thread: cancel the task (or keep it from starting)."""
        self.cancelled = True
        if self.task is not None:
            self.task.cancel()

    async def run(self, fn: Callable[..., Awaitable[Any]], args: tuple[Any, ...], wake: Callable[[], None]) -> None:
        """Run ``fn(*args)``, keep its outcome, wake Trio when it has ended (any way)."""
        try:
            self.task = asyncio.current_task()
            if self.cancelled:
                raise asyncio.CancelledError
            self.box.append(outcome.Value(await fn(*args)))
        except asyncio.CancelledError:
            self.box.append(outcome.Error(AsyncioCancelled("the asyncio task was cancelled")))
        except Exception as exc:
            self.box.append(outcome.Error(exc))
        finally:
            wake()


class BridgeStream(trio.abc.ReceiveChannel[T], Generic[T]):
    """The Trio end of a stream from an asyncio producer (see the module docstring). One consumer.

    Attributes:
        capacity (int): items held before the producer waits (lossless) or the oldest is replaced (conflated).
        conflate (bool): keep only the latest item.
        received (int), replaced (int): counts (items handed to the consumer; conflated items never read).
    """

    def __init__(self, capacity: int, conflate: bool, loop: asyncio.AbstractEventLoop) -> None:
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self.capacity = 1 if conflate else capacity
        self.conflate = conflate
        self._loop = loop
        self._items: deque[T] = deque()
        self._waiting: deque[tuple[T, asyncio.Future[None]]] = deque()  # producer items past capacity
        self._error: BaseException | None = None
        self._ended = False
        self._lot = trio.lowlevel.ParkingLot()
        self.received = 0
        self._replaced_in_channel = 0  # written in the Trio thread
        self._replaced_at_source = 0  # written in the loop thread (a conflated item superseded before its hand-over)

    @property
    def replaced(self) -> int:
        """Conflated items never read (superseded on the loop thread before their hand-over, or in the channel)."""
        return self._replaced_in_channel + self._replaced_at_source

    # ------------------------------------------------------------------ called in the Trio thread
    def _put(self, item: T, ack: asyncio.Future[None] | None) -> None:
        if self.conflate:
            if self._items:
                self._items.clear()
                self._replaced_in_channel += 1
            self._items.append(item)
        elif len(self._items) < self.capacity:
            self._items.append(item)
            if ack is not None:
                self._loop.call_soon_threadsafe(_resolve, ack)
        else:
            assert ack is not None
            self._waiting.append((item, ack))
        self._lot.unpark_all()

    def _end(self, error: BaseException | None) -> None:
        self._error = error
        self._ended = True
        for _item, ack in self._waiting:
            self._loop.call_soon_threadsafe(_resolve, ack)
        self._lot.unpark_all()

    # ------------------------------------------------------------------ ReceiveChannel
    def receive_nowait(self) -> T:
        if self._items:
            item = self._items.popleft()
            if self._waiting:
                nxt, ack = self._waiting.popleft()
                self._items.append(nxt)
                self._loop.call_soon_threadsafe(_resolve, ack)
            self.received += 1
            return item
        if self._ended:
            if self._error is not None:
                raise self._error
            raise trio.EndOfChannel
        raise trio.WouldBlock

    async def receive(self) -> T:
        await trio.lowlevel.checkpoint_if_cancelled()
        while True:
            try:
                item = self.receive_nowait()
            except trio.WouldBlock:
                await self._lot.park()
                continue
            await trio.lowlevel.cancel_shielded_checkpoint()
            return item

    async def aclose(self) -> None:
        self._end(None)
        await trio.lowlevel.checkpoint()

    def __len__(self) -> int:
        return len(self._items) + len(self._waiting)


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


class AsyncioBridge:
    """One asyncio loop in its own thread, driven from one Trio run. Create it with :func:`open_asyncio_bridge`.

    Attributes:
        thread_name (str): the loop thread's name (tests check it is joined).
    """

    def __init__(self, portal: anyio.from_thread.BlockingPortal, loop: asyncio.AbstractEventLoop,
                 token: trio.lowlevel.TrioToken, thread: threading.Thread) -> None:
        self._portal = portal
        self._loop = loop
        self._token = token
        self._thread = thread
        self.thread_name = thread.name
        self._closers: list[Callable[[], Awaitable[object]]] = []
        self._open = True

    @property
    def running(self) -> bool:
        return self._open and self._thread.is_alive()

    def add_closer(self, closer: Callable[[], Awaitable[object]]) -> None:
        """Run ``closer()`` on the loop at shutdown, before the loop stops (a ccxt client's ``close``)."""
        self._closers.append(closer)

    def _start(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> Future[Any]:
        if not self._open:
            raise BridgeClosed("the asyncio bridge is closed")
        try:
            return self._portal.start_task_soon(fn, *args)
        except RuntimeError as exc:  # the portal stopped under us
            raise BridgeClosed(f"the asyncio bridge is not running: {exc}") from None

    async def call(self, fn: Callable[..., Awaitable[T]], *args: Any, cancel_wait_s: float = CANCEL_WAIT_S) -> T:
        """Await ``fn(*args)`` on the asyncio loop (see the module docstring).

        Raises:
            whatever the coroutine raised (same object, same type); AsyncioCancelled if the asyncio side cancelled
            it; BridgeClosed if the bridge is not running; trio.Cancelled after the asyncio task ended (or
            ``cancel_wait_s`` passed) when the caller was cancelled.
        """
        call = _Task()
        done = trio.Event()
        token = self._token
        self._start(call.run, fn, args, lambda: _wake(token, done.set))
        try:
            await done.wait()
        except trio.Cancelled:
            self._loop.call_soon_threadsafe(call.cancel)
            with trio.move_on_after(cancel_wait_s, shield=True) as waited:
                await done.wait()
            if waited.cancelled_caught:
                logger.bind(tag="BRIDGE").warning(
                    "a cancelled asyncio call ({}) did not end within {}s", getattr(fn, "__qualname__", fn),
                    cancel_wait_s)
            raise
        result: T = call.box[0].unwrap()
        return result

    @asynccontextmanager
    async def open_stream(self, fn: Callable[..., Awaitable[T]], *args: Any, capacity: int, conflate: bool = False,
                          cancel_wait_s: float = CANCEL_WAIT_S) -> AsyncIterator[BridgeStream[T]]:
        """A stream of ``await fn(*args)`` results, called again and again on the loop (``watch_orders`` style:
        each call returns the next update). Leaving the block cancels the producer and waits for it (shielded,
        at most ``cancel_wait_s``). See :class:`BridgeStream` for capacity and conflation."""
        stream: BridgeStream[T] = BridgeStream(capacity, conflate, self._loop)
        token = self._token
        ended = trio.Event()

        producer = _Task()
        # conflated: one hand-over to the Trio thread in flight at a time, carrying the latest item when it runs (a
        # burst of books costs one cross-thread wake-up and one book for the consumer, not one per book)
        latest: list[Any] = [None]
        handing = [False]

        def hand_over() -> None:  # in the Trio thread
            handing[0] = False  # cleared before the item is read: a newer item either is read here or hands over
            stream._put(latest[0], None)

        async def produce() -> None:
            loop = asyncio.get_running_loop()
            error: BaseException | None = None
            pending: asyncio.Future[T] = asyncio.ensure_future(fn(*args))
            try:
                while True:
                    item = await pending
                    # re-arm before handing over: a ccxt.pro watch resolves only a future that is waiting when its
                    # message arrives (the data stays in ccxt's cache, the wake-up is lost), so the next call is
                    # started at once, its first step queued ahead of further socket reads
                    pending = asyncio.ensure_future(fn(*args))
                    if conflate:
                        latest[0] = item  # written before the flag is read: see hand_over
                        if handing[0]:
                            stream._replaced_at_source += 1  # a hand-over is on its way: it takes this one
                        else:
                            handing[0] = True
                            token.run_sync_soon(hand_over)
                    else:
                        ack: asyncio.Future[None] = loop.create_future()
                        token.run_sync_soon(stream._put, item, ack)
                        await ack
            except asyncio.CancelledError:
                error = AsyncioCancelled("the asyncio producer was cancelled")
                raise
            except Exception as exc:
                error = exc
            finally:
                pending.cancel()

                def finish() -> None:
                    stream._end(error)
                    ended.set()

                _wake(token, finish)

        self._start(producer.run, produce, (), lambda: None)
        try:
            yield stream
        finally:
            self._loop.call_soon_threadsafe(producer.cancel)
            with trio.move_on_after(cancel_wait_s, shield=True):
                await ended.wait()

    async def _shutdown(self, close_s: float) -> None:
        with trio.move_on_after(close_s * 0.5, shield=True):
            for closer in self._closers:
                try:
                    await self.call(closer, cancel_wait_s=0.0)
                except Exception as exc:  # a closer failing must not keep the loop alive
                    logger.bind(tag="BRIDGE").warning("closing an asyncio client failed: {!r}", exc)
        self._open = False


_lock = threading.Lock()
_shared: dict[str, Any] = {"bridge": None, "users": 0, "cm": None}


@asynccontextmanager
async def open_asyncio_bridge(*, close_s: float = 5.0) -> AsyncIterator[AsyncioBridge]:
    """The process's asyncio bridge: the first user starts the loop thread, later users (in the same Trio run)
    share it, the last one out shuts it down (module docstring) within ``close_s`` seconds.

    Raises:
        RuntimeError: the bridge is in use by another Trio run.
    """
    token = trio.lowlevel.current_trio_token()
    with _lock:
        bridge: AsyncioBridge | None = _shared["bridge"]
        if bridge is not None and bridge._token is not token:
            raise RuntimeError("the asyncio bridge is in use by another Trio run")
        starting = bridge is None
        _shared["users"] += 1
    try:
        if starting:
            cm: AbstractContextManager[anyio.from_thread.BlockingPortal] = anyio.from_thread.start_blocking_portal(
                backend="asyncio", name="trio_hedge-asyncio")
            portal = await trio.to_thread.run_sync(cm.__enter__)
            loop, thread = portal.call(_loop_and_thread)
            bridge = AsyncioBridge(portal, loop, token, thread)
            _shared["bridge"], _shared["cm"] = bridge, cm
        assert bridge is not None
        yield bridge
    finally:
        with _lock:
            _shared["users"] -= 1
            last = _shared["users"] == 0
        if last and _shared["bridge"] is not None:
            await _stop(_shared["bridge"], _shared["cm"], close_s)
            _shared["bridge"] = _shared["cm"] = None


def _loop_and_thread() -> tuple[asyncio.AbstractEventLoop, threading.Thread]:
    return asyncio.get_running_loop(), threading.current_thread()


async def _stop(bridge: AsyncioBridge, cm: AbstractContextManager[Any], close_s: float) -> None:
    await bridge._shutdown(close_s)

    def stop() -> None:
        try:
            bridge._portal.call(bridge._portal.stop, True)  # cancel the tasks still running
        except RuntimeError:  # stopped already
            pass
        cm.__exit__(None, None, None)  # joins the thread

    with trio.move_on_after(max(close_s * 0.5, 0.1), shield=True):
        await trio.to_thread.run_sync(stop, abandon_on_cancel=True)
    if bridge._thread.is_alive():
        logger.bind(tag="BRIDGE").error("the asyncio loop thread did not stop within {}s; abandoned", close_s)


__all__ = ["AsyncioBridge", "AsyncioCancelled", "BridgeClosed", "BridgeStream", "open_asyncio_bridge"]
