"""Settings the engine runs with (built and validated by the app's config loader) and the statistics it
keeps for the run summary."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from ..domain import ZERO


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
        hedge_attempts (int): IOC attempts to complete one hedge before the market fails.
        order_deadline_s (float): deadline to resolve any order to a terminal state.
        event_grace_s (float): how long to wait for the stream before querying an order's status.
        query_interval_s (float): polling interval of status queries while resolving.
        inbox_capacity (int): capacity of the channel from the primary's order tracker to the hedger.
        book_wait_s (float): how long to wait for a valid book before quoting or hedging.
        max_quote_rejects (int): consecutive post-only rejections tolerated before the market fails.
        book_stale_s (float): a connected feed with no update for this long is stale.
        feed_down_budget_s (float): a feed disconnected (or book invalid) this long fails the market.
        imbalance_tolerance (Decimal): allowed |primary + hedge| fills, base units.
        imbalance_grace_s (float): how long an imbalance beyond tolerance is allowed (a hedge in flight).
        risk_check_interval_s (float): the risk guard's period.
        cleanup_deadline_s (float): bound on the shielded cancel-and-flatten cleanup.
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
    book_wait_s: float = 5.0
    max_quote_rejects: int = 50
    book_stale_s: float = 5.0
    feed_down_budget_s: float = 1.0
    imbalance_tolerance: Decimal = Decimal("0.01")
    imbalance_grace_s: float = 2.0
    risk_check_interval_s: float = 0.05
    cleanup_deadline_s: float = 15.0


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
    outcome: str = "running"


@dataclass(slots=True)
class MarketStats:
    """What the run summary reports about one market. Prices in Decimal; latencies in ns (floats only in
    derived metrics)."""

    cycles_completed: int = 0
    cycles_failed: int = 0
    volume_quote: Decimal = ZERO
    edges_bps: list[Decimal] = field(default_factory=list)
    hedge_latency_ns: list[int] = field(default_factory=list)
    maker_fills: int = 0
    hedge_orders: int = 0
    max_slippage_bps: Decimal = ZERO
    max_abs_net_exposure: Decimal = ZERO
    cycles: list[CycleRecord] = field(default_factory=list)
