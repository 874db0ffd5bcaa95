"""Keep the hedge path warm: rehearse it, all but the send, while the hedger waits for fills
(``engine.warm_path_ms``).

Why: a maker fill comes after seconds of other work (book frames decoded and applied, other processes on the
machine) that evicts the hedge path's code and data from the CPU caches, so every step of the path runs cold,
2-4x its warm cost. Measured on this project's machine (``scripts/bench_cold_path.py``, docs/performance.md
section 3i): building, signing and encoding one GRVT order takes ~40 us back to back, ~70 us after 1 ms of
allocation-heavy work and ~165 us after 20 ms of it. The low-latency field's answer is to run the whole path
often with a dummy order that is dropped just before the wire ("keep the cache warm": Carl Cook, "When a
Microsecond Is an Eternity: High Performance Trading Systems in C++", CppCon 2017).

While a hedger waits for fills (its hedge scope open) it registers its market's rehearsal
(:func:`hedge_rehearsal`, ``WARM_PATH.registered``); the venues' feeds run one registered rehearsal after applying
a book message when one is due (``WARM_PATH.after_book_work``: at most one every ``engine.warm_path_ms`` of real
time for the process, the markets in turn; none while a maker fill is on its way; a market's not while it takes
or routes a fill). A rehearsal of a market:

* the primary venue decodes the last fill frame its private stream carried (its ``rehearse_fill``, where it
  has one);
* the router analyzes the hedge book and builds the first slice's order (:meth:`HedgeRouter.rehearse`: nothing
  registered, claimed, counted or logged; one client order id for every rehearsal, drawn once, never sent);
* through a journaled venue, the order intent's transaction runs and is rolled back (nothing committed, nothing
  written to the WAL);
* the hedge venue signs and encodes the order (its ``rehearse_place``); the frame is not written.

The side alternates (the hedge of a primary BUY fill, then of a SELL). A rehearsal that raises is logged once
and that market's rehearsals stop; the market itself is not affected. Under a :class:`trio.testing.MockClock`
(tests, virtual-time replays) there is nothing to keep warm in real time and none runs.

Why after book work and one interval for the process: that work is what evicts the path, a rehearsal needs no
wake-up of its own (a wake-up of the run loop costs ~80 us of CPU here), and the CPU it takes is bounded whatever
the replay speed, the book rates and the number of markets. The versions measured first (a timer per market every
1 ms; a task per book woken by every change, at most every 1 ms per market) took 41 % and 18 % of a CPU at 1x, and
the second starved the bot of the embedded simulator at 10x; one timer for the process at 4 ms measured slower
(docs/performance.md, section 3i).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING

from ..domain import Side

if TYPE_CHECKING:
    from ..venues import Venue
    from ._router import HedgeRouter

__all__ = ["hedge_rehearsal"]


def hedge_rehearsal(router: HedgeRouter, primary: Venue, primary_symbol: str, size: Decimal,
                    idle: Callable[[], bool]) -> Callable[[], bool]:
    """One market's rehearsal: while ``idle()`` (no fill taken or routed), the primary decodes its last fill
    frame (``rehearse_fill``, where it has one) and the router rehearses the hedge of ``size`` (base units),
    the side alternating. The callable returns whether an order was rehearsed; it raises what those raise."""
    rehearse_fill: Callable[[str], None] | None = getattr(primary, "rehearse_fill", None)
    sides = itertools.cycle((Side.SELL, Side.BUY))

    def rehearse() -> bool:
        if not idle():
            return False
        if rehearse_fill is not None:
            rehearse_fill(primary_symbol)
        return router.rehearse(next(sides), size)

    return rehearse
