"""Fill priority: while a maker fill is on its way to its hedge, the market-data readers step aside.

Trio has no task priorities: every task made runnable joins the next batch of the run loop, and a batch runs in
an order the scheduler picks. A maker fill's path to its hedge order crosses two such hand-offs (the venue's
private-stream task -> the order tracker -> a hedge worker), and at each one the book readers of every venue
and symbol can run first, each step of theirs a frame decoded and applied (about 0.1-0.2 ms of CPU each on the
2-vCPU machines of docs/performance.md). With the gate, a book reader that finds a fill in flight yields at
once instead (one schedule point, a few microseconds) and decodes its frame in a later batch: the fill's tasks
run first, the book is late by at most :attr:`FillPriority.budget_ns`.

The gate opens when a venue delivers a maker fill (:meth:`FillPriority.mark`, called by
:class:`trio_hedge._streams.SymbolEventStreams` for every ``Fill`` with ``is_maker``: the quotes of this bot are
post-only, its hedges and unwinds are taker orders) and closes when the hedger has written the hedge's first
order frame or found nothing to hedge (:meth:`FillPriority.clear`), or by itself after the budget: a fill that
no hedger takes (an order this run did not send) never holds the readers back longer than that. One gate per
process (:data:`FILL_PRIORITY`): a fill of one market also gives way to another market's fill path, which costs
that market at most the budget.

While the gate is open the cyclic garbage collector waits too (``gc.disable()`` at the mark, ``gc.enable()`` when
the gate closes, by :meth:`FillPriority.clear` or when a book reader finds the budget spent): a collection
that the fill path's allocations would have triggered runs after the hedge's frame is out instead of inside
it. Reference counting frees memory as always; a collector the process had switched off stays off.

Measured in ``scripts/bench_tick_to_trade.py`` (docs/performance.md, section 3g).
"""

from __future__ import annotations

import gc
import itertools
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import trio
from loguru import logger

__all__ = ["DEFAULT_BUDGET_MS", "DEFAULT_WARM_PATH_MS", "FILL_PRIORITY", "WARM_PATH", "WARM_PATH_BUDGET_FACTOR",
           "FillPriority", "WarmPath"]

DEFAULT_BUDGET_MS = 2.0
"""How long a maker fill keeps the book readers stepping aside at most, ms (``engine.fill_priority_ms``)."""


class FillPriority:
    """The gate (see the module docstring). ``budget_ns`` 0 switches it off.

    Attributes:
        budget_ns (int): the longest a mark holds, ns (``time.perf_counter_ns`` clock).
        marks (int): maker fills that opened or renewed the gate.
        yields (int): schedule points the book readers took while it was open.
    """

    __slots__ = ("_gc_held", "_until_ns", "budget_ns", "marks", "yields")

    def __init__(self, budget_ms: float = DEFAULT_BUDGET_MS) -> None:
        self._until_ns = 0
        self._gc_held = False
        self.budget_ns = 0
        self.marks = 0
        self.yields = 0
        self.configure(budget_ms)

    def configure(self, budget_ms: float) -> None:
        """Set the budget, ms (0: off; the gate is closed now). Raises ValueError if negative or not finite."""
        if not (budget_ms >= 0 and budget_ms != float("inf")):
            raise ValueError(f"fill priority budget must be a finite number of ms >= 0, got {budget_ms!r}")
        self.budget_ns = int(budget_ms * 1_000_000)
        self.clear()

    def mark(self) -> None:
        """A maker fill was delivered: open the gate for the budget (renewed by each later fill)."""
        if self.budget_ns:
            self._until_ns = time.perf_counter_ns() + self.budget_ns
            self.marks += 1
            if not self._gc_held and gc.isenabled():
                gc.disable()
                self._gc_held = True

    def clear(self) -> None:
        """The fill path is done (the hedge's frame is written, or there is nothing to hedge): close the gate
        (and let the garbage collector run again if the mark held it)."""
        self._until_ns = 0
        if self._gc_held:
            self._gc_held = False
            gc.enable()

    @property
    def open(self) -> bool:
        """True while a marked fill's path may still be running (within the budget, not cleared)."""
        until = self._until_ns
        return bool(until) and time.perf_counter_ns() < until

    async def step_aside(self) -> None:
        """For a task off the fill path (a book reader): while the gate is open, yield a batch at a time;
        returns at once (no schedule point) when it is closed. Cancellable at each yield."""
        while self._until_ns:
            if time.perf_counter_ns() >= self._until_ns:
                self.clear()
                return
            self.yields += 1
            await trio.lowlevel.checkpoint()


FILL_PRIORITY = FillPriority()
"""The process's gate. ``run_bot`` sets its budget from ``engine.fill_priority_ms``."""


DEFAULT_WARM_PATH_MS = 1.0
"""The least time between two rehearsals of a hedge path while the hedgers wait for fills, ms
(``engine.warm_path_ms``; 0 = never)."""

WARM_PATH_BUDGET_FACTOR = 10
"""After a rehearsal that took ``t``, the next waits at least ``WARM_PATH_BUDGET_FACTOR * t``: the rehearsals take at
most about 1/11 of the process's time, whatever the book rates (a rehearsal costs ~0.1-0.5 ms here)."""


class WarmPath:
    """The process's rehearsals of the hedge path (``trio_hedge/engine/_rehearse.py``): the markets whose hedger
    waits for fills register one (:meth:`registered`), and the venues' feeds call :meth:`after_book_work` after
    applying a book message, which runs one registered rehearsal when one is due: for the whole process at most
    one every ``interval_s`` of real time and every :data:`WARM_PATH_BUDGET_FACTOR` times the last one's duration
    (the registered markets in turn), none while the fill-priority gate is open. Right after book work, because
    that work is what evicts the path from the CPU caches, and with no wake-up of its own (a wake-up of the run
    loop costs ~80 us of CPU here); the CPU it takes is bounded whatever the replay speed, book rates or number
    of markets.

    Attributes:
        interval_s (float): the least time between two rehearsals, s (0: none).
        rehearsals (int): hedge orders rehearsed in this process (handed to a hedge venue's ``rehearse_place``).
    """

    __slots__ = ("_entries", "_interval_ns", "_keys", "_next_ns", "_turn", "interval_s", "rehearsals")

    def __init__(self) -> None:
        self.interval_s = 0.0
        self.rehearsals = 0
        self._interval_ns = 0
        self._next_ns = 0
        self._turn = 0
        self._entries: dict[int, tuple[str, Callable[[], bool]]] = {}
        self._keys = itertools.count()

    def configure(self, interval_ms: float) -> None:
        """Set the interval, ms (0: off). Raises ValueError if negative or not finite."""
        if not (interval_ms >= 0 and interval_ms != float("inf")):
            raise ValueError(f"warm path interval must be a finite number of ms >= 0, got {interval_ms!r}")
        self.interval_s = interval_ms / 1000
        self._interval_ns = int(interval_ms * 1_000_000)
        self._next_ns = 0

    @contextmanager
    def registered(self, name: str, rehearse: Callable[[], bool]) -> Iterator[None]:
        """Register market ``name``'s rehearsal for the ``with`` block: ``rehearse()`` rehearses its hedge path
        once, returns whether it rehearsed an order, and raises what a rehearsal raises."""
        key = next(self._keys)
        self._entries[key] = (name, rehearse)
        try:
            yield
        finally:
            self._entries.pop(key, None)

    def names(self) -> list[str]:
        """The markets registered, oldest first."""
        return [name for name, _fn in self._entries.values()]

    def after_book_work(self) -> None:
        """A feed applied a book message: run one registered rehearsal if one is due (see the class docstring).
        A rehearsal that raises is logged and its market's registration dropped; never raises."""
        if not self._entries or not self._interval_ns:
            return
        now_ns = time.perf_counter_ns()
        if now_ns < self._next_ns or FILL_PRIORITY.open:
            return
        entries = list(self._entries.items())
        key, (name, rehearse) = entries[self._turn % len(entries)]
        self._turn += 1
        try:
            if rehearse():
                self.rehearsals += 1
        except Exception as exc:  # a rehearsal never fails a feed or a market; Cancelled cannot happen here
            self._entries.pop(key, None)
            logger.bind(tag="WARM_PATH").warning("{}: hedge path rehearsal failed, its rehearsals stop: {}: {}",
                                                 name, type(exc).__name__, str(exc)[:200])
        end_ns = time.perf_counter_ns()
        self._next_ns = end_ns + max(self._interval_ns, WARM_PATH_BUDGET_FACTOR * (end_ns - now_ns))


WARM_PATH = WarmPath()
"""The process's rehearsals: off until ``run_bot`` sets the interval from ``engine.warm_path_ms``."""
