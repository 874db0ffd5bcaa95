"""Keep the hedge path warm: rehearse it, all but the send, while the hedger waits for fills
(``engine.warm_path_ms``).

Why: a maker fill comes after seconds of other work (book frames decoded and applied, other processes on the
machine) that evicts the hedge path's code and data from the CPU caches, so every step of the path runs cold,
2-4x its warm cost. Measured on this project's machine (``scripts/bench_cold_path.py``, docs/performance.md
section 3i): building, signing and encoding one GRVT order takes ~40 us back to back, ~70 us after 1 ms of
allocation-heavy work and ~165 us after 20 ms of it. The low-latency field's answer is to run the whole path
often with a dummy order that is dropped just before the wire ("keep the cache warm": Carl Cook, "When a
Microsecond Is an Eternity: High Performance Trading Systems in C++", CppCon 2017).

A rehearsal (:func:`rehearse_hedges`) follows a change of the market's books (either venue's), at most every
``WARM_PATH.interval_s`` of real time and at least every :data:`QUIET_S` while they are quiet, while the hedge
scope is open, no route is in flight and no maker fill is on its way (``FILL_PRIORITY`` closed):

* the primary venue decodes the last fill frame its private stream carried (its ``rehearse_fill``, where it
  has one);
* the router analyzes the hedge book and builds the first slice's order (:meth:`HedgeRouter.rehearse`: nothing
  registered, claimed, counted or logged; one client order id for every rehearsal, drawn once, never sent);
* through a journaled venue, the order intent's transaction runs and is rolled back (nothing committed, nothing
  written to the WAL);
* the hedge venue signs and encodes the order (its ``rehearse_place``); the frame is not written.

The side alternates (the hedge of a primary BUY fill, then of a SELL). A rehearsal that raises is logged once
and rehearsals stop; the market is not affected. Under a :class:`trio.testing.MockClock` (tests, virtual-time
replays) there is nothing to keep warm in real time and none runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING

import trio
import trio.testing
from loguru import logger

from .._hotpath import FILL_PRIORITY, WARM_PATH
from ..domain import Side

if TYPE_CHECKING:
    from ..venues import Venue
    from ._router import HedgeRouter

__all__ = ["rehearse_hedges"]


QUIET_S = 0.02
"""The longest the path goes unrehearsed while the books are quiet, s."""


async def rehearse_hedges(router: HedgeRouter, primary: Venue, primary_symbol: str, size: Decimal,
                          idle: Callable[[], bool]) -> None:
    """Rehearse the hedge path (see the module docstring) after the market's books change, at most every
    ``WARM_PATH.interval_s`` and at least every :data:`QUIET_S` (when the books are quiet), until cancelled.

    Why after a book change: applying a book frame is the work that evicts the path between two fills on a bot
    with a CPU of its own, so a rehearsal right after it leaves the path warm for a fill that follows; a timer
    every millisecond instead costs a wake-up of the run loop each time (about 80 us of CPU here): it measured
    the same p50 within a run's noise at more than twice the CPU (docs/performance.md, section 3i).

    Args:
        router: the hedge router (its venue: the hedge venue, journaled or not).
        primary: the primary venue (its ``rehearse_fill(symbol)`` decodes a fill frame, where it has one).
        primary_symbol: the primary's symbol.
        size: the hedge size rehearsed, base units (the quote size).
        idle: True when no hedge is being taken or routed (a rehearsal would delay it).

    Returns at once when the interval is 0 or the clock is a MockClock; never raises but Cancelled.
    """
    interval_ns = int(WARM_PATH.interval_s * 1e9)
    if not interval_ns or isinstance(trio.lowlevel.current_clock(), trio.testing.MockClock):
        return
    rehearse_fill: Callable[[str], None] | None = getattr(primary, "rehearse_fill", None)
    sides = (Side.SELL, Side.BUY)
    state = [0, 0]  # the last rehearsal's time.perf_counter_ns(), the next side's index

    def rehearse() -> None:
        """One rehearsal if it is due and nothing is on its way. Raises what a rehearsal raises."""
        now_ns = time.perf_counter_ns()
        if now_ns - state[0] < interval_ns or FILL_PRIORITY.open or not idle():
            return
        state[0] = now_ns
        if rehearse_fill is not None:
            rehearse_fill(primary_symbol)
        if router.rehearse(sides[state[1]], size):
            WARM_PATH.rehearsals += 1
        state[1] ^= 1

    async def after_changes(venue: Venue, symbol: str, stop: trio.CancelScope) -> None:
        try:
            while True:
                with trio.move_on_after(QUIET_S):
                    await venue.wait_book_change(symbol)
                rehearse()
        except Exception as exc:  # the rehearsals never fail the market; Cancelled is not an Exception
            logger.bind(tag="WARM_PATH").warning("hedge path rehearsal failed, rehearsals stop: {}: {}",
                                                 type(exc).__name__, str(exc)[:200])
            stop.cancel()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(after_changes, router.venue, router.symbol, nursery.cancel_scope)
        nursery.start_soon(after_changes, primary, primary_symbol, nursery.cancel_scope)
