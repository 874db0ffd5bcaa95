"""The market scope: one per configured market, running hedger, verifiers and risk engine in a nursery of
its own, with a shielded, bounded cancel-and-flatten cleanup on every way out.

Task tree::

    market scope (nursery)
    ├── primary tracker    private stream of the primary symbol → orders, fills → hedger inbox; each new fill
    │                      also goes (synchronously) to the risk engine
    ├── hedge tracker      private stream of the hedge symbol → orders, fills → risk engine
    ├── risk engine        imbalance watchdog (woken by fills; grace deadline), feed health and PnL mark
    │                      every risk_check_interval_s; raises to fail (HALTED)
    ├── stop watcher       a graceful stop request: REDUCING, then cancels the scope (then cleanup flattens)
    ├── position checker   every position_check_interval_s: each venue's own position vs the one tracked from
    │                      its fills; a drift beyond one lot (still there event_grace_s later) raises
    │                      PositionDrift (the cleanup then flattens from the venue's position)
    └── hedger             the cycles; cancels the scope when done

Rate limits: when the market's settings carry a budget for a leg (``primary_rate_limit`` /
``hedge_rate_limit``), that leg's venue is wrapped in a :class:`~trio_hedge.engine.RateLimitedVenue` here
(unless it already is: an app with several markets on one venue account wraps each venue once with
:func:`~trio_hedge.engine.wrap_rate_limited` and passes the wrapped venue to every market, so they share one
bucket). The cleanup runs on the buckets' priority lane.

On the way out (normal end, failure, stop or outer cancellation) the cleanup runs under
``move_on_after(cleanup_deadline_s, shield=True)``: cancel every resting order on both legs, then flatten
both positions with reduce-only market orders and read them back. A failure is recorded as the market's
transition to HALTED (with its reason) before the cleanup.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import trio
from loguru import logger

from ..domain import TrioHedgeError, leaves
from ..venues import Venue, VenueError
from ._errors import MarketFailed, PositionDrift
from ._flatten import FlattenResult, flatten_all, read_position
from ._hedger import Hedger
from ._journaled import Recorder
from ._portfolio import PortfolioGuard
from ._ratelimit import RateLimitedVenue, urgent, wrap_rate_limited
from ._risk import PauseSwitch, RiskEngine
from ._settings import MarketSettings, MarketStats, StateTransition, TradingState
from ._tracker import OrderTracker

if TYPE_CHECKING:
    from loguru import Logger


@dataclass(slots=True)
class MarketOutcome:
    """How a market scope ended.

    Attributes:
        failure (Exception | None): why it failed, or None for a normal end or a requested stop: the one
            failure, or when several tasks failed at once the first bug among them (any exception that is not
            a :class:`~trio_hedge.domain.TrioHedgeError`: a bug wins over expected failures), else the first.
        failures (list[Exception]): every failure (several when tasks failed in the same instant; then each
            is logged with its traceback, as is any bug); a venue error that escaped every handler appears as
            a MarketFailed.
        stopped (bool): a graceful stop was requested before the cycles were done.
        flatten (list[FlattenResult]): the cleanup's result per leg (empty if cleanup timed out).
        cleanup_timed_out (bool): the cleanup hit its deadline.
    """

    failure: Exception | None = None
    failures: list[Exception] = field(default_factory=list)
    stopped: bool = False
    flatten: list[FlattenResult] = field(default_factory=list)
    cleanup_timed_out: bool = False

    @property
    def flat(self) -> bool:
        return bool(self.flatten) and all(r.flat for r in self.flatten)

    @property
    def bug(self) -> Exception | None:
        """The first failure that is not a :class:`~trio_hedge.domain.TrioHedgeError`, if any."""
        return next((e for e in self.failures if not isinstance(e, TrioHedgeError)), None)

    def record(self, eg: ExceptionGroup[Exception], log: Logger) -> None:
        """Keep the failures of the market scope's task group ``eg`` (the rule of
        :func:`~trio_hedge.domain.sole_failure`: one failure stands for itself; several are all kept and
        each is logged with its traceback, as is any bug)."""
        found = [MarketFailed(f"unhandled venue error: {e}") if isinstance(e, VenueError) else e
                 for e in leaves(eg) if isinstance(e, Exception)]
        several = len(found) > 1
        for e in found:
            if several or not isinstance(e, TrioHedgeError):
                log.opt(exception=e).error("market task failed{}: {}: {}", " (one of several)" if several else "",
                                           type(e).__name__, e)
        self.failures.extend(found)
        self.failure = self.bug or (self.failures[0] if self.failures else None)


async def run_risk_guard(
    settings: MarketSettings,
    legs: list[tuple[Venue, str]],
    trackers: list[OrderTracker],
    stats: MarketStats,
) -> None:
    """A :class:`RiskEngine` over ``legs[0]`` (primary) and ``legs[1]`` (hedge), hooked to the fill paths of
    ``trackers[0]`` and ``trackers[1]``, run until it fails the market (kept for callers of the old poller;
    :func:`run_market` wires the engine itself).

    Raises:
        FeedDown, BookStale: feed health (every ``risk_check_interval_s``).
        ImbalanceExceeded: |primary + hedge| fills beyond ``imbalance_tolerance`` for ``imbalance_grace_s``,
            checked from the fills as they arrive.
        LossLimitHit: the loss kill switch.
    """
    risk = RiskEngine(settings, stats, legs[0][0], legs[1][0])
    trackers[0].add_fill_listener(risk.on_primary_fill)
    trackers[1].add_fill_listener(risk.on_hedge_fill)
    await risk.run()


async def check_positions(settings: MarketSettings, risk: RiskEngine, legs: list[tuple[Venue, str]]) -> None:
    """Every ``position_check_interval_s``: read each leg's position from its venue and compare it with the
    one the risk engine tracks from the leg's fills. A difference beyond the venue's lot that is still there,
    unchanged, ``event_grace_s`` later (or the legs' ``event_delay_s`` when longer: a venue whose orders are
    polled delivers a fill up to a poll interval late) raises :class:`PositionDrift`: every fill made before the
    first read has arrived by then. A difference that changed between the two reads (a fill in flight at each
    read, e.g. the next cycle's) is read again at the next interval. A read that fails is logged and tried at
    the next interval (the feed and order paths have their own budgets). Returns at once when the interval is 0
    (disabled).

    Raises:
        PositionDrift: a venue's position and the tracked one differ by more than one lot.
    """
    if settings.position_check_interval_s <= 0:
        return
    log = logger.bind(tag=f"{settings.name}_POSITIONS")
    books = [risk.primary, risk.hedge]
    # a venue may say how late its events can be (the ccxt venue with its orders polled); wrappers forward it
    delays_s = [getattr(venue, "event_delay_s", 0.0) for venue, _symbol in legs]
    grace_s = max([settings.event_grace_s, *(d for d in delays_s if isinstance(d, int | float))])

    async def drifts() -> list[str]:
        out: list[str] = []
        for (venue, symbol), book in zip(legs, books, strict=True):
            got = await read_position(venue, symbol, policy=settings.retry)
            if got is None:
                continue
            lot = venue.instrument(symbol).lot_size
            if abs(got - book.position) > lot:
                out.append(f"{venue.name} {symbol} reports {got}, fills say {book.position} (lot {lot})")
        return out

    while True:
        await trio.sleep(settings.position_check_interval_s)
        first = await drifts()
        if not first:
            continue
        await trio.sleep(grace_s)
        found = await drifts()
        if found and found == first:
            log.error("position drift: {}", "; ".join(found))
            raise PositionDrift("position drift: " + "; ".join(found))


async def run_market(
    settings: MarketSettings,
    primary: Venue,
    hedge: Venue,
    stats: MarketStats,
    stop: trio.Event,
    *,
    recorder: Recorder | None = None,
    pause: PauseSwitch | None = None,
    portfolio: PortfolioGuard | None = None,
) -> MarketOutcome:
    """Run one market to its end and clean up. Never raises an exception of its tasks: each is returned
    in the outcome after cleanup (``failures``; ``failure`` is the bug among them if any, so a bug wins over
    expected failures in the exit code), and each bug is logged with its traceback. Outer cancellation (and
    ``KeyboardInterrupt``) propagate, after cleanup.

    ``recorder`` (the journal) records each cycle's start and end, a cycle cut short included (after the
    cleanup, shielded), and every trading-state change as a ``state`` event (JSON ``{market, from, to,
    reason}``). Order intents are recorded by the venues themselves when they are
    :class:`~trio_hedge.engine.JournaledVenue`. ``pause`` (the operator's switch) pauses and resumes the
    market's risk engine: see :meth:`RiskEngine.pause`. ``portfolio`` (the run's guard across markets,
    ``engine/_portfolio.py``) gets the market's risk engine: the total notional holds its quotes back, the total
    loss and a venue-wide failure halt it.
    """
    log = logger.bind(tag=f"{settings.name}_MARKET")
    stats.cycle_mode = settings.cycle_mode
    primary = wrap_rate_limited(primary, settings.primary_rate_limit)
    hedge = wrap_rate_limited(hedge, settings.hedge_rate_limit)
    for v in (primary, hedge):
        if isinstance(v, RateLimitedVenue):
            stats.rate_limits[v.name] = v.bucket.stats
    risk = RiskEngine(settings, stats, primary, hedge)
    if recorder is not None:
        rec = recorder

        def journal_transition(t: StateTransition) -> None:
            rec.post_note("state", json.dumps({"market": settings.name, "from": t.from_state.value,
                                               "to": t.to_state.value, "reason": t.reason}))

        risk.add_transition_listener(journal_transition)
    if pause is not None:
        pause.attach(risk)
    if portfolio is not None:
        portfolio.attach(settings.name, risk)
    ptrack = OrderTracker(primary, settings.primary_symbol, inbox_capacity=settings.inbox_capacity,
                          on_fill=risk.on_primary_fill)
    htrack = OrderTracker(hedge, settings.hedge_symbol, inbox_capacity=settings.inbox_capacity,
                          on_fill=risk.on_hedge_fill)
    hedger = Hedger(settings, primary, hedge, ptrack, htrack, stats, stop, risk=risk, recorder=recorder,
                    max_hedges_in_flight=settings.max_hedges_in_flight)
    legs = [(primary, settings.primary_symbol), (hedge, settings.hedge_symbol)]
    outcome = MarketOutcome()
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(ptrack.run)
            await nursery.start(htrack.run)
            await nursery.start(risk.run)

            async def stop_watcher() -> None:
                await stop.wait()
                outcome.stopped = True
                risk.transition(TradingState.REDUCING, "stop requested: no new quotes; cancel and flatten")
                log.warning("stop requested: cancelling the market, then flattening")
                nursery.cancel_scope.cancel()

            async def hedger_task() -> None:
                await hedger.run()
                nursery.cancel_scope.cancel()

            nursery.start_soon(stop_watcher)
            nursery.start_soon(check_positions, settings, risk, legs)
            nursery.start_soon(hedger_task)
    except* Exception as eg:  # a task boundary: every failure is kept (outer cancellation propagates)
        outcome.record(eg, log)
    finally:
        if outcome.failure is not None:
            risk.note_failure(outcome.failure)
            log.error("market failed: {}: {}", type(outcome.failure).__name__, outcome.failure)
            if stats.cycles and stats.cycles[-1].outcome == "running":
                stats.cycles[-1].outcome = f"failed: {type(outcome.failure).__name__}"
                stats.cycles_failed += 1
        elif stats.cycles and stats.cycles[-1].outcome == "running":
            stats.cycles[-1].outcome = "interrupted"
        with trio.move_on_after(settings.cleanup_deadline_s, shield=True) as cleanup:
            log.info("cleanup: cancel resting orders and flatten both legs")
            outcome.flatten = await flatten_all([(urgent(v), sym) for v, sym in legs], reason="flatten",
                                                policy=settings.retry)
        outcome.cleanup_timed_out = cleanup.cancelled_caught
        if outcome.cleanup_timed_out:
            log.error("cleanup hit its {}s deadline", settings.cleanup_deadline_s)
        for r in outcome.flatten:
            log.info("cleanup {} {}: cancelled {}, flatten orders {}, final position {}", r.venue, r.symbol,
                     r.cancelled, r.orders_sent, r.final_position)
        if outcome.failure is not None:
            stats.exit_reason = f"halted: {type(outcome.failure).__name__}: {outcome.failure}"
        elif outcome.stopped:
            stats.exit_reason = f"stopped after {stats.cycles_completed} cycles"
        else:
            stats.exit_reason = f"completed {stats.cycles_completed} cycles"
        if not outcome.flat:
            stats.exit_reason += "; NOT flat after the cleanup" + (" (deadline hit)" if outcome.cleanup_timed_out
                                                                  else "")
        if pause is not None:
            pause.detach(risk)
        if portfolio is not None:
            portfolio.done(settings.name)
        if stats.cycles and recorder is not None:  # a no-op when the hedger recorded its end already
            last = stats.cycles[-1]
            # One journal write, shielded so that the market's own cancellation does not skip it, with no trio
            # timer: the recorder's journal bounds it by wall clock (app/_journal/_async.py: journal.call_bound_ms
            # per call, or the exit path's earlier AsyncJournal.bound_calls; past it JournalTimeout puts the
            # journal down and the next start's reconciliation ends the cycle). A trio deadline here would bound
            # nothing: a queued journal job is never abandoned on cancel, and under a test's autojump clock
            # virtual time would jump to it while the thread writes.
            with trio.CancelScope(shield=True):
                await recorder.cycle_ended(settings.name, last.index, last.outcome,
                                           f"maker {last.maker_filled}, hedge {last.hedge_filled}; flat "
                                           f"{outcome.flat}")
    return outcome
