"""Orders, fills and positions, with an explicit order state machine.

State machine (``OrderStatus``)::

    PENDING ──> OPEN ──> PARTIALLY_FILLED ──> FILLED
       │          │             │ ▲  (more fills)
       │          ├──> CANCELLED / EXPIRED <──┘
       ├──> PARTIALLY_FILLED / FILLED     (an IOC or taker order can fill before any ack)
       ├──> CANCELLED / EXPIRED           (an IOC remainder, a post-only that would cross on some venues)
       └──> REJECTED

OPEN ──> FILLED directly as well (one fill for the whole size). Nothing else: in particular no REJECTED
after OPEN or a fill (a venue rejects an order before it accepts it, never after), and nothing leaves a
terminal status. FILLED, CANCELLED, REJECTED and EXPIRED are terminal. Any other move raises :class:`IllegalTransition`.
A fill reported *after* a cancel (a late fill: the venue matched before it processed the cancel) is still
recorded on a CANCELLED or EXPIRED order, because a real fill must never be lost; it does not change the
status. A fill that would exceed the order's size raises (an overfill is a bug somewhere, never ignored).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from decimal import Decimal

from ._errors import BadValue, IllegalTransition
from ._num import ZERO


class Side(enum.StrEnum):
    """Order side. ``sign`` is +1 for BUY, -1 for SELL (the sign of the position change)."""

    BUY = "BUY"
    SELL = "SELL"

    @property
    def sign(self) -> int:
        return 1 if self is Side.BUY else -1

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY

    @classmethod
    def parse(cls, value: str) -> Side:
        """Parse ``buy``/``sell``/``Bid``/``Ask`` (case-insensitive). Raises :class:`BadValue`."""
        v = value.strip().upper() if isinstance(value, str) else ""
        if v in ("BUY", "BID", "B"):
            return cls.BUY
        if v in ("SELL", "ASK", "A", "S"):
            return cls.SELL
        raise BadValue(f"unknown side {str(value)[:20]!r}")


class OrderType(enum.StrEnum):
    LIMIT = "LIMIT"
    MARKET = "MARKET"


class TimeInForce(enum.StrEnum):
    """GTT: good till time (rests); IOC: immediate or cancel; FOK: fill or kill."""

    GTT = "GTT"
    IOC = "IOC"
    FOK = "FOK"


class OrderStatus(enum.StrEnum):
    PENDING = "PENDING"
    OPEN = "OPEN"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELLED = "CANCELLED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL

    @property
    def rank(self) -> int:
        """How far along its life an order in this status is: PENDING 0, OPEN 1, PARTIALLY_FILLED 2, every
        terminal status 3 (:data:`TERMINAL_RANK`). A report whose rank is lower than one already seen for the
        same order is stale (an ack arriving after the fill); the one table every layer compares by."""
        return _RANK[self]


_TERMINAL = frozenset({OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.EXPIRED})

TERMINAL_RANK = 3
"""``OrderStatus.rank`` of every terminal status."""

_RANK: dict[OrderStatus, int] = {
    OrderStatus.PENDING: 0,
    OrderStatus.OPEN: 1,
    OrderStatus.PARTIALLY_FILLED: 2,
    **dict.fromkeys(_TERMINAL, TERMINAL_RANK),
}

_ALLOWED: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.PENDING: frozenset(
        {
            OrderStatus.OPEN,
            OrderStatus.PARTIALLY_FILLED,
            OrderStatus.FILLED,
            OrderStatus.CANCELLED,
            OrderStatus.REJECTED,
            OrderStatus.EXPIRED,
        }
    ),
    OrderStatus.OPEN: frozenset(
        {OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.EXPIRED}
    ),
    OrderStatus.PARTIALLY_FILLED: frozenset(
        {OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.EXPIRED}
    ),
    OrderStatus.FILLED: frozenset(),
    OrderStatus.CANCELLED: frozenset(),
    OrderStatus.REJECTED: frozenset(),
    OrderStatus.EXPIRED: frozenset(),
}


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """What the bot asks a venue to do; immutable, keyed by ``client_order_id``.

    Attributes:
        client_order_id (str): unique per venue account among live orders; the venue's own format
            (GRVT: uint64 decimal string; Backpack: uint32 decimal string; simulator: any string).
        symbol (str): venue symbol.
        side (Side): BUY or SELL.
        size (Decimal): base units, > 0, on the lot grid.
        order_type (OrderType): LIMIT or MARKET.
        price (Decimal | None): limit price (quote per base); None for MARKET.
        tif (TimeInForce): GTT rests, IOC/FOK take.
        post_only (bool): maker only; rejected (never filled) if it would cross.
        reduce_only (bool): may only shrink the position.
        reason (str): why the bot sends it (``quote``, ``hedge``, ``unwind``, ``flatten``); for logs and journal.
    """

    client_order_id: str
    symbol: str
    side: Side
    size: Decimal
    order_type: OrderType = OrderType.LIMIT
    price: Decimal | None = None
    tif: TimeInForce = TimeInForce.GTT
    post_only: bool = False
    reduce_only: bool = False
    reason: str = ""

    def __post_init__(self) -> None:
        if not self.size.is_finite() or self.size <= ZERO:
            raise BadValue(f"order {self.client_order_id}: size {self.size} must be > 0")
        if self.order_type is OrderType.LIMIT:
            if self.price is None or not self.price.is_finite() or self.price <= ZERO:
                raise BadValue(f"order {self.client_order_id}: a limit order needs a price > 0")
        elif self.price is not None:
            raise BadValue(f"order {self.client_order_id}: a market order takes no price")
        if self.post_only and (self.tif is not TimeInForce.GTT or self.order_type is not OrderType.LIMIT):
            raise BadValue(f"order {self.client_order_id}: post-only needs a GTT limit order")


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution against one of our orders.

    Attributes:
        venue (str): venue name.
        symbol (str): venue symbol.
        client_order_id (str): our id for the order that filled.
        trade_id (str): the venue's id for this execution; fills are deduplicated by (venue, trade_id).
        side (Side): our side.
        price (Decimal): execution price, quote per base.
        size (Decimal): executed size, base units, > 0.
        fee (Decimal): fee paid in quote units (negative for a rebate).
        is_maker (bool): True if our order was resting (maker liquidity).
        ts_ns (int): venue timestamp, ns since the Unix epoch.
        received_ns (int): ``time.perf_counter_ns()`` when the adapter received the frame that carried it
            (the start of the hedge latency); 0 when not stamped (fill histories, the in-process simulator).
            Not part of equality.
    """

    venue: str
    symbol: str
    client_order_id: str
    trade_id: str
    side: Side
    price: Decimal
    size: Decimal
    fee: Decimal
    is_maker: bool
    ts_ns: int
    received_ns: int = field(default=0, compare=False)

    @property
    def notional(self) -> Decimal:
        """``price * size`` in quote units."""
        return self.price * self.size

    @property
    def signed_size(self) -> Decimal:
        """Size with the side's sign: the change this fill makes to the position."""
        return self.size if self.side is Side.BUY else -self.size


@dataclass(slots=True)
class Order:
    """A tracked order: the request plus what the venue has said about it.

    Only :meth:`transition` and :meth:`apply_fill` change it, and both enforce the state machine.
    """

    request: OrderRequest
    venue: str
    status: OrderStatus = OrderStatus.PENDING
    filled_size: Decimal = ZERO
    filled_notional: Decimal = ZERO
    venue_order_id: str | None = None
    reason: str = ""
    trade_ids: set[str] = field(default_factory=set)

    @property
    def client_order_id(self) -> str:
        return self.request.client_order_id

    @property
    def remaining(self) -> Decimal:
        return self.request.size - self.filled_size

    @property
    def avg_fill_price(self) -> Decimal | None:
        return self.filled_notional / self.filled_size if self.filled_size > ZERO else None

    @property
    def is_terminal(self) -> bool:
        return self.status.is_terminal

    def transition(self, new: OrderStatus, reason: str = "") -> bool:
        """Move to ``new``.

        Returns:
            bool: True if the status changed, False for a repeat of the current terminal status
            (venues repeat terminal reports; that is not an error).

        Raises:
            IllegalTransition: the state machine has no such edge.
        """
        if new is self.status and new.is_terminal:
            return False
        if new not in _ALLOWED[self.status]:
            raise IllegalTransition(self.client_order_id, self.status.value, new.value)
        if new is OrderStatus.FILLED and self.filled_size != self.request.size:
            # A FILLED report before every fill arrived: keep the fill accounting honest, the fills
            # will follow (or the verifier will query them). Status still moves.
            pass
        self.status = new
        if reason:
            self.reason = reason
        return True

    def apply_fill(self, fill: Fill) -> bool:
        """Record ``fill`` once (idempotent by ``trade_id``) and move the status accordingly.

        Returns:
            bool: True if the fill was new, False if this trade id was already applied.

        Raises:
            IllegalTransition: the fill would exceed the order size, or the order was REJECTED.
        """
        if fill.trade_id in self.trade_ids:
            return False
        if self.status is OrderStatus.REJECTED:
            raise IllegalTransition(self.client_order_id, self.status.value, "fill")
        if self.filled_size + fill.size > self.request.size:
            raise IllegalTransition(
                self.client_order_id, self.status.value, f"overfill {self.filled_size}+{fill.size}>{self.request.size}"
            )
        self.trade_ids.add(fill.trade_id)
        self.filled_size += fill.size
        self.filled_notional += fill.price * fill.size
        if self.status in (OrderStatus.PENDING, OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED):
            self.status = OrderStatus.FILLED if self.remaining == ZERO else OrderStatus.PARTIALLY_FILLED
        return True


@dataclass(frozen=True, slots=True)
class Position:
    """A venue's report of our position in one symbol.

    Attributes:
        venue (str), symbol (str): where.
        size (Decimal): signed base units (> 0 long, < 0 short).
        entry_price (Decimal | None): average entry, quote per base; None when flat.
        realized_pnl (Decimal): quote units, fees included where the venue includes them.
    """

    venue: str
    symbol: str
    size: Decimal
    entry_price: Decimal | None = None
    realized_pnl: Decimal = ZERO
