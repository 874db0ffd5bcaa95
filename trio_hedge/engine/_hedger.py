"""The hedger: the cycle state machine of one market.

One cycle (``../shared/docs/design.md`` "What the program does"):

1. QUOTE: a post-only GTT limit on the primary at the best bid (cycle index even: BUY) or best ask (odd:
   SELL), for ``order_size`` minus what earlier quotes of this cycle filled. When the quote has been off
   the top of the book for ``requote_after_s`` it is cancelled, resolved (late fills included) and placed
   again at the new top. The quote is pulled at once when either venue's book becomes invalid (feed
   disconnected, sequence gap): the bot never rests a quote it could not price or hedge.
2. HEDGE: every maker fill (partial fills included) is hedged the moment its event arrives: an IOC limit
   on the hedge venue, opposite side, for exactly the filled size (never more; sizes below the hedge
   venue's lot accumulate until they reach it), priced at most ``slippage_cap_bps`` through the hedge
   venue's best price. An IOC that fills short is retried for the remainder with a fresh book, up to
   ``hedge_attempts`` times; then :class:`HedgeFailed`.
3. VERIFY: every order of the cycle resolved to a terminal state (stream first, status query by client
   order id as fallback, under ``order_deadline_s``), then both positions read from the venues: primary
   must equal the maker fills, hedge must equal minus the hedge fills, and their sum must be within one
   hedge lot. Anything else is :class:`ImbalanceExceeded`.
4. UNWIND: both legs closed concurrently with reduce-only IOC orders (capped like the hedge), a
   reduce-only market order as the last attempt, and both positions read back as zero.

Every failure raises a :class:`MarketFailed` subclass; the market scope then cancels and flattens.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import TYPE_CHECKING

import trio
from loguru import logger

from ..domain import (
    BPS,
    ZERO,
    BookSide,
    Order,
    OrderBook,
    OrderRequest,
    OrderType,
    Side,
    TimeInForce,
    ceil_to,
    floor_to,
)
from ..venues import (
    InsufficientMargin,
    InvalidOrder,
    OrderRejected,
    PostOnlyWouldCross,
    RateLimited,
    UnknownOutcome,
    Venue,
    VenueError,
)
from ._errors import FeedDown, HedgeFailed, ImbalanceExceeded, MarketHalted, UnresolvedOrder
from ._flatten import read_position
from ._settings import CycleRecord, MarketSettings, MarketStats
from ._tracker import InboxFill, InboxItem, OrderTracker

if TYPE_CHECKING:
    from loguru import Logger


def capped_price(book: OrderBook, side: Side, cap_bps: Decimal, tick: Decimal) -> tuple[Decimal, Decimal] | None:
    """The best price a taker on ``side`` meets and the limit ``cap_bps`` through it, on the tick grid.

    A BUY walks the asks: limit = floor(best_ask * (1 + cap/10^4)); a SELL walks the bids:
    limit = ceil(best_bid * (1 - cap/10^4)). Rounding is toward the best price, so the cap is never
    exceeded. Returns (best, limit), or None if that side of the book is empty.
    """
    if side is Side.BUY:
        top = book.best_ask()
        if top is None:
            return None
        return top[0], floor_to(top[0] * (1 + cap_bps / BPS), tick)
    top = book.best_bid()
    if top is None:
        return None
    return top[0], ceil_to(top[0] * (1 - cap_bps / BPS), tick)


class Hedger:
    """Runs ``settings.cycles`` hedge cycles on one market, or fewer if ``stop`` is set between cycles."""

    def __init__(
        self,
        settings: MarketSettings,
        primary: Venue,
        hedge: Venue,
        primary_tracker: OrderTracker,
        hedge_tracker: OrderTracker,
        stats: MarketStats,
        stop: trio.Event,
    ) -> None:
        self.s = settings
        self.primary = primary
        self.hedge = hedge
        self.ptrack = primary_tracker
        self.htrack = hedge_tracker
        self.stats = stats
        self._stop = stop
        self._log = logger.bind(tag=f"{settings.name}_HEDGER")
        self._pending_hedge = ZERO
        self._rec: CycleRecord | None = None
        self._side = Side.BUY

    async def run(self) -> None:
        for index in range(self.s.cycles):
            if self._stop.is_set():
                self._log.info("stop requested: no new cycles after {}", index)
                return
            await self._cycle(index)
        self._log.info("all {} cycles done", self.s.cycles)

    # ------------------------------------------------------------------ helpers
    async def _valid_book(self, venue: Venue, symbol: str) -> OrderBook:
        book = venue.book(symbol)
        if book.valid:
            return book
        with trio.move_on_after(self.s.book_wait_s):
            while not book.valid:
                await venue.wait_book_change(symbol)
        if not book.valid:
            raise FeedDown(f"{venue.name} {symbol} book invalid for {self.s.book_wait_s}s: {book.invalid_reason}")
        return book

    async def _resolve(self, tracker: OrderTracker, client_order_id: str) -> Order:
        return await tracker.resolve_within(
            client_order_id,
            deadline_s=self.s.order_deadline_s,
            event_grace_s=self.s.event_grace_s,
            query_interval_s=self.s.query_interval_s,
        )

    # ------------------------------------------------------------------ the cycle
    async def _cycle(self, index: int) -> None:
        side = Side.BUY if index % 2 == 0 else Side.SELL
        rec = CycleRecord(index, side.value)
        self._rec = rec
        self._side = side
        self._pending_hedge = ZERO
        self.stats.cycles.append(rec)
        log = self._log.bind(tag=f"{self.s.name}_CYCLE{index}")
        log.info("cycle {} start: quote {} {}", index, side, self.s.order_size)
        started_s = trio.current_time()
        quotes = await self._quote_until_filled(side, log)
        for q in quotes:
            if not q.is_terminal:
                await self._resolve(self.ptrack, q.client_order_id)
        # Every fill the tracker applied to our quotes must have been through the inbox (and hedged)
        # before the legs are verified.
        quoted_fill = sum((q.filled_size for q in quotes), ZERO)
        while rec.maker_filled < quoted_fill:
            got: InboxItem | None = None
            with trio.move_on_after(self.s.order_deadline_s):
                got = await self.ptrack.inbox.receive()
            if got is not None:
                await self._on_inbox(got)
                continue
            raise UnresolvedOrder(f"cycle {index}: tracker applied {quoted_fill} of fills, hedger saw {rec.maker_filled}")
        await self._drain_inbox()
        if self._pending_hedge > ZERO:
            log.warning("{} filled but below the hedge venue's minimum; unwound with the legs", self._pending_hedge)
        await self._verify_legs(rec, side)
        if rec.maker_filled > ZERO and rec.hedge_filled > ZERO:
            maker_avg = rec.maker_notional / rec.maker_filled
            hedge_avg = rec.hedge_notional / rec.hedge_filled
            rec.edge_bps = side.sign * (hedge_avg - maker_avg) / maker_avg * BPS
            self.stats.edges_bps.append(rec.edge_bps)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._close_leg, self.primary, self.ptrack, self.s.primary_symbol)
            nursery.start_soon(self._close_leg, self.hedge, self.htrack, self.s.hedge_symbol)
        rec.outcome = "completed"
        self.stats.cycles_completed += 1
        log.info(
            "cycle {} done in {:.3f}s: maker {} @ {}, hedge {} @ {}, edge {} bps",
            index,
            trio.current_time() - started_s,
            rec.maker_filled,
            (rec.maker_notional / rec.maker_filled).quantize(Decimal("0.01")) if rec.maker_filled else "-",
            rec.hedge_filled,
            (rec.hedge_notional / rec.hedge_filled).quantize(Decimal("0.01")) if rec.hedge_filled else "-",
            rec.edge_bps.quantize(Decimal("0.01")) if rec.edge_bps is not None else "-",
        )

    async def _quote_until_filled(self, side: Side, log: Logger) -> list[Order]:
        s = self.s
        psym = s.primary_symbol
        quotes: list[Order] = []
        current: Order | None = None
        off_top_since: float | None = None
        rejects = 0
        while True:
            await self._drain_inbox()
            filled = sum((q.filled_size for q in quotes), ZERO)
            if current is None or current.is_terminal:
                remaining = s.order_size - filled
                if remaining <= ZERO:
                    return quotes
                await self._valid_book(self.hedge, s.hedge_symbol)  # no quote we could not hedge
                book = await self._valid_book(self.primary, psym)
                top = book.best_bid() if side is Side.BUY else book.best_ask()
                if top is None:
                    await self.primary.wait_book_change(psym)
                    continue
                req = OrderRequest(
                    client_order_id=self.primary.new_client_order_id(),
                    symbol=psym,
                    side=side,
                    size=remaining,
                    order_type=OrderType.LIMIT,
                    price=top[0],
                    tif=TimeInForce.GTT,
                    post_only=True,
                    reason="quote",
                )
                current = self.ptrack.register(req, forward=True)
                quotes.append(current)
                off_top_since = None
                try:
                    await self.primary.place(req)
                    rejects = 0
                except PostOnlyWouldCross as exc:
                    self.ptrack.mark_rejected(req.client_order_id, exc.message)
                    rejects += 1
                    if rejects > s.max_quote_rejects:
                        raise MarketHalted(f"{rejects} consecutive post-only rejections on {psym}") from None
                    with trio.move_on_after(s.quote_check_interval_s):
                        await self.primary.wait_book_change(psym)
                    continue
                except (InvalidOrder, InsufficientMargin) as exc:
                    self.ptrack.mark_rejected(req.client_order_id, exc.message)
                    raise MarketHalted(f"quote refused by {self.primary.name}: {exc}") from None
                except RateLimited as exc:
                    self.ptrack.mark_rejected(req.client_order_id, "rate_limited")
                    await trio.sleep(exc.retry_after_s or 0.5)
                    continue
                except OrderRejected as exc:
                    self.ptrack.mark_rejected(req.client_order_id, exc.message)
                    continue
                except UnknownOutcome as exc:
                    log.warning("quote {} outcome unknown ({}); cancelling and resolving", req.client_order_id, exc)
                    await self._cancel_and_resolve(current)
                    continue
                log.debug("quoted {} {} @ {}", side, remaining, top[0])
                continue
            # Only the wait is under the check timer: a hedge started by a fill must never be cancelled
            # by it (that would abandon a hedge mid-flight).
            got: InboxItem | None = None
            with trio.move_on_after(s.quote_check_interval_s):
                got = await self.ptrack.inbox.receive()
            if got is not None:
                await self._on_inbox(got)
                continue
            book = self.primary.book(psym)
            hbook = self.hedge.book(s.hedge_symbol)
            if not book.valid or not hbook.valid:
                # Never quote blind: pull the quote at once when either book is unusable (a fill now
                # could not be priced or hedged). The risk guard fails the market if it stays so.
                bad = book if not book.valid else hbook
                log.warning("pulling quote {}: {} book invalid ({})", current.client_order_id, bad.symbol,
                            bad.invalid_reason)
                await self._cancel_and_resolve(current)
                continue
            top = book.best_bid() if side is Side.BUY else book.best_ask()
            price = current.request.price
            assert price is not None
            at_top = top is None or (price >= top[0] if side is Side.BUY else price <= top[0])
            if at_top:
                off_top_since = None
                continue
            now = trio.current_time()
            if off_top_since is None:
                off_top_since = now
            elif now - off_top_since >= s.requote_after_s:
                log.debug("quote {} @ {} off the top ({}) for {:.3f}s: re-quote", current.client_order_id, price,
                          top[0], now - off_top_since)
                await self._cancel_and_resolve(current)

    async def _cancel_and_resolve(self, order: Order) -> None:
        try:
            await self.primary.cancel(self.s.primary_symbol, order.client_order_id)
        except VenueError as exc:
            self._log.warning("cancel of {} failed ({}); resolving by query", order.client_order_id, exc)
        await self._resolve(self.ptrack, order.client_order_id)

    async def _drain_inbox(self) -> None:
        while True:
            try:
                item = self.ptrack.inbox.receive_nowait()
            except trio.WouldBlock:
                return
            await self._on_inbox(item)

    async def _on_inbox(self, item: InboxItem) -> None:
        if not isinstance(item, InboxFill):
            return
        fill = item.fill
        rec = self._rec
        assert rec is not None
        rec.maker_filled += fill.size
        rec.maker_notional += fill.notional
        self.stats.maker_fills += 1
        self.stats.volume_quote += fill.notional
        self._pending_hedge += fill.size
        hinst = self.hedge.instrument(self.s.hedge_symbol)
        size = floor_to(self._pending_hedge, hinst.lot_size)
        if size < hinst.min_size:
            return
        await self._hedge(size, fill.side.opposite, item.received_ns)

    # ------------------------------------------------------------------ hedge
    async def _hedge(self, size: Decimal, side: Side, received_ns: int) -> None:
        s = self.s
        hsym = s.hedge_symbol
        rec = self._rec
        assert rec is not None
        tick = self.hedge.instrument(hsym).tick_size
        remaining = size
        log = self._log.bind(tag=f"{s.name}_HEDGE")
        for attempt in range(s.hedge_attempts):
            book = await self._valid_book(self.hedge, hsym)
            priced = capped_price(book, side, s.slippage_cap_bps, tick)
            if priced is None:
                with trio.move_on_after(s.quote_check_interval_s):
                    await self.hedge.wait_book_change(hsym)
                continue
            best, limit = priced
            req = OrderRequest(
                client_order_id=self.hedge.new_client_order_id(),
                symbol=hsym,
                side=side,
                size=remaining,
                order_type=OrderType.LIMIT,
                price=limit,
                tif=TimeInForce.IOC,
                reason="hedge",
            )
            self.htrack.register(req)
            if attempt == 0:
                self.stats.hedge_latency_ns.append(time.perf_counter_ns() - received_ns)
            self.stats.hedge_orders += 1
            try:
                await self.hedge.place(req)
            except (InvalidOrder, InsufficientMargin) as exc:
                self.htrack.mark_rejected(req.client_order_id, exc.message)
                raise MarketHalted(f"hedge refused by {self.hedge.name}: {exc}") from None
            except RateLimited as exc:
                self.htrack.mark_rejected(req.client_order_id, "rate_limited")
                await trio.sleep(exc.retry_after_s or 0.2)
                continue
            except OrderRejected as exc:
                self.htrack.mark_rejected(req.client_order_id, exc.message)
                log.warning("hedge attempt {} rejected: {}", attempt + 1, exc)
                continue
            except UnknownOutcome as exc:
                log.warning("hedge {} outcome unknown ({}); resolving by query", req.client_order_id, exc)
            order = await self._resolve(self.htrack, req.client_order_id)
            filled = order.filled_size
            if filled > ZERO:
                rec.hedge_filled += filled
                rec.hedge_notional += order.filled_notional
                self.stats.volume_quote += order.filled_notional
                avg = order.filled_notional / filled
                slip = side.sign * (avg - best) / best * BPS
                if slip > self.stats.max_slippage_bps:
                    self.stats.max_slippage_bps = slip
                self._pending_hedge -= filled
                remaining -= filled
            log.debug("hedge attempt {}: {} {} IOC limit {} (best {}): filled {}", attempt + 1, side, req.size,
                      limit, best, filled)
            if remaining <= ZERO:
                return
        raise HedgeFailed(
            f"hedge {side} {size} on {self.hedge.name} {hsym}: {remaining} unfilled after {s.hedge_attempts} IOC "
            f"attempts within {s.slippage_cap_bps} bps"
        )

    # ------------------------------------------------------------------ verify and unwind
    async def _verify_legs(self, rec: CycleRecord, side: Side) -> None:
        p = await read_position(self.primary, self.s.primary_symbol)
        h = await read_position(self.hedge, self.s.hedge_symbol)
        if p is None or h is None:
            raise UnresolvedOrder(f"cycle {rec.index}: positions cannot be read from the venues")
        expected_p = side.sign * rec.maker_filled
        expected_h = -side.sign * rec.hedge_filled
        if p != expected_p or h != expected_h or abs(p + h) > self._pending_hedge:
            raise ImbalanceExceeded(
                f"cycle {rec.index}: venues report primary {p} (fills say {expected_p}), hedge {h} "
                f"(fills say {expected_h}); net {p + h}"
            )

    async def _close_leg(self, venue: Venue, tracker: OrderTracker, symbol: str) -> None:
        s = self.s
        inst = venue.instrument(symbol)
        for attempt in range(s.hedge_attempts + 1):
            pos = await read_position(venue, symbol)
            if pos is None:
                raise UnresolvedOrder(f"unwind: {venue.name} {symbol} position cannot be read")
            if pos == ZERO:
                return
            side = Side.SELL if pos > ZERO else Side.BUY
            size = inst.floor_size(abs(pos))
            if size < inst.min_size:
                raise ImbalanceExceeded(f"unwind: {venue.name} {symbol} residual {pos} below min size")
            last = attempt == s.hedge_attempts
            priced = None if last else capped_price(venue.book(symbol), side, s.slippage_cap_bps, inst.tick_size)
            if priced is None or not venue.book(symbol).valid:
                req = OrderRequest(venue.new_client_order_id(), symbol, side, size, OrderType.MARKET, None,
                                   TimeInForce.IOC, reduce_only=True, reason="unwind")
            else:
                req = OrderRequest(venue.new_client_order_id(), symbol, side, size, OrderType.LIMIT, priced[1],
                                   TimeInForce.IOC, reduce_only=True, reason="unwind")
            tracker.register(req)
            try:
                await venue.place(req)
            except OrderRejected as exc:
                tracker.mark_rejected(req.client_order_id, exc.message)
                self._log.warning("unwind on {} rejected: {}", venue.name, exc)
                continue
            except RateLimited as exc:
                tracker.mark_rejected(req.client_order_id, "rate_limited")
                await trio.sleep(exc.retry_after_s or 0.2)
                continue
            except UnknownOutcome:
                pass
            order = await self._resolve(tracker, req.client_order_id)
            self.stats.volume_quote += order.filled_notional
        pos = await read_position(venue, symbol)
        if pos != ZERO:
            raise HedgeFailed(f"unwind: {venue.name} {symbol} still {pos} after {s.hedge_attempts + 1} attempts")
