"""The journal for trio code: :class:`AsyncJournal`, every call on one dedicated worker thread, intents
group-committed (``app/_journal/__init__.py`` has the design notes)."""

from __future__ import annotations

import copy
import os
import queue
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any, Final, Generic, TypeVar

import trio
from outcome import Error, Outcome, Value
from outcome import capture as capture_outcome

from ...domain import Fill, OrderRequest, OrderStatus, Side
from ._schema import (
    DEFAULT_BUSY_TIMEOUT_MS,
    CycleRow,
    EventRow,
    IntentItem,
    IntentRow,
    JournalClosed,
    JournalIOError,
    JournalStats,
    JournalTimeout,
    RunRow,
    StatusRow,
)
from ._store import Journal

T = TypeVar("T")

CHECKPOINT_EVERY: Final = 100
"""With inline intents, the worker thread checkpoints the WAL after this many commits. SQLite's own automatic
checkpoint, off then, runs at 1,000 WAL pages; an intent's commit writes about 8.5 pages (its row, its status
row, the seq counter and their indexes: 256 intents measured 2,195 WAL pages)."""

DEFAULT_CLOSE_BUDGET_S: Final = 5.0
"""How long leaving :func:`open_async_journal` waits for the connection to close and its thread to end, s."""

# ----------------------------------------------------------------------------------------------- AsyncJournal


ItemT = TypeVar("ItemT")
ResultT = TypeVar("ResultT")


class _Group(Generic[ItemT, ResultT]):
    """Items waiting for one batch call on a :class:`_Worker` (:meth:`_Worker.run_grouped`).

    ``fn`` takes the items in submission order and returns one :class:`outcome.Outcome` per item."""

    def __init__(self, fn: Callable[[list[ItemT]], list[Outcome[ResultT]]]) -> None:
        self.fn = fn
        self.lock = threading.Lock()  # the trio thread appends, the worker thread takes
        self.pending: list[tuple[ItemT, _Reply[ResultT]]] = []
        self.batches = 0  # calls of fn (for statistics and tests)
        self.max_batch = 0

    def flush(self) -> None:
        """On the worker thread: one call of ``fn`` for everything pending, each result to its task."""
        with self.lock:
            batch, self.pending = self.pending, []
        if not batch:
            return
        self.batches += 1
        self.max_batch = max(self.max_batch, len(batch))
        try:
            results = self.fn([item for item, _ in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"batch function returned {len(results)} results for {len(batch)} items")
        except BaseException as exc:  # noqa: BLE001 - handed to every waiting task, none is lost
            results = [Error(exc if i == 0 else copy.copy(exc)) for i in range(len(batch))]
        for (_, reply), result in zip(batch, results, strict=True):
            reply.send(result)


class _Reply(Generic[T]):
    """The answer slot of one task waiting on the worker thread: the job's result, or :class:`JournalTimeout`
    from the worker's watchdog once ``deadline`` (``time.monotonic()``) has passed, whichever comes first
    (both are handed over on the trio thread, so they cannot both win). Create it on the trio thread, in the
    waiting task."""

    def __init__(self, worker: str, what: str, deadline: float | None) -> None:
        self._task = trio.lowlevel.current_task()
        self._token = trio.lowlevel.current_trio_token()
        self._done = False
        self.deadline = deadline
        self._started = time.monotonic()
        self._worker = worker
        self._what = what

    def _deliver(self, result: Outcome[T]) -> None:
        if not self._done:
            self._done = True
            trio.lowlevel.reschedule(self._task, result)

    def send(self, result: Outcome[T]) -> None:
        """From any thread: hand ``result`` to the waiting task (ignored once it has its answer)."""
        try:
            self._token.run_sync_soon(self._deliver, result)
        except trio.RunFinishedError:  # the trio run is gone; nobody is waiting any more
            pass

    def expire(self) -> None:
        """From the watchdog: the deadline passed."""
        path = self._worker.removeprefix("journal:")
        self.send(Error(JournalTimeout(path, self._what, time.monotonic() - self._started)))

    async def wait(self) -> T:
        """Wait for the answer (not abandoned by a trio cancel: see :meth:`_Worker.run`)."""

        def abort(_: trio.lowlevel.RaiseCancelT) -> trio.lowlevel.Abort:
            return trio.lowlevel.Abort.FAILED

        result: T = await trio.lowlevel.wait_task_rescheduled(abort)
        return result


def _nothing() -> None:
    return None


class _Worker:
    """One dedicated thread that runs jobs in order; results go back to the waiting trio task.

    ``trio.to_thread.run_sync`` cannot be used for this: even under a ``CapacityLimiter(1)`` trio's thread
    cache hands successive calls to whichever idle worker it has (measured: 50 calls interleaved with other
    ``to_thread`` traffic ran on 4 different threads), which breaks ``check_same_thread``.
    """

    WATCH_INTERVAL_S = 0.05
    """How often the watchdog looks for calls past their deadline, seconds (the precision of the bound)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.busy = threading.Lock()
        """Held by the thread while it runs a job (and its idle hook): whoever else acquires it has the journal's
        connection to itself (:meth:`AsyncJournal.record_intent`'s inline path)."""
        self.after_job: Callable[[], None] | None = None
        """Called on the thread, under :attr:`busy`, after each job."""
        self._jobs: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()
        self._watched: dict[int, _Reply[Any]] = {}  # bounded calls in flight, by id
        self._watch_lock = threading.Lock()
        self._watchdog: threading.Thread | None = None
        self._stopped = threading.Event()

    def _watch(self) -> None:
        """The watchdog thread (started with the first bounded call): expires calls past their deadline. One
        thread for all calls: a timer thread per call would cost more than the intent commit it bounds."""
        while not self._stopped.wait(self.WATCH_INTERVAL_S):
            now = time.monotonic()
            with self._watch_lock:
                late = [k for k, r in self._watched.items() if r.deadline is not None and r.deadline <= now]
                expired = [self._watched.pop(k) for k in late]
            for reply in expired:
                reply.expire()

    async def _await(self, reply: _Reply[T]) -> T:
        if reply.deadline is None:
            return await reply.wait()
        key = id(reply)
        with self._watch_lock:
            self._watched[key] = reply
            if self._watchdog is None:
                self._watchdog = threading.Thread(target=self._watch, name=f"{self.name}:watchdog", daemon=True)
                self._watchdog.start()
        try:
            return await reply.wait()
        finally:
            with self._watch_lock:
                self._watched.pop(key, None)

    def _main(self) -> None:
        while (job := self._jobs.get()) is not None:
            with self.busy:
                job()
                if self.after_job is not None:
                    self.after_job()

    def nudge(self) -> None:
        """Queue an empty job (non-blocking): the thread runs :attr:`after_job` after it."""
        self._jobs.put(_nothing)

    async def run(self, fn: Callable[[], T], *, wall_deadline: float | None = None, what: str = "call") -> T:
        """Run ``fn`` on the worker thread and return its result (or raise its exception).

        Cancellation: a cancel before the job is queued raises Cancelled with nothing done. Once queued, the
        job always runs to completion on the thread and this call waits for it (a journal write is never
        abandoned by a trio cancel, so its outcome is known), like ``trio.to_thread.run_sync`` without
        ``abandon_on_cancel``.

        ``wall_deadline`` (``time.monotonic()`` seconds; the run's exit path): past it the call stops waiting
        and raises :class:`JournalTimeout`; the job's outcome is dropped (the write may or may not commit:
        the next start's reconciliation resolves either case). Wall clock, not trio's: a test's virtual
        clock would otherwise jump to the deadline while the thread writes.
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        reply: _Reply[T] = _Reply(self.name, what, wall_deadline)
        self._jobs.put(lambda: reply.send(capture_outcome(fn)))
        return await self._await(reply)

    async def run_grouped(self, group: _Group[ItemT, ResultT], item: ItemT, *,
                          wall_deadline: float | None = None, what: str = "call") -> ResultT:
        """Run ``group.fn`` on the worker thread for ``item`` together with every other item submitted to
        ``group`` before the thread gets to them (group commit), and return this item's result (or raise its
        error). A failure of the whole call is raised in every waiting task (a copy in all but the first).
        Cancellation and ``wall_deadline``: as :meth:`run` (once submitted, the item is always processed)."""
        await trio.lowlevel.checkpoint_if_cancelled()
        reply: _Reply[ResultT] = _Reply(self.name, what, wall_deadline)
        with group.lock:
            first = not group.pending
            group.pending.append((item, reply))
        if first:  # otherwise a flush is queued and has not taken the batch yet: it takes this item too
            self._jobs.put(lambda: group.flush())
        return await self._await(reply)

    def stop(self) -> None:
        """Ask the thread to exit after the queued jobs (non-blocking); the watchdog stops at once."""
        self._jobs.put(None)
        self._stopped.set()

    @property
    def ident(self) -> int | None:
        return self._thread.ident

    def join(self, timeout_s: float | None = None) -> None:
        self._thread.join(timeout_s)


class AsyncJournal:
    """The journal for trio code: each method runs the :class:`Journal` method of the same name on one
    dedicated worker thread, which also opened (and will close) the connection, under a
    ``trio.CapacityLimiter(1)``. Build it with :func:`open_async_journal`.

    Calls from many tasks are serialised in the order they acquire the limiter. Cancellation: a call
    cancelled while waiting for the limiter does nothing; once its job is handed to the thread it runs to
    completion and the call returns its result even inside a cancelled scope, so a timer around a journal
    call never leaves an unknown outcome (the next checkpoint raises Cancelled). Errors are those of the
    :class:`Journal` methods.
    """

    def __init__(self, worker: _Worker, journal: Journal, call_bound_s: float | None = None, *,
                 inline_intents: bool = False) -> None:
        """Internal: use :func:`open_async_journal`."""
        self._call_bound_s = call_bound_s
        self._worker = worker
        self._journal = journal
        self._limiter = trio.CapacityLimiter(1)
        self._closed = False
        self._wall_deadline: float | None = None
        self._intents: _Group[IntentItem, int] = _Group(self._record_intents)
        self._inline = inline_intents
        self._nudged = False
        self.intents_inline = 0
        """Intents committed on the event loop's thread (:meth:`record_intent`'s inline path)."""
        self.intents_on_thread = 0
        """Intents committed on the worker thread (inline off, or the thread was busy)."""
        self.inline_off_reason = ""
        """Why the inline path was switched off during the run ("" while it is on or never was)."""
        self.checkpoint_error: JournalIOError | None = None
        """The last error of a WAL checkpoint run on the thread (the next write meets the disk's error too)."""
        if inline_intents:
            worker.after_job = self._after_job

    def _after_job(self) -> None:
        """On the worker thread, under its busy lock, after each job: the WAL checkpoint when it is due.
        Automatic checkpoints are off with inline intents, so that no intent committed on the loop's thread ever
        runs one; an intent that arrives during the checkpoint goes through the thread, after it."""
        self._nudged = False
        j = self._journal
        if not j.closed and j.checkpoint_due:
            try:
                self._journal.checkpoint()
            except JournalIOError as exc:
                self.checkpoint_error = exc

    def _record_intents(self, items: list[IntentItem]) -> list[Outcome[int]]:
        """On the worker thread: the waiting intents in one transaction (:meth:`Journal.record_intents`)."""
        return [Error(r) if isinstance(r, BaseException) else Value(r) for r in self._journal.record_intents(items)]

    @property
    def intent_batches(self) -> tuple[int, int]:
        """(transactions that committed intents, the most intents one of them carried)."""
        return self._intents.batches, self._intents.max_batch

    async def _call(self, fn: Callable[[Journal], T]) -> T:
        journal = self._journal
        async with self._limiter:
            if self._closed:  # checked under the limiter: aclose() may have run while this call waited
                raise JournalClosed(f"journal {journal.path} is closed")
            return await self._worker.run(lambda: fn(journal), wall_deadline=self._deadline(),
                                          what=getattr(fn, "__name__", "call"))

    def _deadline(self) -> float | None:
        """The wall-clock deadline of a call starting now: ``call_bound_s`` from now, or the exit path's
        bound (:meth:`bound_calls`) when that is earlier; None: unbounded."""
        bound = None if self._call_bound_s is None else time.monotonic() + self._call_bound_s
        if self._wall_deadline is None:
            return bound
        return self._wall_deadline if bound is None else min(bound, self._wall_deadline)

    def bound_calls(self, within_s: float) -> None:
        """From now on (the run's exit path) no call waits past ``within_s`` seconds from now (wall clock;
        an earlier bound is kept): past it a call raises :class:`JournalTimeout` and its write is left to the
        next start's reconciliation, instead of a full or hung disk holding the stop past its budget."""
        deadline = time.monotonic() + within_s
        if self._wall_deadline is None or deadline < self._wall_deadline:
            self._wall_deadline = deadline

    @property
    def path(self) -> str:
        return self._journal.path

    @property
    def check_result(self) -> str:
        """How the check at open went (:meth:`Journal.open` ``check_budget_ms``)."""
        return self._journal.check_result

    @property
    def thread_ident(self) -> int | None:
        """The worker thread's ident (the only thread that ever touches the connection)."""
        return self._worker.ident

    async def aclose(self) -> None:
        """Close the connection on its thread and stop the thread. Idempotent. Cancellable once the close
        job is queued (the thread is a daemon: a close a hung disk holds up does not keep the process)."""
        if self._closed:
            return
        async with self._limiter:
            self._closed = True
            try:
                await self._worker.run(self._journal.close, wall_deadline=self._wall_deadline, what="close")
            finally:
                self._worker.stop()
        bound_s = None if self._wall_deadline is None else max(0.0, self._wall_deadline - time.monotonic())
        await trio.to_thread.run_sync(self._worker.join, bound_s)

    async def statistics(self) -> JournalStats:
        return await self._call(lambda j: j.statistics())

    async def record_intent(self, venue: str, request: OrderRequest, *, cycle_id: int | None = None,
                            ts_ns: int | None = None) -> int:
        """See :meth:`Journal.record_intent`: committed before it returns; send the order only after.

        Group commit: intents do not queue for the limiter one behind the other (each paying its own
        transaction, fsync and hop back to the loop); every intent submitted while the worker thread is busy
        goes into its next transaction together (:meth:`Journal.record_intents`), each still committed before
        its own call returns, each with its own errors. Measured in the running bot with 8 hedge routes in
        flight: the wait for the limiter alone was p90 6.8 ms, p99 21 ms (docs/performance.md)."""
        if self._closed:
            raise JournalClosed(f"journal {self._journal.path} is closed")
        item = (venue, request, cycle_id, ts_ns)
        if self._inline and self._wall_deadline is None:
            await trio.lowlevel.checkpoint_if_cancelled()
            if self._worker.busy.acquire(blocking=False):
                return self._record_inline(item)
        self.intents_on_thread += 1
        return await self._worker.run_grouped(self._intents, item, wall_deadline=self._deadline(),
                                              what="record_intent")

    def _record_inline(self, item: IntentItem) -> int:
        """The inline path of :meth:`record_intent`, called holding the worker's busy lock (released here):
        the intent's transaction on the event loop's own thread, a WAL append with no fsync (tens of us), with
        no hop to the worker thread and back (measured in the running bot: p50 ~1 ms, most of it waiting for
        the thread to be scheduled and for the loop to be woken). A WAL checkpoint never runs here (automatic
        checkpoints are off; the worker runs them when idle). ``call_bound_s`` cannot interrupt a write on the
        loop's thread: a commit that took longer switches the inline path off for the rest of the run (every
        later intent goes through the bounded worker thread again) and says why in :attr:`inline_off_reason`.

        Returns: the intent's seq. Raises: what :meth:`Journal.record_intents` raises for the item."""
        started = time.monotonic()
        try:
            result = self._journal.record_intents([item])[0]
        finally:
            self._worker.busy.release()
        took_s = time.monotonic() - started
        self.intents_inline += 1
        if self._call_bound_s is not None and took_s > self._call_bound_s:
            self._inline = False
            self.inline_off_reason = (f"an intent's commit on the event loop took {took_s:.3f}s (over journal."
                                      f"call_bound_ms, {self._call_bound_s:.3f}s): later intents go through the "
                                      "journal's worker thread")
        if self._journal.checkpoint_due and not self._nudged:
            self._nudged = True
            self._worker.nudge()
        if isinstance(result, BaseException):
            raise result
        return result

    def rehearse_intent(self, venue: str, request: OrderRequest, *, cycle_id: int | None = None) -> bool:
        """:meth:`Journal.rehearse_intent` on the event loop's thread, only where an intent would be written
        there (the inline path, the worker thread idle); never waits (nor for the write lock the report
        connection shares). Returns whether it ran."""
        if self._closed or not self._inline or self._wall_deadline is not None:
            return False
        if not self._worker.busy.acquire(blocking=False):
            return False
        try:
            return self._journal.rehearse_intent(venue, request, cycle_id=cycle_id)
        finally:
            self._worker.busy.release()

    async def reserve_id_block(self, venue: str, first: int, size: int) -> None:
        """See :meth:`Journal.reserve_id_block` (fsynced before it returns)."""
        await self._call(lambda j: j.reserve_id_block(venue, first, size))

    async def id_blocks(self, venue: str) -> list[tuple[int, int]]:
        """See :meth:`Journal.id_blocks`."""
        return await self._call(lambda j: j.id_blocks(venue))

    async def record_status(self, venue: str, client_order_id: str, status: OrderStatus, *, reason: str = "",
                            venue_order_id: str | None = None, ts_ns: int | None = None) -> int | None:
        """See :meth:`Journal.record_status`."""
        return await self._call(lambda j: j.record_status(venue, client_order_id, status, reason=reason,
                                                          venue_order_id=venue_order_id, ts_ns=ts_ns))

    async def intent(self, venue: str, client_order_id: str) -> IntentRow | None:
        return await self._call(lambda j: j.intent(venue, client_order_id))

    async def inflight(self, venue: str | None = None) -> list[IntentRow]:
        return await self._call(lambda j: j.inflight(venue))

    async def status_history(self, venue: str, client_order_id: str) -> list[StatusRow]:
        return await self._call(lambda j: j.status_history(venue, client_order_id))

    async def record_fill(self, fill: Fill) -> bool:
        """See :meth:`Journal.record_fill`."""
        return await self._call(lambda j: j.record_fill(fill))

    async def fills(self, venue: str | None = None, symbol: str | None = None,
                    since_ns: int | None = None) -> list[Fill]:
        return await self._call(lambda j: j.fills(venue, symbol, since_ns))

    async def filled_size(self, venue: str, client_order_id: str) -> Decimal:
        return await self._call(lambda j: j.filled_size(venue, client_order_id))

    async def start_cycle(self, market: str, index: int, side: Side, *, ts_ns: int | None = None) -> int:
        return await self._call(lambda j: j.start_cycle(market, index, side, ts_ns=ts_ns))

    async def end_cycle(self, cycle_id: int, outcome: str, detail: str = "", *, ts_ns: int | None = None) -> int:
        return await self._call(lambda j: j.end_cycle(cycle_id, outcome, detail, ts_ns=ts_ns))

    async def cycle(self, cycle_id: int) -> CycleRow | None:
        return await self._call(lambda j: j.cycle(cycle_id))

    async def open_cycles(self) -> list[CycleRow]:
        return await self._call(lambda j: j.open_cycles())

    async def record_start(self, pid: int, ts_ns: int) -> int:
        return await self._call(lambda j: j.record_start(pid, ts_ns))

    async def record_exit(self, code: int, reason: str, *, run_id: int | None = None,
                          ts_ns: int | None = None) -> int:
        return await self._call(lambda j: j.record_exit(code, reason, run_id=run_id, ts_ns=ts_ns))

    async def crashes_since(self, ts_ns: int) -> int:
        return await self._call(lambda j: j.crashes_since(ts_ns))

    async def runs(self) -> list[RunRow]:
        return await self._call(lambda j: j.runs())

    async def set_checkpoint(self, name: str, value: str) -> int:
        return await self._call(lambda j: j.set_checkpoint(name, value))

    async def get_checkpoint(self, name: str) -> str | None:
        return await self._call(lambda j: j.get_checkpoint(name))

    async def record_event(self, kind: str, detail: str) -> int:
        return await self._call(lambda j: j.record_event(kind, detail))

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """:meth:`Journal.read`: ``fn`` on the journal's connection, in its thread (blocking work allowed)."""
        return await self._call(lambda j: j.read(fn))

    async def events(self, kind: str | None = None, since_seq: int = 0) -> list[EventRow]:
        return await self._call(lambda j: j.events(kind, since_seq))


@asynccontextmanager
async def open_async_journal(path: str | os.PathLike[str], *, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS,
                             write_lock: threading.Lock | None = None, exclusive: bool = False,
                             check_budget_ms: int | None = None,
                             close_budget_s: float = DEFAULT_CLOSE_BUDGET_S,
                             call_bound_s: float | None = None,
                             inline_intents: bool = False) -> AsyncIterator[AsyncJournal]:
    """Open the journal at ``path`` on a dedicated worker thread and yield its :class:`AsyncJournal`.
    ``busy_timeout_ms``, ``write_lock``, ``exclusive`` and ``check_budget_ms``: see :meth:`Journal.open`
    (give every connection of the process on the same file the same lock). ``call_bound_s``: no call waits
    longer than this, wall clock (a hung disk): past it the call raises :class:`JournalTimeout` (a
    :class:`JournalIOError`: the running bot's journal-down state); None: unbounded.

    ``inline_intents`` (only with ``exclusive``: then this is the file's one connection, and no other holds
    ``write_lock``): :meth:`AsyncJournal.record_intent` commits on the event loop's thread whenever the worker
    thread is idle (see there); the WAL is then checkpointed by the worker thread, never inside an intent's
    commit (``Journal.open`` ``checkpoint_every``).

    Checkpoints: entering (opening, checking, migrating) and leaving (closing the connection, joining the thread;
    shielded and bounded by ``close_budget_s`` seconds of wall clock: past it the thread is left to finish on its
    own).

    Raises:
        The errors of :meth:`Journal.open` (the worker thread is stopped first).
    """
    worker = _Worker(name=f"journal:{os.fspath(path)}")
    inline = inline_intents and exclusive
    try:
        journal = await worker.run(lambda: Journal.open(path, busy_timeout_ms=busy_timeout_ms, write_lock=write_lock,
                                                        exclusive=exclusive, check_budget_ms=check_budget_ms,
                                                        checkpoint_every=CHECKPOINT_EVERY if inline else 0))
    except BaseException:
        worker.stop()
        raise
    aj = AsyncJournal(worker, journal, call_bound_s, inline_intents=inline)
    try:
        yield aj
    finally:
        with trio.CancelScope(shield=True):
            aj.bound_calls(close_budget_s)
            try:
                await aj.aclose()
            except JournalTimeout:
                pass  # the daemon thread finishes (or not) on its own; every write before had its answer
