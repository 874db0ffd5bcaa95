"""The served GRVT venue's state: order records, subscriptions, WebSocket connections, the book hubs (one
:class:`BookMirror` per instrument, ``v1.book.d``/``v1.book.s`` feeds) and the base class with the helpers every
part shares."""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import trio
from loguru import logger
from starlette.websockets import WebSocket

from ...domain import ZERO, Fill, Instrument, OrderStatus, OrderUpdate, VenueEvent
from ...protocols.grvt import (
    NO_ORDER_ID,
    STREAM_BOOK_DELTA,
    GrvtInstrumentMeta,
    GrvtOrder,
    GrvtOrderState,
    SigningInstrument,
    encode_json,
    format_book,
    format_feed,
    format_fill,
    format_instrument,
    format_order,
    format_position,
)
from .._exchange import SimExchange
from .._matching import REASON_CANCELLED_BY_USER, REASON_INVALID_ORDER, REASON_IOC_REMAINDER
from .._wire import CLOSE_INTERNAL, BookDiff, BookMirror, RequestGate, WsConnection
from ._common import (
    _KNOWN_HASHES,
    _ORDER_ID_PREFIX,
    _REASONS,
    _TRIGGER_NONE,
    _UINT64_MAX,
    OUTBOX_CAPACITY,
    _ApiError,
    _str_list,
)

if TYPE_CHECKING:
    from loguru import Logger


def _meta_for(instrument: Instrument, taken: set[str]) -> GrvtInstrumentMeta:
    """The GRVT metadata the simulator lists for ``instrument``: ``instrument_hash`` (``0x030501`` for
    BTC_USDT_Perp, else a stable ``0x03xxxx`` derived from the symbol), ``base_decimals`` 9, ``quote_decimals``
    6 (USDT), kind PERPETUAL."""
    h = _KNOWN_HASHES.get(instrument.symbol, "")
    if not h or h in taken:
        n = zlib.crc32(instrument.symbol.encode()) & 0xFFFF
        while (h := f"0x03{n:04x}") in taken or h in _KNOWN_HASHES.values():
            n = (n + 1) & 0xFFFF
    taken.add(h)
    return GrvtInstrumentMeta(instrument.symbol, h, 9, 6, "PERPETUAL")


@dataclass(slots=True)
class _OrderRecord:
    """What the server knows about one order beyond the matching engine: the signed wire order, the venue
    id, the cancel reason it asked for, and (for orders the engine never saw) a synthetic final state."""

    order_id: str
    order: GrvtOrder
    create_time_ns: int
    update_time_ns: int
    cancel_reason: str = ""
    synthetic: tuple[OrderStatus, str] | None = None
    stream_filled: Decimal = ZERO
    stream_notional: Decimal = ZERO

    @property
    def symbol(self) -> str:
        return self.order.symbol

    @property
    def client_order_id(self) -> str:
        return self.order.client_order_id


@dataclass(frozen=True, slots=True)
class _CancelStatus:
    """A ``v1.cancel`` event (TTL cancel expired or dropped as a duplicate)."""

    client_order_id: str
    cancel_status: str
    update_time_ns: int


@dataclass(slots=True)
class _PrivateSub:
    stream: str
    selector: str
    symbols: frozenset[str] | None  # None = every instrument
    seq: int = 0


@dataclass(eq=False, slots=True)
class _BookSub:
    conn: _Conn
    stream: str
    selector: str
    symbol: str
    depth: int
    rate_s: float
    scope: trio.CancelScope = field(default_factory=trio.CancelScope)


class _Conn(WsConnection):
    """One WebSocket connection (:class:`WsConnection`: the bounded outbox, kill on overflow) and its
    subscriptions."""

    __slots__ = ("authenticated", "legacy", "private", "books")

    def __init__(self, websocket: WebSocket, log: Logger, *, authenticated: bool, legacy: bool) -> None:
        super().__init__(websocket, capacity=OUTBOX_CAPACITY, log=log)
        self.authenticated = authenticated
        self.legacy = legacy
        self.private: dict[tuple[str, str], _PrivateSub] = {}
        self.books: dict[tuple[str, str], _BookSub] = {}

    def send(self, frame: Mapping[str, Any]) -> None:
        """Queue one frame (JSON-encoded here); a full outbox drops the connection (slow consumer, close 1008)."""
        if not self.closed:
            self.send_text(encode_json(frame).decode())


class _BookHub(BookMirror):
    """One instrument's market data (:class:`BookMirror`: the mirror of the exchange's book and its per-batch
    diffs), fanned out to book subscribers in GRVT's feeds: numbers its own deltas (the gateway counter of
    ``v1.book.d``) and bumps ``version`` whenever the book changes (``v1.book.s`` sends when it moved).
    """

    def __init__(self, sim: _GrvtState, symbol: str) -> None:
        super().__init__(sim.exchange, sim.venue, symbol, log=sim.log)
        self.seq = 0
        self.version = 0
        self.deltas: set[_BookSub] = set()
        self.snapshots: set[_BookSub] = set()

    def on_end(self, *, feed_down: bool) -> None:
        """Stop fanning out. When the exchange killed the feed, drop every subscriber's connection (1011),
        as a venue whose market-data gateway fails does."""
        if feed_down:
            for sub in list(self.deltas) + list(self.snapshots):
                sub.conn.close(CLOSE_INTERNAL, "market data unavailable")
        self.deltas.clear()
        self.snapshots.clear()

    def on_valid(self) -> None:
        """First snapshot, or a recovery: every delta subscriber restarts from a snapshot."""
        self.version += 1
        for sub in list(self.deltas):
            sub.conn.send(self.snapshot_frame(sub))

    def on_diff(self, diff: BookDiff) -> None:
        self.version += 1
        bids = sorted(diff.bids.items(), reverse=True)
        asks = sorted(diff.asks.items())
        self.seq += 1
        feed = format_book(self.symbol, bids, asks, event_time_ns=self.event_time_ns(), num_orders_as_string=False)
        for sub in list(self.deltas):
            sub.conn.send(format_feed(STREAM_BOOK_DELTA, sub.selector, self.seq, self.seq - 1, feed))

    def event_time_ns(self) -> int:
        return self.book.ts_ns or self.exchange.now_ns()

    def snapshot_frame(self, sub: _BookSub) -> dict[str, Any]:
        bids, asks = self.book.snapshot(sub.depth or None)
        feed = format_book(self.symbol, bids, asks, event_time_ns=self.event_time_ns(), num_orders_as_string=False)
        return format_feed(sub.stream, sub.selector, 0, 0, feed)


_RouteFn = Callable[[dict[str, Any]], dict[str, Any]]


class _GrvtState:
    """The state of the served venue (sessions, orders, book hubs, connections, the private event pipeline,
    the countdowns) and the helpers its routes (:mod:`._rest`), login (:mod:`._auth`) and streams
    (:mod:`._stream`) share. Built by the server class (``sim/_grvt_server.py``), whose ``serve_grvt`` sets
    :attr:`nursery`."""

    def __init__(
        self,
        exchange: SimExchange,
        venue: str,
        instruments: Mapping[str, Instrument],
        *,
        api_key: str,
        signer_address: str,
        sub_account_id: str,
        chain_id: int,
        rate_limit_per_s: float | None,
    ) -> None:
        self.exchange = exchange
        self.venue = venue
        self.log = logger.bind(tag=f"SIM_{venue.upper()}_WIRE")
        self.instruments = dict(instruments)
        taken: set[str] = set()
        self.meta = {sym: _meta_for(inst, taken) for sym, inst in self.instruments.items()}
        self.signing = {sym: SigningInstrument(sym, m.instrument_hash, m.base_decimals) for sym, m in self.meta.items()}
        self._api_key = api_key
        self.signer_address = signer_address
        self.account_id = signer_address.lower()
        self.sub_account_id = sub_account_id
        self.chain_id = chain_id
        self.latency_s = exchange.settings.latency_s
        # every request and answer waits the one-way latency; over the rate limit: 1006 (HTTP 429, Retry-After)
        self.gate = RequestGate(
            rate_limit_per_s=rate_limit_per_s,
            rate_limited=lambda: _ApiError(1006),
            latency_in_s=self.latency_s,
            latency_out_s=self.latency_s,
        )
        self.create_time_ns = exchange.now_ns()
        self._sessions: dict[str, float] = {}
        self.nursery: trio.Nursery | None = None
        self.hubs = {symbol: _BookHub(self, symbol) for symbol in self.instruments}
        self.conns: set[_Conn] = set()
        # orders
        self._next_order = 0
        self.by_coid: dict[str, _OrderRecord] = {}
        self.by_symbol_coid: dict[tuple[str, str], _OrderRecord] = {}
        self.by_order_id: dict[str, _OrderRecord] = {}
        # event pipeline: exchange account stream + synthetic events, in delivery order
        capacity = max(16, exchange.settings.account_capacity)
        self._events_tx, self._events_rx = trio.open_memory_channel[
            tuple[float, VenueEvent | _CancelStatus, _OrderRecord | None]
        ](capacity)
        # cancel-on-disconnect and cancel TTLs
        self.cod_deadline: float | None = None
        self._cod_changed = trio.Event()
        self.ttl_traps: dict[str, float] = {}
        self._ttl_changed = trio.Event()

    # ================================================================== helpers
    def _check_sub(self, body: Mapping[str, Any], *, mismatch_code: int = 1001) -> None:
        raw = body.get("sub_account_id")
        if raw is None:
            raise _ApiError(1003, "sub_account_id: missing")
        text = str(raw) if isinstance(raw, int) and not isinstance(raw, bool) else raw
        if not isinstance(text, str) or not (text.isascii() and text.isdigit() and len(text) <= 20):
            raise _ApiError(3020)
        if int(text) > _UINT64_MAX:
            raise _ApiError(3020)
        if int(text) != int(self.sub_account_id):
            raise _ApiError(mismatch_code)

    def _symbols(self, body: Mapping[str, Any]) -> list[str]:
        """The venue's symbols matching the optional ``kind``/``base``/``quote`` list filters (and a single
        ``instrument``, as pysdk's ``fill_history`` sends)."""
        filters = {name: _str_list(body, name) for name in ("kind", "base", "quote")}
        instrument = body.get("instrument")
        if instrument is not None and not isinstance(instrument, str):
            raise _ApiError(1003, "instrument: expected a string")
        out = []
        for sym, inst in self.instruments.items():
            meta = self.meta[sym]
            if instrument is not None and sym != instrument:
                continue
            if filters["kind"] is not None and meta.kind not in filters["kind"]:
                continue
            if filters["base"] is not None and inst.base not in filters["base"]:
                continue
            if filters["quote"] is not None and inst.quote not in filters["quote"]:
                continue
            out.append(sym)
        return out

    def _mid(self, symbol: str) -> Decimal | None:
        return self.exchange.market_book(self.venue, symbol).mid()

    def _instrument_json(self, symbol: str) -> dict[str, Any]:
        out = format_instrument(self.instruments[symbol], self.meta[symbol], create_time_ns=self.create_time_ns)
        out.update(
            {
                "max_position_size": "1000.0",
                "funding_interval_hours": 8,
                "adjusted_funding_rate_cap": "0.3",
                "adjusted_funding_rate_floor": "-0.3",
            }
        )
        return out

    # ================================================================== orders
    def _new_order_id(self) -> str:
        self._next_order += 1
        return f"0x{_ORDER_ID_PREFIX:08x}{self._next_order:024x}"

    def _is_live(self, rec: _OrderRecord) -> bool:
        if rec.synthetic is not None:
            return False
        order = self.exchange.engine(self.venue, rec.symbol).get_order(rec.client_order_id)
        return order is not None and not order.is_terminal

    def _order_json(
        self, rec: _OrderRecord, state: GrvtOrderState, order_id: str, *, stream: bool = False
    ) -> dict[str, Any]:
        """A full GRVT ``Order`` with the fields real answers carry. The signature's ``v`` and ``nonce`` are
        strings in REST answers and numbers on the ``v1.order`` stream, as in the captures (GRVT REST docs "type
        drift": ccxt static fixture vs ccxt.pro ``handle_order`` comment)."""
        out = format_order(replace(rec.order, order_id=order_id, state=state, create_time_ns=rec.create_time_ns))
        sig = rec.order.signature
        v, nonce = int(str(sig.get("v"))), int(str(sig.get("nonce")))  # both validated on create
        out["signature"] = {
            "signer": str(sig.get("signer") or self.signer_address).lower(),
            "r": sig.get("r"),
            "s": sig.get("s"),
            "v": v if stream else str(v),
            "expiration": str(sig.get("expiration")),
            "nonce": nonce if stream else str(nonce),
            "chain_id": str(sig.get("chain_id") or "0"),
        }
        out["metadata"].update(
            {"trigger": _TRIGGER_NONE, "broker": "UNSPECIFIED", "is_position_transfer": False, "allow_crossing": False}
        )
        out["builder"] = "0x00"
        out["builder_fee"] = "0.0"
        return out

    def _wire_reason(self, domain_reason: str, rec: _OrderRecord) -> str:
        if not domain_reason:
            return ""
        if domain_reason == REASON_CANCELLED_BY_USER:
            return rec.cancel_reason or "CLIENT_CANCEL"
        if domain_reason == REASON_IOC_REMAINDER:
            return "MARKET_CANCEL" if rec.order.is_market else "IOC_CANCEL"
        if domain_reason.startswith(REASON_INVALID_ORDER):
            return "INVALID_ORDER_TYPE"
        return _REASONS.get(domain_reason, "UNSPECIFIED")

    def _current_state(self, rec: _OrderRecord) -> GrvtOrderState:
        """The order's state now: the engine's record (or the synthetic one)."""
        if rec.synthetic is not None:
            status, reason = rec.synthetic
            filled, avg = ZERO, None
        else:
            order = self.exchange.engine(self.venue, rec.symbol).get_order(rec.client_order_id)
            if order is None:  # cannot happen: records are made before submitting
                status, reason, filled, avg = OrderStatus.PENDING, "", ZERO, None
            else:
                status, reason, filled, avg = order.status, order.reason, order.filled_size, order.avg_fill_price
        return GrvtOrderState.from_domain(
            status,
            size=rec.order.size,
            filled_size=filled,
            avg_fill_price=avg,
            update_time_ns=rec.update_time_ns,
            reject_reason=self._wire_reason(reason, rec),
        )

    def _rest_order(self, rec: _OrderRecord) -> dict[str, Any]:
        return self._order_json(rec, self._current_state(rec), rec.order_id)

    def _register(self, rec: _OrderRecord) -> None:
        self.by_coid[rec.client_order_id] = rec
        self.by_symbol_coid[(rec.symbol, rec.client_order_id)] = rec

    def _update(self, rec: _OrderRecord, status: OrderStatus, reason: str, ts_ns: int) -> OrderUpdate:
        return OrderUpdate(
            venue=self.venue,
            symbol=rec.symbol,
            client_order_id=rec.client_order_id,
            status=status,
            venue_order_id=rec.order_id,
            filled_size=ZERO,
            reason=reason,
            ts_ns=ts_ns,
        )

    def _cancel(self, rec: _OrderRecord, reason: str) -> None:
        rec.cancel_reason = reason
        rec.update_time_ns = self.exchange.now_ns()
        self.exchange.cancel(self.venue, rec.symbol, rec.client_order_id)

    def _cancel_symbols(self, symbols: Iterable[str], reason: str) -> int:
        n = 0
        now_ns = self.exchange.now_ns()
        for sym in symbols:
            for order in self.exchange.engine(self.venue, sym).open_orders():
                rec = self.by_symbol_coid.get((sym, order.client_order_id))
                if rec is not None:
                    rec.cancel_reason = reason
                    rec.update_time_ns = now_ns
            n += self.exchange.cancel_all(self.venue, sym)
        return n

    def _positions(self, symbols: Iterable[str]) -> list[dict[str, Any]]:
        out = []
        now_ns = self.exchange.now_ns()
        for sym in symbols:
            pos = self.exchange.engine(self.venue, sym).position()
            if pos.size != ZERO:
                mark = self._mid(sym)
                out.append(
                    format_position(pos, sub_account_id=self.sub_account_id, event_time_ns=now_ns, mark_price=mark)
                )
        return out

    def _fill_json(self, fill: Fill) -> dict[str, Any]:
        rec = self.by_symbol_coid.get((fill.symbol, fill.client_order_id))
        return format_fill(
            fill,
            sub_account_id=self.sub_account_id,
            order_id=rec.order_id if rec is not None else NO_ORDER_ID,
            signer=self.account_id,
            mark_price=self._mid(fill.symbol),
        )

    # ================================================================== private event pipeline
    def _inject(self, item: VenueEvent | _CancelStatus, rec: _OrderRecord | None) -> None:
        try:
            self._events_tx.send_nowait((trio.current_time() + self.latency_s, item, rec))
        except trio.WouldBlock:
            self.log.error("private event buffer full; synthetic event dropped: {}", item)
