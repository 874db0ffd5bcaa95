"""Smart routing of a taker order (the hedge, and the unwind): book depth analysis, iterative IOC slices
under a slippage cap measured from the arrival price, and a fallback ladder.

Depth analysis (:func:`analyze_depth`): for a taker of ``size`` on ``side``, the book side it walks (a BUY
walks the asks), its levels within the cap, their cumulative size, the VWAP and worst price to fill the size
within the cap, and the liquidity available within the cap (the ``OrderBook.estimate_fill`` /
``liquidity_within`` / ``cumulative`` quantities, in one pass over at most the best 20 levels: it runs before
every slice, so it never walks a whole dense book).

The cap (:func:`cap_limit_price`) is measured from the **arrival price**: the best price on the taker's side
when the decision to trade is made (the first book read of :meth:`HedgeRouter.route`). Every slice is priced
within ``cap`` of that price, never of the current best, so successive iterations cannot creep past it while
the book runs away (the field's iterative routers re-price from each new best: "Iteration 10: placing ... at
2934.31 (BBO level 9)" from an arrival of 3024.31 is 3% through).

Iterations (:meth:`HedgeRouter.route`): re-read the book, take the liquidity within the current cap,
``qty = min(remaining, available within the cap)`` floored to the lot, and send an IOC limit priced at the
level that fills ``qty`` (level ``L``: the worst price needed, never past the cap). What it fills comes off the
remainder; an IOC that fills nothing is a miss, and each miss prices the following slices one level deeper
(successive levels, still within the cap: the book can show liquidity that others, or our own earlier
slices, have already taken). Fallback ladder, each step logged under the ``<market>_SMART_ROUTING`` tag:

1. the cap ``slippage_cap_bps``;
2. when the book has no liquidity left within the cap, or the deepest level within it missed (once if the
   book has not changed since, else ``hedge_attempts`` times in a row): widen the cap by
   ``slippage_cap_step_bps``, up to ``hard_slippage_cap_bps`` (still from the arrival price);
3. after the hard cap: one MARKET IOC for the remainder, if ``market_fallback`` (the only step that may fill
   beyond the hard cap; with ``market_fallback = false`` no fill is ever worse than the hard cap);
4. then :class:`HedgeFailed`: the market scope cancels, flattens both legs and the market halts.

Concurrent routes (the hedger runs up to ``max_hedges_in_flight`` of them through one router): every slice
in flight claims its size on its side until it is resolved, and the depth analysis of every other slice on
that side starts past the claimed liquidity (the ``claimed`` argument of :func:`analyze_depth`), so two of
our own IOCs never price into the same levels. When what is left within the cap is only short because of
those claims, the slice waits for a claim to be released (the other slice resolved: its liquidity is taken,
or back) instead of widening the cap against itself.

Log lines follow the field's ``SMART_ROUTING`` tag (perp-dex-tools forks, ``exchanges/grvt.py``
``place_iterative_market_order``), carried once, as the line's tag (``[BTC_SMART_ROUTING]``; the unwind's
router ``[BTC_UNWIND]``): ``Starting with buy order at P, available liquidity: S``, ``Iteration N: placing Q
at P (level L)`` and the route's ``done`` line are DEBUG (the hedger writes one INFO line per hedge, the
cycle one per cycle); a widened cap, the MARKET step, an empty book side and an exhausted ladder are WARNING
and ERROR. The first slice's lines are written right after its place call returns (a log line costs about
0.4 ms with the redacting sink; the first hedge order does not wait for them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import trio
from loguru import logger

from ..domain import (
    BPS,
    ZERO,
    BookSide,
    Instrument,
    Level,
    Order,
    OrderBook,
    OrderRequest,
    OrderType,
    Side,
    TimeInForce,
    ceil_to,
    floor_to,
)
from ..venues import Venue, VenueError
from ._errors import FeedDown, HedgeFailed
from ._retry import SubmitOutcome, answered_5xx, call_venue, submit_order

if TYPE_CHECKING:
    from ._risk import RiskEngine
    from ._settings import MarketSettings
    from ._tracker import OrderTracker


def taker_book_side(side: Side) -> BookSide:
    """The book side a taker on ``side`` walks: a BUY takes the asks, a SELL the bids."""
    return BookSide.ASK if side is Side.BUY else BookSide.BID


def cap_limit_price(side: Side, arrival_price: Decimal, cap_bps: Decimal, tick: Decimal) -> Decimal:
    """The worst price a taker on ``side`` accepts: ``cap_bps`` through ``arrival_price``, on the tick grid.

    BUY: ``floor(arrival * (1 + cap / 10^4))``; SELL: ``ceil(arrival * (1 - cap / 10^4))``. Rounding is toward
    the arrival price, so the cap is never exceeded.
    """
    if side is Side.BUY:
        return floor_to(arrival_price * (1 + cap_bps / BPS), tick)
    return ceil_to(arrival_price * (1 - cap_bps / BPS), tick)


def slippage_bps(side: Side, price: Decimal, arrival_price: Decimal) -> Decimal:
    """How far ``price`` is through ``arrival_price`` for a taker on ``side``, bps (negative = better)."""
    return side.sign * (price - arrival_price) / arrival_price * BPS


@dataclass(frozen=True, slots=True)
class DepthAnalysis:
    """The book as a taker of ``size`` on ``side`` sees it, within ``cap_bps`` of ``arrival_price``.

    Attributes:
        side (Side): the taker's side.
        size (Decimal): the size to fill, base units.
        arrival_price (Decimal): the cap's reference price.
        cap_bps (Decimal): the cap.
        limit_price (Decimal): the worst acceptable price (:func:`cap_limit_price`).
        best_price (Decimal | None): the current best price on the walked side (None if it is empty).
        levels (list[Level]): the walked side's levels within the limit, best first (at most ``max_levels``).
        cumulative (list[Level]): the same levels with running total size, (price, cumulative size).
        available (Decimal): total size within the limit (every level, not only ``levels``), base units.
        vwap (Decimal | None): VWAP of ``min(size, available)`` within the limit (None if nothing).
        worst_price (Decimal | None): the price of the last level that fill touches (None if nothing).
        levels_needed (int): how many levels that fill touches.
    """

    side: Side
    size: Decimal
    arrival_price: Decimal
    cap_bps: Decimal
    limit_price: Decimal
    best_price: Decimal | None
    levels: list[Level]
    cumulative: list[Level]
    available: Decimal
    vwap: Decimal | None
    worst_price: Decimal | None
    levels_needed: int

    @property
    def complete(self) -> bool:
        """The whole size is available within the cap."""
        return self.available >= self.size


def analyze_depth(
    book: OrderBook,
    side: Side,
    size: Decimal,
    *,
    arrival_price: Decimal,
    cap_bps: Decimal,
    tick: Decimal,
    max_levels: int = 20,
    claimed: Decimal = ZERO,
) -> DepthAnalysis:
    """Depth analysis for a taker of ``size`` on ``side`` (see :class:`DepthAnalysis`), in one pass over at
    most ``max_levels`` levels of the walked side, best first (the hedge path calls it before every slice, so
    it never walks a whole dense book: ``available`` counts the liquidity within the cap among those levels).

    ``claimed`` (base units, >= 0) is liquidity our own taker orders in flight on the same side are taking:
    it comes off the best levels first (a level it covers whole is left out of ``levels``, a level it covers
    in part is shortened), since an IOC takes the walked side best first. ``best_price`` stays the book's.

    Args:
        book: the venue's book (read between awaits; not mutated).
        side: the taker's side.
        size: base units, > 0.
        arrival_price: the cap's reference (the best price when the decision was made).
        cap_bps: the cap through ``arrival_price``.
        tick: the venue's tick size (the limit is on its grid).
        max_levels: how many levels to look at.
    """
    bside = taker_book_side(side)
    limit = cap_limit_price(side, arrival_price, cap_bps, tick)
    ask = bside is BookSide.ASK
    best: Decimal | None = None
    levels: list[Level] = []
    cumulative: list[Level] = []
    total = ZERO
    remaining = size
    notional = ZERO
    worst: Decimal | None = None
    needed = 0
    for i, (price, qty) in enumerate(book.iter_levels(bside)):
        if i == 0:
            best = price
        if i >= max_levels or (price > limit if ask else price < limit):
            break
        if claimed > ZERO:
            if claimed >= qty:
                claimed -= qty
                continue
            qty -= claimed
            claimed = ZERO
        levels.append((price, qty))
        total += qty
        cumulative.append((price, total))
        if remaining > ZERO:
            take = qty if qty < remaining else remaining
            notional += take * price
            remaining -= take
            worst = price
            needed += 1
    filled = size - remaining
    return DepthAnalysis(
        side=side,
        size=size,
        arrival_price=arrival_price,
        cap_bps=cap_bps,
        limit_price=limit,
        best_price=best,
        levels=levels,
        cumulative=cumulative,
        available=total,
        vwap=notional / filled if filled > ZERO else None,
        worst_price=worst,
        levels_needed=needed,
    )


def _fillable(book: OrderBook, side: Side, size: Decimal, arrival: Decimal, cap_bps: Decimal,
              inst: Instrument) -> bool:
    """Whether ``book``, claims ignored, shows at least the venue's minimum size (on its lot grid) within
    ``cap_bps`` of ``arrival`` for a taker of ``size`` on ``side``."""
    a = analyze_depth(book, side, size, arrival_price=arrival, cap_bps=cap_bps, tick=inst.tick_size)
    return inst.floor_size(min(size, a.available)) >= inst.min_size


async def valid_book(venue: Venue, symbol: str, wait_s: float) -> OrderBook:
    """``venue``'s book for ``symbol`` once it is valid (waits at most ``wait_s``).

    Raises:
        FeedDown: still invalid after ``wait_s``.
    """
    book = venue.book(symbol)
    if book.valid:
        return book
    with trio.move_on_after(wait_s) as waited:
        while not book.valid:
            await venue.wait_book_change(symbol)
    if waited.cancelled_caught:
        raise FeedDown(f"{venue.name} {symbol} book invalid for {wait_s}s: {book.invalid_reason}")
    return book


@dataclass(slots=True)
class RouteResult:
    """What one :meth:`HedgeRouter.route` did.

    Attributes:
        side (Side), requested (Decimal): the taker's side and size.
        arrival_price (Decimal | None): the cap's reference (None if the book side was empty at arrival).
        filled (Decimal), notional (Decimal): filled size (base) and its notional (quote).
        iterations (int): orders sent (limit slices and the market step).
        cap_bps (Decimal | None): the widest cap used.
        market_used (bool): the MARKET fallback was sent.
        max_slippage_bps (Decimal): the worst order's average fill through the arrival price.
        orders (list[str]): client order ids sent.
    """

    side: Side
    requested: Decimal
    arrival_price: Decimal | None = None
    filled: Decimal = ZERO
    notional: Decimal = ZERO
    iterations: int = 0
    cap_bps: Decimal | None = None
    market_used: bool = False
    max_slippage_bps: Decimal = ZERO
    orders: list[str] = field(default_factory=list)

    @property
    def remaining(self) -> Decimal:
        return self.requested - self.filled


class HedgeRouter:
    """Routes taker orders on one venue/symbol (see the module docstring).

    Args:
        venue: the venue (rate limited or not).
        tracker: the order tracker of that venue/symbol (orders are registered before they are sent).
        symbol: the venue symbol.
        settings: the market's settings (ladder, attempts, deadlines, retry policy).
        risk: the market's risk engine; every order is checked against its trading state first.
        counters: where to count ladder steps (``MarketStats.routing``), or None.
    """

    def __init__(
        self,
        venue: Venue,
        tracker: OrderTracker,
        symbol: str,
        settings: MarketSettings,
        *,
        risk: RiskEngine | None = None,
        counters: dict[str, int] | None = None,
        tag: str = "SMART_ROUTING",
    ) -> None:
        self.venue = venue
        self.tracker = tracker
        self.symbol = symbol
        self.s = settings
        self.risk = risk
        self.counters = counters if counters is not None else {}
        self._log = logger.bind(tag=f"{settings.name}_{tag}")
        self._claimed: dict[Side, Decimal] = {Side.BUY: ZERO, Side.SELL: ZERO}  # size of slices in flight
        self._claims = trio.lowlevel.ParkingLot()  # a claim was released
        self._rehearsal_id: str | None = None  # the client order id of every rehearsal (rehearse), never sent

    def claimed(self, side: Side) -> Decimal:
        """Base size of this router's taker slices on ``side`` sent and not yet resolved."""
        return self._claimed[side]

    def _count(self, key: str) -> None:
        self.counters[key] = self.counters.get(key, 0) + 1

    async def route(
        self,
        side: Side,
        size: Decimal,
        *,
        reason: str = "hedge",
        reduce_only: bool = False,
        market_fallback: bool | None = None,
        on_first_order: Callable[[], None] | None = None,
        on_first_sent: Callable[[int], None] | None = None,
    ) -> RouteResult:
        """Fill ``size`` on ``side`` with IOC slices and the fallback ladder.

        Args:
            side: taker side.
            size: base units, on the lot grid.
            reason: recorded on the orders (``hedge``/``unwind``).
            reduce_only: send reduce-only orders (the unwind).
            market_fallback: override ``settings.market_fallback``.
            on_first_order: called just before the first order is submitted (the engine's share of the hedge
                latency).
            on_first_sent: called once the first order's place call has returned, with the adapter's stamp of its
                frame written (``OrderReport.sent_ns``; 0 when the venue does not stamp it or gave no answer).

        Returns:
            RouteResult: with ``remaining`` below the venue's minimum size (usually 0).

        Raises:
            HedgeFailed: the ladder is exhausted (the caller's market scope then flattens and halts).
            FeedDown: no valid book within ``book_wait_s``.
            MarketHalted: a halting refusal (quotes and hedges), or the market is HALTED.
            UnresolvedOrder: an order's outcome could not be established.
        """
        s = self.s
        inst = self.venue.instrument(self.symbol)
        fallback = s.market_fallback if market_fallback is None else market_fallback
        result = RouteResult(side=side, requested=size)
        book = await valid_book(self.venue, self.symbol, s.book_wait_s)
        top = book.best_ask() if side is Side.BUY else book.best_bid()
        caps = s.slippage_ladder_bps()
        side_word = side.value.lower()
        if top is not None:
            arrival = top[0]
            result.arrival_price = arrival
            offset = 0  # levels to skip below the one the book says fills the slice (grows with each miss)
            for step, cap in enumerate(caps):
                if result.remaining < inst.min_size:
                    break
                if step > 0:
                    self._count("widened")
                    self._log.warning(
                        "nothing (more) fillable within {} bps of arrival {} for {}: widening the cap "
                        "to {} bps (limit {}; hard cap {} bps)", caps[step - 1], arrival, result.remaining, cap,
                        cap_limit_price(side, arrival, cap, inst.tick_size), caps[-1],
                    )
                result.cap_bps = cap
                deep_misses = 0
                while result.remaining >= inst.min_size and deep_misses < s.hedge_attempts:
                    if result.iterations:
                        book = await valid_book(self.venue, self.symbol, s.book_wait_s)
                    claimed = self._claimed[side]
                    a = analyze_depth(book, side, result.remaining, arrival_price=arrival, cap_bps=cap,
                                      tick=inst.tick_size, claimed=claimed)
                    qty = inst.floor_size(min(result.remaining, a.available))
                    if qty < inst.min_size and claimed > ZERO and _fillable(book, side, result.remaining, arrival,
                                                                            cap, inst):
                        # Short within the cap only because our own slices in flight take it: wait for one
                        # to be resolved (its claim released), then read the book again.
                        self._count("waited_for_own_slice")
                        await self._claims.park()
                        book = await valid_book(self.venue, self.symbol, s.book_wait_s)
                        continue
                    lines: list[tuple[Any, ...]] = []
                    if result.iterations == 0 and step == 0:
                        lines.append((
                            "Starting with {} order at {}, available liquidity: {} (size {}, cap {} "
                            "bps -> limit {}, {} levels within)", side_word, arrival, a.available, size, cap,
                            a.limit_price, len(a.levels),
                        ))
                    if qty < inst.min_size or a.worst_price is None:
                        self._emit(lines)
                        break  # nothing left within this cap: next step of the ladder
                    # The level that fills qty per the book (for qty < remaining every level within the cap is
                    # taken), one level deeper per earlier miss: liquidity the book still shows may be gone.
                    level = min(a.levels_needed - 1 + offset, len(a.levels) - 1)
                    deepest = level == len(a.levels) - 1
                    price = a.levels[level][0]
                    lines.append(("Iteration {}: placing {} at {} (level {}), remaining {}",
                                  result.iterations + 1, qty, price, level, result.remaining))
                    if result.iterations:
                        self._emit(lines)
                        lines = []
                    seen_updates = book.updates
                    filled = await self._send(result, side, qty, price, reason, reduce_only, on_first_order, lines,
                                              on_first_sent)
                    on_first_order = on_first_sent = None
                    if filled > ZERO:
                        deep_misses = 0
                    elif not deepest:
                        offset += 1
                    elif book.updates == seen_updates:
                        break  # the deepest level missed and the book has not moved since: this cap is spent
                    else:
                        deep_misses += 1
        else:
            self._log.warning("{} side of {} {} is empty at arrival", side_word, self.venue.name,
                              self.symbol)
        if result.remaining >= inst.min_size and fallback:
            self._count("market")
            self._log.warning("nothing fillable within the hard cap {} bps for {}: MARKET order",
                              caps[-1], result.remaining)
            self._log.debug("Iteration {}: placing {} at MARKET", result.iterations + 1,
                            result.remaining)
            result.market_used = True
            await self._send(result, side, result.remaining, None, reason, reduce_only, on_first_order, [],
                             on_first_sent)
        if result.remaining >= inst.min_size:
            self._count("failed")
            self._log.error("ladder exhausted: {} of {} not filled: flatten and halt the market",
                            result.remaining, size)
            raise HedgeFailed(
                f"{reason} {side} {size} on {self.venue.name} {self.symbol}: {result.remaining} unfilled after "
                f"{result.iterations} orders (caps {', '.join(str(c) for c in caps)} bps from arrival "
                f"{result.arrival_price}{', then market' if fallback else ''})"
            )
        self._log.debug("done: {} {} filled in {} orders (avg {}, worst order {:.3f} bps through "
                        "arrival)", side_word, result.filled, result.iterations,
                        (result.notional / result.filled).quantize(Decimal("0.01")) if result.filled else "-",
                        result.max_slippage_bps)
        return result

    def rehearse(self, side: Side, size: Decimal) -> bool:
        """Rehearse a hedge of ``size`` on ``side`` (``engine/_rehearse.py``): the depth analysis and the order
        of :meth:`route`'s first slice, handed to the venue's ``rehearse_place`` (where it has one: everything
        ``place`` does before the send, nothing sent or recorded). Nothing is registered, claimed, counted or
        logged; every rehearsal uses the same client order id, drawn once and never sent.

        Returns:
            bool: whether an order was rehearsed (False: no ``rehearse_place``, the book is not valid, or
            nothing is fillable within the cap).

        Raises:
            what the venue's ``rehearse_place`` raises (InvalidOrder, a journal error).
        """
        rehearse_place = getattr(self.venue, "rehearse_place", None)
        book = self.venue.book(self.symbol)
        if rehearse_place is None or not book.valid:
            return False
        inst = self.venue.instrument(self.symbol)
        top = book.best_ask() if side is Side.BUY else book.best_bid()
        if top is None:
            return False
        a = analyze_depth(book, side, size, arrival_price=top[0], cap_bps=self.s.slippage_ladder_bps()[0],
                          tick=inst.tick_size, claimed=self._claimed[side])
        qty = inst.floor_size(min(size, a.available))
        if qty < inst.min_size or a.worst_price is None:
            return False
        if self._rehearsal_id is None:
            self._rehearsal_id = self.venue.new_client_order_id()
        rehearse_place(OrderRequest(
            client_order_id=self._rehearsal_id, symbol=self.symbol, side=side, size=qty,
            order_type=OrderType.LIMIT, price=a.levels[a.levels_needed - 1][0], tif=TimeInForce.IOC,
            reason="hedge",
        ))  # fmt: skip
        return True

    def _emit(self, lines: list[tuple[Any, ...]]) -> None:
        for line in lines:
            self._log.debug(*line)

    async def _send(
        self,
        result: RouteResult,
        side: Side,
        qty: Decimal,
        price: Decimal | None,
        reason: str,
        reduce_only: bool,
        on_first_order: Callable[[], None] | None,
        deferred_log: list[tuple[Any, ...]],
        on_first_sent: Callable[[int], None] | None = None,
    ) -> Decimal:
        """Send one slice and resolve it; returns its filled size. ``deferred_log`` (the first slice's lines)
        is written once the place call has returned: a log line costs about 0.4 ms with the redacting sink,
        and the first hedge order must not wait for it."""
        s = self.s
        req = OrderRequest(
            client_order_id=self.venue.new_client_order_id(),
            symbol=self.symbol,
            side=side,
            size=qty,
            order_type=OrderType.MARKET if price is None else OrderType.LIMIT,
            price=price,
            tif=TimeInForce.IOC,
            reduce_only=reduce_only,
            reason=reason,
        )
        if self.risk is not None:
            self.risk.check_taker(req)
        self.tracker.register(req)
        if on_first_order is not None:
            on_first_order()
        result.iterations += 1
        result.orders.append(req.client_order_id)
        self._claimed[side] += qty
        try:
            sent = await submit_order(self.venue, req, policy=s.retry, halt_on_refusal=not reduce_only,
                                      log=self._log)
            if on_first_sent is not None:
                on_first_sent(sent.report.sent_ns if sent.report is not None else 0)
            self._emit(deferred_log)
            if sent.outcome in (SubmitOutcome.REFUSED, SubmitOutcome.FAILED):
                self.tracker.mark_rejected(req.client_order_id, sent.error.message if sent.error else sent.outcome)
                self._log.warning("order {} {}: {}", req.client_order_id, sent.outcome, sent.error)
                return ZERO
            grace_s = None
            if sent.outcome is SubmitOutcome.UNKNOWN and answered_5xx(sent.error):
                # a 5xx blip on the POST: cancel by client order id (on GRVT its time to live also stops one
                # still in transit), then the order the venue keeps not knowing is never accepted after half
                # the deadline (OrderTracker.resolve): the route goes on instead of the market halting
                grace_s = s.order_deadline_s / 2
                try:
                    await call_venue(self.venue.cancel, self.symbol, req.client_order_id, policy=s.retry,
                                     what=f"cancel {req.client_order_id} (its POST answered 5xx)", log=self._log)
                except VenueError as exc:
                    self._log.warning("cancel by id of {} failed ({}); resolving by query", req.client_order_id,
                                      exc)
            order: Order = await self.tracker.resolve_within(
                req.client_order_id, deadline_s=s.order_deadline_s, event_grace_s=s.event_grace_s,
                query_interval_s=s.query_interval_s, unknown_grace_s=grace_s,
            )
        finally:
            self._claimed[side] -= qty
            self._claims.unpark_all()
        filled = order.filled_size
        if filled > ZERO:
            result.filled += filled
            result.notional += order.filled_notional
            if result.arrival_price is not None:
                slip = slippage_bps(side, order.filled_notional / filled, result.arrival_price)
                result.max_slippage_bps = max(result.max_slippage_bps, slip)
        return filled


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
