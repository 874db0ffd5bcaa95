"""One budget for the whole stop: the cleanup, the final reads of the venues, the journal's sync with them,
recording the run's exit and closing the journal (``[run] stop_budget_ms``).

The clock starts at the stop signal (:meth:`StopBudget.begin`; a run that ends on its own starts it when its
exit steps begin). Each exit step runs in a :meth:`StopBudget.phase`: a shielded cancel scope whose deadline is
the step's own bound and never later than the budget minus ``journal_close_s`` (kept for
:meth:`StopBudget.closing`), logged when it starts ("what it waits on") and when it is cut short.

Signals (``app/_run.py`` signal watcher): the first starts the graceful stop; the second
(:meth:`StopBudget.hurry`) cuts every wait still running or to come to ``second_signal_wait_s`` (the exit code
still tells the truth: flat after the cleanup is exit 0, recorded); the third (:meth:`StopBudget.hard_stop`)
cancels every phase and, when a ``hard_exit`` is given (the CLI), ends the process one second later whatever
it is doing. The same hard exit fires when the stop runs past its budget (plus one second): a timer thread, so
a loop stuck in a blocking call cannot hold it up.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import trio
from loguru import logger

HARD_STOP_GRACE_S = 1.0
"""After a third signal, or past the budget, how long the run still gets before the hard exit, seconds."""


class StopBudget:
    """The stop's clock and the scopes of its phases.

    Args:
        budget_s: the whole stop, seconds.
        journal_close_s: the budget's tail kept for recording the exit and closing the journal, seconds.
        hurry_s: every wait's bound after a second signal, seconds.
        hard_exit: called (from a timer thread) with a reason when the run must end now; None: never.
    """

    def __init__(self, budget_s: float, journal_close_s: float, hurry_s: float,
                 hard_exit: Callable[[str], None] | None = None) -> None:
        self.budget_s = budget_s
        self.journal_close_s = journal_close_s
        self.hurry_s = hurry_s
        self.started_at: float | None = None
        self.started_wall: float | None = None
        self.hurried = False
        self.hard = False
        self._scopes: set[trio.CancelScope] = set()
        self._hard_exit = hard_exit
        self._timer: threading.Timer | None = None
        self._log = logger.bind(tag="STOP")

    def begin(self, why: str) -> None:
        """Start the clock (once; later calls are no-ops) and arm the hard exit at the end of the budget."""
        if self.started_at is not None:
            return
        self.started_at = trio.current_time()
        self.started_wall = time.monotonic()
        self._log.info("stop: {}; budget {:.1f}s for the cleanup, the final reads and the journal close", why,
                       self.budget_s)
        self._arm(self.budget_s + HARD_STOP_GRACE_S, f"the stop passed its {self.budget_s:.1f}s budget")

    def _arm(self, after_s: float, reason: str) -> None:
        if self._hard_exit is None:
            return
        if self._timer is not None:
            self._timer.cancel()
        hard_exit = self._hard_exit
        self._timer = threading.Timer(after_s, lambda: hard_exit(reason))
        self._timer.daemon = True
        self._timer.start()

    def disarm(self) -> None:
        """The run is over: no hard exit."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _end(self, tail_s: float) -> float:
        start = trio.current_time() if self.started_at is None else self.started_at
        return start + self.budget_s - tail_s

    def journal_bound_s(self, *, closing: bool = False) -> float:
        """How long the journal calls of an exit step may still wait, seconds of wall clock: the budget left
        (before the journal-close tail unless ``closing``), at most ``hurry_s`` after a second signal, 0 after a
        hard stop. Wall clock (``AsyncJournal.bound_calls``): a journal call waits on a thread, and a test's
        virtual clock would jump to a trio deadline while the thread writes."""
        if self.hard:
            return 0.0
        start = time.monotonic() if self.started_wall is None else self.started_wall
        left = max(0.0, start + self.budget_s - (0.0 if closing else self.journal_close_s) - time.monotonic())
        return min(left, self.hurry_s) if self.hurried else left

    @contextmanager
    def phase(self, what: str, limit_s: float | None, *, closing: bool = False) -> Iterator[trio.CancelScope]:
        """A shielded scope for one exit step that waits at most ``limit_s`` (less after a second signal) and
        ends before the budget's journal-close tail (``closing``: before the budget's end). ``limit_s`` None:
        no trio deadline (a step of journal calls, bounded by :meth:`journal_bound_s` instead, and of venue
        waits each bounded by its own ``move_on_after``)."""
        self.begin(f"exit steps ({what})")
        now = trio.current_time()
        deadline = math.inf
        bound = "its bound"
        if limit_s is not None:
            if self.hurried:
                limit_s = min(limit_s, self.hurry_s)
            end = self._end(0.0 if closing else self.journal_close_s)
            deadline = min(now + limit_s, end)
            bound = "the stop budget" if deadline == end else "its bound"
        if self.hard:
            deadline = now
        scope = trio.CancelScope(shield=True, deadline=deadline)
        if limit_s is None:
            self._log.info("stop: {} (journal calls bounded to {:.1f}s)", what, self.journal_bound_s(closing=closing))
        else:
            self._log.info("stop: {} (waits up to {:.1f}s)", what, max(0.0, deadline - now))
        self._scopes.add(scope)
        try:
            with scope:
                yield scope
        finally:
            self._scopes.discard(scope)
        if scope.cancelled_caught:
            self._log.warning("stop: {} cut short after {:.1f}s ({})", what, trio.current_time() - now,
                              "hard stop" if self.hard else "second signal" if self.hurried else bound)

    @contextmanager
    def closing(self, what: str) -> Iterator[trio.CancelScope]:
        """The phase that records the exit and closes the journal: up to ``journal_close_s``, before the end."""
        with self.phase(what, None, closing=True) as scope:
            yield scope

    def hurry(self) -> None:
        """A second signal: every wait still running, and every one to come, is cut to ``hurry_s``."""
        self.hurried = True
        now = trio.current_time()
        for scope in self._scopes:
            scope.deadline = min(scope.deadline, now + self.hurry_s)
        self._log.error("second signal: every remaining wait of the stop cut to {:.1f}s (a third signal is the "
                        "hard stop)", self.hurry_s)

    def hard_stop(self, reason: str) -> None:
        """A third signal: cancel every phase now; the process ends ``HARD_STOP_GRACE_S`` later at the latest."""
        self.hard = True
        for scope in self._scopes:
            scope.cancel()
        self._log.error("hard stop ({}): every wait cancelled; exit within {:.0f}s", reason, HARD_STOP_GRACE_S)
        self._arm(HARD_STOP_GRACE_S, reason)

    @property
    def remaining_s(self) -> float:
        """What is left of the budget (all of it before :meth:`begin`), seconds."""
        if self.started_at is None:
            return self.budget_s
        return max(0.0, self.started_at + self.budget_s - trio.current_time())

