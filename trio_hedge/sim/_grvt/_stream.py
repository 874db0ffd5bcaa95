"""GRVT streams of the wire simulator: the WebSocket endpoints (JSON-RPC ``/ws/full``, legacy ``/ws``), book and
private subscriptions, the private event pipeline and the cancel-on-disconnect / cancel-TTL countdowns (GRVT WS
docs)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import trio
from starlette.responses import Response
from starlette.websockets import WebSocket

from ...domain import ZERO, Fill, OrderUpdate, PositionUpdate, TrioHedgeError, VenueEvent
from ...protocols.grvt import (
    NO_ORDER_ID,
    STREAM_BOOK_DELTA,
    STREAM_BOOK_SNAPSHOT,
    STREAM_CANCEL,
    STREAM_FILL,
    STREAM_ORDER,
    STREAM_ORDER_STATE,
    STREAM_POSITION,
    GrvtOrderState,
    GrvtProtocolError,
    decode_json,
    encode_json,
    format_error_body,
    format_feed,
    format_order_state,
    format_position,
    format_rpc_error,
    format_rpc_result,
    format_subscribe_result,
    parse_rpc_request,
    parse_subscribe_params,
)
from .._exchange import SimUnavailable
from ._common import _UINT64_MAX, MAX_BODY_BYTES, _ApiError, _raw_id
from ._rest import _GrvtRest
from ._state import _BookHub, _BookSub, _CancelStatus, _Conn, _OrderRecord, _PrivateSub


class _GrvtStreams(_GrvtRest):
    """Countdowns, the private event pipeline and the WebSocket endpoints (whose JSON-RPC ``v1/...`` calls run the
    REST routes: :meth:`_GrvtRest.dispatch`)."""

    # ================================================================== countdowns
    async def cod_watchdog(self) -> None:
        """Cancel-on-disconnect: when the countdown runs out without a refresh, cancel every open order of
        the sub-account with reason ``CLIENT_CANCEL_ON_DISCONNECT_TRIGGERED`` (apispec.json
        ``ApiCancelOnDisconnectRequest``; GRVT docs: cancel_on_disconnect)."""
        while True:
            changed, deadline = self._cod_changed, self.cod_deadline
            with trio.move_on_at(deadline if deadline is not None else math.inf):
                await changed.wait()
                continue
            if self.cod_deadline == deadline:
                self.cod_deadline = None
                n = self._cancel_symbols(self.instruments, "CLIENT_CANCEL_ON_DISCONNECT_TRIGGERED")
                self.log.warning("cancel-on-disconnect countdown ran out: {} open orders cancelled", n)

    async def ttl_watchdog(self) -> None:
        """Expire armed cancel TTLs whose order never came: a ``v1.cancel`` ``EXPIRED`` event each."""
        while True:
            changed = self._ttl_changed
            now = trio.current_time()
            for coid in [c for c, t in self.ttl_traps.items() if t < now]:
                del self.ttl_traps[coid]
                self._inject(_CancelStatus(coid, "EXPIRED", self.exchange.now_ns()), None)
            nxt = min(self.ttl_traps.values(), default=math.inf)
            with trio.move_on_at(nxt + 0.001 if nxt != math.inf else math.inf):
                await changed.wait()

    async def forward_account_stream(self, account_rx: trio.MemoryReceiveChannel[tuple[float, VenueEvent]]) -> None:
        async with account_rx:
            async for at, event in account_rx:
                await self._events_tx.send((at, event, None))

    async def pump_events(self) -> None:
        """Deliver private events in order, each at its delivery time, to every matching subscription."""
        async for at, item, rec in self._events_rx:
            await trio.sleep_until(at)
            try:
                self._deliver(item, rec)
            except TrioHedgeError as exc:  # a malformed event must not kill the stream
                self.log.error("private event not deliverable ({}): {}", exc, item)

    def _deliver(self, item: VenueEvent | _CancelStatus, rec: _OrderRecord | None) -> None:
        frames: list[tuple[str, str | None, dict[str, Any]]] = []
        if isinstance(item, _CancelStatus):
            feed = {
                "sub_account_id": self.sub_account_id,
                "client_order_id": item.client_order_id,
                "order_id": NO_ORDER_ID,
                "reason": "UNSPECIFIED",
                "update_time": str(item.update_time_ns),
                "cancel_status": item.cancel_status,
            }
            frames.append((STREAM_CANCEL, None, feed))
        elif isinstance(item, OrderUpdate):
            rec = rec or self.by_symbol_coid.get((item.symbol, item.client_order_id))
            if rec is None:
                self.log.error("order update for an unknown order {}", item.client_order_id)
                return
            rec.update_time_ns = max(rec.update_time_ns, item.ts_ns)
            avg = rec.stream_notional / rec.stream_filled if rec.stream_filled > ZERO else None
            state = GrvtOrderState.from_domain(
                item.status,
                size=rec.order.size,
                filled_size=item.filled_size if item.filled_size is not None else rec.stream_filled,
                avg_fill_price=avg,
                update_time_ns=item.ts_ns,
                reject_reason=self._wire_reason(item.reason, rec),
            )
            frames.append((STREAM_ORDER, rec.symbol, self._order_json(rec, state, rec.order_id, stream=True)))
            state_feed = {
                "order_id": rec.order_id,
                "client_order_id": rec.client_order_id,
                "order_state": format_order_state(state),
            }
            frames.append((STREAM_ORDER_STATE, rec.symbol, state_feed))
        elif isinstance(item, Fill):
            rec = self.by_symbol_coid.get((item.symbol, item.client_order_id))
            if rec is not None:
                rec.stream_filled += item.size
                rec.stream_notional += item.size * item.price
            frames.append((STREAM_FILL, item.symbol, self._fill_json(item)))
        elif isinstance(item, PositionUpdate):
            pos = item.position
            feed = format_position(
                pos, sub_account_id=self.sub_account_id, event_time_ns=item.ts_ns, mark_price=self._mid(pos.symbol)
            )
            frames.append((STREAM_POSITION, pos.symbol, feed))
        for stream, symbol, feed in frames:
            for conn in list(self.conns):
                for sub in list(conn.private.values()):
                    if sub.stream != stream:
                        continue
                    if symbol is None and sub.symbols is not None:
                        continue
                    if symbol is not None and sub.symbols is not None and symbol not in sub.symbols:
                        continue
                    sub.seq += 1
                    conn.send(format_feed(stream, sub.selector, sub.seq, sub.seq - 1, feed))

    # ================================================================== WebSocket
    def _ws_auth(self, websocket: WebSocket) -> bool | None:
        return self._session_ok(websocket.cookies, websocket.headers)

    async def ws_endpoint(self, websocket: WebSocket, *, legacy: bool) -> None:
        """One WebSocket connection (``/ws/full`` JSON-RPC, ``/ws`` legacy)."""
        auth = self._ws_auth(websocket)
        if auth is False:
            status, body = format_error_body(1000)
            await websocket.send_denial_response(Response(encode_json(body), status, media_type="application/json"))
            return
        await websocket.accept()
        conn = _Conn(websocket, self.log, authenticated=auth is True, legacy=legacy)
        self.conns.add(conn)
        try:
            await conn.serve(partial(self._on_ws_message, conn), max_message_bytes=MAX_BODY_BYTES)
        finally:
            self.conns.discard(conn)
            for sub in conn.books.values():
                sub.scope.cancel()
                hub = self.hubs.get(sub.symbol)
                if hub is not None:
                    hub.deltas.discard(sub)
                    hub.snapshots.discard(sub)
            conn.books.clear()
            conn.private.clear()

    async def _on_ws_message(self, conn: _Conn, data: str | bytes) -> None:
        try:
            if conn.legacy:
                await self._handle_legacy(conn, data)
            else:
                await self._handle_rpc(conn, data)
        except Exception as exc:  # a bug must not kill the server; answer like the venue does
            self.log.exception("unexpected error on a WebSocket request: {}", type(exc).__name__)
            conn.send(format_rpc_error(None, "", 1002) if not conn.legacy else format_error_body(1002)[1])

    async def _handle_rpc(self, conn: _Conn, data: str | bytes) -> None:
        try:
            req = parse_rpc_request(data, venue=self.venue)
        except GrvtProtocolError as exc:
            conn.send(format_rpc_error(_raw_id(data), "", 1003, str(exc)[:200]))
            return
        method = req.method
        try:
            if method in ("subscribe", "unsubscribe"):
                try:
                    stream, selectors, _global = parse_subscribe_params(req.params, venue=self.venue)
                except GrvtProtocolError as exc:
                    raise _ApiError(1003, str(exc)[:200]) from None
                rid = req.request_id
                if method == "subscribe":
                    await self._subscribe(
                        conn, stream, selectors, lambda result: conn.send(format_rpc_result(rid, "subscribe", result))
                    )
                else:  # the docs answer an unsubscribe with method "subscribe" (GRVT WS docs: subscribe)
                    self._unsubscribe(conn, stream, selectors)
                    conn.send(format_rpc_result(rid, "subscribe", {"stream": stream, "unsubs": list(selectors)}))
                return
            if not method.startswith("v1/"):
                raise _ApiError(1003, f"unknown method {method[:40]!r}")
            self.gate.admit()
            await self.gate.delay_in()
            _, body = self.dispatch(method[3:], req.params, authenticated=conn.authenticated)
            await self.gate.delay_out()
            conn.send(format_rpc_result(req.request_id, method, body))
        except _ApiError as exc:
            conn.send(format_rpc_error(req.request_id, method, exc.code, exc.message))

    async def _handle_legacy(self, conn: _Conn, data: str | bytes) -> None:
        """Legacy ``/ws`` subscribe: ``{"request_id","stream","feed":[…],"method","is_full"}`` (GRVT WS docs:
        subscribe)."""
        try:
            obj = decode_json(data, venue=self.venue)
            if not isinstance(obj, dict):
                raise _ApiError(1003)
            method, stream, feeds = obj.get("method"), obj.get("stream"), obj.get("feed")
            request_id = obj.get("request_id")
            if method not in ("subscribe", "unsubscribe") or not isinstance(stream, str):
                raise _ApiError(1003)
            if not isinstance(feeds, list) or not feeds or not all(isinstance(f, str) and f for f in feeds):
                raise _ApiError(1003)
        except GrvtProtocolError:
            conn.send(format_error_body(1003)[1])
            return
        except _ApiError as exc:
            conn.send(exc.body()[1])
            return

        def respond(result: dict[str, Any]) -> None:
            conn.send({"request_id": request_id, **result})

        try:
            if method == "subscribe":
                await self._subscribe(conn, stream, tuple(feeds), respond)
            else:
                self._unsubscribe(conn, stream, tuple(feeds))
                respond({"stream": stream, "subs": [], "unsubs": list(feeds)})
        except _ApiError as exc:
            conn.send(exc.body()[1])

    # ------------------------------------------------------------------ subscriptions
    async def _subscribe(
        self, conn: _Conn, stream: str, selectors: Sequence[str], respond: Callable[[dict[str, Any]], None]
    ) -> None:
        """Validate every selector, then (with no await in between) answer, register and send snapshots.

        Raises:
            _ApiError: a bad selector (1101, 3000, 3020, 3030, 3031), an unauthenticated private stream
                (1000), a stream the simulator does not serve (1004), the feed down (1002).
        """
        if stream in (STREAM_BOOK_SNAPSHOT, STREAM_BOOK_DELTA):
            parsed = [self._parse_book_selector(stream, s) for s in selectors]
            for symbol, _, _ in parsed:
                await self._ensure_hub(symbol)
            hubs = [self.hubs[symbol] for symbol, _, _ in parsed]
            if not all(hub.running for hub in hubs):  # the feed died while we were starting other hubs
                raise _ApiError(1002, "market data unavailable")
            firsts = [h.seq + 1 for h in hubs] if stream == STREAM_BOOK_DELTA else [0] * len(hubs)
            respond(
                format_subscribe_result(
                    stream,
                    list(selectors),
                    first_sequence_numbers=firsts,
                    latest_sequence_numbers=[max(f - 1, 0) for f in firsts],
                )
            )
            for selector, (symbol, depth, rate_s), hub in zip(selectors, parsed, hubs, strict=True):
                old = conn.books.pop((stream, symbol), None)  # same primary selector: replaced
                if old is not None:
                    old.scope.cancel()
                    hub.deltas.discard(old)
                    hub.snapshots.discard(old)
                sub = _BookSub(conn, stream, selector, symbol, depth, rate_s)
                conn.books[(stream, symbol)] = sub
                if stream == STREAM_BOOK_DELTA:
                    hub.deltas.add(sub)
                    if hub.book.valid:
                        conn.send(hub.snapshot_frame(sub))
                else:
                    hub.snapshots.add(sub)
                    assert conn.nursery is not None
                    conn.nursery.start_soon(self._book_s_loop, hub, sub)
            return
        if stream in (STREAM_ORDER, STREAM_ORDER_STATE, STREAM_FILL, STREAM_POSITION, STREAM_CANCEL):
            if not conn.authenticated:
                raise _ApiError(1000)
            filters = [self._parse_account_selector(stream, s) for s in selectors]
            snapshots: list[list[dict[str, Any]]] = []
            for symbols in filters:
                if stream == STREAM_POSITION:
                    snapshots.append(self._positions(symbols if symbols is not None else self.instruments))
                else:
                    snapshots.append([])
            respond(
                format_subscribe_result(
                    stream,
                    list(selectors),
                    first_sequence_numbers=[1] * len(selectors),
                    latest_sequence_numbers=[0] * len(selectors),
                    num_snapshots=[len(s) for s in snapshots],
                )
            )
            for selector, symbols, snaps in zip(selectors, filters, snapshots, strict=True):
                conn.private[(stream, selector)] = _PrivateSub(stream, selector, symbols)
                for feed in snaps:
                    conn.send(format_feed(stream, selector, 0, 0, feed))
            return
        raise _ApiError(1004, f"stream {stream[:40]!r} is not served by the simulator")

    def _unsubscribe(self, conn: _Conn, stream: str, selectors: Sequence[str]) -> None:
        for selector in selectors:
            conn.private.pop((stream, selector), None)
            symbol = selector.split("@", 1)[0]
            sub = conn.books.get((stream, symbol))
            if sub is not None and sub.selector == selector:
                del conn.books[(stream, symbol)]
                sub.scope.cancel()
                hub = self.hubs.get(symbol)
                if hub is not None:
                    hub.deltas.discard(sub)
                    hub.snapshots.discard(sub)

    def _parse_book_selector(self, stream: str, selector: str) -> tuple[str, int, float]:
        """``(symbol, depth, rate_s)`` of a book selector (GRVT WS docs: selectors). Raises _ApiError
        1101/3000/3030/3031."""
        symbol, at, secondary = selector.partition("@")
        if not at or not secondary:
            raise _ApiError(1101)
        if symbol not in self.instruments:
            raise _ApiError(3000)
        if stream == STREAM_BOOK_SNAPSHOT:
            rate, dash, depth_s = secondary.partition("-")
            if not dash or not rate.isdigit() or not depth_s.isdigit():
                raise _ApiError(1103)
            if int(rate) not in (500, 1000):
                raise _ApiError(3030)
            if int(depth_s) not in (10, 50, 100, 500):
                raise _ApiError(3031)
            return symbol, int(depth_s), int(rate) / 1000
        if not secondary.isdigit():
            raise _ApiError(1103)
        if int(secondary) not in (50, 100, 500, 1000):
            raise _ApiError(3030)
        return symbol, 0, int(secondary) / 1000

    def _parse_account_selector(self, stream: str, selector: str) -> frozenset[str] | None:
        """The symbols a private selector covers (None = all): ``{sub}``, ``{sub}-{instrument}``,
        ``{sub}-{kind}-{base}-{quote}`` (GRVT WS docs: selectors). Raises _ApiError 3020/1001/3000/1102."""
        sub, dash, rest = selector.partition("-")
        if not (sub.isascii() and sub.isdigit() and len(sub) <= 20) or int(sub) > _UINT64_MAX:
            raise _ApiError(3020)
        if int(sub) != int(self.sub_account_id):
            raise _ApiError(1001)
        if not dash:
            return None
        if stream == STREAM_CANCEL:
            raise _ApiError(1102)
        if rest in self.instruments:
            return frozenset({rest})
        parts = rest.split("-")
        if len(parts) == 3:
            kind, base, quote = parts
            found = frozenset(
                s
                for s, inst in self.instruments.items()
                if self.meta[s].kind == kind and inst.base == base and inst.quote == quote
            )
            if found:
                return found
        raise _ApiError(3000)

    async def _ensure_hub(self, symbol: str) -> _BookHub:
        """The symbol's book hub, running. Raises _ApiError 1002 when the feed is down."""
        hub = self.hubs[symbol]
        assert self.nursery is not None
        try:
            await hub.start(self.nursery)
        except SimUnavailable:
            raise _ApiError(1002, "market data unavailable") from None
        return hub

    async def _book_s_loop(self, hub: _BookHub, sub: _BookSub) -> None:
        """``v1.book.s``: a snapshot of the top ``depth`` levels every ``rate`` while the book moves."""
        with sub.scope:
            last = -1
            while True:
                if hub.book.valid and hub.version != last:
                    last = hub.version
                    sub.conn.send(hub.snapshot_frame(sub))
                await trio.sleep(sub.rate_s)
