"""The hedger: the cycle state machine of one market.

One cycle (``docs/architecture.md``, task tree and failure path):

Cycle modes (``MarketSettings.cycle_mode``): ``roundtrip`` runs the four steps below every cycle;
``inventory`` runs legs of steps 1-3 only (no unwind): the primary position is carried from leg to leg, built
towards ``+max_position`` (turning at the bound towards ``-max_position``) and worked back, each leg one quote
of ``order_size`` (a close at most down to 0); a leg that works |position| back completes a cycle, and after
``cycles`` opening legs only closing ones are quoted, so the run ends flat with the primary maker both ways.
An opening leg is gated at ``min_edge_bps``; a closing leg at whatever makes the cycle's two legs average
``min_edge_bps`` (``Hedger._close_gate``): a basis between the venues favours one side and costs the other,
and cancels over a cycle, so it cannot stall the close.

Quote timing (``MarketSettings.timed_quotes``; ``_edge.py`` :class:`EdgeMemory`): a quote goes only when its
side's expected edge is at least the side's moving average (else ``edge_typical``), until its leg waited that long.

Side selection: the sides a cycle may trade are those the mode and the position limits allow (roundtrip:
both, the preferred one alternating by cycle index; inventory: the preferred direction first). Until a quote
of the cycle fills, every new quote goes on the first of them that passes the gate (edge, band, depth) and the
risk limits, and a resting quote whose edge is gone is pulled at once when another allowed side passes: the
bot never waits on a side below the gate while another allowed side passes it. Once a quote fills, the cycle
keeps its side.

Two-sided quoting (``MarketSettings.two_sided``, :meth:`Hedger._quote_both_sides`): until the first fill, a quote
rests on every allowed side that passes the gate, both at once; the risk limits count the other side's live
quote (``max_open_orders``) and check each side's worst case, its own quotes filling entirely
(``max_position``, ``max_notional``; both filling lands between the two). The first side to fill keeps the
cycle and the other quote is cancelled; its fills before the cancel are hedged like any (the hedge accounting
is signed) and verified with the leg's net. Roundtrip: the cycle completes when the kept side filled
``order_size``. Inventory: a leg is an open or a close by its net move; a leg whose two quotes both filled
entirely is both at once (one opening leg used, one cycle completed).

1. QUOTE: a post-only GTT limit on the primary at the best bid (BUY) or best ask (SELL), for the side's size
   minus what earlier quotes of this cycle filled, sent only when
   (a) the price is within ``price_band_bps`` of the hedge venue's mid, (b) the expected edge after both
   venues' fees (``_edge.py``) is at least ``min_edge_bps``, and (c) the risk engine lets a quote go
   (ACTIVE, open orders, position and notional limits: ``_risk.py``). Otherwise the hedger waits for the
   books to change. Re-quote rules for a resting quote: cancelled, resolved (late fills included) and placed
   again when it has been off the top of the book for ``requote_after_s``, or its expected edge has been
   below ``min_edge_bps`` for ``requote_after_s`` (the same anti-flicker timer); pulled at once when it leaves
   the price band, when either venue's book becomes invalid (feed disconnected, sequence gap: the bot never
   rests a quote it could not price or hedge), or when the market leaves ACTIVE.
2. HEDGE: every maker fill (partial fills included) is hedged the moment its event arrives, exactly once
   (keyed by the venue's trade id): the smart router (``_router.py``) sends IOC slices on the hedge venue,
   opposite side, for exactly the filled size (never more; sizes below the hedge venue's lot accumulate
   until they reach it), each priced at the level that fills it within the slippage cap from the arrival
   price, with the fallback ladder (wider cap up to the hard cap, then market, then :class:`HedgeFailed`:
   flatten and halt). ``max_hedges_in_flight`` worker tasks take fills off the inbox the moment they
   arrive and each routes the hedge of what it took, so a fill that arrives while a hedge is in flight
   starts its own routed hedge at once on an idle worker; beyond that many routes, fills wait in the
   inbox and are hedged together by one more route as soon as a worker is free (hedge latency is counted
   from the first of them). Each route is sized from the filled size not yet assigned to a route
   (floored to the hedge venue's lot), so the routes in flight never add up to more than was filled. No
   new quote is sent while any received fill is unhedged (the inbox is empty, no fill is on its way to a
   worker and no route is in flight before each quote).
3. VERIFY: every order of the cycle resolved to a terminal state (stream first, status query by client
   order id as fallback, under ``order_deadline_s``), then both positions taken from the venues (the
   private stream's position report when it agrees with the fills, a position query otherwise): primary
   must equal the maker fills, hedge must equal minus the hedge fills, and their sum must be within one
   hedge lot. Anything else is :class:`ImbalanceExceeded`.
4. UNWIND: both legs closed concurrently by the router with reduce-only IOC slices and its ladder (market
   as the last step), and both positions confirmed zero the same way.

Venue errors go through the one retry policy (``_retry.py``). Every failure raises a :class:`MarketFailed`
subclass; the market scope then cancels and flattens.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import TYPE_CHECKING, NoReturn

import trio
from loguru import logger

from .._hotpath import FILL_PRIORITY, WARM_PATH
from ..domain import (
    BPS,
    ZERO,
    Order,
    OrderBook,
    OrderRequest,
    OrderType,
    Side,
    TimeInForce,
    floor_to,
    sole_failure,
)
from ..venues import PostOnlyWouldCross, Venue, VenueError
from ._edge import EdgeMemory, QuoteCheck, RestingQuote, check_quote, filled_on
from ._errors import HedgeFailed, ImbalanceExceeded, MarketHalted, UnresolvedOrder
from ._flatten import read_position
from ._rehearse import hedge_rehearsal
from ._retry import SubmitOutcome, answered_5xx, call_venue, submit_order
from ._router import HedgeRouter, RouteResult, slippage_bps, valid_book
from ._settings import CycleRecord, MarketSettings, MarketStats, TradingState
from ._tracker import InboxFill, InboxItem, OrderTracker

if TYPE_CHECKING:
    from loguru import Logger

    from ._journaled import Recorder
    from ._risk import RiskEngine


class Hedger:
    """Runs ``settings.cycles`` hedge cycles on one market, or fewer if ``stop`` is set between cycles.

    Args:
        settings, primary, hedge, primary_tracker, hedge_tracker, stats, stop: the market.
        risk: the market's risk engine (trading state, pre-trade limits). None runs without it (tests of the
            cycle alone): every quote that passes the edge gate and band is sent.
        recorder: the journal: each cycle's start and end are recorded (awaited) when given.
        max_hedges_in_flight: how many routed hedges may be in flight at once (>= 1; 1 hedges one route
            after another). None: ``settings.max_hedges_in_flight``.
    """

    def __init__(
        self,
        settings: MarketSettings,
        primary: Venue,
        hedge: Venue,
        primary_tracker: OrderTracker,
        hedge_tracker: OrderTracker,
        stats: MarketStats,
        stop: trio.Event,
        *,
        risk: RiskEngine | None = None,
        recorder: Recorder | None = None,
        max_hedges_in_flight: int | None = None,
    ) -> None:
        if max_hedges_in_flight is None:
            max_hedges_in_flight = settings.max_hedges_in_flight
        if max_hedges_in_flight < 1:
            raise ValueError(f"max_hedges_in_flight must be >= 1, got {max_hedges_in_flight}")
        self.s = settings
        self.recorder = recorder
        self.primary = primary
        self.hedge = hedge
        self.ptrack = primary_tracker
        self.htrack = hedge_tracker
        self.stats = stats
        self.risk = risk
        self._stop = stop
        self._log = logger.bind(tag=f"{settings.name}_HEDGER")
        # Signed, base units on the hedge venue (+ = BUY there, - = SELL): a maker BUY fill adds -size. Signed
        # so that fills of both sides (two-sided quoting, inventory dust) net exactly.
        self._pending_hedge = ZERO
        self._max_routes = max_hedges_in_flight
        self._in_flight = ZERO  # signed size assigned to routed hedges in flight
        self._maker_net = ZERO  # this leg's signed maker fills (primary base units)
        self._hedge_net = ZERO  # this leg's signed hedge fills (hedge venue base units)
        self._routes = 0  # routed hedges in flight
        self.max_routes_seen = 0  # the most routes in flight at once (tests, diagnostics)
        self._unassigned_since_ns: int | None = None  # receipt of the first fill not yet assigned to a route
        self._unassigned_frame_ns = 0  # its frame's receipt in the adapter (Fill.received_ns; 0: not stamped)
        self._taking = False  # inside a cycle's hedge scope (see _hedging)
        self._waits: set[trio.CancelScope] = set()  # idle workers' waits for the inbox
        self._receiving = 0  # workers inside their inbox receive
        self._intake = trio.Lock()  # held by the one idle worker waiting on the inbox
        self._changed = trio.lowlevel.ParkingLot()  # an inbox item was taken or a route finished
        self._rec: CycleRecord | None = None
        self._side = Side.BUY
        self.hedged_trade_ids: set[str] = set()
        self._quote_edge: dict[str, Decimal] = {}
        self._gate: dict[Side, Decimal] = {}  # a side's own edge threshold this leg (inventory closes)
        self._open_edge_sum = ZERO  # inventory: expected edge x size of the open position's legs (bps x base)
        self._open_size = ZERO
        self._timing = EdgeMemory(settings.edge_memory_s) if settings.timed_quotes else None  # quote timing
        self._leg_started_s = 0.0  # trio.current_time() at the current leg's start
        counters = stats.routing
        self.router = HedgeRouter(hedge, hedge_tracker, settings.hedge_symbol, settings, risk=risk, counters=counters)
        self._unwind_primary = HedgeRouter(primary, primary_tracker, settings.primary_symbol, settings, risk=risk,
                                           counters={}, tag="UNWIND")
        self._unwind_hedge = HedgeRouter(hedge, hedge_tracker, settings.hedge_symbol, settings, risk=risk,
                                         counters={}, tag="UNWIND")

    @property
    def hedge_pending(self) -> Decimal:
        """Maker fills received and not yet hedged, net of both sides (dust below the hedge venue's minimum
        included), base units."""
        return abs(self._pending_hedge)

    async def run(self) -> None:
        """Run ``cycles`` cycles. A cycle the operator's pause cut before anything filled does not count (its
        index is used, the next cycle gets the next one): a pause delays the run, it does not shorten it."""
        if self.s.cycle_mode == "inventory":
            await self._run_inventory()
            return
        index = counted = 0
        while counted < self.s.cycles:
            if self._stop.is_set():
                self._log.info("stop requested: no new cycles after {}", index)
                return
            if not await self._wait_active():
                self._log.warning("no new cycles after {}: market {} ({})", index, self.risk.state if self.risk
                                  else "-", self.risk.state_reason if self.risk else "")
                return
            await self._cycle(index)
            index += 1
            rec = self._rec
            if not (rec is not None and rec.maker_filled == ZERO and self.risk is not None and self.risk.paused):
                counted += 1
        self._log.info("all {} cycles done", self.s.cycles)

    async def _wait_active(self) -> bool:
        """At a cycle boundary: True when ACTIVE; waits while REDUCING for a limit (it resumes by itself once
        the legs are back within limits); False when REDUCING for good (a stop) or HALTED."""
        risk = self.risk
        if risk is None:
            return True
        while risk.resumable and not self._stop.is_set():
            await risk.wait_state_change()  # a stop cancels the whole market scope
        return risk.state is TradingState.ACTIVE

    # ------------------------------------------------------------------ helpers
    async def _valid_book(self, venue: Venue, symbol: str) -> OrderBook:
        return await valid_book(venue, symbol, self.s.book_wait_s)

    async def _resolve(self, tracker: OrderTracker, client_order_id: str, *, cancelled_by_id: bool = False) -> Order:
        """Resolve an order within the order deadline. ``cancelled_by_id``: its POST was answered with a 5xx
        and the caller sent a cancel by client order id first: an order the venue then keeps reporting as
        unknown for half the deadline, in none of its fills, is recorded as never accepted (a 5xx blip on a
        quote's POST costs that quote, not the run: ``OrderTracker.resolve`` ``unknown_grace_s``)."""
        return await tracker.resolve_within(
            client_order_id,
            deadline_s=self.s.order_deadline_s,
            event_grace_s=self.s.event_grace_s,
            query_interval_s=self.s.query_interval_s,
            unknown_grace_s=self.s.order_deadline_s / 2 if cancelled_by_id else None,
        )

    def _quote_check(self, side: Side, price: Decimal, size: Decimal, hbook: OrderBook) -> QuoteCheck:
        s = self.s
        return check_quote(
            side, price, size, hbook, min_edge_bps=self._gate.get(side, s.min_edge_bps),
            price_band_bps=s.price_band_bps,
            primary_maker_fee_bps=s.primary_maker_fee_bps, hedge_taker_fee_bps=s.hedge_taker_fee_bps,
            hedge_cap_bps=s.slippage_cap_bps, hedge_tick=self.hedge.instrument(s.hedge_symbol).tick_size,
        )

    def _skip(self, reason: str, detail: str, log: Logger, last: list[str]) -> None:
        self.stats.count(self.stats.quote_skips, reason)
        if not last or last[0] != reason:
            log.info("no quote: {} ({})", reason, detail)
            last[:] = [reason]

    # ------------------------------------------------------------------ the cycle
    async def _start_leg(self, index: int, preferred: Side, leg: str) -> tuple[CycleRecord, Logger, float]:
        rec = CycleRecord(index, preferred.value, leg=leg)
        self._rec = rec
        self._side = preferred
        self._maker_net = self._hedge_net = ZERO
        if self.s.cycle_mode == "roundtrip":
            self._pending_hedge = ZERO  # the unwind closes what was below the hedge venue's lot
            self._unassigned_since_ns = None
        self.stats.cycles.append(rec)
        log = self._log.bind(tag=f"{self.s.name}_CYCLE{index}")
        log.debug("cycle {} start: quote {} {}", index, preferred, self.s.order_size)  # INFO: the "done" line
        if self.recorder is not None:
            await self.recorder.cycle_started(self.s.name, index, preferred)
        self._leg_started_s = trio.current_time()
        return rec, log, self._leg_started_s

    async def _quote_and_hedge(self, index: int, targets: dict[Side, Decimal], log: Logger) -> list[Order]:
        """The quote phase of a cycle (or inventory leg) inside its hedge scope: quotes until ``targets`` of
        the chosen side filled (or the market stops quoting), every fill hedged, every quote resolved."""
        rec = self._rec
        assert rec is not None
        async with self._hedging():
            quotes = await self._quote_until_filled(targets, log)
            for q in quotes:
                if not q.is_terminal:
                    await self._resolve(self.ptrack, q.client_order_id)
            # Every fill the tracker applied to our quotes must have been through the inbox (and hedged)
            # before the legs are verified.
            quoted_fill = sum((q.filled_size for q in quotes), ZERO)
            while rec.maker_filled < quoted_fill:
                with trio.move_on_after(self.s.order_deadline_s) as waited:
                    await self._changed.park()
                if waited.cancelled_caught and rec.maker_filled < quoted_fill:
                    raise UnresolvedOrder(
                        f"cycle {index}: tracker applied {quoted_fill} of fills, hedger saw {rec.maker_filled}"
                    )
            await self._settle()
        if self._pending_hedge != ZERO:
            log.warning("{} filled but below the hedge venue's minimum; {}", abs(self._pending_hedge),
                        "unwound with the legs" if self.s.cycle_mode == "roundtrip" else "carried to the next leg")
        return quotes

    def _record_edges(self, rec: CycleRecord, side: Side, quotes: list[Order]) -> None:
        """The leg's realized edge (only when its maker fills are all of one side: a two-sided leg whose
        other quote filled before its cancel has no single side to price) and its expected edge."""
        if rec.maker_filled > ZERO and rec.hedge_filled > ZERO and abs(self._maker_net) == rec.maker_filled:
            maker_avg = rec.maker_notional / rec.maker_filled
            hedge_avg = rec.hedge_notional / rec.hedge_filled
            rec.edge_bps = side.sign * (hedge_avg - maker_avg) / maker_avg * BPS
            self.stats.edges_bps.append(rec.edge_bps)
        weighted = [(self._quote_edge[q.client_order_id], q.filled_size) for q in quotes
                    if q.filled_size > ZERO and q.client_order_id in self._quote_edge]
        if weighted:
            rec.expected_edge_bps = sum((e * f for e, f in weighted), ZERO) / sum((f for _, f in weighted), ZERO)
            self.stats.expected_edges_bps.append(rec.expected_edge_bps)

    async def _end_leg(self, rec: CycleRecord, log: Logger, started_s: float) -> None:
        """Record the leg's end; one INFO line: the leg, then the market's totals (``MarketStats.totals_line``)."""
        if self.recorder is not None:
            await self.recorder.cycle_ended(self.s.name, rec.index, rec.outcome,
                                            f"{rec.side} maker {rec.maker_filled}, hedge {rec.hedge_filled}")
        log.info(
            "cycle {} {} in {:.3f}s: {}{} maker {} @ {}, hedge {} @ {}, edge {} bps (expected net {} bps); market: {}",
            rec.index,
            {"completed": "done", "opened": "opened"}.get(rec.outcome, rec.outcome),
            trio.current_time() - started_s,
            rec.side,
            f" ({rec.leg} leg)" if rec.leg else "",
            rec.maker_filled,
            (rec.maker_notional / rec.maker_filled).quantize(Decimal("0.01")) if rec.maker_filled else "-",
            rec.hedge_filled,
            (rec.hedge_notional / rec.hedge_filled).quantize(Decimal("0.01")) if rec.hedge_filled else "-",
            rec.edge_bps.quantize(Decimal("0.01")) if rec.edge_bps is not None else "-",
            rec.expected_edge_bps.quantize(Decimal("0.01")) if rec.expected_edge_bps is not None else "-",
            self.stats.totals_line(),
        )

    async def _cycle(self, index: int) -> None:
        """One ``roundtrip`` cycle: quote (the preferred side alternates by index; the other side when only it
        passes the gate), hedge, verify, unwind both legs."""
        preferred = Side.BUY if index % 2 == 0 else Side.SELL
        rec, log, started_s = await self._start_leg(index, preferred, "")
        size = self.s.order_size
        quotes = await self._quote_and_hedge(index, {preferred: size, preferred.opposite: size}, log)
        side = self._side
        p, h = await self._verify_legs(rec)
        self._record_edges(rec, side, quotes)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._close_leg, self._unwind_primary, p)
            nursery.start_soon(self._close_leg, self._unwind_hedge, h)
        if filled_on(quotes, side) == self.s.order_size:
            rec.outcome = "completed"
            self.stats.cycles_completed += 1
        else:
            rec.outcome = f"reduced: {self.risk.state_reason if self.risk else 'stopped quoting'}"
        await self._end_leg(rec, log, started_s)

    # ------------------------------------------------------------------ inventory mode
    def _close_gate(self) -> Decimal:
        """The edge threshold of a closing leg: a cycle (an open and a close) passes when the average of its
        two legs' expected edges is at least ``min_edge_bps``, so a close needs ``2 x min_edge_bps`` minus
        the open position's size-weighted expected edge. A basis between the venues then cancels over the
        cycle (the side it favours opens, the other closes) instead of stalling the close."""
        if self._open_size == ZERO:
            return self.s.min_edge_bps
        return 2 * self.s.min_edge_bps - self._open_edge_sum / self._open_size

    def _carry_edge(self, rec: CycleRecord) -> None:
        """Keep the open position's expected edge (the closing gate's input) after an inventory leg (by how far
        the leg moved the position: its fills net, two-sided legs included)."""
        moved = abs(self._maker_net)
        if moved == ZERO:
            return
        if rec.leg == "open":
            if rec.expected_edge_bps is not None:
                self._open_edge_sum += rec.expected_edge_bps * moved
                self._open_size += moved
            return
        closed = min(moved, self._open_size)
        if self._open_size > ZERO:
            self._open_edge_sum -= self._open_edge_sum / self._open_size * closed
            self._open_size -= closed
        if self._open_size == ZERO:
            self._open_edge_sum = ZERO

    async def _run_inventory(self) -> None:
        """``inventory`` mode: each leg is one post-only quote of ``order_size`` on the primary, every fill
        hedged at once on the hedge venue, the legs verified, nothing unwound. The preferred direction builds
        the primary position towards ``+max_position``, turns at the bound and works it back towards
        ``-max_position`` (the side selection takes the other allowed side whenever only it passes the gate).
        A leg that works |position| back is a close and completes a cycle; after ``cycles`` opening legs only
        closing ones are quoted, so the run ends flat without a taker order on the primary (the market
        scope's cleanup flattens whatever a stop or failure leaves)."""
        s = self.s
        direction = Side.BUY
        index = opens = 0
        position = hedge_position = ZERO
        while opens < s.cycles or position != ZERO:
            if self._stop.is_set():
                self._log.info("stop requested: no new legs after {} (position {})", index, position)
                return
            if not await self._wait_active():
                self._log.warning("no new legs after {}: market {} ({})", index, self.risk.state if self.risk
                                  else "-", self.risk.state_reason if self.risk else "")
                return
            targets = s.inventory_sides(position, opens < s.cycles)
            if direction not in targets:
                direction = direction.opposite  # the bound (or the last opening leg) is reached: turn
            if direction not in targets:
                raise MarketHalted(f"inventory: no side may trade from position {position}")  # cannot happen
            ordered = {direction: targets[direction]}
            ordered.update(targets)
            self._gate = {side: self._close_gate() for side in targets
                          if position != ZERO and (position > ZERO) != (side is Side.BUY)}
            rec, log, started_s = await self._start_leg(index, direction, "")
            quotes = await self._quote_and_hedge(index, ordered, log)
            side = self._side
            rec.side = side.value
            after = position + self._maker_net
            rec.leg = "close" if abs(after) < abs(position) else "open"
            expected_h = hedge_position + self._hedge_net
            position, hedge_position = await self._verify_legs(rec, position, hedge_position)
            assert position == after and hedge_position == expected_h
            self._record_edges(rec, side, quotes)
            self._carry_edge(rec)
            if rec.maker_filled == ZERO:
                rec.outcome = f"no fill: {self.risk.state_reason if self.risk else 'stopped quoting'}"
            elif len(targets) > 1 and all(filled_on(quotes, sd) == size for sd, size in targets.items()):
                # two-sided: the other quote filled entirely before its cancel landed: an open and a close
                # at once, maker both ways: one opening leg used and one cycle completed
                opens += 1
                rec.leg = "both"
                rec.outcome = "completed"
                self.stats.cycles_completed += 1
            elif rec.leg == "open":
                opens += 1
                rec.outcome = "opened"
            elif filled_on(quotes, side) == targets[side]:
                rec.outcome = "completed"
                self.stats.cycles_completed += 1
            else:
                rec.outcome = f"reduced: {self.risk.state_reason if self.risk else 'stopped quoting'}"
            await self._end_leg(rec, log, started_s)
            index += 1
        self._log.info("inventory: {} opening legs and back to flat", opens)

    def _active(self) -> bool:
        return self.risk is None or self.risk.state is TradingState.ACTIVE

    async def _wait_books(self) -> None:
        with trio.move_on_after(self.s.quote_check_interval_s):
            await self.primary.wait_book_change(self.s.primary_symbol)

    def _candidate(self, side: Side, size: Decimal, book: OrderBook, hbook: OrderBook, resting: Decimal = ZERO
                   ) -> tuple[OrderRequest, QuoteCheck] | tuple[str, str]:
        """A post-only quote of ``size`` on ``side`` at the top of the primary's book, with its gate check, or
        (reason, detail) why it may not go now (empty side, edge gate, band, depth, risk limits: ``resting``
        is what the side's live quotes may still fill, checked with it, ``RiskEngine.quote_block``)."""
        top = book.best_bid() if side is Side.BUY else book.best_ask()
        if top is None:
            return "empty_book", f"no {side} price on {self.s.primary_symbol}"
        check = self._quote_check(side, top[0], size, hbook)
        if not check.ok:
            return check.reason, check.detail
        wait = (None if self._timing is None or check.edge_bps is None else
                self._timing.wait_reason(side, check.edge_bps, trio.current_time(), self._leg_started_s))
        if wait is not None:
            return "edge_typical", wait
        req = OrderRequest(
            client_order_id=self.primary.new_client_order_id(),
            symbol=self.s.primary_symbol,
            side=side,
            size=size,
            order_type=OrderType.LIMIT,
            price=top[0],
            tif=TimeInForce.GTT,
            post_only=True,
            reason="quote",
        )
        block = self.risk.quote_block(req, self.ptrack.open_count, resting) if self.risk is not None else None
        if block is not None:
            return block.split(":")[0], block
        return req, check

    def _observe_edges(self, sizes: dict[Side, Decimal], book: OrderBook, hbook: OrderBook) -> None:
        """Quote timing: each side's expected edge now (for its size in ``sizes``) into its moving average."""
        if self._timing is None:
            return
        for side, size in sizes.items():
            top = book.best_bid() if side is Side.BUY else book.best_ask()
            edge = None if top is None else self._quote_check(side, top[0], size, hbook).edge_bps
            if edge is not None:
                self._timing.observe(side, edge, trio.current_time())

    def _other_side_passes(self, targets: dict[Side, Decimal], side: Side, book: OrderBook,
                           hbook: OrderBook) -> bool:
        """Another side the cycle may trade passes the gate now (side selection: a quote whose edge is gone
        is not waited on while it does)."""
        for other, size in targets.items():
            if other is side:
                continue
            top = book.best_bid() if other is Side.BUY else book.best_ask()
            if top is not None and self._quote_check(other, top[0], size, hbook).ok:
                return True
        return False

    async def _quote_until_filled(self, targets: dict[Side, Decimal], log: Logger) -> list[Order]:
        """Quote until the chosen side's target size filled. ``targets``: the sides this cycle may trade and
        the size of each, preferred side first. Side selection: until something fills, each new quote goes on
        the first side that passes the gate (edge, band, depth) and the risk limits, so the bot never waits on
        a side below the gate while another allowed side passes; once a quote fills, the cycle keeps its side
        (``self._side``). ``two_sided``: :meth:`_quote_both_sides`."""
        if self.s.two_sided and len(targets) > 1:
            return await self._quote_both_sides(targets, log)
        s = self.s
        rec = self._rec
        assert rec is not None
        quotes: list[Order] = []
        current: RestingQuote | None = None
        rejects = [0]
        last_skip: list[str] = []
        preferred = next(iter(targets))
        while True:
            # Hedge every fill received so far before anything else: no new quote while a hedge is pending.
            await self._settle()
            filled = sum((q.filled_size for q in quotes), ZERO)
            if current is None or current.order.is_terminal:
                if filled > ZERO and targets[self._side] - filled <= ZERO:
                    return quotes
                if not self._active():
                    assert self.risk is not None
                    log.warning("no new quote: market {} ({})", self.risk.state, self.risk.state_reason)
                    return quotes
                hbook = await self._valid_book(self.hedge, s.hedge_symbol)  # no quote we could not hedge
                book = await self._valid_book(self.primary, s.primary_symbol)
                sides = [self._side] if filled > ZERO else list(targets)
                self._observe_edges({side: targets[side] - filled for side in sides}, book, hbook)
                chosen: tuple[OrderRequest, QuoteCheck] | None = None
                first_skip: tuple[str, str] | None = None
                for cand in sides:
                    got = self._candidate(cand, targets[cand] - filled, book, hbook)
                    if isinstance(got[0], OrderRequest):
                        chosen = got
                        break
                    if first_skip is None and got[0] != "empty_book":
                        first_skip = got
                if chosen is None:
                    if first_skip is not None:
                        self._skip(*first_skip, log, last_skip)
                    await self._wait_books()
                    continue
                req, check = chosen
                side = req.side
                if side is not preferred and filled == ZERO:
                    self.stats.count(self.stats.quote_skips, "other_side")
                self._side = side
                rec.side = side.value
                if self._busy():
                    continue  # a fill arrived during the checks above: hedge it first
                last_skip.clear()
                current = RestingQuote(await self._submit_quote(req, check, quotes, rejects, log))
                continue
            # Only the wait is under the check timer (the hedges run in tasks of their own, never under it).
            # Woken when the hedge task takes an inbox item (a fill, or our quote's terminal update) or a
            # route finishes.
            with trio.move_on_after(s.quote_check_interval_s) as waited:
                await self._changed.park()
            if not waited.cancelled_caught:
                continue
            switch = filled == ZERO and current.order.filled_size == ZERO
            await self._review(current, targets if switch else None, log)

    async def _quote_both_sides(self, targets: dict[Side, Decimal], log: Logger) -> list[Order]:
        """Two-sided quoting (``two_sided``): until the cycle's first fill, a post-only quote rests on every
        side of ``targets`` that passes the gate (edge, band, depth) and the risk limits, each for its own
        target, both at once; each is re-quoted or pulled on its own by the rules of a resting quote
        (:meth:`_review`). The risk limits count the other side's live quote (``max_open_orders``) and check
        each side's worst case, its own quotes filling entirely (``max_position``, ``max_notional``; the other
        side's can only bring the position back). The first side that fills keeps the cycle (``self._side``,
        the larger fill if both sides filled at once): the other side's quote is cancelled and resolved at
        once, and any fill it took before the cancel is hedged like every fill (the hedge accounting is signed)
        and verified with the leg; from then on the cycle quotes its side alone until its target filled."""
        s = self.s
        rec = self._rec
        assert rec is not None
        quotes: list[Order] = []
        resting: dict[Side, RestingQuote] = {}
        rejects = [0]
        last_skip: list[str] = []
        kept: Side | None = None
        while True:
            await self._settle()  # no new quote while a fill is unhedged
            for side in [side for side, r in resting.items() if r.order.is_terminal]:
                del resting[side]
            filled = {side: filled_on(quotes, side) for side in targets}
            if kept is None and any(filled.values()):
                kept = max(targets, key=lambda side: filled[side])  # ties: the preferred side (first)
                self._side = kept
                rec.side = kept.value
                for side in [side for side in resting if side is not kept]:
                    log.debug("{} filled first: cancelling the {} quote", kept, side)
                    await self._cancel_and_resolve(resting.pop(side).order)
                continue  # its late fills are hedged before anything else
            if kept is not None and kept not in resting and targets[kept] - filled[kept] <= ZERO:
                return quotes
            if not self._active():
                assert self.risk is not None
                log.warning("no new quote: market {} ({})", self.risk.state, self.risk.state_reason)
                for r in list(resting.values()):
                    await self._cancel_and_resolve(r.order)
                return quotes
            free = [side for side in ([kept] if kept is not None else targets) if side not in resting]
            if free:
                if resting:  # never wait for a book while a quote rests: the review pulls it if invalid
                    hbook, book = self.hedge.book(s.hedge_symbol), self.primary.book(s.primary_symbol)
                else:
                    hbook = await self._valid_book(self.hedge, s.hedge_symbol)
                    book = await self._valid_book(self.primary, s.primary_symbol)
                first_skip: tuple[str, str] | None = None
                if book.valid and hbook.valid:
                    self._observe_edges({side: targets[side] - filled[side] for side in free}, book, hbook)
                for side in (free if book.valid and hbook.valid else []):
                    if self._busy():
                        break  # a fill arrived: hedge it first (and maybe keep its side)
                    got = self._candidate(side, targets[side] - filled[side], book, hbook,
                                          resting=sum((r.order.remaining for r in resting.values()
                                                       if r.order.request.side is side), ZERO))
                    if not isinstance(got[0], OrderRequest):
                        if first_skip is None and got[0] != "empty_book":
                            first_skip = got
                        continue
                    req, check = got
                    resting[side] = RestingQuote(await self._submit_quote(req, check, quotes, rejects, log))
                    last_skip.clear()
                if not resting:
                    if first_skip is not None:
                        self._skip(*first_skip, log, last_skip)
                    await self._wait_books()
                    continue
            with trio.move_on_after(s.quote_check_interval_s) as waited:
                await self._changed.park()
            if not waited.cancelled_caught:
                continue
            for r in list(resting.values()):
                if not r.order.is_terminal:
                    await self._review(r, None, log)

    async def _submit_quote(self, req: OrderRequest, check: QuoteCheck, quotes: list[Order], rejects: list[int],
                            log: Logger) -> Order:
        """Register and send one quote; returns its order (terminal at once when refused or of unknown outcome:
        an unknown one is cancelled by client order id and resolved). ``rejects[0]``: consecutive refusals, a
        refusal past ``max_quote_rejects`` is :class:`MarketHalted`; after a refusal the books are waited on."""
        s = self.s
        order = self.ptrack.register(req, forward=True)
        quotes.append(order)
        assert check.edge_bps is not None and req.price is not None
        self._quote_edge[req.client_order_id] = check.edge_bps
        sent = await submit_order(self.primary, req, policy=s.retry, log=log)
        if sent.outcome is SubmitOutcome.ACCEPTED:
            rejects[0] = 0
            log.debug("quoted {} {} @ {} (expected edge {:.3f} bps)", req.side, req.size, req.price, check.edge_bps)
            return order
        if sent.outcome is SubmitOutcome.UNKNOWN:
            log.warning("quote {} outcome unknown ({}); cancelling and resolving", req.client_order_id, sent.error)
            await self._cancel_and_resolve(order, blip=answered_5xx(sent.error))
            return order
        self.ptrack.mark_rejected(req.client_order_id, sent.error.message if sent.error else sent.outcome)
        rejects[0] += 1
        if rejects[0] > s.max_quote_rejects:
            raise MarketHalted(f"{rejects[0]} consecutive quotes refused or failed on {s.primary_symbol}; "
                               f"last: {sent.error}")
        if not isinstance(sent.error, PostOnlyWouldCross):
            log.warning("quote {} {}: {}", req.client_order_id, sent.outcome, sent.error)
        await self._wait_books()
        return order

    async def _review(self, resting: RestingQuote, switch_to: dict[Side, Decimal] | None, log: Logger) -> None:
        """The re-quote rules of one resting quote (module docstring, step 1), checked every
        ``quote_check_interval_s``: pulled at once on an invalid book, a market no longer ACTIVE or a price
        out of the band; pulled when its edge is gone and another side of ``switch_to`` passes (side
        selection; None: no switch); re-quoted when its edge or the top has been gone ``requote_after_s``."""
        s = self.s
        current = resting.order
        book = self.primary.book(s.primary_symbol)
        hbook = self.hedge.book(s.hedge_symbol)
        side = current.request.side
        if not book.valid or not hbook.valid:
            # Never quote blind: pull the quote at once when either book is unusable (a fill now
            # could not be priced or hedged). The risk guard fails the market if it stays so.
            bad = book if not book.valid else hbook
            log.warning("pulling quote {}: {} book invalid ({})", current.client_order_id, bad.symbol,
                        bad.invalid_reason)
            await self._cancel_and_resolve(current)
            return
        if not self._active():
            assert self.risk is not None
            log.warning("pulling quote {}: market {} ({})", current.client_order_id, self.risk.state,
                        self.risk.state_reason)
            await self._cancel_and_resolve(current)
            return
        price = current.request.price
        assert price is not None
        now = trio.current_time()
        check = self._quote_check(side, price, current.remaining, hbook)
        if not check.ok and check.reason != "edge":
            log.info("pulling quote {} @ {}: {} ({})", current.client_order_id, price, check.reason, check.detail)
            self.stats.count(self.stats.quote_skips, f"pulled_{check.reason}")
            await self._cancel_and_resolve(current)
            return
        if check.ok:
            resting.edge_gone_since = None
        elif switch_to is not None and self._other_side_passes(switch_to, side, book, hbook):
            log.debug("quote {} @ {}: edge gone ({}) while the other side passes: re-quote",
                      current.client_order_id, price, check.detail)
            self.stats.count(self.stats.quote_skips, "pulled_edge")
            await self._cancel_and_resolve(current)
            return
        elif resting.edge_gone_since is None:
            resting.edge_gone_since = now
        elif now - resting.edge_gone_since >= s.requote_after_s:
            log.debug("quote {} @ {}: edge gone for {:.3f}s ({}): re-quote", current.client_order_id, price,
                      now - resting.edge_gone_since, check.detail)
            self.stats.count(self.stats.quote_skips, "pulled_edge")
            await self._cancel_and_resolve(current)
            return
        top = book.best_bid() if side is Side.BUY else book.best_ask()
        at_top = top is None or (price >= top[0] if side is Side.BUY else price <= top[0])
        if at_top:
            resting.off_top_since = None
            return
        assert top is not None
        if resting.off_top_since is None:
            resting.off_top_since = now
        elif now - resting.off_top_since >= s.requote_after_s:
            log.debug("quote {} @ {} off the top ({}) for {:.3f}s: re-quote", current.client_order_id, price,
                      top[0], now - resting.off_top_since)
            await self._cancel_and_resolve(current)

    async def _cancel_and_resolve(self, order: Order, *, blip: bool = False) -> None:
        """Cancel ``order`` by client order id and resolve it. ``blip``: its POST was answered with a 5xx
        (:func:`~trio_hedge.engine._retry.answered_5xx`): one the venue keeps not knowing is never accepted."""
        try:
            await call_venue(self.primary.cancel, self.s.primary_symbol, order.client_order_id, policy=self.s.retry,
                             what=f"cancel {order.client_order_id}", log=self._log)
        except VenueError as exc:
            self._log.warning("cancel of {} failed ({}); resolving by query", order.client_order_id, exc)
        await self._resolve(self.ptrack, order.client_order_id, cancelled_by_id=blip)

    @asynccontextmanager
    async def _hedging(self) -> AsyncIterator[None]:
        """The cycle's hedge scope: ``max_hedges_in_flight`` worker tasks, each taking the next inbox item the
        moment it arrives and routing the hedge of the fills it took itself (no further task hop), so a fill
        that arrives while a hedge is in flight is taken by an idle worker at once; between fills the path is
        rehearsed to keep it warm (``WARM_PATH.registered``, ``engine/_rehearse.py``). Leaving the scope stops the idle
        workers and the rehearsals (a worker's hedge in flight always completes). A failure of any of them (a
        :class:`MarketFailed` from a route, the tracker gone) cancels the others and is raised as itself;
        several at once (workers failing in the same instant) are raised together, as a group
        (:func:`~trio_hedge.domain.sole_failure`): the market scope weighs and logs every one."""
        self._taking = True
        self._waits = set()
        try:
            async with trio.open_nursery() as nursery:
                for _ in range(self._max_routes):
                    nursery.start_soon(self._hedge_worker)
                rehearsal = hedge_rehearsal(self.router, self.primary, self.s.primary_symbol, self.s.order_size,
                                            lambda: not self._busy())
                try:
                    with WARM_PATH.registered(self.s.name, rehearsal):
                        yield
                finally:
                    self._taking = False  # no new route once the current ones end
                    for wait in list(self._waits):
                        wait.cancel()
        except BaseExceptionGroup as eg:
            leaf = sole_failure(eg)  # several failures stay a group: the market scope weighs every one
            if leaf is eg:
                raise
            raise leaf from None

    async def _hedge_worker(self) -> None:
        while self._taking:
            with trio.CancelScope() as wait:  # only the wait for an item is ever cancelled by the scope's exit
                self._waits.add(wait)
                try:
                    # One idle worker at a time waits on the inbox: a burst of fills goes to one worker, which
                    # takes them all (_on_inbox, no checkpoint) before the next idle worker starts waiting.
                    async with self._intake:
                        self._receiving += 1
                        try:
                            item = await self._inbox_receive()
                        finally:
                            self._receiving -= 1
                        self._on_inbox(item)
                finally:
                    self._waits.discard(wait)
            if wait.cancelled_caught:
                return
            self._changed.unpark_all()
            claim = self._claim()
            if claim is None:
                FILL_PRIORITY.clear()  # nothing to route now (netted, dust, or every route slot busy)
            while claim is not None:  # a fill taken is always hedged, even while the scope closes
                size, side, received_ns, frame_ns = claim
                try:
                    await self._hedge(size, side, received_ns, frame_ns)
                finally:
                    self._in_flight -= side.sign * size
                    self._routes -= 1
                    self._changed.unpark_all()
                # what accumulated while every worker was busy (fills already taken, dust reaching a lot)
                claim = self._claim() if self._taking else None

    def _busy(self) -> bool:
        """A received fill may be unhedged: an item waits in the inbox, an item was handed to a worker that
        has not run yet (a send to a waiting receiver bypasses the buffer: fewer tasks wait in ``receive``
        than workers are inside it), or a route is in flight."""
        stats = self.ptrack.inbox.statistics()
        return self._routes > 0 or stats.current_buffer_used > 0 or stats.tasks_waiting_receive < self._receiving

    async def _settle(self) -> None:
        """Wait until every fill received is taken and hedged (the inbox is empty, no route in flight)."""
        while self._busy():
            await self._changed.park()

    def _on_inbox(self, item: InboxItem) -> None:
        if not isinstance(item, InboxFill) or not self._take_fill(item):
            return
        # Fills already waiting (every worker was busy) join this one: one route for all of them. Each is
        # accounted once, by trade id.
        while True:
            try:
                queued = self.ptrack.inbox.receive_nowait()
            except (trio.WouldBlock, trio.EndOfChannel):
                break  # hedge what is taken; a closed inbox is handled at the next receive
            if isinstance(queued, InboxFill):
                self._take_fill(queued)

    def _claim(self) -> tuple[Decimal, Side, int, int] | None:
        """Assign the filled size not yet assigned to a route (signed: fills of the two sides net), floored to
        the hedge venue's lot, to a new route if it reaches the venue's minimum and a route slot is free:
        (size, side, first receipt ns in the engine, its frame's receipt ns in the adapter or 0).
        The routes in flight therefore never add up to more than was filled."""
        if self._routes >= self._max_routes or self._unassigned_since_ns is None:
            return None
        hinst = self.hedge.instrument(self.s.hedge_symbol)
        unassigned = self._pending_hedge - self._in_flight
        size = floor_to(abs(unassigned), hinst.lot_size)
        if size < hinst.min_size:
            return None
        side = Side.BUY if unassigned > ZERO else Side.SELL
        received_ns = self._unassigned_since_ns
        self._in_flight += side.sign * size
        self._routes += 1
        self.max_routes_seen = max(self.max_routes_seen, self._routes)
        if abs(self._pending_hedge - self._in_flight) < hinst.lot_size:
            self._unassigned_since_ns = None  # only dust below one lot is left unassigned
        return size, side, received_ns, self._unassigned_frame_ns

    async def _inbox_receive(self) -> InboxItem:
        try:
            return await self.ptrack.inbox.receive()
        except trio.EndOfChannel:
            await self._tracker_gone()

    async def _tracker_gone(self) -> NoReturn:
        """The primary's tracker closed the inbox. During shutdown its task can end (and close the channel)
        before this task's own cancellation is delivered, since receive_nowait is no checkpoint: checkpoint
        first so a pending cancellation wins; otherwise fills could no longer reach the hedger, which fails
        the market (cleanup flattens). Found by tests/test_process.py: the stray EndOfChannel crashed the
        process before the journal recorded the exit."""
        await trio.lowlevel.checkpoint()
        raise UnresolvedOrder("the primary's order tracker stopped: fills can no longer be hedged")

    def _take_fill(self, item: InboxFill) -> bool:
        """Account one maker fill for hedging, once per trade id. False for a repeat."""
        fill = item.fill
        if fill.trade_id in self.hedged_trade_ids:
            self._log.warning("maker fill {} seen twice: hedged once already", fill.trade_id)
            return False
        self.hedged_trade_ids.add(fill.trade_id)
        rec = self._rec
        assert rec is not None
        rec.maker_filled += fill.size
        rec.maker_notional += fill.notional
        self.stats.maker_fills += 1
        # Signed: a fill of the other side (two-sided quoting, or dust below the hedge venue's lot left by an
        # inventory leg of the other side) nets against what is not hedged yet, routes in flight included.
        self._maker_net += fill.side.sign * fill.size
        self._pending_hedge -= fill.side.sign * fill.size
        if self._pending_hedge == self._in_flight:
            self._unassigned_since_ns = None  # netted out: nothing left to assign to a route
        elif self._unassigned_since_ns is None:
            self._unassigned_since_ns = item.received_ns
            self._unassigned_frame_ns = fill.received_ns
        return True

    # ------------------------------------------------------------------ hedge
    async def _hedge(self, size: Decimal, side: Side, received_ns: int, frame_ns: int = 0) -> None:
        """Route the hedge of ``size``. Two latencies of its first order (``time.perf_counter_ns``): the
        engine's share (``stats.engine_latency_ns``: the tracker's receipt of the fill ``received_ns`` -> the
        order submitted), and the hedge latency (``stats.hedge_latency_ns``: the adapter's receipt of the fill's
        frame ``frame_ns`` -> the adapter's write of the order's frame, ``OrderReport.sent_ns``; where a venue
        does not stamp one end, the engine's stamp stands in for it)."""
        rec = self._rec
        assert rec is not None

        latency_ns = [0]
        submitted_ns = [0]

        def first_order() -> None:
            submitted_ns[0] = now = time.perf_counter_ns()
            self.stats.engine_latency_ns.record(now - received_ns)

        def first_sent(sent_ns: int) -> None:
            FILL_PRIORITY.clear()  # the hedge's first frame is out: the book readers go on (trio_hedge/_hotpath.py)
            latency_ns[0] = (sent_ns or submitted_ns[0]) - (frame_ns or received_ns)
            self.stats.hedge_latency_ns.record(latency_ns[0])
            self.stats.last_hedge_latency_ns = latency_ns[0]

        result = await self.router.route(side, size, reason="hedge", on_first_order=first_order,
                                         on_first_sent=first_sent)
        rec.hedge_filled += result.filled
        rec.hedge_notional += result.notional
        self.stats.hedge_orders += result.iterations
        if result.max_slippage_bps > self.stats.max_slippage_bps:
            self.stats.max_slippage_bps = result.max_slippage_bps
        self._pending_hedge -= side.sign * result.filled
        self._hedge_net += side.sign * result.filled
        self._hedge_done(rec, result, latency_ns[0])

    def _hedge_done(self, rec: CycleRecord, result: RouteResult, latency_ns: int) -> None:
        """One INFO line per hedge, and the hedge journaled as a ``hedge`` event (queued, never blocking):
        JSON ``{market, cycle, side, size, filled, avg_price, arrival_price, slippage_bps, max_slippage_bps,
        latency_us, orders, market_used}``; ``slippage_bps`` is the average fill through the arrival price
        (positive = worse), the report's per-hedge slippage and latency come from these events."""
        avg = result.notional / result.filled if result.filled else None
        slip = (slippage_bps(result.side, avg, result.arrival_price)
                if avg is not None and result.arrival_price is not None else None)
        self._log.bind(tag=f"{self.s.name}_CYCLE{rec.index}").info(
            "hedge {} {} of {} @ {} in {} order(s){}: latency {:.3f} ms, slippage {} bps", result.side,
            result.filled, result.requested, avg.quantize(Decimal("0.01")) if avg is not None else "-",
            result.iterations, " (MARKET step)" if result.market_used else "", latency_ns / 1e6,
            slip.quantize(Decimal("0.001")) + 0 if slip is not None else "-")
        if self.recorder is not None:
            self.recorder.post_note("hedge", json.dumps({
                "market": self.s.name, "cycle": rec.index, "side": result.side.value, "size": str(result.requested),
                "filled": str(result.filled), "avg_price": None if avg is None else str(avg),
                "arrival_price": None if result.arrival_price is None else str(result.arrival_price),
                "slippage_bps": None if slip is None else str(slip), "max_slippage_bps": str(result.max_slippage_bps),
                "latency_us": latency_ns // 1000, "orders": result.iterations, "market_used": result.market_used,
            }))

    # ------------------------------------------------------------------ verify and unwind
    async def _position(self, venue: Venue, tracker: OrderTracker, symbol: str, expected: Decimal) -> Decimal | None:
        """The venue's position: its private stream's report once it agrees with ``expected`` (stream first,
        waiting at most ``event_grace_s``: a position report follows its fill), else a position query (the
        fallback; it also costs request budget: 20 weight units on GRVT)."""
        if await tracker.wait_position(expected, wait_s=self.s.event_grace_s):
            return expected
        return await read_position(venue, symbol, policy=self.s.retry)

    async def _verify_legs(self, rec: CycleRecord, base_p: Decimal = ZERO,
                           base_h: Decimal = ZERO) -> tuple[Decimal, Decimal]:
        """Both positions read back (stream first, then a query) and checked against ``base_p`` / ``base_h``
        (the positions before the cycle: 0 in roundtrip mode) plus this cycle's fills (signed: a two-sided
        cycle's fills of both sides net)."""
        expected_p = base_p + self._maker_net
        expected_h = base_h + self._hedge_net
        p = await self._position(self.primary, self.ptrack, self.s.primary_symbol, expected_p)
        h = await self._position(self.hedge, self.htrack, self.s.hedge_symbol, expected_h)
        if p is None or h is None:
            raise UnresolvedOrder(f"cycle {rec.index}: positions cannot be read from the venues")
        if p != expected_p or h != expected_h or abs(p + h) > abs(self._pending_hedge):
            raise ImbalanceExceeded(
                f"cycle {rec.index}: venues report primary {p} (fills say {expected_p}), hedge {h} "
                f"(fills say {expected_h}); net {p + h}"
            )
        return p, h

    async def _close_leg(self, router: HedgeRouter, pos: Decimal | None) -> None:
        """Close one leg from its verified position ``pos``: a routed reduce-only unwind (market as the last
        step), confirmed zero; a second routed unwind if not; then :class:`HedgeFailed`."""
        venue, tracker, symbol = router.venue, router.tracker, router.symbol
        inst = venue.instrument(symbol)
        for _round in range(2):
            if pos is None:
                raise UnresolvedOrder(f"unwind: {venue.name} {symbol} position cannot be read")
            if pos == ZERO:
                return
            side = Side.SELL if pos > ZERO else Side.BUY
            size = inst.floor_size(abs(pos))
            if size < inst.min_size:
                raise ImbalanceExceeded(f"unwind: {venue.name} {symbol} residual {pos} below min size")
            await router.route(side, size, reason="unwind", reduce_only=True, market_fallback=True)
            pos = await self._position(venue, tracker, symbol, ZERO)
        if pos != ZERO:
            raise HedgeFailed(f"unwind: {venue.name} {symbol} still {pos} after two routed unwinds")
