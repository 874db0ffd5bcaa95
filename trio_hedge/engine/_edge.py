"""Quoting economics: the expected edge of a maker quote after both venues' fees, and the price band.

Expected edge (bps of the maker price ``P``) of a quote of ``size`` on the primary, hedged by a taker order
on the hedge venue::

    edge_bps = s * (H - P) / P * 10_000  -  maker_fee_bps(primary)  -  taker_fee_bps(hedge)

* ``s`` = +1 for a BUY quote (we buy at ``P`` on the primary and sell the hedge), -1 for a SELL quote;
* ``H`` = the hedge venue's executable price for ``size`` right now: the VWAP a taker on the opposite side
  would get walking the hedge book (its bids for a BUY quote, its asks for a SELL quote),
  :meth:`~trio_hedge.domain.OrderBook.estimate_fill`, within the hedge slippage cap from the hedge venue's
  best price (if the book cannot fill ``size`` within the cap there is no edge to speak of: no quote);
* fees are bps of notional on each leg (the two notionals differ by ``|H - P| * size``, a second-order term
  that is ignored: a few bps of a few bps).

This is the same quantity as the realized per-cycle edge of the summary (``avg_edge_bps``,
``s * (hedge avg - maker avg) / maker avg``) minus the fees, computed before the fact from the books.
Funding, the unwind's cost and adverse selection are not in it: it is the entry edge only.

Quote timing (``inventory`` mode, :class:`EdgeMemory`): each side's expected edge is kept as a time-weighted
moving average, and a quote that passes the gate goes only when its side's edge is at least that average, until
its leg has waited the memory's time constant. An inventory position can wait for its moments to open and to
close: the legs go when the basis between the venues is on their side of its recent average, each side judged
by its own average (a standing basis holds neither side back). A roundtrip's unwind takes whatever moment
comes (measured with the timing: no gain), so the hedger applies it to one-sided inventory legs only
(``MarketSettings.timed_quotes``).

Price band: a quote is never farther than ``price_band_bps`` from the hedge venue's mid
(``|P - mid| / mid * 10_000``), whichever side it is on: a primary book that strays that far from the hedge
venue is stale or broken, not an opportunity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal

from ..domain import BPS, ZERO, BookSide, Order, OrderBook, Side
from ._router import cap_limit_price


def hedge_book_side(quote_side: Side) -> BookSide:
    """The hedge book side a quote's hedge takes from: a BUY quote is hedged by a SELL into the bids."""
    return BookSide.BID if quote_side is Side.BUY else BookSide.ASK


def expected_edge_bps(
    quote_side: Side,
    maker_price: Decimal,
    size: Decimal,
    hedge_book: OrderBook,
    *,
    primary_maker_fee_bps: Decimal,
    hedge_taker_fee_bps: Decimal,
    hedge_cap_bps: Decimal,
    hedge_tick: Decimal,
) -> Decimal | None:
    """The expected edge of a maker quote, bps of ``maker_price`` (formula in the module docstring).

    Args:
        quote_side: the maker quote's side on the primary.
        maker_price: its price, quote per base (> 0).
        size: its size, base units.
        hedge_book: the hedge venue's book (valid).
        primary_maker_fee_bps, hedge_taker_fee_bps: fees, bps of notional (negative = rebate).
        hedge_cap_bps: the hedge's slippage cap from the hedge venue's best price.
        hedge_tick: the hedge venue's tick (the cap limit is on its grid).

    Returns:
        Decimal | None: the edge, or None when the hedge book cannot fill ``size`` within the cap (or that
        side is empty).
    """
    side = hedge_book_side(quote_side)
    hedge_side = quote_side.opposite
    top = hedge_book.best_bid() if side is BookSide.BID else hedge_book.best_ask()
    if top is None:
        return None
    limit = cap_limit_price(hedge_side, top[0], hedge_cap_bps, hedge_tick)
    est = hedge_book.estimate_fill(side, size, limit)
    if not est.complete or est.vwap is None:
        return None
    gross = quote_side.sign * (est.vwap - maker_price) / maker_price * BPS
    return gross - primary_maker_fee_bps - hedge_taker_fee_bps


def band_distance_bps(price: Decimal, hedge_book: OrderBook) -> Decimal | None:
    """``|price - hedge mid| / hedge mid`` in bps, or None if the hedge book has an empty side."""
    mid = hedge_book.mid()
    if mid is None:
        return None
    return abs(price - mid) / mid * BPS


@dataclass(frozen=True, slots=True)
class QuoteCheck:
    """Whether a quote may rest at a price.

    Attributes:
        ok (bool): it may.
        reason (str): why not: ``"edge"`` (below ``min_edge_bps``), ``"band"`` (outside the price band),
            ``"hedge_depth"`` (the hedge book cannot take the size within the cap); ``""`` when ok.
        edge_bps (Decimal | None): the expected edge (None when it cannot be computed).
        detail (str): the numbers, for the log.
    """

    ok: bool
    reason: str
    edge_bps: Decimal | None
    detail: str


def check_quote(
    quote_side: Side,
    price: Decimal,
    size: Decimal,
    hedge_book: OrderBook,
    *,
    min_edge_bps: Decimal,
    price_band_bps: Decimal,
    primary_maker_fee_bps: Decimal,
    hedge_taker_fee_bps: Decimal,
    hedge_cap_bps: Decimal,
    hedge_tick: Decimal,
) -> QuoteCheck:
    """Apply the price band and the edge gate to a quote at ``price`` (see the module docstring)."""
    dist = band_distance_bps(price, hedge_book)
    if dist is None or dist > price_band_bps:
        return QuoteCheck(False, "band", None, f"{price} is {dist} bps from the hedge mid (band {price_band_bps})")
    edge = expected_edge_bps(
        quote_side, price, size, hedge_book, primary_maker_fee_bps=primary_maker_fee_bps,
        hedge_taker_fee_bps=hedge_taker_fee_bps, hedge_cap_bps=hedge_cap_bps, hedge_tick=hedge_tick,
    )
    if edge is None:
        return QuoteCheck(False, "hedge_depth", None,
                          f"the hedge book cannot take {size} within {hedge_cap_bps} bps")
    if edge < min_edge_bps:
        return QuoteCheck(False, "edge", edge, f"expected edge {edge:.3f} bps < min {min_edge_bps}")
    return QuoteCheck(True, "", edge, f"expected edge {edge:.3f} bps")


@dataclass(slots=True)
class EdgeMemory:
    """Each side's expected edge (bps) as a time-weighted moving average, for the quote timing (module docstring).

    Attributes:
        memory_s (float): the time constant, s (> 0): a new value weighs ``1 - exp(-dt / memory_s)``, ``dt`` the
            time since the side's previous one (``trio.current_time()`` s).
    """

    memory_s: float
    _avg: dict[Side, tuple[Decimal, float]] = field(default_factory=dict)

    def observe(self, side: Side, edge_bps: Decimal, now_s: float) -> None:
        """Fold ``side``'s expected edge at ``now_s`` into its average (the first value starts it)."""
        prev = self._avg.get(side)
        if prev is None:
            self._avg[side] = (edge_bps, now_s)
            return
        avg, then = prev
        weight = Decimal(-math.expm1(-(now_s - then) / self.memory_s))
        self._avg[side] = (avg + weight * (edge_bps - avg), now_s)

    def wait_reason(self, side: Side, edge_bps: Decimal, now_s: float, leg_started_s: float) -> str | None:
        """Why a quote of ``side`` at ``edge_bps`` waits for a better moment (below the side's average), or None
        when it may go: at or above it, with no average yet, or once its leg (started at ``leg_started_s``) has
        waited ``memory_s``."""
        prev = self._avg.get(side)
        if prev is None or edge_bps >= prev[0] or now_s - leg_started_s >= self.memory_s:
            return None
        return f"expected edge {edge_bps:.3f} bps < its {self.memory_s:g}s average {prev[0]:.3f} bps"


@dataclass(slots=True)
class RestingQuote:
    """A live quote of the hedger and its re-quote timers (``trio.current_time()`` s, None: not running)."""

    order: Order
    off_top_since: float | None = None
    edge_gone_since: float | None = None


def filled_on(quotes: list[Order], side: Side) -> Decimal:
    """What ``quotes`` on ``side`` filled (base units)."""
    return sum((q.filled_size for q in quotes if q.request.side is side), ZERO)
