"""A per-venue order rate limiter: a token bucket with a reserved lane, and a :class:`Venue` wrapper that
puts every request through it.

Why: a venue's rate-limit error (GRVT 1006, HTTP 429) on a hedge or a cancel is a risk event, so the bot keeps
its own budget below the venue's published limit (at most 50% of it) and never lets ordinary traffic starve a
cancel or a flatten.

Budgets and weights (ccxt 4.5.90's per-exchange rate-limit maps, https://github.com/ccxt/ccxt):

* GRVT: ccxt's ``grvt`` map (``ccxt/grvt.py``: ``rateLimit = 10`` ms per weight unit, i.e. 100 units/s;
  ``full/v1/create_order`` 5, ``cancel_order`` 5, ``cancel_all_orders`` 50, ``order``/``open_orders``/
  ``fill_history``/``positions`` 20). Default budget 50 units/s (50%), burst 100, 50 reserved.
* Backpack: ccxt's ``backpack`` map (``rateLimit = 50`` ms: 20 requests/s, every request weight 1). Default
  budget 10/s (50%), burst 10, 3 reserved.

The bucket (:class:`TokenBucket`) holds up to ``burst`` tokens and refills at ``rate_per_s``. A request costs
its weight. Two lanes:

* **priority** (cancels, cancel-all, hedge/unwind/flatten orders and reduce-only orders, and every call made
  through :attr:`RateLimitedVenue.urgent`): may use every token, waits in FIFO order among its lane, and
  while any priority request waits no normal request is served;
* **normal** (maker quotes and status/position queries): served only while at least ``reserved`` tokens would
  remain after it, so a burst of normal traffic always leaves ``reserved`` tokens for the priority lane. A
  cancel arriving during a flood of quotes therefore goes out at once (if ``reserved`` covers its weight) or
  after at most ``weight / rate_per_s`` seconds.

When the venue itself answers :class:`~trio_hedge.venues.RateLimited`, the wrapper empties the bucket and
pauses both lanes for the venue's ``retry_after_s`` (if given) before re-raising; the caller's retry policy
(``_retry.py``) then backs off.

Times are trio time (``trio.current_time()``), so tests run it on a virtual clock. Token counts are floats
(metrics, not prices).
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import trio

from ..domain import Fill, Instrument, OrderBook, OrderRequest, Position, VenueEvent
from ..venues import FeedState, OrderReport, RateLimited, Venue

T = TypeVar("T")

PRIORITY_REASONS = frozenset({"hedge", "unwind", "flatten"})
"""Order reasons (``OrderRequest.reason``) that travel on the priority lane."""


@dataclass(frozen=True, slots=True)
class RateCosts:
    """Weight of each venue call in bucket tokens.

    Attributes:
        place, cancel, cancel_all, order_status, open_orders, positions, fills_since (float): weights.
    """

    place: float = 1.0
    cancel: float = 1.0
    cancel_all: float = 1.0
    order_status: float = 1.0
    open_orders: float = 1.0
    positions: float = 1.0
    fills_since: float = 1.0

    def max_normal(self) -> float:
        """The heaviest call that can travel on the normal lane."""
        return max(self.place, self.order_status, self.open_orders, self.positions, self.fills_since)


GRVT_COSTS = RateCosts(place=5.0, cancel=5.0, cancel_all=50.0, order_status=20.0, open_orders=20.0,
                       positions=20.0, fills_since=20.0)
"""ccxt ``grvt`` weights (``create_order`` 5, ``cancel_order`` 5, ``cancel_all_orders`` 50, queries 20)."""
BACKPACK_COSTS = RateCosts()
"""ccxt ``backpack``: every request weight 1 (20 requests/s)."""

COST_PROFILES: dict[str, RateCosts] = {"grvt": GRVT_COSTS, "backpack": BACKPACK_COSTS, "unit": RateCosts()}
"""Weight tables by profile name (the config key ``venues.<name>.rate_limit_costs``)."""


@dataclass(frozen=True, slots=True)
class RateLimitSettings:
    """One venue's client-side budget.

    Attributes:
        rate_per_s (float): token refill rate, weight units per second (> 0).
        burst (float): bucket capacity, weight units (>= reserved + the heaviest normal-lane call).
        reserved (float): tokens the normal lane may never use (kept for cancels and flattening).
        costs (RateCosts): weight per call.

    Raises:
        ValueError: a non-positive rate, or a burst too small to ever serve a normal call above the reserve.
    """

    rate_per_s: float
    burst: float
    reserved: float
    costs: RateCosts = field(default_factory=RateCosts)

    def __post_init__(self) -> None:
        for name in ("rate_per_s", "burst", "reserved"):
            v = getattr(self, name)
            if not math.isfinite(v) or v < 0 or (name != "reserved" and v == 0):
                raise ValueError(f"rate limit {name}={v!r} must be a finite number > 0 (reserved >= 0)")
        if self.burst < self.reserved + self.costs.max_normal():
            raise ValueError(
                f"rate limit burst {self.burst} must be >= reserved {self.reserved} + the heaviest normal call "
                f"{self.costs.max_normal()}"
            )


DEFAULT_RATE_LIMITS: dict[str, RateLimitSettings] = {
    "grvt": RateLimitSettings(rate_per_s=50.0, burst=100.0, reserved=50.0, costs=GRVT_COSTS),
    "backpack": RateLimitSettings(rate_per_s=10.0, burst=10.0, reserved=3.0, costs=BACKPACK_COSTS),
}
"""Defaults at 50% of the published limits (see the module docstring)."""


@dataclass(slots=True)
class LaneStats:
    """What one lane of a bucket saw (for the run summary).

    Attributes:
        requests (int): requests served.
        waited (int): requests that had to wait (for tokens, or more than 1 ms behind others of their lane).
        max_wait_s (float): the longest wait, seconds.
        total_wait_s (float): total time spent waiting, seconds.
    """

    requests: int = 0
    waited: int = 0
    max_wait_s: float = 0.0
    total_wait_s: float = 0.0


@dataclass(slots=True)
class BucketStats:
    """Per-lane statistics and how often the venue itself said "rate limited"."""

    normal: LaneStats = field(default_factory=LaneStats)
    priority: LaneStats = field(default_factory=LaneStats)
    venue_rate_limited: int = 0


class TokenBucket:
    """A token bucket with a normal and a priority lane (see the module docstring).

    Args:
        settings: rate, burst and reserve.
    """

    def __init__(self, settings: RateLimitSettings) -> None:
        self.settings = settings
        self._tokens = settings.burst
        self._last_s = trio.current_time()
        self._paused_until_s = -math.inf
        self._priority_waiting = 0
        self._lanes = {True: trio.StrictFIFOLock(), False: trio.StrictFIFOLock()}
        self._lot = trio.lowlevel.ParkingLot()
        self.stats = BucketStats()

    @property
    def tokens(self) -> float:
        """Tokens available now."""
        self._refill()
        return self._tokens

    def _refill(self) -> None:
        now = trio.current_time()
        if now > self._last_s:
            self._tokens = min(self.settings.burst, self._tokens + (now - self._last_s) * self.settings.rate_per_s)
            self._last_s = now

    def penalize(self, retry_after_s: float | None) -> None:
        """The venue said "rate limited": empty the bucket and pause both lanes ``retry_after_s`` (if given)."""
        self._refill()
        self._tokens = 0.0
        self.stats.venue_rate_limited += 1
        if retry_after_s is not None and retry_after_s > 0:
            self._paused_until_s = max(self._paused_until_s, trio.current_time() + retry_after_s)

    async def acquire(self, cost: float, *, priority: bool) -> None:
        """Wait until ``cost`` tokens can be taken on the given lane, then take them.

        A cost above the burst is clipped to the burst (it could never be served otherwise). Cancellation
        while waiting takes nothing.

        Not a schedule point when the tokens are there and nobody waits (the common case, and the hedge's path
        from fill to frame: a yield there puts the order behind every task the fill woke, hundreds of us in
        the running bot); a cancel already delivered is still raised.
        """
        cost = min(cost, self.settings.burst)
        lane = self.stats.priority if priority else self.stats.normal
        await trio.lowlevel.checkpoint_if_cancelled()
        if not self._lanes[priority].locked() and (priority or self._priority_waiting == 0):
            self._refill()
            if (trio.current_time() >= self._paused_until_s
                    and self._tokens - cost >= (0.0 if priority else self.settings.reserved) - 1e-9):
                self._tokens -= cost
                lane.requests += 1
                return
        started = trio.current_time()
        slept = False
        async with self._lanes[priority]:
            if priority:
                self._priority_waiting += 1
            try:
                while True:
                    self._refill()
                    now = trio.current_time()
                    floor = 0.0 if priority else self.settings.reserved
                    blocked = not priority and self._priority_waiting > 0
                    if not blocked and now >= self._paused_until_s and self._tokens - cost >= floor - 1e-9:
                        self._tokens -= cost
                        break
                    need = max(0.0, cost + floor - self._tokens)
                    wait_s = max(need / self.settings.rate_per_s, self._paused_until_s - now, 1e-4)
                    slept = True
                    with trio.move_on_after(wait_s):
                        await self._lot.park()
            finally:
                if priority:
                    self._priority_waiting -= 1
                    self._lot.unpark_all()
        waited = trio.current_time() - started
        lane.requests += 1
        if slept or waited > 0.001:  # waited for tokens, or behind others of its lane
            lane.waited += 1
            lane.total_wait_s += waited
            lane.max_wait_s = max(lane.max_wait_s, waited)


class RateLimitedVenue:
    """A :class:`~trio_hedge.venues.Venue` that sends every request of ``inner`` through a :class:`TokenBucket`.

    Market-data reads (``book``, ``feed_state``, ``wait_book_change``), ``events`` and ``new_client_order_id``
    are local and pass straight through. Lanes: ``cancel`` and ``cancel_all`` always take the priority
    lane; ``place`` takes it for reduce-only orders and for the reasons in :data:`PRIORITY_REASONS`; the
    queries take the normal lane. :attr:`urgent` is a view of the same venue and bucket on which EVERY call
    takes the priority lane (the flatten path uses it, so its position reads and status polls are never
    starved either). Any other attribute is forwarded to ``inner``.

    Attributes:
        name (str): the inner venue's name.
        inner (Venue): the wrapped venue.
        bucket (TokenBucket): the shared bucket.
    """

    def __init__(self, inner: Venue, settings: RateLimitSettings, *, _bucket: TokenBucket | None = None,
                 _urgent: bool = False) -> None:
        self.inner = inner
        self.name = inner.name
        self.settings = settings
        self.bucket = _bucket if _bucket is not None else TokenBucket(settings)
        self._all_priority = _urgent

    @property
    def urgent(self) -> RateLimitedVenue:
        """The same venue and bucket with every call on the priority lane."""
        if self._all_priority:
            return self
        return RateLimitedVenue(self.inner, self.settings, _bucket=self.bucket, _urgent=True)

    def __getattr__(self, item: str) -> Any:
        if item == "inner":  # not set yet (during construction or unpickling): no recursion
            raise AttributeError(item)
        return getattr(self.inner, item)

    async def _call(self, cost: float, priority: bool, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        await self.bucket.acquire(cost, priority=priority or self._all_priority)
        try:
            return await fn(*args)
        except RateLimited as exc:
            self.bucket.penalize(exc.retry_after_s)
            raise

    # ------------------------------------------------------------------ local, no budget
    def instrument(self, symbol: str) -> Instrument:
        return self.inner.instrument(symbol)

    def book(self, symbol: str) -> OrderBook:
        return self.inner.book(symbol)

    def feed_state(self, symbol: str) -> FeedState:
        return self.inner.feed_state(symbol)

    async def wait_book_change(self, symbol: str) -> None:
        await self.inner.wait_book_change(symbol)

    def events(self, symbol: str) -> trio.MemoryReceiveChannel[VenueEvent]:
        return self.inner.events(symbol)

    def new_client_order_id(self) -> str:
        return self.inner.new_client_order_id()

    # ------------------------------------------------------------------ requests
    async def place(self, request: OrderRequest) -> OrderReport:
        priority = request.reduce_only or request.reason in PRIORITY_REASONS
        return await self._call(self.settings.costs.place, priority, self.inner.place, request)

    async def cancel(self, symbol: str, client_order_id: str) -> None:
        await self._call(self.settings.costs.cancel, True, self.inner.cancel, symbol, client_order_id)

    async def cancel_all(self, symbol: str) -> int:
        return await self._call(self.settings.costs.cancel_all, True, self.inner.cancel_all, symbol)

    async def order_status(self, symbol: str, client_order_id: str) -> OrderReport | None:
        return await self._call(self.settings.costs.order_status, False, self.inner.order_status, symbol,
                                client_order_id)

    async def open_orders(self, symbol: str) -> list[OrderReport]:
        return await self._call(self.settings.costs.open_orders, False, self.inner.open_orders, symbol)

    async def positions(self) -> dict[str, Position]:
        return await self._call(self.settings.costs.positions, False, self.inner.positions)

    async def fills_since(self, symbol: str, since_ns: int) -> list[Fill]:
        return await self._call(self.settings.costs.fills_since, False, self.inner.fills_since, symbol, since_ns)


def wrap_rate_limited(venue: Venue, settings: RateLimitSettings | None) -> Venue:
    """``venue`` behind a :class:`RateLimitedVenue` with ``settings``; unchanged when ``settings`` is None or
    it is already rate limited (so wrapping twice never doubles the budget cost).

    Apply it once per venue session when several markets share a venue (one bucket per venue account);
    :func:`~trio_hedge.engine.run_market` applies it itself for its legs when the market's settings carry a
    budget.
    """
    if settings is None or isinstance(venue, RateLimitedVenue):
        return venue
    return RateLimitedVenue(venue, settings)


def urgent(venue: Venue) -> Venue:
    """The priority-lane view of a rate-limited venue; any other venue unchanged."""
    return venue.urgent if isinstance(venue, RateLimitedVenue) else venue
