"""The simulator's matching engine: one venue's recorded market for one instrument, plus our orders.

Pure and synchronous (no trio, no I/O): the simulated exchange (``_exchange.py``) drives time, latency and
channels and feeds this engine the recorded Binance messages (book snapshot, diff-depth deltas, public trades;
format in ``trio_hedge/data/SOURCES.md``: hftbacktest sample recordings) and our order requests. Each call
returns the domain :data:`~trio_hedge.domain.VenueEvent` s it caused, in causal order.

Market-data replay, no market impact: the recorded book (:attr:`MatchingEngine.book`) is never changed by our
orders. Our resting orders are invisible to it, so a taker of ours never matches our own resting orders.

Matching rules (the project's issue; queue model after hftbacktest's ``RiskAverseQueueModel``,
nkaz001/hftbacktest ``hftbacktest/models/queue.py``, and its ``proc/partialfillexchange.py``):

* **Resting (maker) orders.** A GTT limit order that rests joins the queue at its price with
  ``queue_ahead`` = the recorded size at that price on its own side when it arrives (less any of that level
  our own takers consumed). It fills, always at its own price with ``maker_fee_bps``, only when:

  a. a recorded trade prints AT its price with the aggressor hitting its side (SELL aggressor for our buy):
     the trade first consumes ``queue_ahead``; the excess fills our order (``min(excess, remaining)``);
  b. a recorded trade prints THROUGH its price (a SELL aggressor below our buy, a BUY aggressor above our
     sell): it fills ``min(trade size, remaining)``;
  c. the recorded book crosses it (best ask <= our buy, best bid >= our sell) after a snapshot or delta:
     it fills up to the (not yet consumed) size of the crossing levels, which is then marked consumed.

  A snapshot or delta that sets the level at our price sets ``queue_ahead = min(queue_ahead, new size)``
  (cancels ahead of us; nothing behind us can get ahead). Our orders share each recorded trade: they are
  served best price first, then in arrival order; the total we fill from one trade never exceeds its size,
  and our own earlier orders at a price count as queue ahead of our later ones for that trade.
* **Post-only.** A post-only order that would cross the recorded book on arrival (buy >= best ask, sell <=
  best bid) is REJECTED ``post_only_would_cross``, never filled; a post-only order is never a taker.
* **Takers** (IOC/FOK limit, MARKET, and the crossing part of a GTT limit that is not post-only) walk the
  recorded book best level first, within the limit price, each fill at the level's price with
  ``taker_fee_bps``. Liquidity we take is remembered per (side, price) as *consumed* and is not available
  again until the recording sets that level (any snapshot, or a delta naming that price), which clears it.
  MARKET orders behave as IOC (as FOK when ``tif`` is FOK). IOC remainder: CANCELLED ``ioc_remainder``.
  FOK that cannot fill entirely: CANCELLED ``fok_not_fillable`` with nothing filled (CANCELLED rather than
  REJECTED: the order was valid and accepted, it expired unfilled, like Binance's EXPIRED). A GTT remainder
  rests as a maker.
* **Validation on submit**, in this order: a repeat of ANY client order id this engine has seen (live or
  terminal) -> REJECTED ``duplicate_client_order_id`` (a repeat is always a retry, and a retried place must
  never trade twice; the original order is unchanged, :meth:`get_order` still returns it); wrong symbol or
  ``Instrument.check_order`` failure -> REJECTED ``invalid_order: <rule>``; reduce-only on a flat position
  or on the side that would increase it -> REJECTED ``reduce_only_would_increase``; the book invalid
  (before the first snapshot, after a gap) -> REJECTED ``book_unavailable`` for every order (whether a limit
  order crosses, and its queue, cannot be known), and a taker whose opposite side is empty -> REJECTED
  ``book_unavailable``.
* **Reduce-only** is checked against the position at every fill: a fill is capped at ``|position|`` (and
  is zero if the position is flat or on the order's side); when the cap binds, the order's remainder is
  CANCELLED ``reduce_only_capped``. A reduce-only order never flips the position.
* **Sizes.** Fill sizes are floored to the instrument's lot grid (recorded sizes may be finer than ours).
* **Fees** ``price * size * bps / 10_000`` in quote units, exact Decimal (negative bps = rebate).
* **Position.** Signed size, average entry price (None when flat), realized PnL in quote units on every
  reduction ``closed * (exit - entry) * sign``, minus every fee paid; a fill through zero closes the old
  position and opens the rest at the fill price.
* **Ids.** Trade ids ``f"{trade_id_prefix}{n}"`` (n = 1, 2, ... per engine); venue order ids ``str(n)`` per
  accepted order; every event carries the ``ts_ns`` of the call that caused it.

Events: for each fill, the :class:`Fill`, then the :class:`OrderUpdate` with the new status and cumulative
``filled_size``, then a :class:`PositionUpdate`. An order that rests with nothing filled gets one
``OrderUpdate(OPEN)``; takers get no OPEN (they never rest). Rejects and cancels are one ``OrderUpdate``
with the reason constant below. ``cancel`` of an unknown or already terminal id returns no events (nothing
changed; counted in :class:`MatchingStats`): the caller maps ``get_order(id) is None`` to "unknown order"
(:data:`REASON_UNKNOWN_ORDER`). No event is ever sent for an id we did not create, so a cancel that overtakes
its place never poisons the order's state machine.

Recording gaps: :meth:`MatchingEngine.apply_delta` / :meth:`~MatchingEngine.apply_snapshot` let the book's
:class:`SequenceGap` / :class:`BookInvalid` propagate; the engine stays consistent (resting orders stay,
their queues are re-bounded and consumed liquidity is cleared by the next snapshot; every submit is rejected
``book_unavailable`` until then; trades still fill resting orders).

Cost: a delta costs one or two dict look-ups per level it carries (only when we have resting orders or
consumed liquidity) plus a look at the best bid/ask per resting order; a trade costs O(our open orders).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from ..domain import (
    BPS,
    ZERO,
    BadValue,
    BookError,
    BookSide,
    Fill,
    Instrument,
    Level,
    Order,
    OrderBook,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Position,
    PositionUpdate,
    Side,
    TimeInForce,
    VenueEvent,
)

__all__ = [
    "REASON_BOOK_UNAVAILABLE",
    "REASON_CANCELLED_BY_USER",
    "REASON_DUPLICATE_CLIENT_ORDER_ID",
    "REASON_FOK_NOT_FILLABLE",
    "REASON_INVALID_ORDER",
    "REASON_IOC_REMAINDER",
    "REASON_POST_ONLY_WOULD_CROSS",
    "REASON_REDUCE_ONLY_CAPPED",
    "REASON_REDUCE_ONLY_WOULD_INCREASE",
    "REASON_UNKNOWN_ORDER",
    "MatchingEngine",
    "MatchingStats",
]

REASON_POST_ONLY_WOULD_CROSS: Final = "post_only_would_cross"
REASON_IOC_REMAINDER: Final = "ioc_remainder"
REASON_FOK_NOT_FILLABLE: Final = "fok_not_fillable"
REASON_INVALID_ORDER: Final = "invalid_order"
"""Prefix: the reason is ``f"invalid_order: {rule}"`` with the rule from ``Instrument.check_order``."""
REASON_REDUCE_ONLY_WOULD_INCREASE: Final = "reduce_only_would_increase"
REASON_REDUCE_ONLY_CAPPED: Final = "reduce_only_capped"
REASON_DUPLICATE_CLIENT_ORDER_ID: Final = "duplicate_client_order_id"
REASON_BOOK_UNAVAILABLE: Final = "book_unavailable"
REASON_CANCELLED_BY_USER: Final = "cancelled_by_user"
REASON_UNKNOWN_ORDER: Final = "unknown_order"
"""Not sent by the engine (a cancel of an unknown id returns no events); for callers that report it."""


@dataclass(frozen=True, slots=True)
class MatchingStats:
    """Counters of one engine since it was created (see :meth:`MatchingEngine.statistics`).

    Attributes:
        orders_submitted (int): calls to ``submit``.
        orders_accepted (int): submits not rejected.
        orders_rejected (int): submits rejected (any reason, duplicates included).
        orders_cancelled (int): orders that ended CANCELLED (user cancel, IOC/FOK, reduce-only cap).
        orders_filled (int): orders that ended FILLED.
        cancels_ignored (int): cancels of an unknown or already terminal id (no events).
        fills (int), maker_fills (int), taker_fills (int): our executions.
        volume_base (Decimal): sum of fill sizes, base units.
        volume_quote (Decimal): sum of fill notionals, quote units.
        fees_quote (Decimal): sum of fees, quote units (negative overall if rebates dominate).
        snapshots (int), deltas (int), stale_deltas (int), trades (int): recorded messages applied.
        book_errors (int): snapshots/deltas the book refused (gap, crossed, bad value, resync needed).
    """

    orders_submitted: int
    orders_accepted: int
    orders_rejected: int
    orders_cancelled: int
    orders_filled: int
    cancels_ignored: int
    fills: int
    maker_fills: int
    taker_fills: int
    volume_base: Decimal
    volume_quote: Decimal
    fees_quote: Decimal
    snapshots: int
    deltas: int
    stale_deltas: int
    trades: int
    book_errors: int


class _Resting:
    """One of our orders resting in the (virtual) queue at its price."""

    __slots__ = ("order", "side", "price", "book_side", "queue_ahead")

    def __init__(self, order: Order, price: Decimal, queue_ahead: Decimal) -> None:
        self.order = order
        self.side = order.request.side
        self.price = price
        self.book_side = BookSide.BID if self.side is Side.BUY else BookSide.ASK
        self.queue_ahead = queue_ahead


def _opposite(side: Side) -> BookSide:
    """The book side a taker on ``side`` walks."""
    return BookSide.ASK if side is Side.BUY else BookSide.BID


def _check_fee(name: str, value: object) -> Decimal:
    if not isinstance(value, Decimal) or not value.is_finite():
        raise BadValue(f"{name}={value!r} must be a finite Decimal (basis points)")
    return value


class MatchingEngine:
    """One venue's market for one instrument: the recorded book, our orders, fills, position, fees.

    Args:
        venue (str): venue name put on every event (``Fill.venue``, ``OrderUpdate.venue``, ``Position``).
        instrument (Instrument): the instrument traded; its grid validates orders, its lot floors fills.
        maker_fee_bps (Decimal): fee on maker fills in basis points of notional; negative = rebate.
        taker_fee_bps (Decimal): fee on taker fills in basis points of notional.
        trade_id_prefix (str): our fills' trade ids are ``f"{trade_id_prefix}{n}"``, n = 1, 2, ...

    Attributes:
        book (OrderBook): the recorded market book; others may read it, only this engine mutates it.
        fills (list[Fill]): every fill of ours, in order.

    Raises:
        BadValue: a fee that is not a finite Decimal.
    """

    def __init__(
        self,
        venue: str,
        instrument: Instrument,
        *,
        maker_fee_bps: Decimal,
        taker_fee_bps: Decimal,
        trade_id_prefix: str,
    ) -> None:
        self.venue = venue
        self.instrument = instrument
        self.maker_fee_bps = _check_fee("maker_fee_bps", maker_fee_bps)
        self.taker_fee_bps = _check_fee("taker_fee_bps", taker_fee_bps)
        self.trade_id_prefix = trade_id_prefix
        self.book = OrderBook(instrument.symbol)
        self.fills: list[Fill] = []
        self._maker_rate = self.maker_fee_bps / BPS
        self._taker_rate = self.taker_fee_bps / BPS
        self._symbol = instrument.symbol
        self._lot = instrument.lot_size
        # Every order ever submitted (rejected ones too), by client order id.
        self._orders: dict[str, Order] = {}
        # Live resting orders in arrival order, overall and per side, and indexed by (own book side, price).
        self._live: dict[str, _Resting] = {}
        self._buys: dict[str, _Resting] = {}
        self._sells: dict[str, _Resting] = {}
        self._at_price: dict[BookSide, dict[Decimal, list[_Resting]]] = {BookSide.BID: {}, BookSide.ASK: {}}
        # Recorded liquidity our orders took and the recording has not refreshed yet: side -> price -> size.
        self._consumed: dict[BookSide, dict[Decimal, Decimal]] = {BookSide.BID: {}, BookSide.ASK: {}}
        # Position.
        self._pos_size = ZERO
        self._entry_price: Decimal | None = None
        self._realized_pnl = ZERO
        # Counters.
        self._next_trade = 0
        self._next_order = 0
        self._submitted = 0
        self._accepted = 0
        self._rejected = 0
        self._cancelled = 0
        self._filled = 0
        self._cancels_ignored = 0
        self._maker_fills = 0
        self._taker_fills = 0
        self._volume_base = ZERO
        self._volume_quote = ZERO
        self._fees_quote = ZERO
        self._snapshots = 0
        self._deltas = 0
        self._stale_deltas = 0
        self._trades = 0
        self._book_errors = 0

    # ================================================================== recorded market data
    def apply_snapshot(self, bids: Iterable[Level], asks: Iterable[Level], *, seq: int, ts_ns: int) -> list[VenueEvent]:
        """Replace the recorded book, then fill resting orders the new book crosses.

        Clears all consumed liquidity (every level is refreshed) and bounds every resting order's
        ``queue_ahead`` by the new size at its price.

        Args:
            bids, asks: (price, size) levels, quote per base and base units.
            seq (int): the snapshot's sequence number (Binance ``lastUpdateId``).
            ts_ns (int): recording timestamp, ns; stamped on the events.

        Returns:
            list[VenueEvent]: fills caused by the book crossing resting orders (rule c).

        Raises:
            BookInvalid: a bad value or a crossed snapshot; the book stays invalid, engine state unchanged.
        """
        try:
            self.book.apply_snapshot(bids, asks, seq=seq, ts_ns=ts_ns)
        except BookError:
            self._book_errors += 1
            raise
        self._snapshots += 1
        self._consumed[BookSide.BID].clear()
        self._consumed[BookSide.ASK].clear()
        book = self.book
        for r in self._live.values():
            level = book.size_at(r.book_side, r.price)
            if level < r.queue_ahead:
                r.queue_ahead = level
        events: list[VenueEvent] = []
        if self._live:
            self._match_crossed(ts_ns, events)
        return events

    def apply_delta(
        self,
        bids: Iterable[Level],
        asks: Iterable[Level],
        *,
        seq: int,
        first_seq: int | None,
        prev_seq: int | None,
        ts_ns: int,
    ) -> list[VenueEvent]:
        """Apply a recorded diff-depth update (absolute level sizes, 0 deletes), then fill crossed orders.

        Each level named clears the consumed liquidity at that (side, price) and bounds the queue ahead of
        our resting orders there: ``queue_ahead = min(queue_ahead, new size)``.

        Args:
            bids, asks: (price, new size) pairs; sequences, or any iterable (materialised once).
            seq (int), first_seq (int | None), prev_seq (int | None): Binance ``u``, ``U``, ``pu`` (see
                :meth:`OrderBook.apply_delta` for the sequencing rules).
            ts_ns (int): recording timestamp, ns; stamped on the events.

        Returns:
            list[VenueEvent]: fills caused by the book crossing resting orders (rule c); empty for a stale
            delta (dropped by the book).

        Raises:
            SequenceGap: the delta does not continue the book; the book is invalid until the next snapshot.
            BookInvalid: the book was already invalid, a value was bad, or the result is crossed.
        """
        bid_levels = bids if isinstance(bids, (list, tuple)) else list(bids)
        ask_levels = asks if isinstance(asks, (list, tuple)) else list(asks)
        try:
            applied = self.book.apply_delta(
                bid_levels, ask_levels, seq=seq, first_seq=first_seq, prev_seq=prev_seq, ts_ns=ts_ns
            )
        except BookError:
            self._book_errors += 1
            raise
        if not applied:
            self._stale_deltas += 1
            return []
        self._deltas += 1
        if self._live or self._consumed[BookSide.BID] or self._consumed[BookSide.ASK]:
            self._touch(BookSide.BID, bid_levels)
            self._touch(BookSide.ASK, ask_levels)
        events: list[VenueEvent] = []
        if self._live:
            self._match_crossed(ts_ns, events)
        return events

    def _touch(self, side: BookSide, levels: Sequence[Level]) -> None:
        consumed = self._consumed[side]
        resting = self._at_price[side]
        if not consumed and not resting:
            return
        for price, size in levels:
            if consumed:
                consumed.pop(price, None)
            queue = resting.get(price)
            if queue is not None:
                for r in queue:
                    if size < r.queue_ahead:
                        r.queue_ahead = size

    def apply_trade(self, price: Decimal, size: Decimal, aggressor: Side, *, ts_ns: int) -> list[VenueEvent]:
        """Apply a recorded public trade: advance queues and fill resting orders (rules a and b).

        Args:
            price (Decimal): trade price, quote per base, > 0.
            size (Decimal): trade size, base units, >= 0 (0, e.g. an inverse-contract trade that floors to
                nothing on our lot, is counted and otherwise ignored).
            aggressor (Side): the taker's side (Binance ``m`` true -> SELL aggressor).
            ts_ns (int): recording timestamp, ns; stamped on the events.

        Returns:
            list[VenueEvent]: our maker fills, best price first then arrival order.

        Raises:
            BadValue: a non-Decimal, non-finite or non-positive price, a non-Decimal, non-finite or negative
                size, or an aggressor not a Side.
        """
        if not isinstance(price, Decimal) or not price.is_finite() or price <= ZERO:
            raise BadValue(f"trade price {price!r} must be a finite Decimal > 0")
        if not isinstance(size, Decimal) or not size.is_finite() or size < ZERO:
            raise BadValue(f"trade size {size!r} must be a finite Decimal >= 0")
        if not isinstance(aggressor, Side):
            raise BadValue(f"trade aggressor {aggressor!r} must be a Side")
        self._trades += 1
        events: list[VenueEvent] = []
        if size == ZERO:
            return events
        if aggressor is Side.SELL:
            cands = [r for r in self._buys.values() if r.price >= price]
            if len(cands) > 1:
                cands.sort(key=_price_key, reverse=True)  # best (highest) first; stable: arrival order
        else:
            cands = [r for r in self._sells.values() if r.price <= price]
            if len(cands) > 1:
                cands.sort(key=_price_key)
        budget = size
        used_at_price = ZERO  # filled to our earlier orders at exactly the trade price, this trade
        for r in cands:
            if r.price == price:
                excess = size - r.queue_ahead - used_at_price
                r.queue_ahead = r.queue_ahead - size if r.queue_ahead > size else ZERO
            else:
                excess = size  # traded through our price: we would have been filled first
            want = min(excess, budget, r.order.remaining)
            if want <= ZERO:
                continue
            got = self._maker_fill(r, want, ts_ns, events)
            budget -= got
            if r.price == price:
                used_at_price += got
        return events

    # ================================================================== our orders
    def submit(
        self, request: OrderRequest, *, ts_ns: int, refuse: str = "", max_fill: Decimal | None = None
    ) -> list[VenueEvent]:
        """Accept or reject ``request``; match its taker part; rest a GTT remainder.

        Args:
            request (OrderRequest): the order.
            ts_ns (int): venue time of arrival, ns; stamped on the events.
            refuse (str): fault injection: reject the order with this reason (after the duplicate check)
                instead of validating it; "" validates as usual.
            max_fill (Decimal | None): fault injection: an IOC/MARKET taker fills at most this size (base
                units), whatever the book holds; its remainder is cancelled ``ioc_remainder``. Not applied
                to FOK or resting orders. None: no limit.

        Returns:
            list[VenueEvent]: a reject ``OrderUpdate``; or ``OrderUpdate(OPEN)`` for an order that rests
            unfilled; or per fill ``Fill, OrderUpdate, PositionUpdate``, then a final ``OrderUpdate`` if the
            remainder is cancelled (``ioc_remainder``, ``fok_not_fillable``, ``reduce_only_capped``).
            Reasons are the ``REASON_*`` constants of this module.
        """
        self._submitted += 1
        cid = request.client_order_id
        events: list[VenueEvent] = []
        if cid in self._orders:
            self._rejected += 1
            events.append(self._update(request, OrderStatus.REJECTED, ts_ns, reason=REASON_DUPLICATE_CLIENT_ORDER_ID))
            return events
        order = Order(request, self.venue)
        self._orders[cid] = order
        reason = refuse or self._refusal(request)
        if reason:
            self._reject(order, reason, ts_ns, events)
            return events
        self._accepted += 1
        self._next_order += 1
        order.venue_order_id = str(self._next_order)
        side = request.side
        limit = request.price
        is_taker = request.order_type is OrderType.MARKET or request.tif is not TimeInForce.GTT
        want = order.remaining
        capped = False
        if request.reduce_only:
            cap = abs(self._pos_size)
            if cap < want:
                want, capped = cap, True
        if max_fill is not None and is_taker and request.tif is not TimeInForce.FOK and max_fill < want:
            want, capped = max_fill, False  # the injected limit binds: what is left is an IOC remainder
        if request.tif is TimeInForce.FOK:
            if capped or self._available(_opposite(side), limit, want) < want:
                self._terminate(order, OrderStatus.CANCELLED, REASON_FOK_NOT_FILLABLE, ts_ns, events)
                return events
        taken = self._take(order, limit, want, ts_ns, events)
        if order.status is OrderStatus.FILLED:
            return events
        if capped and taken >= want:  # the reduce-only cap bound: nothing more may ever fill
            self._terminate(order, OrderStatus.CANCELLED, REASON_REDUCE_ONLY_CAPPED, ts_ns, events)
        elif is_taker:
            self._terminate(order, OrderStatus.CANCELLED, REASON_IOC_REMAINDER, ts_ns, events)
        else:
            assert limit is not None  # a GTT that is not MARKET is a LIMIT, which has a price
            self._rest(order, limit, ts_ns, events)
        return events

    def _refusal(self, request: OrderRequest) -> str:
        """The reject reason for ``request``, or "" if it is acceptable now."""
        if request.symbol != self._symbol:
            return f"{REASON_INVALID_ORDER}: symbol {request.symbol[:40]!r} is not {self._symbol!r}"
        try:
            self.instrument.check_order(request.price, request.size)
        except BadValue as exc:
            return f"{REASON_INVALID_ORDER}: {exc}"
        if request.reduce_only:
            pos = self._pos_size
            if pos == ZERO or (pos > ZERO) == (request.side is Side.BUY):
                return REASON_REDUCE_ONLY_WOULD_INCREASE
        book = self.book
        if not book.valid:
            return REASON_BOOK_UNAVAILABLE
        opp = book.best_ask() if request.side is Side.BUY else book.best_bid()
        if request.order_type is OrderType.MARKET or request.tif is not TimeInForce.GTT:
            if opp is None:
                return REASON_BOOK_UNAVAILABLE
        elif request.post_only and opp is not None:
            assert request.price is not None
            if request.price >= opp[0] if request.side is Side.BUY else request.price <= opp[0]:
                return REASON_POST_ONLY_WOULD_CROSS
        return ""

    def cancel(self, client_order_id: str, *, ts_ns: int) -> list[VenueEvent]:
        """Cancel one of our resting orders.

        Args:
            client_order_id (str): our id.
            ts_ns (int): venue time, ns.

        Returns:
            list[VenueEvent]: ``[OrderUpdate(CANCELLED, reason="cancelled_by_user")]``; empty (and counted in
            ``cancels_ignored``) when the id is unknown or the order is already terminal.
        """
        r = self._live.get(client_order_id)
        events: list[VenueEvent] = []
        if r is None:
            self._cancels_ignored += 1
            return events
        self._unrest(r)
        self._terminate(r.order, OrderStatus.CANCELLED, REASON_CANCELLED_BY_USER, ts_ns, events)
        return events

    def cancel_all(self, *, ts_ns: int) -> list[VenueEvent]:
        """Cancel every resting order, in arrival order. Returns one CANCELLED ``OrderUpdate`` each."""
        events: list[VenueEvent] = []
        for r in list(self._live.values()):
            self._unrest(r)
            self._terminate(r.order, OrderStatus.CANCELLED, REASON_CANCELLED_BY_USER, ts_ns, events)
        return events

    def get_order(self, client_order_id: str) -> Order | None:
        """The tracked order (live or terminal, rejected included) for ``client_order_id``, or None.

        The returned object is the engine's own record: read it, do not mutate it.
        """
        return self._orders.get(client_order_id)

    def open_orders(self) -> list[Order]:
        """Our resting orders (OPEN or PARTIALLY_FILLED), in arrival order."""
        return [r.order for r in self._live.values()]

    def position(self) -> Position:
        """Our position: signed size (base units), average entry (None when flat), realized PnL (quote,
        net of every fee paid)."""
        return Position(self.venue, self._symbol, self._pos_size, self._entry_price, self._realized_pnl)

    def statistics(self) -> MatchingStats:
        """A frozen snapshot of the engine's counters."""
        return MatchingStats(
            orders_submitted=self._submitted,
            orders_accepted=self._accepted,
            orders_rejected=self._rejected,
            orders_cancelled=self._cancelled,
            orders_filled=self._filled,
            cancels_ignored=self._cancels_ignored,
            fills=len(self.fills),
            maker_fills=self._maker_fills,
            taker_fills=self._taker_fills,
            volume_base=self._volume_base,
            volume_quote=self._volume_quote,
            fees_quote=self._fees_quote,
            snapshots=self._snapshots,
            deltas=self._deltas,
            stale_deltas=self._stale_deltas,
            trades=self._trades,
            book_errors=self._book_errors,
        )

    # ================================================================== internals: taking
    def _available(self, book_side: BookSide, limit: Decimal | None, need: Decimal) -> Decimal:
        """Unconsumed recorded size on ``book_side`` within ``limit`` (lot-floored per level), up to ``need``."""
        consumed = self._consumed[book_side]
        total = ZERO
        for price, size in self.book.iter_levels(book_side):
            if total >= need:
                break
            if limit is not None and (price > limit if book_side is BookSide.ASK else price < limit):
                break
            avail = size - consumed.get(price, ZERO)
            if avail > ZERO:
                total += self._floor_lot(avail)
        return total

    def _floor_lot(self, size: Decimal) -> Decimal:
        """``size`` floored to the lot grid (unchanged, representation included, when already on it)."""
        rem = size % self._lot
        return size - rem if rem else size

    def _take(
        self, order: Order, limit: Decimal | None, want: Decimal, ts_ns: int, events: list[VenueEvent]
    ) -> Decimal:
        """Walk the recorded book for up to ``want`` as a taker, consuming what is taken. Returns the size."""
        if want <= ZERO:
            return ZERO
        book_side = _opposite(order.request.side)
        consumed = self._consumed[book_side]
        filled = ZERO
        # Collect first: _fill must not run while iterating the live book (it does not mutate it, but keep
        # the walk independent of what the fill does).
        takes: list[Level] = []
        for price, size in self.book.iter_levels(book_side):
            left = want - filled
            if left <= ZERO:
                break
            if limit is not None and (price > limit if book_side is BookSide.ASK else price < limit):
                break
            avail = size - consumed.get(price, ZERO)
            if avail <= ZERO:
                continue
            take = self._floor_lot(avail if avail < left else left)
            if take <= ZERO:
                continue
            takes.append((price, take))
            filled += take
        for price, take in takes:
            consumed[price] = consumed.get(price, ZERO) + take
            self._fill(order, price, take, False, ts_ns, events)
        return filled

    # ================================================================== internals: resting
    def _rest(self, order: Order, price: Decimal, ts_ns: int, events: list[VenueEvent]) -> None:
        side = order.request.side
        own = BookSide.BID if side is Side.BUY else BookSide.ASK
        queue = self.book.size_at(own, price) - self._consumed[own].get(price, ZERO)
        r = _Resting(order, price, queue if queue > ZERO else ZERO)
        cid = order.client_order_id
        self._live[cid] = r
        (self._buys if side is Side.BUY else self._sells)[cid] = r
        self._at_price[own].setdefault(price, []).append(r)
        if order.status is OrderStatus.PENDING:
            order.transition(OrderStatus.OPEN)
            events.append(self._order_update(order, ts_ns))

    def _unrest(self, r: _Resting) -> None:
        cid = r.order.client_order_id
        del self._live[cid]
        del (self._buys if r.side is Side.BUY else self._sells)[cid]
        at = self._at_price[r.book_side]
        queue = at[r.price]
        queue.remove(r)
        if not queue:
            del at[r.price]

    def _match_crossed(self, ts_ns: int, events: list[VenueEvent]) -> None:
        """Rule c: fill resting orders the recorded book now crosses, at their own price, as makers."""
        book = self.book
        if not book.valid:
            return
        if self._buys:
            best = book.best_ask()
            if best is not None:
                cands = [r for r in self._buys.values() if r.price >= best[0]]
                if cands:
                    cands.sort(key=_price_key, reverse=True)
                    self._fill_crossed(cands, BookSide.ASK, ts_ns, events)
        if self._sells:
            best = book.best_bid()
            if best is not None:
                cands = [r for r in self._sells.values() if r.price <= best[0]]
                if cands:
                    cands.sort(key=_price_key)
                    self._fill_crossed(cands, BookSide.BID, ts_ns, events)

    def _fill_crossed(self, cands: list[_Resting], book_side: BookSide, ts_ns: int, events: list[VenueEvent]) -> None:
        consumed = self._consumed[book_side]
        for r in cands:
            need = r.order.remaining
            levels: list[Level] = []
            total = ZERO
            for price, size in self.book.iter_levels(book_side):
                if total >= need:
                    break
                if price > r.price if book_side is BookSide.ASK else price < r.price:
                    break
                avail = size - consumed.get(price, ZERO)
                if avail > ZERO:
                    levels.append((price, avail))
                    total += avail
            want = self._floor_lot(total if total < need else need)
            if want <= ZERO:
                continue
            got = self._maker_fill(r, want, ts_ns, events)
            for price, avail in levels:  # mark what we took as consumed, best level first
                if got <= ZERO:
                    break
                take = avail if avail < got else got
                consumed[price] = consumed.get(price, ZERO) + take
                got -= take

    def _maker_fill(self, r: _Resting, want: Decimal, ts_ns: int, events: list[VenueEvent]) -> Decimal:
        """Fill resting ``r`` for up to ``want`` at its price, applying the reduce-only cap. Returns the size."""
        order = r.order
        want = self._floor_lot(want)
        if want <= ZERO:
            return ZERO
        got = want
        if order.request.reduce_only:
            pos = self._pos_size
            if pos == ZERO or (pos > ZERO) == (r.side is Side.BUY):
                got = ZERO
            elif abs(pos) < got:
                got = abs(pos)
        if got > ZERO:
            self._fill(order, r.price, got, True, ts_ns, events)
        if order.status is OrderStatus.FILLED:
            self._unrest(r)
        elif got < want:  # the reduce-only cap bound: the order can never fill again
            self._unrest(r)
            self._terminate(order, OrderStatus.CANCELLED, REASON_REDUCE_ONLY_CAPPED, ts_ns, events)
        return got

    # ================================================================== internals: fills and events
    def _fill(
        self, order: Order, price: Decimal, size: Decimal, is_maker: bool, ts_ns: int, events: list[VenueEvent]
    ) -> None:
        """Record one fill of ``order``: the Fill, the order's update, the position update (in that order)."""
        self._next_trade += 1
        fee = price * size * (self._maker_rate if is_maker else self._taker_rate)
        req = order.request
        fill = Fill(
            venue=self.venue,
            symbol=self._symbol,
            client_order_id=req.client_order_id,
            trade_id=f"{self.trade_id_prefix}{self._next_trade}",
            side=req.side,
            price=price,
            size=size,
            fee=fee,
            is_maker=is_maker,
            ts_ns=ts_ns,
        )
        order.apply_fill(fill)
        self.fills.append(fill)
        if is_maker:
            self._maker_fills += 1
        else:
            self._taker_fills += 1
        self._volume_base += size
        self._volume_quote += price * size
        self._fees_quote += fee
        if order.status is OrderStatus.FILLED:
            self._filled += 1
        self._apply_position(fill)
        events.append(fill)
        events.append(self._order_update(order, ts_ns))
        events.append(PositionUpdate(self.position(), ts_ns))

    def _apply_position(self, fill: Fill) -> None:
        qty = fill.signed_size
        pos = self._pos_size
        new = pos + qty
        if pos == ZERO:
            self._entry_price = fill.price
        elif (pos > ZERO) == (qty > ZERO):  # adding: weighted average entry
            assert self._entry_price is not None
            self._entry_price = (abs(pos) * self._entry_price + fill.size * fill.price) / abs(new)
        else:  # reducing, closing, or flipping through zero
            assert self._entry_price is not None
            closed = min(fill.size, abs(pos))
            direction = 1 if pos > ZERO else -1
            self._realized_pnl += closed * (fill.price - self._entry_price) * direction
            if new == ZERO:
                self._entry_price = None
            elif (new > ZERO) != (pos > ZERO):
                self._entry_price = fill.price
        self._pos_size = new if new != ZERO else ZERO
        self._realized_pnl -= fill.fee

    def inject_silent_fill(self, side: Side, size: Decimal, price: Decimal, ts_ns: int) -> Fill:
        """Fault injection: a taker fill of ``size`` on ``side`` at ``price`` that changes the position (and
        is in :attr:`fills`, as a venue's fill history has it) but emits no event: a fill the private stream
        never delivers (an order the client does not know, or a lost message)."""
        fill = Fill(venue=self.venue, symbol=self._symbol, client_order_id="injected", trade_id=
                    f"{self.trade_id_prefix}injected{len(self.fills)}", side=side, price=price, size=size,
                    fee=ZERO, is_maker=False, ts_ns=ts_ns)
        self.fills.append(fill)
        self._apply_position(fill)
        return fill

    def _order_update(self, order: Order, ts_ns: int, reason: str = "") -> OrderUpdate:
        return OrderUpdate(
            venue=self.venue,
            symbol=self._symbol,
            client_order_id=order.client_order_id,
            status=order.status,
            venue_order_id=order.venue_order_id,
            filled_size=order.filled_size,
            reason=reason,
            ts_ns=ts_ns,
        )

    def _update(self, request: OrderRequest, status: OrderStatus, ts_ns: int, *, reason: str) -> OrderUpdate:
        return OrderUpdate(
            venue=self.venue,
            symbol=self._symbol,
            client_order_id=request.client_order_id,
            status=status,
            filled_size=ZERO,
            reason=reason,
            ts_ns=ts_ns,
        )

    def _reject(self, order: Order, reason: str, ts_ns: int, events: list[VenueEvent]) -> None:
        self._rejected += 1
        order.transition(OrderStatus.REJECTED, reason)
        events.append(self._order_update(order, ts_ns, reason))

    def _terminate(self, order: Order, status: OrderStatus, reason: str, ts_ns: int, events: list[VenueEvent]) -> None:
        order.transition(status, reason)
        if status is OrderStatus.CANCELLED:
            self._cancelled += 1
        events.append(self._order_update(order, ts_ns, reason))


def _price_key(r: _Resting) -> Decimal:
    return r.price
