"""The feed book: one symbol's live local :class:`~trio_hedge.domain.OrderBook`, its :class:`FeedState`, the
change notification consumers wait on (``Venue.wait_book_change``) and the mark a watchdog puts on a feed it
declares failed. Owned by the adapter's feed task, which applies every message to the book IN the task and then
calls :meth:`FeedBook.applied` (no channel hop per market-data message: ``docs/architecture.md``, Backpressure).

Also :class:`ReadyLatch`: a long-lived task reports ``started`` once, at its first healthy moment, and never again
across reconnects.
"""

from __future__ import annotations

import math

import trio

from ..._hotpath import WARM_PATH
from ...domain import OrderBook
from .._base import FeedState
from .._errors import VenueUnavailable


class FeedBook:
    """Book + :class:`FeedState` + change notification for one symbol of one venue session.

    Attributes:
        symbol (str): the venue's symbol.
        book (OrderBook): the live book (read-only to consumers).
    """

    __slots__ = ("symbol", "book", "_state", "_lot", "_mark", "_unmarked")

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.book = OrderBook(symbol)
        self._state = FeedState(False, trio.current_time(), -math.inf)
        self._lot = trio.lowlevel.ParkingLot()
        self._mark: tuple[str, float] | None = None  # (reason, since_s) while marked failed
        self._unmarked = trio.Event()
        self._unmarked.set()

    # ------------------------------------------------------------------ consumers
    def feed_state(self) -> FeedState:
        """The feed's health; disconnected (since the mark) while a watchdog has marked it failed."""
        mark = self._mark
        if mark is not None:
            return FeedState(False, mark[1], self._state.last_message_s)
        return self._state

    async def wait_change(self) -> None:
        """Return after the next applied message or change of validity."""
        await self._lot.park()

    # ------------------------------------------------------------------ the feed task
    def applied(self) -> None:
        """A message was applied to the book (the hot path: one state record, one wake-up). The feed is
        connected exactly when the book is valid."""
        now = trio.current_time()
        st = self._state
        valid = self.book.valid
        self._state = FeedState(valid, st.since_s if st.connected == valid else now, now)
        self._lot.unpark_all()
        WARM_PATH.after_book_work()  # book work evicts the hedge path: rehearse one if due (engine/_rehearse.py)

    def down(self, reason: str) -> None:
        """The connection is gone or the book cannot be trusted: the book turns invalid with ``reason`` (the
        mark's reason while marked), the feed disconnected; consumers wake."""
        self.book.invalidate(self._mark[0] if self._mark is not None else reason)
        st = self._state
        if st.connected:
            self._state = FeedState(False, trio.current_time(), st.last_message_s)
        self._lot.unpark_all()

    async def wait_unmarked(self) -> None:
        """Hold the feed task (book invalid with the mark's reason) while the feed is marked failed."""
        while self._mark is not None:
            self.down(self._mark[0])
            await self._unmarked.wait()

    # ------------------------------------------------------------------ watchdog
    @property
    def marked(self) -> bool:
        return self._mark is not None

    def mark_failed(self, reason: str) -> None:
        """Declare the feed failed for ``reason`` until :meth:`lift_mark`: the book turns invalid, the feed
        disconnected (the engine's feed-down guard acts on it). The symbol's feed task finds the book invalid at
        its next message and holds the symbol in :meth:`wait_unmarked` before it resyncs; the connection, which
        carries the venue's other symbols too, stays."""
        if self._mark is None:
            self._mark = (reason, trio.current_time())
            self._unmarked = trio.Event()
        self.book.invalidate(reason)
        self.down(reason)

    def lift_mark(self) -> bool:
        """Lift the mark; True if there was one. The feed task reconnects and resyncs."""
        if self._mark is None:
            return False
        self._mark = None
        self._unmarked.set()
        return True


class ReadyLatch:
    """Reports a task ``started`` at its first healthy moment, once (later reconnects do not report again)."""

    __slots__ = ("_task_status", "done")

    def __init__(self, task_status: trio.TaskStatus[None]) -> None:
        self._task_status = task_status
        self.done = False

    def __call__(self) -> None:
        if not self.done:
            self.done = True
            self._task_status.started()


class Resync(VenueUnavailable):
    """The local book cannot be trusted (a sequence gap, a crossed book, a malformed frame, no snapshot in time):
    resync it (a venue with REST snapshots fetches one on the same connection; one whose snapshot comes with the
    subscription reconnects)."""
