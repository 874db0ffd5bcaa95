"""Backpack streams of the wire simulator: the account stream translated into ``account.orderUpdate`` /
``account.positionUpdate`` frames, and the WebSocket endpoint's SUBSCRIBE / UNSUBSCRIBE (Backpack WS docs)."""

from __future__ import annotations

import time
from decimal import DecimalException
from functools import partial

import orjson
import trio
from starlette.websockets import WebSocket

from ...domain import ZERO, AuthError, BadValue, Fill, OrderStatus, OrderUpdate, Position, PositionUpdate, VenueEvent
from ...protocols.backpack import (
    ORDER_UPDATE,
    POSITION_UPDATE,
    WS_ERROR_INVALID_REQUEST,
    WS_ERROR_INVALID_STREAM,
    WS_ERROR_UNAUTHORIZED,
    BackpackProtocolError,
    decode_json,
    format_order_update,
    format_position_update,
    format_ws_error,
    format_ws_frame,
    parse_stream_name,
    parse_subscribe_message,
    verify_ws_subscribe,
)
from .._exchange import SimUnavailable
from .._matching import REASON_CANCELLED_BY_USER
from .._wire import CLOSE_INTERNAL
from ._model import _expiry_reason, _OrderRecord
from ._state import _BackpackState, _Conn


class _BackpackStreams(_BackpackState):
    """The private stream and the WebSocket endpoint (a mixin of the server class)."""

    # ================================================================== private stream
    async def run_account_stream(
        self,
        rx: trio.MemoryReceiveChannel[tuple[float, VenueEvent]],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Fan the venue's account stream ``rx`` (:meth:`SimExchange.take_account_stream`) out, as Backpack
        frames, to the private subscribers, each event at its ``deliver_at``."""
        for symbol in self.instruments:
            self._positions[symbol] = self.exchange.engine(self.venue, symbol).position()
        task_status.started()
        async with rx:
            async for deliver_at, event in rx:
                if deliver_at > trio.current_time():
                    await trio.sleep_until(deliver_at)
                try:
                    frames = self._translate(event)
                except (BadValue, DecimalException) as exc:  # a value no frame can carry: say so, keep serving
                    self.log.error("private event not sent ({}): {}", exc, event)
                    continue
                for kind, symbol, data in frames:
                    self._publish_private(kind, symbol, data)

    def _translate(self, event: VenueEvent) -> list[tuple[str, str, dict[str, object]]]:
        """The Backpack stream payloads for one engine event (Backpack WS docs; OpenAPI Streams "Order update")."""
        if isinstance(event, PositionUpdate):
            return [self._position_event(event)]
        rec = self._orders.get(event.client_order_id)
        if rec is None:
            return []  # refused synchronously over REST: the order never existed on the venue
        out: list[tuple[str, str, dict[str, object]]] = []
        if isinstance(event, Fill):
            if not rec.accepted_sent:
                out.append(self._order_event(rec, "orderAccepted", "New", ts_ns=event.ts_ns))
            rec.pending_fill = event
            rec.ws_executed += event.size
            rec.ws_executed_quote += event.price * event.size
            return out
        assert isinstance(event, OrderUpdate)
        status = event.status
        if status is OrderStatus.OPEN or status is OrderStatus.PENDING:
            if not rec.accepted_sent:
                out.append(self._order_event(rec, "orderAccepted", "New", ts_ns=event.ts_ns))
        elif status is OrderStatus.PARTIALLY_FILLED or status is OrderStatus.FILLED:
            fill, rec.pending_fill = rec.pending_fill, None
            if fill is not None:
                x = "Filled" if status is OrderStatus.FILLED else "PartiallyFilled"
                out.append(self._order_event(rec, "orderFill", x, ts_ns=event.ts_ns, fill=fill))
        elif status is OrderStatus.CANCELLED or status is OrderStatus.EXPIRED:
            if not rec.accepted_sent:
                out.append(self._order_event(rec, "orderAccepted", "New", ts_ns=event.ts_ns))
            if status is OrderStatus.CANCELLED and event.reason == REASON_CANCELLED_BY_USER:
                out.append(self._order_event(rec, "orderCancelled", "Cancelled", ts_ns=event.ts_ns))
            else:
                reason = _expiry_reason(rec, event.reason)
                out.append(self._order_event(rec, "orderExpired", "Expired", ts_ns=event.ts_ns, reason=reason))
        return out

    def _order_event(
        self,
        rec: _OrderRecord,
        event_type: str,
        status: str,
        *,
        ts_ns: int,
        fill: Fill | None = None,
        reason: str | None = None,
    ) -> tuple[str, str, dict[str, object]]:
        """An ``account.orderUpdate`` payload of ``rec`` (:func:`format_order_update`), its executed quantities as
        the stream has reported them."""
        if event_type == "orderAccepted":
            rec.accepted_sent = True
        data = format_order_update(
            rec.wire,
            event_type=event_type,
            status=status,
            executed=rec.ws_executed,
            executed_quote=rec.ws_executed_quote,
            event_ns=self.exchange.now_ns(),
            engine_ns=ts_ns,
            fill=fill,
            trade_id=None if fill is None else self._trade_id(fill),
            fee_symbol=self.instruments[rec.wire.symbol].quote,
            expiry_reason=reason,
        )
        return ORDER_UPDATE, rec.wire.symbol, data

    def _position_fields(self, pos: Position, *, ts_ns: int, event_type: str | None) -> dict[str, object]:
        """An ``account.positionUpdate`` payload of ``pos`` (:func:`format_position_update`; no ``e`` for the
        on-subscribe snapshot form)."""
        return format_position_update(
            pos,
            mark=self._mark(pos.symbol, pos),
            position_id=self._position_ids[pos.symbol],
            event_ns=self.exchange.now_ns(),
            engine_ns=ts_ns,
            event_type=event_type,
        )

    def _position_event(self, update: PositionUpdate) -> tuple[str, str, dict[str, object]]:
        pos = update.position
        prior = self._positions.get(pos.symbol)
        before = ZERO if prior is None else prior.size
        self._positions[pos.symbol] = pos
        if pos.size == ZERO:
            event_type = "positionClosed"
        elif before == ZERO:
            event_type = "positionOpened"
        else:
            event_type = "positionAdjusted"
        return POSITION_UPDATE, pos.symbol, self._position_fields(pos, ts_ns=update.ts_ns, event_type=event_type)

    def _publish_private(self, kind: str, symbol: str, data: dict[str, object]) -> None:
        data_json: str | None = None
        for conn in list(self._private_conns):
            for name, (sub_kind, sub_symbol) in conn.private.items():
                if sub_kind == kind and (sub_symbol is None or sub_symbol == symbol):
                    if data_json is None:
                        data_json = orjson.dumps(data).decode("utf-8")
                    conn.send_text(format_ws_frame(name, data_json))

    # ================================================================== WebSocket
    async def _ws_endpoint(self, websocket: WebSocket) -> None:
        """One WebSocket connection at ``/``: read client messages while the connection's writer drains its
        outbox (:meth:`WsConnection.serve`; hypercorn sends a Ping every ``ping_interval_s``:
        :func:`~trio_hedge.sim._backpack_server.serve_backpack`); unsubscribe everything on exit."""
        await websocket.accept()
        conn = _Conn(websocket, self.log)
        try:
            await conn.serve(partial(self._on_ws_message, conn))
        finally:
            self._drop_conn(conn)

    async def _on_ws_message(self, conn: _Conn, raw: str | bytes) -> None:
        """Handle one client frame: SUBSCRIBE / UNSUBSCRIBE (Backpack WS docs)."""
        try:
            decoded = decode_json(raw, venue=self.venue)
        except BackpackProtocolError:
            conn.send_text(format_ws_error(None, WS_ERROR_INVALID_REQUEST, "Invalid request: not JSON"))
            return
        msg_id = decoded.get("id") if isinstance(decoded, dict) else None
        if isinstance(msg_id, bool) or not isinstance(msg_id, (int, str)):
            msg_id = None
        try:
            request = parse_subscribe_message(decoded, venue=self.venue)
        except BackpackProtocolError as exc:
            conn.send_text(format_ws_error(msg_id, WS_ERROR_INVALID_REQUEST, f"Invalid request: {exc.message[:200]}"))
            return
        targets: list[tuple[str, tuple[str, str | None]]] = []
        for name in request.streams:
            target = parse_stream_name(name, self.instruments)
            if target is None:
                conn.send_text(format_ws_error(msg_id, WS_ERROR_INVALID_STREAM, "Invalid stream"))
                return
            targets.append((name, target))
        if request.method == "UNSUBSCRIBE":
            for name, _ in targets:
                self._unsubscribe(conn, name)
            return
        if any(kind.startswith("account.") for _, (kind, _) in targets):
            try:
                verify_ws_subscribe(request.signature, self.public_key, time.time_ns() // 1_000_000, venue=self.venue)
            except AuthError as exc:
                text = f"Signature verification failed: {exc.message}"
                conn.send_text(format_ws_error(msg_id, WS_ERROR_UNAUTHORIZED, text))
                return
        for name, (kind, symbol) in targets:
            await self._subscribe(conn, name, kind, symbol)

    async def _subscribe(self, conn: _Conn, name: str, kind: str, symbol: str | None) -> None:
        if kind in ("depth", "bookTicker"):
            assert symbol is not None
            if name in conn.public:
                return
            hub = self.hubs[symbol]
            try:
                await hub.start(self.nursery)
            except SimUnavailable:
                conn.close(CLOSE_INTERNAL, "market data unavailable")
                return
            if conn.closed or name in conn.public:
                return
            (hub.depth_subs if kind == "depth" else hub.ticker_subs).setdefault(conn, set()).add(name)
            conn.public[name] = (kind, symbol)
            return
        if name in conn.private:
            return
        conn.private[name] = (kind, symbol)
        self._private_conns.add(conn)
        if kind == POSITION_UPDATE:
            now_ns = self.exchange.now_ns()
            for sym, pos in self._positions.items():
                if pos.size != ZERO and (symbol is None or sym == symbol):
                    snapshot = self._position_fields(pos, ts_ns=now_ns, event_type=None)
                    conn.send_text(format_ws_frame(name, orjson.dumps(snapshot).decode("utf-8")))

    def _unsubscribe(self, conn: _Conn, name: str) -> None:
        public = conn.public.pop(name, None)
        if public is not None:
            hub = self.hubs[public[1]]
            subs = hub.depth_subs if public[0] == "depth" else hub.ticker_subs
            names = subs.get(conn)
            if names is not None:
                names.discard(name)
                if not names:
                    del subs[conn]
        if conn.private.pop(name, None) is not None and not conn.private:
            self._private_conns.discard(conn)

    def _drop_conn(self, conn: _Conn) -> None:
        for name in list(conn.public) + list(conn.private):
            self._unsubscribe(conn, name)
        self._private_conns.discard(conn)
