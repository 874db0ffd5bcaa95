"""GRVT orders: the ``Order`` / ``OrderState`` structs (REST ``order``, ``open_orders``, ``create_order``
acks; the ``v1.order`` and ``v1.state`` feeds) parsed into :class:`~trio_hedge.domain.OrderReport` and domain
events, formatted (server side), and the API range of client order ids.

Sources and the citation names used below: the package docstring (:mod:`trio_hedge.protocols.grvt`).
"""

from __future__ import annotations

import itertools
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final

from ...domain import (
    ZERO,
    BadValue,
    OrderReport,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Side,
)
from ._codec import (
    _F_LEG,
    _F_METADATA,
    _F_ORDER,
    _F_STATE,
    _F_STATE_FEED,
    _MISSING,
    _REJECT_REASONS,
    _TIF_FROM_DOMAIN,
    _TIF_TO_DOMAIN,
    CLIENT_ORDER_ID_MAX,
    CLIENT_ORDER_ID_MIN,
    INT64_MAX,
    NO_ORDER_ID,
    UINT64_MAX,
    VENUE,
    GrvtOrderStatus,
    GrvtProtocolError,
    GrvtTimeInForce,
    _checked,
    _decimal,
    _Reader,
    format_decimal,
)

# ---------------------------------------------------------------------------------------------- orders
_STATUS_TO_DOMAIN: Final = {
    GrvtOrderStatus.PENDING: OrderStatus.PENDING,
    GrvtOrderStatus.OPEN: OrderStatus.OPEN,
    GrvtOrderStatus.FILLED: OrderStatus.FILLED,
    GrvtOrderStatus.REJECTED: OrderStatus.REJECTED,
    GrvtOrderStatus.CANCELLED: OrderStatus.CANCELLED,
}


@dataclass(frozen=True, slots=True)
class GrvtOrderState:
    """GRVT ``OrderState`` for a single-leg order (GRVT docs: open_orders).

    Attributes:
        status (GrvtOrderStatus): venue status.
        reject_reason (str): ``OrderRejectReason`` (``"UNSPECIFIED"`` unless cancelled or rejected).
        book_size (Decimal): size still resting, base units.
        traded_size (Decimal): cumulative filled size, base units.
        avg_fill_price (Decimal | None): average fill price; None when nothing traded.
        update_time_ns (int): venue update time, ns.
    """

    status: GrvtOrderStatus
    reject_reason: str
    book_size: Decimal
    traded_size: Decimal
    avg_fill_price: Decimal | None
    update_time_ns: int

    @property
    def domain_status(self) -> OrderStatus:
        """Our status. PENDING/OPEN/FILLED/REJECTED/CANCELLED map one to one, except: OPEN with
        ``traded_size > 0`` -> PARTIALLY_FILLED; CANCELLED with reason ``EXPIRED`` -> EXPIRED."""
        if self.status is GrvtOrderStatus.OPEN and self.traded_size > ZERO:
            return OrderStatus.PARTIALLY_FILLED
        if self.status is GrvtOrderStatus.CANCELLED and self.reject_reason == "EXPIRED":
            return OrderStatus.EXPIRED
        return _STATUS_TO_DOMAIN[self.status]

    @property
    def reason(self) -> str:
        """``reject_reason`` in the venue's words, ``""`` for ``UNSPECIFIED``."""
        return "" if self.reject_reason == "UNSPECIFIED" else self.reject_reason

    @classmethod
    def from_domain(
        cls,
        status: OrderStatus,
        *,
        size: Decimal,
        filled_size: Decimal,
        avg_fill_price: Decimal | None,
        update_time_ns: int,
        reject_reason: str = "",
    ) -> GrvtOrderState:
        """The venue state for a domain status (server side): PARTIALLY_FILLED -> OPEN; EXPIRED ->
        CANCELLED with reason EXPIRED; ``book_size`` is the remainder while PENDING/OPEN, else 0.

        Raises:
            BadValue: an unknown ``reject_reason``.
        """
        grvt = {
            OrderStatus.PENDING: GrvtOrderStatus.PENDING,
            OrderStatus.OPEN: GrvtOrderStatus.OPEN,
            OrderStatus.PARTIALLY_FILLED: GrvtOrderStatus.OPEN,
            OrderStatus.FILLED: GrvtOrderStatus.FILLED,
            OrderStatus.CANCELLED: GrvtOrderStatus.CANCELLED,
            OrderStatus.REJECTED: GrvtOrderStatus.REJECTED,
            OrderStatus.EXPIRED: GrvtOrderStatus.CANCELLED,
        }[status]
        reason = reject_reason or ("EXPIRED" if status is OrderStatus.EXPIRED else "UNSPECIFIED")
        if reason not in _REJECT_REASONS:
            raise BadValue(f"unknown GRVT reject reason {reason!r}")
        resting = grvt in (GrvtOrderStatus.PENDING, GrvtOrderStatus.OPEN)
        return cls(grvt, reason, size - filled_size if resting else ZERO, filled_size, avg_fill_price, update_time_ns)


@dataclass(frozen=True, slots=True)
class GrvtOrder:
    """A GRVT ``Order`` (request, ack, query result or ``v1.order`` payload) reduced to one leg.

    Attributes:
        client_order_id (str): ``metadata.client_order_id``, uint64 decimal string.
        order_id (str | None): venue id; None when absent or ``"0x00"`` (create ack, GRVT docs: create_order).
        sub_account_id (str): uint64 decimal string.
        symbol (str): ``legs[0].instrument``.
        side (Side): BUY when ``legs[0].is_buying_asset``.
        size (Decimal): ``legs[0].size``, base units, > 0.
        limit_price (Decimal | None): ``legs[0].limit_price``; None for a market order (pysdk sends
            ``"0E-9"``, ccxt ``null``, GRVT docs: create_order).
        time_in_force (GrvtTimeInForce): venue TIF.
        is_market (bool), post_only (bool), reduce_only (bool): flags (absent = false).
        create_time_ns (int | None): ``metadata.create_time``.
        state (GrvtOrderState | None): None in a create request.
        signature (Mapping[str, Any]): the ``signature`` object as sent (not validated here; the signer
            module owns it). Not part of repr or equality.
    """

    client_order_id: str
    order_id: str | None
    sub_account_id: str
    symbol: str
    side: Side
    size: Decimal
    limit_price: Decimal | None
    time_in_force: GrvtTimeInForce
    is_market: bool = False
    post_only: bool = False
    reduce_only: bool = False
    create_time_ns: int | None = None
    state: GrvtOrderState | None = None
    signature: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def to_report(self) -> OrderReport:
        """The domain :class:`OrderReport` (status via :attr:`GrvtOrderState.domain_status`; a request
        without state reports PENDING with nothing filled)."""
        st = self.state
        return OrderReport(
            client_order_id=self.client_order_id,
            venue_order_id=self.order_id,
            symbol=self.symbol,
            side=self.side,
            size=self.size,
            price=self.limit_price,
            status=st.domain_status if st else OrderStatus.PENDING,
            filled_size=st.traded_size if st else ZERO,
            avg_fill_price=st.avg_fill_price if st else None,
            reduce_only=self.reduce_only,
            post_only=self.post_only,
            reason=st.reason if st else "",
        )

    def to_update(self, *, venue: str = VENUE) -> OrderUpdate:
        """The domain :class:`OrderUpdate` for a ``v1.order`` event (``ts_ns`` = ``state.update_time``)."""
        st = self.state
        return OrderUpdate(
            venue=venue,
            symbol=self.symbol,
            client_order_id=self.client_order_id,
            status=st.domain_status if st else OrderStatus.PENDING,
            venue_order_id=self.order_id,
            filled_size=st.traded_size if st else None,
            reason=st.reason if st else "",
            ts_ns=st.update_time_ns if st else (self.create_time_ns or 0),
        )

    def to_request(self, *, reason: str = "") -> OrderRequest:
        """The domain :class:`OrderRequest` this order asks for (server side).

        Raises:
            GrvtProtocolError: a TIF the order book does not take (AON, RPI: venue error 2030), a market
                order with post-only, or any other combination OrderRequest refuses.
        """
        tif = _TIF_TO_DOMAIN.get(self.time_in_force)
        if tif is None:
            raise GrvtProtocolError(f"order {self.client_order_id}: time_in_force {self.time_in_force} not supported")
        try:
            return OrderRequest(
                client_order_id=self.client_order_id,
                symbol=self.symbol,
                side=self.side,
                size=self.size,
                order_type=OrderType.MARKET if self.is_market else OrderType.LIMIT,
                price=None if self.is_market else self.limit_price,
                tif=tif,
                post_only=self.post_only,
                reduce_only=self.reduce_only,
                reason=reason,
            )
        except BadValue as exc:
            raise GrvtProtocolError(str(exc)) from None

    @classmethod
    def from_request(
        cls,
        request: OrderRequest,
        *,
        sub_account_id: str,
        signature: Mapping[str, Any],
        order_id: str | None = None,
        create_time_ns: int | None = None,
        state: GrvtOrderState | None = None,
    ) -> GrvtOrder:
        """The GRVT order for a domain request (client side: the create_order body; server side: the echo).

        Raises:
            BadValue: ``request.client_order_id`` is not a uint64 decimal string.
        """
        if not _is_uint64_str(request.client_order_id):
            raise BadValue(f"GRVT client_order_id must be a uint64 decimal string, not {request.client_order_id!r}")
        return cls(
            client_order_id=request.client_order_id,
            order_id=order_id,
            sub_account_id=sub_account_id,
            symbol=request.symbol,
            side=request.side,
            size=request.size,
            limit_price=request.price,
            time_in_force=_TIF_FROM_DOMAIN[request.tif],
            is_market=request.order_type is OrderType.MARKET,
            post_only=request.post_only,
            reduce_only=request.reduce_only,
            create_time_ns=create_time_ns,
            state=state,
            signature=signature,
        )


def _is_uint64_str(s: object) -> bool:
    return isinstance(s, str) and s.isascii() and s.isdigit() and len(s) <= 20 and int(s) <= UINT64_MAX


def _client_order_id(r: _Reader, name: str = "client_order_id") -> str:
    """A uint64 client order id, normalised to its canonical decimal string (ints tolerated)."""
    return str(r.uint(name))


def _order_id(r: _Reader, name: str = "order_id", *, required: bool = False) -> str | None:
    value = r.string(name, required=required)
    return None if value in ("", NO_ORDER_ID) else value


def _order_state(r: _Reader, path_name: str) -> GrvtOrderState:
    s = r.child(path_name, _F_STATE)
    status = GrvtOrderStatus(s.enum("status", GrvtOrderStatus.__members__))
    reason = s.enum("reject_reason", _REJECT_REASONS, required=False, default="UNSPECIFIED")
    book = _leg_size(s, "book_size")
    traded = _leg_size(s, "traded_size")
    avg = _leg_size(s, "avg_fill_price") if s.get("avg_fill_price") is not _MISSING else ZERO
    ut = s.uint("update_time", maximum=INT64_MAX)
    return GrvtOrderState(status, reason, book, traded, avg if traded > ZERO and avg > ZERO else None, ut)


def _leg_size(r: _Reader, name: str) -> Decimal:
    """The single element (>= 0) of a per-leg array (``book_size``, ``traded_size``, ``avg_fill_price``)."""
    arr = r.array(name)
    if len(arr) != 1:
        raise r.err(name, f"expected one element per leg (1), got {len(arr)}")
    return _checked(_decimal(arr[0], r, name), r, name, price=False)


def parse_order(obj: Any, *, venue: str = VENUE) -> GrvtOrder:
    """Parse a GRVT ``Order`` object (full or lite names; GRVT docs: create_order; GRVT docs: open_orders; GRVT WS docs:
    trading streams).

    Accepts create requests (no ``state``, no ``order_id``), create acks (``order_id "0x00"``, status
    PENDING), query results and ``v1.order`` feed payloads. Orders on the order book have exactly one leg
    (venue error 2042); more legs are refused.

    Raises:
        GrvtProtocolError: missing or malformed fields, zero or several legs, an unknown status,
            reject reason or time in force, a limit order without a positive price.
    """
    r = _Reader(obj, _F_ORDER, "order", venue)
    legs = r.array("legs")
    if len(legs) != 1:
        raise r.err("legs", f"expected exactly one leg, got {len(legs)}")
    leg = _Reader(legs[0], _F_LEG, "order.legs[0]", venue)
    meta = r.child("metadata", _F_METADATA)
    coid = _client_order_id(meta)
    r.path = f"order[{coid}]"
    is_market = r.boolean("is_market", required=False)
    price: Decimal | None
    if is_market:
        raw_price = leg.opt_decimal("limit_price")
        if raw_price is not None and raw_price != ZERO:
            raise leg.err("limit_price", "a market order carries no limit price (venue error 2020)")
        price = None
    else:
        price = leg.price("limit_price")
    size = leg.size("size", positive=True)
    symbol = leg.string("instrument")
    signature = r.get("signature")
    if signature is _MISSING:
        signature = {}
    elif not isinstance(signature, dict):
        raise r.err("signature", f"expected an object, got {type(signature).__name__}")
    state = _order_state(r, "state") if r.get("state") is not _MISSING else None
    return GrvtOrder(
        client_order_id=coid,
        order_id=_order_id(r),
        sub_account_id=str(r.uint("sub_account_id")),
        symbol=symbol,
        side=Side.BUY if leg.boolean("is_buying_asset") else Side.SELL,
        size=size,
        limit_price=price,
        time_in_force=GrvtTimeInForce(r.enum("time_in_force", GrvtTimeInForce.__members__)),
        is_market=is_market,
        post_only=r.boolean("post_only", required=False),
        reduce_only=r.boolean("reduce_only", required=False),
        create_time_ns=meta.opt_uint("create_time", maximum=INT64_MAX),
        state=state,
        signature=signature,
    )


def parse_orders(result: Any, *, venue: str = VENUE) -> list[GrvtOrder]:
    """Parse the ``result`` array of ``open_orders`` / ``order_history`` (GRVT docs: open_orders).

    Raises:
        GrvtProtocolError: not an array, or a malformed element.
    """
    if not isinstance(result, list):
        raise GrvtProtocolError(f"orders: expected an array, got {type(result).__name__}", venue=venue)
    return [parse_order(o, venue=venue) for o in result]


def format_order_state(state: GrvtOrderState) -> dict[str, Any]:
    """The full-name ``OrderState`` JSON object (single leg)."""
    return {
        "status": state.status.value,
        "reject_reason": state.reject_reason,
        "book_size": [format_decimal(state.book_size)],
        "traded_size": [format_decimal(state.traded_size)],
        "update_time": str(state.update_time_ns),
        "avg_fill_price": [format_decimal(state.avg_fill_price or ZERO)],
    }


def format_order(order: GrvtOrder) -> dict[str, Any]:
    """The full-name ``Order`` JSON object (inverse of :func:`parse_order`).

    Without ``state`` and ``order_id`` this is the create_order request order (send it as
    ``{"order": …}``, GRVT docs: create_order); with them it is what the venue echoes (``order_id`` ``"0x00"`` while
    unknown). Market orders carry ``"limit_price": "0.0"``.
    """
    out: dict[str, Any] = {}
    if order.order_id is not None or order.state is not None:
        out["order_id"] = order.order_id or NO_ORDER_ID
    out.update(
        {
            "sub_account_id": order.sub_account_id,
            "is_market": order.is_market,
            "time_in_force": order.time_in_force.value,
            "post_only": order.post_only,
            "reduce_only": order.reduce_only,
            "legs": [
                {
                    "instrument": order.symbol,
                    "size": format_decimal(order.size),
                    "limit_price": format_decimal(order.limit_price or ZERO),
                    "is_buying_asset": order.side is Side.BUY,
                }
            ],
            "signature": dict(order.signature),
            "metadata": {"client_order_id": order.client_order_id},
        }
    )
    if order.create_time_ns is not None:
        out["metadata"]["create_time"] = str(order.create_time_ns)
    if order.state is not None:
        out["state"] = format_order_state(order.state)
    return out


@dataclass(frozen=True, slots=True)
class GrvtOrderStateEvent:
    """A ``v1.state`` payload (GRVT WS docs: trading streams): ``{"order_id","client_order_id","order_state":{…}}``. It
    names no instrument, so :meth:`to_update` takes the symbol from the caller (its own order registry)."""

    client_order_id: str
    order_id: str | None
    state: GrvtOrderState

    def to_update(self, *, symbol: str, venue: str = VENUE) -> OrderUpdate:
        return OrderUpdate(
            venue=venue,
            symbol=symbol,
            client_order_id=self.client_order_id,
            status=self.state.domain_status,
            venue_order_id=self.order_id,
            filled_size=self.state.traded_size,
            reason=self.state.reason,
            ts_ns=self.state.update_time_ns,
        )


def parse_order_state_feed(obj: Any, *, venue: str = VENUE) -> GrvtOrderStateEvent:
    """Parse a ``v1.state`` feed payload (full or lite). The doc example's ``order_id`` is not hex
    (``"10000101000203040506"``), so ``order_id`` is taken as an opaque string.

    Raises:
        GrvtProtocolError: missing or malformed fields.
    """
    r = _Reader(obj, _F_STATE_FEED, "state_feed", venue)
    return GrvtOrderStateEvent(_client_order_id(r), _order_id(r, required=True), _order_state(r, "order_state"))


# ---------------------------------------------------------------------------------------------- client order ids
class ClientOrderIdGenerator:
    """Unique GRVT client order ids: decimal strings in [2^63, 2^64-1], the range GRVT reserves for API
    clients (GRVT docs: create_order errors; pysdk's default uint32 ids and the UI use the lower half).

    A counter that starts at a random point of the range (``secrets``) and adds 1 per id, wrapping from
    2^64-1 back to 2^63. One generator never repeats an id within 2^63 calls; two sessions (restarts)
    collide only if their runs overlap, which for n ids per session has probability about
    ``2 * n / 2^63`` (negligible). Thread-safe; ``next_id`` is O(1).

    Args:
        start: the first id (for tests and replay); random when None.

    Raises:
        BadValue: ``start`` outside [2^63, 2^64-1].
    """

    __slots__ = ("_counter", "_lock")

    def __init__(self, start: int | None = None) -> None:
        span = CLIENT_ORDER_ID_MAX - CLIENT_ORDER_ID_MIN + 1
        if start is None:
            offset = secrets.randbelow(span)
        elif (
            isinstance(start, bool)
            or not isinstance(start, int)
            or not (CLIENT_ORDER_ID_MIN <= start <= CLIENT_ORDER_ID_MAX)
        ):
            raise BadValue(f"client order id start must be in [2^63, 2^64-1], not {start!r}")
        else:
            offset = start - CLIENT_ORDER_ID_MIN
        self._counter = itertools.count(offset)
        self._lock = threading.Lock()

    def next_id(self) -> str:
        """The next id, as a decimal string."""
        with self._lock:
            n = next(self._counter)
        return str(CLIENT_ORDER_ID_MIN + n % (CLIENT_ORDER_ID_MAX - CLIENT_ORDER_ID_MIN + 1))

    __call__ = next_id


def is_api_client_order_id(value: object) -> bool:
    """True when ``value`` is a decimal string in [2^63, 2^64-1] without leading zeros."""
    return (
        isinstance(value, str)
        and _is_uint64_str(value)
        and not (len(value) > 1 and value[0] == "0")
        and int(value) >= CLIENT_ORDER_ID_MIN
    )
