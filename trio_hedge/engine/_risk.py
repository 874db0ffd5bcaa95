"""The risk engine of one market: limits, trading states, the event-driven imbalance check, the loss kill
switch, and feed health.

Trading states (after NautilusTrader's ``RiskEngine``, ``nautilus_trader/risk/engine.pyx`` in
https://github.com/nautechsystems/nautilus_trader):

* ``ACTIVE``: everything allowed, quotes subject to the limits below.
* ``REDUCING``: only reduce-only orders, with one documented exception: the hedges of maker fills already
  taken are still sent (refusing them would leave a naked position, which is what REDUCING exists to
  avoid), and the cycle's reduce-only unwind. No new quotes; a resting quote is pulled.
* ``HALTED``: only cancels and the flatten. Entering it fails the market scope, whose cleanup cancels and
  flattens both legs.

Every transition is logged with its reason and kept in ``MarketStats.transitions`` (the run summary lists
them, and the ``halts``).

What moves the state:

================================================  ===========  =================================================
trigger                                           to           how it is checked
================================================  ===========  =================================================
a leg's ``|position| > max_position`` or          REDUCING     on every fill (tracker fill path); back to ACTIVE
``|position| x mid > max_notional``                            once every leg is within both limits again
a graceful stop                                   REDUCING     the market scope, before it cancels and flattens
the operator's pause (SIGUSR1, :class:`PauseSwitch`) REDUCING   at once; back to ACTIVE on resume (SIGUSR2)
``|primary + hedge| > imbalance_tolerance`` for   HALTED       event-driven: each fill re-evaluates the net and
longer than ``imbalance_grace_s``                              arms/disarms a deadline; no polling
realized + unrealized PnL <= ``-max_loss``        HALTED       on every fill and every ``risk_check_interval_s``
(quote units, fees included, marked at book mid)               (prices move without fills); exit 78
a feed down past its budget / a stale book        HALTED       every ``risk_check_interval_s`` (a silent feed
                                                               sends no event to react to)
any other market failure (hedge ladder            HALTED       recorded by the market scope when it fails
exhausted, a halting venue refusal, an
unresolved order)
================================================  ===========  =================================================

Pre-trade limits on quotes (:meth:`RiskEngine.quote_block`): the quote is held back (not sent, not an error)
while the market is not ACTIVE, while the leg has ``max_open_orders`` non-terminal orders, or if filling it
entirely could take the leg past ``max_position`` or ``max_notional``. Hedge and unwind orders are never held
back by the limits (they reduce the net exposure); only HALTED stops them.

PnL is computed from the fills the market's trackers apply (per leg: average entry, realized PnL on every
reduction, fees paid), so it covers the cycles, not the cleanup's flatten (which runs after the trackers).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING

import trio
from loguru import logger

from ..domain import ZERO, Fill, OrderBook, OrderRequest
from ..venues import Venue
from ._errors import BookStale, FeedDown, ImbalanceExceeded, LossLimitHit, MarketFailed, MarketHalted
from ._settings import MarketSettings, MarketStats, PnlSnapshot, StateTransition, TradingState

if TYPE_CHECKING:
    from ._portfolio import PortfolioGuard


class LegBook:
    """Position and PnL of one leg from its fills (quote units).

    Attributes:
        position (Decimal): signed base units.
        entry_price (Decimal | None): average entry of the open position (None when flat).
        realized (Decimal): closed PnL minus fees paid.
        fees (Decimal): fees paid (negative = rebates).
        last_mid (Decimal | None): the last valid mid seen (marks the position when the book is invalid).
    """

    __slots__ = ("venue", "symbol", "position", "entry_price", "realized", "fees", "last_mid")

    def __init__(self, venue: Venue, symbol: str) -> None:
        self.venue = venue
        self.symbol = symbol
        self.position = ZERO
        self.entry_price: Decimal | None = None
        self.realized = ZERO
        self.fees = ZERO
        self.last_mid: Decimal | None = None

    def apply(self, fill: Fill) -> None:
        """Apply one fill: average in on an increase, realize ``closed * (exit - entry) * sign`` on a
        reduction, open the rest at the fill price when it goes through zero; fees come off realized."""
        self.fees += fill.fee
        self.realized -= fill.fee
        signed = fill.signed_size
        pos = self.position
        if pos == ZERO or (pos > ZERO) == (signed > ZERO):
            entry = self.entry_price or fill.price
            total = abs(pos) + fill.size
            self.entry_price = (entry * abs(pos) + fill.price * fill.size) / total
            self.position = pos + signed
            return
        closed = min(abs(signed), abs(pos))
        assert self.entry_price is not None
        self.realized += closed * (fill.price - self.entry_price) * (1 if pos > ZERO else -1)
        self.position = pos + signed
        if self.position == ZERO:
            self.entry_price = None
        elif (self.position > ZERO) != (pos > ZERO):
            self.entry_price = fill.price  # went through zero: the rest opened at this price

    def mid(self) -> Decimal | None:
        """The book's mid when valid (remembered), else the last valid mid."""
        book: OrderBook = self.venue.book(self.symbol)
        if book.valid:
            m = book.mid()
            if m is not None:
                self.last_mid = m
        return self.last_mid

    def unrealized(self) -> Decimal:
        """``position * (mid - entry)``; 0 when flat or never marked."""
        if self.position == ZERO or self.entry_price is None:
            return ZERO
        mid = self.mid()
        return ZERO if mid is None else self.position * (mid - self.entry_price)


class RiskEngine:
    """Limits, trading state, imbalance, kill switch and feed health of one market (module docstring).

    Wire it: pass :meth:`on_primary_fill` / :meth:`on_hedge_fill` as the trackers' ``on_fill`` hooks, and run
    :meth:`run` as a task of the market scope (it raises the :class:`MarketFailed` that ends the market).

    Args:
        settings: limits and periods.
        stats: where transitions, exposure and PnL are recorded.
        primary, hedge: the legs' venues (their books mark the PnL; their feed states are watched).
    """

    def __init__(self, settings: MarketSettings, stats: MarketStats, primary: Venue, hedge: Venue) -> None:
        self.s = settings
        self.stats = stats
        self.primary = LegBook(primary, settings.primary_symbol)
        self.hedge = LegBook(hedge, settings.hedge_symbol)
        self.state = TradingState.ACTIVE
        self.state_reason = ""
        self._resumable = False
        self._t0 = trio.current_time()
        self._failure: MarketFailed | None = None
        self._imbalance_since: float | None = None
        self._lot = trio.lowlevel.ParkingLot()
        self._state_lot = trio.lowlevel.ParkingLot()
        self._log = logger.bind(tag=f"{settings.name}_RISK")
        self._paused = False
        self._listeners: list[Callable[[StateTransition], None]] = []
        self.portfolio: PortfolioGuard | None = None
        """The run's portfolio guard (:meth:`PortfolioGuard.attach` sets it): total notional and total loss."""

    @property
    def failure(self) -> MarketFailed | None:
        """The failure that halted the market (None while it runs)."""
        return self._failure

    def add_transition_listener(self, listener: Callable[[StateTransition], None]) -> None:
        """Call ``listener(transition)`` after every state change (synchronously: it must not block; the
        journal queues it)."""
        self._listeners.append(listener)

    # ------------------------------------------------------------------ state
    @property
    def resumable(self) -> bool:
        """REDUCING for a limit: it returns to ACTIVE by itself once every leg is within the limits again."""
        return self.state is TradingState.REDUCING and self._resumable

    @property
    def net(self) -> Decimal:
        """primary + hedge position from fills, base units."""
        return self.primary.position + self.hedge.position

    def transition(self, to: TradingState, reason: str, *, resumable: bool = False) -> bool:
        """Move to ``to`` (logged and recorded). HALTED is final. Returns False if nothing changed."""
        if to is self.state or self.state is TradingState.HALTED:
            if to is self.state and not resumable:
                self._resumable = False  # e.g. a stop while REDUCING for a limit: no automatic resume now
            return False
        now = trio.current_time()
        t = StateTransition(self.state, to, reason, round(now - self._t0, 6),
                            _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds"))
        self.stats.transitions.append(t)
        log = self._log.error if to is TradingState.HALTED else self._log.warning
        log("trading state {} -> {}: {}", self.state, to, reason)
        self.state = to
        self.state_reason = reason
        self._resumable = resumable
        self._state_lot.unpark_all()
        for listener in self._listeners:
            listener(t)
        return True

    # ------------------------------------------------------------------ pause (operator)
    @property
    def paused(self) -> bool:
        """Paused by the operator (:meth:`pause`): REDUCING until :meth:`resume`."""
        return self._paused

    def pause(self, reason: str) -> None:
        """The operator's pause: REDUCING (no new quotes, a resting quote pulled; fills already taken are still
        hedged and the cycle's legs unwound, so the positions stay hedged) until :meth:`resume`. A limit that
        clears meanwhile does not resume trading. No effect when HALTED, or REDUCING for good (a stop)."""
        if self.state is TradingState.HALTED or (self.state is TradingState.REDUCING and not self._resumable):
            return
        self._paused = True
        self.transition(TradingState.REDUCING, f"paused: {reason}", resumable=True)

    def resume(self, reason: str) -> None:
        """End the operator's pause: back to ACTIVE unless a limit still holds the market REDUCING (it then
        resumes by itself once every leg is within the limits, as after any limit)."""
        if not self._paused:
            return
        self._paused = False
        if self.state is TradingState.REDUCING and self._resumable:
            self._check_limits(resumed=reason)

    async def wait_state_change(self) -> None:
        """Return after the next trading-state transition."""
        await self._state_lot.park()

    def halt(self, failure: MarketFailed) -> None:
        """Enter HALTED because of ``failure``; :meth:`run` raises it (the first one wins)."""
        self.transition(TradingState.HALTED, f"{type(failure).__name__}: {failure}")
        if self._failure is None:
            self._failure = failure
        self._lot.unpark_all()

    def note_failure(self, failure: BaseException) -> None:
        """Record a market failure raised elsewhere (the hedger, a tracker) as the reason for HALTED."""
        if self.state is not TradingState.HALTED:
            self.transition(TradingState.HALTED, f"{type(failure).__name__}: {failure}")

    # ------------------------------------------------------------------ pre-trade
    def quote_block(self, request: OrderRequest, open_orders: int, resting: Decimal = ZERO) -> str | None:
        """Why a maker quote may not be sent now, or None if it may (module docstring). ``resting``: what the
        leg's live quotes on the request's side may still fill (base units): the position limits are checked
        for all of them and the request filling (two-sided quoting: a quote on each side, each side's worst
        case checked on its own; the other side's only brings the position back)."""
        if self.state is not TradingState.ACTIVE:
            return f"state {self.state}"
        if open_orders >= self.s.max_open_orders:
            return f"max_open_orders: {open_orders} open (limit {self.s.max_open_orders})"
        after = abs(self.primary.position + request.side.sign * (request.size + resting))
        if after > self.s.max_position:
            return f"max_position: {after} after a full fill (limit {self.s.max_position})"
        price = request.price if request.price is not None else self.primary.mid()
        if price is not None and after * price > self.s.max_notional:
            return f"max_notional: {after * price} after a full fill (limit {self.s.max_notional})"
        if self.portfolio is not None:
            return self.portfolio.quote_block(self, request)
        return None

    def check_taker(self, request: OrderRequest) -> None:
        """A hedge or unwind order may go unless the market is HALTED (REDUCING allows reduce-only orders and,
        as the documented exception, hedges of fills already taken).

        Raises:
            MarketHalted: the market is HALTED, or REDUCING and the order is neither reduce-only nor a hedge.
        """
        if self.state is TradingState.HALTED:
            raise MarketHalted(f"{request.reason} order refused: market HALTED ({self.state_reason})")
        if self.state is TradingState.REDUCING and not (request.reduce_only or request.reason == "hedge"):
            raise MarketHalted(f"{request.reason} order refused: market REDUCING ({self.state_reason}) allows "
                               "only reduce-only orders and hedges")

    # ------------------------------------------------------------------ fill path (event-driven)
    def on_primary_fill(self, fill: Fill) -> None:
        """Tracker hook for the primary leg (synchronous, on the fill path)."""
        self._on_fill(self.primary, fill)

    def on_hedge_fill(self, fill: Fill) -> None:
        """Tracker hook for the hedge leg (synchronous, on the fill path)."""
        self._on_fill(self.hedge, fill)

    def _on_fill(self, leg: LegBook, fill: Fill) -> None:
        leg.apply(fill)
        self.stats.on_fill(fill, primary=leg is self.primary)
        net = self.net
        self.stats.positions[f"{leg.venue.name} {leg.symbol}"] = leg.position
        self.stats.net_exposure = net
        if abs(net) > self.stats.max_abs_net_exposure:
            self.stats.max_abs_net_exposure = abs(net)
        if abs(net) > self.s.imbalance_tolerance:
            if self._imbalance_since is None:
                self._imbalance_since = trio.current_time()
                # Expected on every maker fill until its hedge fills, and on the fill path (a WARNING line
                # costs ~0.4 ms there): DEBUG; past the grace the watchdog fails the market (an ERROR).
                self._log.debug("net exposure {} beyond tolerance {}: {}s grace starts", net,
                                self.s.imbalance_tolerance, self.s.imbalance_grace_s)
                self._lot.unpark_all()
        elif self._imbalance_since is not None:
            self._imbalance_since = None
            self._lot.unpark_all()
        self._check_limits()
        self._mark()

    def _check_limits(self, resumed: str = "") -> None:
        breach = ""
        for leg in (self.primary, self.hedge):
            size = abs(leg.position)
            mid = leg.mid()
            if size > self.s.max_position:
                breach = f"{leg.venue.name} {leg.symbol} |position| {size} > max_position {self.s.max_position}"
            elif mid is not None and size * mid > self.s.max_notional:
                breach = (f"{leg.venue.name} {leg.symbol} notional {(size * mid).quantize(Decimal('0.01'))} > "
                          f"max_notional {self.s.max_notional}")
            if breach:
                break
        if breach:
            self.transition(TradingState.REDUCING, breach, resumable=True)
        elif self.state is TradingState.REDUCING and self._resumable and not self._paused:
            self.transition(TradingState.ACTIVE, f"resumed: {resumed}" if resumed else
                            "every leg back within max_position and max_notional")

    def _mark(self) -> PnlSnapshot:
        pnl = self.stats.pnl
        pnl.realized = self.primary.realized + self.hedge.realized
        pnl.unrealized = self.primary.unrealized() + self.hedge.unrealized()
        pnl.fees = self.primary.fees + self.hedge.fees
        if pnl.total <= -self.s.max_loss and self._failure is None:
            self.halt(LossLimitHit(
                f"loss kill switch: PnL {pnl.total.quantize(Decimal('0.0001'))} (realized "
                f"{pnl.realized.quantize(Decimal('0.0001'))}, unrealized {pnl.unrealized.quantize(Decimal('0.0001'))}"
                f") at or below -{self.s.max_loss} quote units"
            ))
        if self.portfolio is not None:
            self.portfolio.check_loss()
        return pnl

    # ------------------------------------------------------------------ the task
    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """The risk guard: the imbalance watchdog (woken by fills) and the periodic feed-health and PnL mark.
        Runs until cancelled.

        Raises:
            ImbalanceExceeded, LossLimitHit, FeedDown, BookStale: the market must stop (cleanup flattens).
        """
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._watchdog)
            nursery.start_soon(self._health)
            task_status.started()

    async def _watchdog(self) -> None:
        while True:
            if self._failure is not None:
                raise self._failure
            since = self._imbalance_since
            if since is None:
                await self._lot.park()
                continue
            deadline = since + self.s.imbalance_grace_s
            with trio.move_on_at(deadline):
                await self._lot.park()
            if self._failure is not None:
                raise self._failure
            if self._imbalance_since == since and trio.current_time() >= deadline:
                exc = ImbalanceExceeded(
                    f"net exposure {self.net} beyond tolerance {self.s.imbalance_tolerance} for "
                    f"{trio.current_time() - since:.2f}s (grace {self.s.imbalance_grace_s}s)"
                )
                self.halt(exc)
                raise exc

    async def _health(self) -> None:
        s = self.s
        while True:
            await trio.sleep(s.risk_check_interval_s)
            now = trio.current_time()
            for leg in (self.primary, self.hedge):
                venue, symbol = leg.venue, leg.symbol
                fs = venue.feed_state(symbol)
                exc: MarketFailed | None = None
                if not fs.connected:
                    down_s = now - fs.since_s
                    if down_s > s.feed_down_budget_s:
                        exc = FeedDown(
                            f"{venue.name} {symbol} market-data feed down for {down_s:.2f}s "
                            f"(budget {s.feed_down_budget_s}s): {venue.book(symbol).invalid_reason}"
                        )
                elif now - fs.last_message_s > s.book_stale_s:
                    exc = BookStale(
                        f"{venue.name} {symbol} book stale: no update for {now - fs.last_message_s:.2f}s "
                        f"(deadline {s.book_stale_s}s)"
                    )
                if exc is not None:
                    self.halt(exc)  # the watchdog raises it (one task raises, one exception ends the market)
                    return
            self._mark()
            self._check_limits()
            if self._failure is not None:
                return


class PauseSwitch:
    """The operator's pause of every market (``app/_ops.py`` flips it on SIGUSR1 / SIGUSR2): the risk engines
    attached to it (:func:`~trio_hedge.engine.run_market` attaches its own) are paused and resumed together,
    and one attached later starts paused when the switch is on.

    Attributes:
        paused (bool): the switch is on.
        reason (str): the reason given to the last :meth:`pause` / :meth:`resume`.
    """

    def __init__(self) -> None:
        self.paused = False
        self.reason = ""
        self._engines: list[RiskEngine] = []

    def attach(self, risk: RiskEngine) -> None:
        """Follow the switch with ``risk`` (paused at once when the switch is on)."""
        self._engines.append(risk)
        if self.paused:
            risk.pause(self.reason)

    def detach(self, risk: RiskEngine) -> None:
        """Stop following the switch (the market scope ended)."""
        if risk in self._engines:
            self._engines.remove(risk)

    def pause(self, reason: str) -> bool:
        """Pause every attached market. Returns False when already paused (nothing changed)."""
        if self.paused:
            return False
        self.paused, self.reason = True, reason
        for risk in list(self._engines):
            risk.pause(reason)
        return True

    def resume(self, reason: str) -> bool:
        """Resume every attached market. Returns False when not paused (nothing changed)."""
        if not self.paused:
            return False
        self.paused, self.reason = False, reason
        for risk in list(self._engines):
            risk.resume(reason)
        return True
