"""The market scope: one per configured market, running hedger, verifiers and risk guard in a nursery of
its own, with a shielded, bounded cancel-and-flatten cleanup on every way out.

Task tree::

    market scope (nursery)
    ├── primary tracker    private stream of the primary symbol → orders, fills → hedger inbox
    ├── hedge tracker      private stream of the hedge symbol → orders, fills
    ├── risk guard         feed health, book staleness, |primary + hedge| imbalance; raises to fail
    ├── stop watcher       a graceful stop request cancels the scope (then cleanup flattens)
    └── hedger             the cycles; cancels the scope when done

On the way out (normal end, failure, stop or outer cancellation) the cleanup runs under
``move_on_after(cleanup_deadline_s, shield=True)``: cancel every resting order on both legs, then flatten
both positions with reduce-only market orders and read them back.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import trio
from loguru import logger

from ..domain import ZERO
from ..venues import Venue, VenueError
from ._errors import BookStale, EngineError, FeedDown, ImbalanceExceeded, MarketFailed
from ._flatten import FlattenResult, flatten_all
from ._hedger import Hedger
from ._settings import MarketSettings, MarketStats
from ._tracker import OrderTracker


@dataclass(slots=True)
class MarketOutcome:
    """How a market scope ended.

    Attributes:
        failure (EngineError | None): why it failed, or None for a normal end or a requested stop.
        stopped (bool): a graceful stop was requested before the cycles were done.
        flatten (list[FlattenResult]): the cleanup's result per leg (empty if cleanup timed out).
        cleanup_timed_out (bool): the cleanup hit its deadline.
    """

    failure: EngineError | None = None
    stopped: bool = False
    flatten: list[FlattenResult] = field(default_factory=list)
    cleanup_timed_out: bool = False

    @property
    def flat(self) -> bool:
        return bool(self.flatten) and all(r.flat for r in self.flatten)


async def run_risk_guard(
    settings: MarketSettings,
    legs: list[tuple[Venue, str]],
    trackers: list[OrderTracker],
    stats: MarketStats,
) -> None:
    """Check feed health, staleness and imbalance every ``risk_check_interval_s``; raise to fail the market.

    Raises:
        FeedDown: a feed disconnected or its book invalid for longer than ``feed_down_budget_s``.
        BookStale: a connected feed silent for longer than ``book_stale_s``.
        ImbalanceExceeded: |sum of fills on both legs| > ``imbalance_tolerance`` for ``imbalance_grace_s``.
    """
    imbalance_since: float | None = None
    while True:
        await trio.sleep(settings.risk_check_interval_s)
        now = trio.current_time()
        for venue, symbol in legs:
            fs = venue.feed_state(symbol)
            if not fs.connected:
                down_s = now - fs.since_s
                if down_s > settings.feed_down_budget_s:
                    raise FeedDown(
                        f"{venue.name} {symbol} market-data feed down for {down_s:.2f}s "
                        f"(budget {settings.feed_down_budget_s}s): {venue.book(symbol).invalid_reason}"
                    )
            elif now - fs.last_message_s > settings.book_stale_s:
                raise BookStale(
                    f"{venue.name} {symbol} book stale: no update for {now - fs.last_message_s:.2f}s "
                    f"(deadline {settings.book_stale_s}s)"
                )
        net = sum((t.net_filled for t in trackers), ZERO)
        if abs(net) > stats.max_abs_net_exposure:
            stats.max_abs_net_exposure = abs(net)
        if abs(net) > settings.imbalance_tolerance:
            if imbalance_since is None:
                imbalance_since = now
            elif now - imbalance_since > settings.imbalance_grace_s:
                raise ImbalanceExceeded(
                    f"net exposure {net} beyond tolerance {settings.imbalance_tolerance} for "
                    f"{now - imbalance_since:.2f}s"
                )
        else:
            imbalance_since = None


def _first(eg: BaseExceptionGroup[Exception]) -> Exception:
    exc: BaseException = eg
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    assert isinstance(exc, Exception)
    return exc


async def run_market(
    settings: MarketSettings,
    primary: Venue,
    hedge: Venue,
    stats: MarketStats,
    stop: trio.Event,
) -> MarketOutcome:
    """Run one market to its end and clean up. Never raises a :class:`MarketFailed`: it is returned in
    the outcome after cleanup. Bugs (any other exception) and outer cancellation propagate, after cleanup.
    """
    log = logger.bind(tag=f"{settings.name}_MARKET")
    ptrack = OrderTracker(primary, settings.primary_symbol, inbox_capacity=settings.inbox_capacity)
    htrack = OrderTracker(hedge, settings.hedge_symbol, inbox_capacity=settings.inbox_capacity)
    hedger = Hedger(settings, primary, hedge, ptrack, htrack, stats, stop)
    legs = [(primary, settings.primary_symbol), (hedge, settings.hedge_symbol)]
    outcome = MarketOutcome()
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(ptrack.run)
            await nursery.start(htrack.run)
            nursery.start_soon(run_risk_guard, settings, legs, [ptrack, htrack], stats)

            async def stop_watcher() -> None:
                await stop.wait()
                outcome.stopped = True
                log.warning("stop requested: cancelling the market, then flattening")
                nursery.cancel_scope.cancel()

            async def hedger_task() -> None:
                await hedger.run()
                nursery.cancel_scope.cancel()

            nursery.start_soon(stop_watcher)
            nursery.start_soon(hedger_task)
    except* MarketFailed as eg:
        outcome.failure = _first(eg)  # type: ignore[assignment]
    except* VenueError as eg:
        exc = _first(eg)
        outcome.failure = MarketFailed(f"unhandled venue error: {exc}")
    finally:
        if outcome.failure is not None:
            log.error("market failed: {}: {}", type(outcome.failure).__name__, outcome.failure)
            if stats.cycles and stats.cycles[-1].outcome == "running":
                stats.cycles[-1].outcome = f"failed: {type(outcome.failure).__name__}"
                stats.cycles_failed += 1
        elif stats.cycles and stats.cycles[-1].outcome == "running":
            stats.cycles[-1].outcome = "interrupted"
        with trio.move_on_after(settings.cleanup_deadline_s, shield=True) as cleanup:
            log.info("cleanup: cancel resting orders and flatten both legs")
            outcome.flatten = await flatten_all(legs, reason="flatten")
        outcome.cleanup_timed_out = cleanup.cancelled_caught
        if outcome.cleanup_timed_out:
            log.error("cleanup hit its {}s deadline", settings.cleanup_deadline_s)
        for r in outcome.flatten:
            log.info("cleanup {} {}: cancelled {}, flatten orders {}, final position {}", r.venue, r.symbol,
                     r.cancelled, r.orders_sent, r.final_position)
    return outcome
