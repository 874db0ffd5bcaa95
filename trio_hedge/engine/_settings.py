"""Settings the engine runs with (built and validated by the app's config loader) and the statistics it
keeps for the run summary."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from decimal import Decimal

from ..domain import BPS, ZERO, Fill, Side
from ._histogram import LatencyHistogram
from ._ratelimit import BucketStats, RateLimitSettings
from ._retry import RetryPolicy


@dataclass(frozen=True, slots=True)
class MarketSettings:
    """One market: a symbol on the primary (maker) venue hedged by a symbol on the hedge venue.

    Attributes:
        name (str): market name for logs (``"BTC"``).
        primary_symbol (str), hedge_symbol (str): venue symbols.
        cycles (int): hedge cycles to run, then stop flat.
        order_size (Decimal): maker quote size, base units.
        slippage_cap_bps (Decimal): hedge and unwind IOC limit, in bps through the best price.
        requote_after_s (float): cancel and re-quote when the quote is off the top for this long.
        quote_check_interval_s (float): how often the hedger checks its quote against the book.
        hedge_attempts (int): IOC slices in a row that may miss at the deepest level within a cap (while the
            book keeps moving) before the hedge router widens the cap (``_router.py``).
        order_deadline_s (float): deadline to resolve any order to a terminal state.
        event_grace_s (float): how long to wait for the stream before querying an order's status.
        query_interval_s (float): polling interval of status queries while resolving.
        inbox_capacity (int): capacity of the channel from the primary's order tracker to the hedger.
        max_hedges_in_flight (int): routed hedges that may be in flight at once (>= 1): a fill that arrives
            while a hedge is in flight starts its own on an idle slot; beyond this, waiting fills are hedged
            together by the next route (``_hedger.py``). 1 hedges one route after another. Concurrent routes
            never price into the same levels: each slice in flight claims the liquidity it takes
            (``_router.py``).
        book_wait_s (float): how long to wait for a valid book before quoting or hedging.
        max_quote_rejects (int): consecutive post-only rejections tolerated before the market fails.
        book_stale_s (float): a connected feed with no update for this long is stale.
        feed_down_budget_s (float): a feed disconnected (or book invalid) this long fails the market.
        imbalance_tolerance (Decimal): allowed |primary + hedge| fills, base units.
        imbalance_grace_s (float): how long an imbalance beyond tolerance is allowed (a hedge in flight).
        risk_check_interval_s (float): the risk guard's period for feed health and the PnL mark (the
            imbalance check is event-driven from the fills).
        cleanup_deadline_s (float): bound on the shielded cancel-and-flatten cleanup.
        min_edge_bps (Decimal): quote only when the expected edge (``_edge.py``: what the maker price
            captures against the hedge venue's executable price for the size, minus the primary's maker fee
            and the hedge venue's taker fee) is at least this; negative values accept a cost (volume farming).
        edge_memory_s (float): ``inventory`` mode, one-sided (not ``two_sided``): how long a side's expected
            edge is remembered, s (the time constant of its moving average; 0 = off). A quote goes only when its
            side's expected edge is at least that average, until the leg has waited this long (``_edge.py``,
            "Quote timing"; :attr:`timed_quotes`).
        price_band_bps (Decimal): never quote farther than this from the hedge venue's mid.
        hard_slippage_cap_bps (Decimal): the hedge router widens its cap (from the arrival price) up to this.
        slippage_cap_step_bps (Decimal): how much each fallback step widens the cap.
        market_fallback (bool): after the hard cap, try one MARKET order for the remainder before failing
            (flatten and halt). False keeps every hedge fill within the hard cap.
        primary_maker_fee_bps (Decimal), hedge_taker_fee_bps (Decimal): fees the edge gate charges, bps of
            notional (negative = rebate).
        max_position (Decimal): largest |position| per leg, base units (quotes that could pass it are not
            sent; a fill past it moves the market to REDUCING).
        max_notional (Decimal): largest |position| x mid per leg, quote units (same rules).
        max_open_orders (int): most non-terminal orders per leg before a new quote is held back.
        max_loss (Decimal): kill switch: realized + unrealized PnL (quote units, fees included, marked at
            book mid) at or below ``-max_loss`` halts the market (exit 78: do not restart).
        retry (RetryPolicy): retries by error class (``_retry.py``).
        primary_rate_limit (RateLimitSettings | None), hedge_rate_limit (RateLimitSettings | None): client
            budgets; :func:`~trio_hedge.engine.run_market` wraps each leg's venue when set.
        cycle_mode (str): ``"roundtrip"`` (quote, hedge, then unwind both legs with IOC each cycle) or
            ``"inventory"`` (post-only quotes build the primary position towards +/-``max_position`` and work
            it back, each fill hedged at once; a cycle is one opening and one closing quote of ``order_size``;
            the primary pays maker both ways). ``_hedger.py`` has the rules.
        position_check_interval_s (float): how often each venue's own position is compared with the tracked
            one (a drift beyond one lot halts the market; ``_market.py``). 0 = never.
        two_sided (bool): until a cycle's (or inventory leg's) first fill, rest a post-only quote on each side
            the mode allows that passes the gate, both at once; the first side to fill keeps the cycle and the
            other quote is cancelled (``_hedger.py``, "Two-sided quoting").
    """

    name: str
    primary_symbol: str
    hedge_symbol: str
    cycles: int
    order_size: Decimal
    slippage_cap_bps: Decimal
    requote_after_s: float = 0.3
    quote_check_interval_s: float = 0.05
    hedge_attempts: int = 3
    order_deadline_s: float = 5.0
    event_grace_s: float = 0.5
    query_interval_s: float = 0.2
    inbox_capacity: int = 256
    max_hedges_in_flight: int = 8
    book_wait_s: float = 5.0
    max_quote_rejects: int = 50
    book_stale_s: float = 5.0
    feed_down_budget_s: float = 1.0
    imbalance_tolerance: Decimal = Decimal("0.01")
    imbalance_grace_s: float = 2.0
    risk_check_interval_s: float = 0.05
    cleanup_deadline_s: float = 15.0
    min_edge_bps: Decimal = Decimal("-5")
    edge_memory_s: float = 0.0
    price_band_bps: Decimal = Decimal("25")
    hard_slippage_cap_bps: Decimal = Decimal("30")
    slippage_cap_step_bps: Decimal = Decimal("10")
    market_fallback: bool = True
    primary_maker_fee_bps: Decimal = ZERO
    hedge_taker_fee_bps: Decimal = ZERO
    max_position: Decimal = Decimal("0.01")
    max_notional: Decimal = Decimal("2000")
    max_open_orders: int = 4
    max_loss: Decimal = Decimal("25")
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    primary_rate_limit: RateLimitSettings | None = None
    hedge_rate_limit: RateLimitSettings | None = None
    cycle_mode: str = "roundtrip"
    position_check_interval_s: float = 5.0
    two_sided: bool = False

    def inventory_sides(self, position: Decimal, opens_left: bool) -> dict[Side, Decimal]:
        """The sides an ``inventory`` leg may quote from primary ``position`` and the size each would trade: a
        side that works |position| back closes (at most down to 0); one that grows it opens ``order_size`` if
        opens are left and the result stays within ``max_position``."""
        out: dict[Side, Decimal] = {}
        for side in (Side.BUY, Side.SELL):
            if position != ZERO and (position > ZERO) != (side is Side.BUY):
                out[side] = min(self.order_size, abs(position))
            elif opens_left and abs(position) + self.order_size <= self.max_position:
                out[side] = self.order_size
        return out

    @property
    def timed_quotes(self) -> bool:
        """The quote timing applies: ``inventory`` mode, one-sided, with ``edge_memory_s`` > 0 (with ``two_sided``
        it is off: measured only one-sided, and a two-sided wire run with it ended once in 51 post-only
        refusals in a row, not understood yet)."""
        return self.cycle_mode == "inventory" and not self.two_sided and self.edge_memory_s > 0

    def slippage_ladder_bps(self) -> list[Decimal]:
        """The caps the hedge router tries in order: ``slippage_cap_bps``, then steps of
        ``slippage_cap_step_bps`` up to ``hard_slippage_cap_bps`` (always ending exactly at it)."""
        caps = [self.slippage_cap_bps]
        hard = max(self.hard_slippage_cap_bps, self.slippage_cap_bps)
        step = self.slippage_cap_step_bps
        while caps[-1] < hard:
            caps.append(min(hard, caps[-1] + step) if step > ZERO else hard)
        return caps


class TradingState(enum.StrEnum):
    """A market's trading state (after NautilusTrader's RiskEngine ``TradingState``).

    ACTIVE: everything allowed. REDUCING: only reduce-only orders, plus the hedges of fills already taken
    (a documented exception: refusing them would leave the fill naked) and their unwind; no new quotes.
    HALTED: only cancels and the flatten; the market scope fails and cleans up.
    """

    ACTIVE = "ACTIVE"
    REDUCING = "REDUCING"
    HALTED = "HALTED"


@dataclass(frozen=True, slots=True)
class StateTransition:
    """One change of a market's trading state.

    Attributes:
        from_state (TradingState), to_state (TradingState): the change.
        reason (str): why, in words.
        at_s (float): seconds since the market started (trio clock).
        utc (str): wall-clock time, ISO 8601 UTC (for people reading the summary).
    """

    from_state: TradingState
    to_state: TradingState
    reason: str
    at_s: float
    utc: str


@dataclass(slots=True)
class PnlSnapshot:
    """Profit and loss of one market from the fills its trackers saw, quote units (fees included).

    Attributes:
        realized (Decimal): closed PnL minus every fee paid.
        unrealized (Decimal): open positions marked at each book's mid.
        fees (Decimal): fees paid (negative = rebates received).
    """

    realized: Decimal = ZERO
    unrealized: Decimal = ZERO
    fees: Decimal = ZERO

    @property
    def total(self) -> Decimal:
        return self.realized + self.unrealized


@dataclass(slots=True)
class CycleRecord:
    """One hedge cycle as it happened."""

    index: int
    side: str
    maker_filled: Decimal = ZERO
    maker_notional: Decimal = ZERO
    hedge_filled: Decimal = ZERO
    hedge_notional: Decimal = ZERO
    edge_bps: Decimal | None = None
    expected_edge_bps: Decimal | None = None
    outcome: str = "running"
    leg: str = ""
    """``inventory`` mode: ``"open"`` (the quote grew |primary position|) or ``"close"`` (it worked it back),
    ``"both"`` (``two_sided``: both quotes of the leg filled entirely, an open and a close at once);
    ``""`` in ``roundtrip`` mode (each record is a whole cycle)."""


@dataclass(slots=True)
class MarketStats:
    """What the run summary reports about one market. Prices in Decimal; latencies in ns (floats only in
    derived metrics). The metrics endpoint (``app/_metrics.py``) reads it at scrape time.

    ``hedge_latency_ns`` is a bounded :class:`~trio_hedge.engine.LatencyHistogram` of the adapter's receipt of a
    fill's frame -> the adapter's write of the first hedge order's frame (perf counter, ns: ``Fill.received_ns``
    -> ``OrderReport.sent_ns``; the engine's stamps stand in where a venue does not stamp, e.g. the in-process
    simulator): ``record(ns)``, ``count``, ``max_ns``, ``percentile(q)``. ``engine_latency_ns`` is the engine's
    share: the tracker's receipt of the fill -> the first hedge order submitted (before its journal intent).
    """

    cycles_completed: int = 0
    cycles_failed: int = 0
    edges_bps: list[Decimal] = field(default_factory=list)
    hedge_latency_ns: LatencyHistogram = field(default_factory=LatencyHistogram)
    engine_latency_ns: LatencyHistogram = field(default_factory=LatencyHistogram)
    maker_fills: int = 0
    hedge_orders: int = 0
    max_slippage_bps: Decimal = ZERO
    max_abs_net_exposure: Decimal = ZERO
    cycles: list[CycleRecord] = field(default_factory=list)
    expected_edges_bps: list[Decimal] = field(default_factory=list)
    quote_skips: dict[str, int] = field(default_factory=dict)
    routing: dict[str, int] = field(default_factory=dict)
    transitions: list[StateTransition] = field(default_factory=list)
    pnl: PnlSnapshot = field(default_factory=PnlSnapshot)
    rate_limits: dict[str, BucketStats] = field(default_factory=dict)
    positions: dict[str, Decimal] = field(default_factory=dict)
    """Each leg's position from the fills its tracker applied, base units, by ``"<venue> <symbol>"``."""
    net_exposure: Decimal = ZERO
    """primary + hedge position from fills, base units (the risk engine's ``net``)."""
    last_hedge_latency_ns: int | None = None
    """The latest hedge's latency (as ``hedge_latency_ns``), ns."""
    cycle_mode: str = "roundtrip"
    """The market's ``cycle_mode`` (``roundtrip`` or ``inventory``)."""
    venue_volume_quote: dict[str, Decimal] = field(default_factory=dict)
    """Notional of every fill the market's trackers saw, quote units, by venue name."""
    venue_fees_quote: dict[str, Decimal] = field(default_factory=dict)
    """Fees of those fills, quote units (negative = rebates), by venue name."""
    primary_volume_quote: Decimal = ZERO
    """Notional of the primary leg's fills, quote units."""
    primary_maker_volume_quote: Decimal = ZERO
    """The part of ``primary_volume_quote`` our resting quotes made (maker fills)."""
    first_fill_ns: int | None = None
    last_fill_ns: int | None = None
    """Venue timestamps (ns since the epoch) of the first and last fill: the venue's clock, so a replay at
    any speed measures market time."""
    exit_reason: str = ""
    """How the market ended (``run_market``): completed, stopped, or the failure that halted it."""

    def on_fill(self, fill: Fill, *, primary: bool) -> None:
        """Account one fill's notional and fee (by venue), the primary's maker share and the venue clock's
        span (the risk engine calls it on every tracker fill)."""
        notional = fill.notional
        self.venue_volume_quote[fill.venue] = self.venue_volume_quote.get(fill.venue, ZERO) + notional
        self.venue_fees_quote[fill.venue] = self.venue_fees_quote.get(fill.venue, ZERO) + fill.fee
        if primary:
            self.primary_volume_quote += notional
            if fill.is_maker:
                self.primary_maker_volume_quote += notional
        if self.first_fill_ns is None or fill.ts_ns < self.first_fill_ns:
            self.first_fill_ns = fill.ts_ns
        if self.last_fill_ns is None or fill.ts_ns > self.last_fill_ns:
            self.last_fill_ns = fill.ts_ns

    @property
    def volume_quote(self) -> Decimal:
        """Notional of every fill the market's trackers saw on both venues, quote units (the cleanup's flatten
        included once it is seen): the one volume of the summary, the metrics, the log and :attr:`wear_bps`."""
        return sum(self.venue_volume_quote.values(), ZERO)

    @property
    def wear_bps(self) -> Decimal | None:
        """Cost per volume: ``-PnL total / volume x 10^4``, bps (fees included; positive = a cost). None
        before the first fill. Volume is :attr:`volume_quote`, PnL :attr:`pnl` (both from the same fills)."""
        volume = self.volume_quote
        return None if volume == ZERO else -self.pnl.total / volume * BPS

    @property
    def maker_share(self) -> Decimal | None:
        """Maker fills' share of the primary's traded notional (0..1); None before a primary fill."""
        if self.primary_volume_quote == ZERO:
            return None
        return self.primary_maker_volume_quote / self.primary_volume_quote

    @property
    def active_hours(self) -> float | None:
        """Venue-clock hours from the first fill to the last; None before two distinct timestamps."""
        if self.first_fill_ns is None or self.last_fill_ns is None or self.last_fill_ns <= self.first_fill_ns:
            return None
        return (self.last_fill_ns - self.first_fill_ns) / 3.6e12

    @property
    def cycles_per_hour(self) -> float | None:
        """Completed cycles per :attr:`active_hours` (venue clock); None before it is defined."""
        hours = self.active_hours
        return None if hours is None else self.cycles_completed / hours

    def totals_line(self) -> str:
        """The running totals for the per-cycle log line: ``"<n> cycles, volume V (backpack a / grvt b), fees F
        (backpack x / grvt y), wear W bps, maker share S, R cycles/h"`` (venues sorted by name)."""

        def by_venue(amounts: dict[str, Decimal], quantum: Decimal) -> str:
            return " / ".join(f"{venue} {amounts[venue].quantize(quantum)}" for venue in sorted(amounts)) or "-"

        wear, share, rate = self.wear_bps, self.maker_share, self.cycles_per_hour
        cent, bp = Decimal("0.01"), Decimal("0.0001")
        return (f"{self.cycles_completed} cycles, volume {self.volume_quote.quantize(cent)} "
                f"({by_venue(self.venue_volume_quote, cent)}), fees "
                f"{sum(self.venue_fees_quote.values(), ZERO).quantize(bp)} ({by_venue(self.venue_fees_quote, bp)}), "
                f"wear {'-' if wear is None else wear.quantize(Decimal('0.001'))} bps, maker share "
                f"{'-' if share is None else f'{share:.0%}'}, {'-' if rate is None else f'{rate:.0f}'} cycles/h")

    @property
    def halts(self) -> list[StateTransition]:
        """The transitions into HALTED (with their reasons and times)."""
        return [t for t in self.transitions if t.to_state is TradingState.HALTED]

    def count(self, table: dict[str, int], key: str) -> None:
        """Add one to ``table[key]``."""
        table[key] = table.get(key, 0) + 1
