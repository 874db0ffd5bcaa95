"""The private-stream watchdog, for venues without cancel-on-disconnect (Backpack: its API has no such call; GRVT
arms ``cancel_on_disconnect`` instead).

When the private stream (its connection or its heartbeat) has given no sign of life (a subscription, a frame, a
pong: :meth:`PrivateWatchdog.alive`) for longer than the budget, the session is blind to its own orders, so the
watchdog cancels its resting orders itself over REST (``cancel_all`` per symbol) and confirms with
``open_orders`` that none is left. Until the stream shows life again the session is :attr:`~PrivateWatchdog.blind`
(the adapter refuses new *resting* orders; takers still go out: the engine's flatten path needs them). If the
cancel cannot be confirmed (REST fails too), the symbol's feed is marked failed
(:meth:`~trio_hedge.venues._kernel.FeedBook.mark_failed`: book invalid with the reason, feed disconnected), so the
engine's risk guard fails the market once the feed has been down past its budget; an error is logged. The cancel
is retried every budget; a confirmed cancel lifts the mark.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import trio

from .._base import OrderReport
from .._errors import VenueError
from ._feed import FeedBook

if TYPE_CHECKING:
    from loguru import Logger


class PrivateWatchdog:
    """See the module docstring.

    Args:
        venue: venue name (logs, reasons). feeds: the session's feed books by symbol.
        budget_s: silence allowed, seconds. cancel_all, open_orders: the venue's REST calls.
        log: the adapter's logger.
    """

    def __init__(
        self,
        venue: str,
        feeds: Mapping[str, FeedBook],
        *,
        budget_s: float,
        cancel_all: Callable[[str], Awaitable[int]],
        open_orders: Callable[[str], Awaitable[Sequence[OrderReport]]],
        log: Logger,
    ) -> None:
        self._venue = venue
        self._feeds = feeds
        self._budget_s = budget_s
        self._cancel_all = cancel_all
        self._open_orders = open_orders
        self._log = log
        self.last_alive_s = trio.current_time()
        self._alive = trio.Event()
        self.blind = False

    @property
    def down_reason(self) -> str | None:
        """Why the session is down as a whole while :attr:`blind` (the adapter's ``session_down``), else None."""
        return f"{self._venue} private stream silent past its {self._budget_s:g}s budget" if self.blind else None

    def alive(self) -> None:
        """The private stream showed life (subscribed, a frame, a pong): the watchdog's clock restarts."""
        self.last_alive_s = trio.current_time()
        self._alive.set()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Watch until cancelled (module docstring)."""
        budget_s = self._budget_s
        task_status.started()
        while True:
            await trio.sleep_until(self.last_alive_s + budget_s)
            silent_s = trio.current_time() - self.last_alive_s
            if silent_s < budget_s:
                continue  # a sign of life came meanwhile
            alive = self._alive = trio.Event()  # set by the next sign of life
            self.blind = True
            self._log.warning(
                "private stream silent for {:.2f}s (budget {}s) and {} has no cancel-on-disconnect: "
                "cancelling resting orders over REST", silent_s, budget_s, self._venue,
            )  # fmt: skip
            pending = await self._protective_cancel(list(self._feeds))
            while pending:
                await trio.sleep(budget_s)
                pending = await self._protective_cancel(pending)
            await alive.wait()  # watch again once the stream shows life (a new subscription or a pong)
            self.blind = False

    async def _protective_cancel(self, symbols: list[str]) -> list[str]:
        """Cancel all and confirm none is left, per symbol; mark failures, lift marks on success. Returns the
        symbols that could not be confirmed."""
        failed: list[str] = []
        for symbol in symbols:
            feed = self._feeds[symbol]
            try:
                cancelled = await self._cancel_all(symbol)
                left = await self._open_orders(symbol)
            except VenueError as exc:
                reason = (f"{self._venue} private stream lost and resting orders could not be cancelled over REST: "
                          f"{str(exc)[:200]}")  # fmt: skip
                failed.append(symbol)
                if not feed.marked:
                    self._log.error("{} {}: {}; marking the feed down", self._venue, symbol, reason)
                feed.mark_failed(reason)
                continue
            if left:
                reason = f"{self._venue} private stream lost and {len(left)} order(s) still rest after cancel all"
                failed.append(symbol)
                self._log.error("{} {}: {}; marking the feed down", self._venue, symbol, reason)
                feed.mark_failed(reason)
                continue
            self._log.warning("{}: cancelled {} resting order(s); none left", symbol, cancelled)
            if feed.lift_mark():
                self._log.warning("{}: resting orders confirmed cancelled; feed mark lifted", symbol)
        return failed
