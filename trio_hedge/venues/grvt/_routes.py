"""GRVT REST routes (https://api-docs.grvt.io/trading_api/, https://api-docs.grvt.io/market_data_api/) through
the kernel's REST call helper, and the order path: signed ``create_order`` over the trades WebSocket (JSON-RPC:
the "JSONRPC" form of each trading route) or REST, cancels, cancel-on-disconnect. Bodies as captured:
``tests/fixtures/grvt/rest_responses.json``, ``tests/fixtures/grvt/ws_frames.json``."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import replace
from functools import partial
from typing import Any

import httpx
import trio

from ...domain import ZERO, BadValue, Fill, OrderBook, OrderRequest, OrderStatus, Position
from ...protocols.grvt import (
    GrvtProtocolError,
    SigningInstrument,
    build_order_payload,
    build_order_rpc_payload,
    encode_json,
    is_api_client_order_id,
    new_nonce,
    parse_ack,
    parse_book,
    parse_fills,
    parse_instrument,
    parse_order,
    parse_orders,
    parse_positions,
    parse_rest_page,
    rejection_error,
    unwrap_rest,
)
from .._base import OrderReport
from .._errors import (
    AuthError,
    DuplicateClientOrderId,
    InvalidOrder,
    OrderNotFound,
    OrderRejected,
    RateLimited,
    UnknownOutcome,
    VenueError,
    VenueUnavailable,
)
from .._kernel import retry_after_s
from .._ws import WS_ERRORS
from ._auth import _Auth
from ._session import _FILL_PAGE_LIMIT, _MAX_FILL_PAGES, _RpcConn, _Slot
from ._settings import GrvtAccountSummary, parse_account_summary


class _Routes(_Auth):
    """REST reads, the order path and cancel-on-disconnect of a GRVT session."""

    # ------------------------------------------------------------------ REST plumbing
    async def _post(
        self, base_url: str, route: str, body: Mapping[str, Any], *, private: bool, idempotent: bool
    ) -> tuple[Any, str]:
        """POST ``{base}/full/v1/{route}`` and return ``(result, next_cursor)`` (the ``{"result": ..., "next": ...}``
        envelope).

        Through the kernel's :class:`RestCaller`: idempotent calls retry rate limits (1006/429: exponential
        backoff with jitter, at least the server's ``Retry-After``), transport errors and 5xx up to
        ``read_attempts`` times; other calls surface the first failure, and one that may have reached the venue
        is an UnknownOutcome. A session that expired (1000) is renewed once and the call repeated: an
        unauthenticated request was not acted upon.

        Raises:
            RateLimited: rate limited (after the retries of a read).
            VenueUnavailable: nothing reached the venue (connect failure), or a read kept failing.
            UnknownOutcome: a non-idempotent call was sent and its answer is missing, 5xx or garbled.
            AuthError, OrderRejected, DuplicateClientOrderId, OrderNotFound, GrvtProtocolError (a read's
            garbled answer): as mapped.
        """
        url = f"{base_url.rstrip('/')}/full/v1/{route}"
        content = encode_json(body)
        relogged = False
        while True:
            cookie = self._cookie
            send = partial(self._client.post, url, content=content,
                           headers=self._auth_headers() if private else None)  # fmt: skip
            try:
                return await self._rest.call(route, send, self._decode_page, write=not idempotent)
            except AuthError as exc:
                if not private or relogged or exc.code != "1000":
                    raise
                relogged = True
                self._cookie_stale = True
                await self._relogin(cookie)

    def _decode_page(self, resp: httpx.Response) -> tuple[Any, str]:
        return parse_rest_page(resp.content, http_status=resp.status_code, venue=self.name,
                               retry_after_s=retry_after_s(resp.headers.get("retry-after")))  # fmt: skip

    async def _trade_read(self, route: str, body: Mapping[str, Any]) -> tuple[Any, str]:
        return await self._post(self._s.trades_url, route, body, private=True, idempotent=True)

    # ------------------------------------------------------------------ REST reads (Venue and extras)
    async def _load_instruments(self) -> None:
        """Load every configured symbol (``POST /full/v1/instrument``, market data API) with its signing metadata.

        Raises:
            VenueError: a symbol is unknown (``3000``), malformed, or the venue is unreachable.
        """
        for symbol in self._s.symbols:
            result, _ = await self._post(
                self._s.market_data_url, "instrument", {"instrument": symbol}, private=False, idempotent=True
            )
            inst, meta = parse_instrument(result, venue=self.name, size_step=self._s.size_step)
            if inst.symbol != symbol:
                raise GrvtProtocolError(f"instrument {symbol}: the venue answered for {inst.symbol}", venue=self.name)
            self._instruments[symbol] = inst
            self._meta[symbol] = meta
            try:
                self._signing[symbol] = SigningInstrument(symbol, meta.instrument_hash, meta.base_decimals)
            except BadValue as exc:
                raise GrvtProtocolError(f"instrument {symbol}: {exc}", venue=self.name) from None

    async def fetch_book(self, symbol: str, depth: int = 10) -> OrderBook:
        """A one-off REST snapshot (``POST /full/v1/book``, market data API) as a fresh, valid OrderBook.

        Args:
            symbol: instrument; depth: 10, 50, 100 or 500 levels a side.

        Raises:
            RateLimited, VenueUnavailable, GrvtProtocolError, BookInvalid (crossed or bad snapshot).
        """
        result, _ = await self._post(
            self._s.market_data_url, "book", {"instrument": symbol, "depth": depth}, private=False, idempotent=True
        )
        update = parse_book(result, venue=self.name)
        book = OrderBook(symbol)
        book.apply_snapshot(update.bids, update.asks, seq=0, ts_ns=update.event_time_ns)
        return book

    def _filters(self, symbol: str) -> dict[str, Any]:
        inst = self._instruments[symbol]
        return {"kind": [self._meta[symbol].kind], "base": [inst.base], "quote": [inst.quote]}

    async def order_status(self, symbol: str, client_order_id: str) -> OrderReport | None:
        """``POST /full/v1/order`` by client order id (trading API: Get Order); None when the venue does not know it
        (1004).

        Raises:
            RateLimited, VenueUnavailable, GrvtProtocolError.
        """
        try:
            result, _ = await self._trade_read(
                "order", {"sub_account_id": self._s.sub_account_id, "client_order_id": client_order_id}
            )
        except OrderNotFound:
            return None
        order = parse_order(result, venue=self.name)
        if order.client_order_id != client_order_id:
            raise GrvtProtocolError(f"order query for {client_order_id} answered {order.client_order_id}",
                                    venue=self.name)  # fmt: skip
        self._note_venue_time(order.state.update_time_ns if order.state else 0)
        return order.to_report()

    async def open_orders(self, symbol: str) -> list[OrderReport]:
        """``POST /full/v1/open_orders`` filtered to ``symbol`` (trading API: Open Orders). Raises RateLimited,
        VenueUnavailable."""
        body = {"sub_account_id": self._s.sub_account_id, **self._filters(symbol)}
        result, _ = await self._trade_read("open_orders", body)
        return [o.to_report() for o in parse_orders(result, venue=self.name) if o.symbol == symbol]

    async def positions(self) -> dict[str, Position]:
        """``POST /full/v1/positions`` (trading API: Positions), by symbol. GRVT lists open positions only: a configured
        symbol it leaves out is reported flat (size 0). Raises RateLimited, VenueUnavailable."""
        result, _ = await self._trade_read("positions", {"sub_account_id": self._s.sub_account_id})
        out = {s: Position(self.name, s, ZERO) for s in self._s.symbols}
        out.update((p.symbol, p) for p in parse_positions(result, venue=self.name))
        return out

    async def fills_since(self, symbol: str, since_ns: int) -> list[Fill]:
        """``POST /full/v1/fill_history`` from ``since_ns`` (trading API: Fill History), every page, oldest first.

        Raises:
            RateLimited, VenueUnavailable, GrvtProtocolError (also when the history is longer than
            50 pages of 1000: narrow ``since_ns``).
        """
        body: dict[str, Any] = {
            "sub_account_id": self._s.sub_account_id,
            **self._filters(symbol),
            "start_time": str(max(0, since_ns)),
            "limit": _FILL_PAGE_LIMIT,
        }
        fills: dict[str, Fill] = {}
        for _ in range(_MAX_FILL_PAGES):
            result, cursor = await self._trade_read("fill_history", body)
            page = parse_fills(result, venue=self.name)
            for f in page:
                if f.symbol == symbol and f.ts_ns >= since_ns:
                    fills.setdefault(f.trade_id, f)
            if not cursor or not page:
                return sorted(fills.values(), key=lambda f: f.ts_ns)
            body["cursor"] = cursor
        raise GrvtProtocolError(f"fill_history for {symbol}: more than {_MAX_FILL_PAGES} pages", venue=self.name)

    async def account_summary(self) -> GrvtAccountSummary:
        """``POST /full/v1/account_summary`` (trading API: Sub Account Summary). Raises RateLimited, VenueUnavailable,
        GrvtProtocolError."""
        result, _ = await self._trade_read("account_summary", {"sub_account_id": self._s.sub_account_id})
        return parse_account_summary(result, venue=self.name)

    async def place(self, request: OrderRequest) -> OrderReport:
        """Sign and send ``request``: JSON-RPC ``v1/create_order`` over the trades WebSocket, or
        ``POST /full/v1/create_order`` (trading API: Create Order, both forms) when that socket is down.

        Idempotent by client order id: an id this session already sent is queried, never sent again
        (GRVT only refuses duplicates among *active* orders: trading API, ``client_order_id``, so a resend of a filled
        IOC would trade twice). The ack carries ``order_id "0x00"`` and status PENDING; outcomes such as a post-only
        that would cross arrive as events (an order state on the ``v1.order`` stream).

        Returns:
            OrderReport: the acknowledged (or, for a repeat, the current) state.

        Raises:
            InvalidOrder: unknown symbol, a client order id outside [2^63, 2^64-1], a value that cannot
                be signed exactly, or the venue's validation codes (2062/2064/2065/2066, ...).
            InsufficientMargin, PostOnlyWouldCross, OrderRejected: definitive refusals.
            DuplicateClientOrderId: the id is active on the venue but was not sent by this session.
            RateLimited: the venue refused for rate (1006/429/2090); the order does not exist.
            UnknownOutcome: sent, no readable answer; resolve with :meth:`order_status`.
            VenueUnavailable: nothing was sent.
        """
        coid = request.client_order_id
        symbol = request.symbol
        if symbol not in self._signing:
            raise InvalidOrder(self.name, f"order {coid}: unknown symbol {symbol[:40]!r}", code="symbol")
        if not is_api_client_order_id(coid):
            raise InvalidOrder(self.name, f"order {coid[:40]!r}: client order id must be in [2^63, 2^64-1]",
                               code="client_order_id")  # fmt: skip
        if coid in self._order_symbols:
            return await self._place_repeat(request)
        conn = self._conn
        if conn is not None and conn.open and conn.ws.closed is None:
            return await self._place_ws(conn, request)
        return await self._place_rest(request)

    def rehearse_place(self, request: OrderRequest) -> None:
        """Sign and encode ``request`` as :meth:`place` would send it over the trades socket, and drop it: nothing
        is sent, remembered or numbered (``engine/_rehearse.py``: it keeps the signing path warm). Raises
        InvalidOrder as :meth:`place` for an unknown symbol or a value that cannot be signed."""
        if request.symbol not in self._signing:
            raise InvalidOrder(self.name, f"unknown symbol {request.symbol[:40]!r}", code="symbol")
        encode_json(self._sign(request, 1)).decode()

    async def _place_repeat(self, request: OrderRequest) -> OrderReport:
        coid = request.client_order_id
        report = await self.order_status(request.symbol, coid)
        if report is None:
            raise UnknownOutcome(self.name, f"order {coid} was sent before and is not visible yet; query again",
                                 code="unresolved")  # fmt: skip
        if report.status is OrderStatus.REJECTED:
            self._live.pop(coid, None)
            raise rejection_error(report.reason or "UNSPECIFIED", venue=self.name, client_order_id=coid)
        return report

    def _sign(self, request: OrderRequest, request_id: int | None) -> dict[str, Any]:
        kw: dict[str, Any] = {
            "sub_account_id": self._s.sub_account_id,
            "nonce": new_nonce(),
            "expiration_ns": time.time_ns() + int(self._s.order_expiry_s * 1e9),
            "chain_id": self._s.chain_id,
            "signer": self._signer,
        }
        try:
            if request_id is None:
                return build_order_payload(request, self._signing[request.symbol], **kw)
            return build_order_rpc_payload(request, self._signing[request.symbol], request_id=request_id, **kw)
        except BadValue as exc:
            raise InvalidOrder(self.name, f"order {request.client_order_id}: {exc}", code="sign") from None

    async def _place_ws(self, conn: _RpcConn, request: OrderRequest) -> OrderReport:
        coid = request.client_order_id
        cookie = self._cookie
        rid = self._next_rpc_id()
        data = encode_json(self._sign(request, rid)).decode()
        slot = _Slot()
        conn.slots[rid] = slot
        self._remember_order(coid, request.symbol)
        try:
            try:
                await conn.ws.send_message(data)
            except WS_ERRORS:
                raise UnknownOutcome(self.name, f"order {coid}: connection failed while sending",
                                     code="transport") from None  # fmt: skip
            sent_ns = time.perf_counter_ns()  # the frame is written (OrderReport.sent_ns)
            with trio.move_on_after(self._s.order_ack_timeout_s):
                await slot.event.wait()
        finally:
            conn.slots.pop(rid, None)
        response = slot.response
        if response is None:
            why = "connection lost" if slot.event.is_set() else f"no answer within {self._s.order_ack_timeout_s}s"
            raise UnknownOutcome(self.name, f"order {coid}: {why}", code="timeout")
        error, result = response.error, None
        if error is None:
            try:
                result, _ = unwrap_rest(response.result, venue=self.name)
            except VenueError as exc:
                error = exc
        if error is None:
            return replace(self._create_ack(request, result), sent_ns=sent_ns)
        if isinstance(error, AuthError) and error.code == "1000":
            # The session expired: the venue did not act on the order. Log in again and send it by REST
            # (this socket goes on with its old session until the venue closes it).
            self._log.warning("order {}: session expired on the trades socket; logging in again", coid)
            self._cookie_stale = True
            await self._relogin(cookie)
            return await self._place_rest(request)
        raise self._create_error(request, error)

    async def _place_rest(self, request: OrderRequest) -> OrderReport:
        coid = request.client_order_id
        body = self._sign(request, None)
        self._remember_order(coid, request.symbol)
        try:
            result, _ = await self._post(self._s.trades_url, "create_order", body, private=True, idempotent=False)
        except VenueUnavailable:
            self._forget_order(coid)  # connect failed: nothing was sent
            raise
        except VenueError as exc:
            raise self._create_error(request, exc) from None
        return self._create_ack(request, result)

    def _create_error(self, request: OrderRequest, exc: VenueError) -> VenueError:
        """Map a create_order error: definitive refusals forget the order; anything not understood is
        an unknown outcome (never assumed rejected)."""
        coid = request.client_order_id
        if isinstance(exc, OrderRejected | RateLimited | AuthError):
            self._forget_order(coid)
            return exc
        if isinstance(exc, DuplicateClientOrderId):
            self._forget_order(coid)  # first send of this id: the active order holding it is not ours
            return exc
        if isinstance(exc, UnknownOutcome | GrvtProtocolError) or type(exc) is VenueError:
            return UnknownOutcome(self.name, f"order {coid}: {exc.message}", code=exc.code or "unknown")
        return exc

    def _create_ack(self, request: OrderRequest, result: Any) -> OrderReport:
        coid = request.client_order_id
        try:
            order = parse_order(result, venue=self.name)
        except GrvtProtocolError as exc:
            raise UnknownOutcome(self.name, f"order {coid}: unreadable ack: {exc.message}", code="protocol") from None
        if order.client_order_id != coid:
            raise UnknownOutcome(self.name, f"order {coid}: ack names {order.client_order_id}", code="protocol")
        report = order.to_report()
        if report.status is OrderStatus.REJECTED:
            self._forget_order(coid)
            raise rejection_error(report.reason or "UNSPECIFIED", venue=self.name, client_order_id=coid)
        return report

    async def cancel(self, symbol: str, client_order_id: str) -> None:
        """``POST /full/v1/cancel_order`` by client order id with ``time_to_live_ms`` (trading API: Cancel Order): the
        cancel stays armed that long, so an order still in flight is cancelled when it arrives. The outcome
        arrives as an event; an order already gone (1004) is not an error.

        Raises:
            RateLimited, UnknownOutcome (sent, answer missing), VenueUnavailable (nothing sent).
        """
        body: dict[str, Any] = {"sub_account_id": self._s.sub_account_id, "client_order_id": client_order_id}
        if self._s.cancel_ttl_ms:
            body["time_to_live_ms"] = str(self._s.cancel_ttl_ms)
        try:
            result, _ = await self._post(self._s.trades_url, "cancel_order", body, private=True, idempotent=False)
        except OrderNotFound:
            return
        if not parse_ack(result, venue=self.name):
            raise UnknownOutcome(self.name, f"cancel {client_order_id}: not acknowledged", code="ack")

    async def cancel_all(self, symbol: str) -> int:
        """Cancel every open order in ``symbol``: ``POST /full/v1/cancel_all_orders`` with the symbol's
        kind/base/quote filters (trading API: Cancel All Orders). GRVT answers only an ack, so the count returned is the
        number of open orders listed just before the cancel.

        Raises:
            RateLimited, UnknownOutcome, VenueUnavailable.
        """
        n = len(await self.open_orders(symbol))
        body = {"sub_account_id": self._s.sub_account_id, **self._filters(symbol)}
        result, _ = await self._post(self._s.trades_url, "cancel_all_orders", body, private=True, idempotent=False)
        if not parse_ack(result, venue=self.name):
            raise UnknownOutcome(self.name, f"cancel_all {symbol}: not acknowledged", code="ack")
        return n

    async def _set_cancel_on_disconnect(self, countdown_ms: int) -> None:
        body = {"sub_account_id": self._s.sub_account_id, "countdown_time": countdown_ms}
        result, _ = await self._post(self._s.trades_url, "cancel_on_disconnect", body, private=True, idempotent=True)
        if not parse_ack(result, venue=self.name):
            raise VenueUnavailable(self.name, "cancel_on_disconnect not acknowledged", code="ack")

    async def _run_cod(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Arm cancel-on-disconnect at start, then refresh it every ``cod_refresh_s`` (trading API:
        Cancel On Disconnect, ``countdown_time`` 1000..300000 ms; our defaults: countdown 15 s, refresh 5 s). Each
        refresh retries transient failures itself (it is idempotent); one that still fails is logged and the next period
        tries again. If refreshes keep failing the venue cancels our orders when the countdown runs out, which is
        the point."""
        await self._set_cancel_on_disconnect(self._s.cod_countdown_ms)
        task_status.started()
        while True:
            await trio.sleep(self._s.cod_refresh_s)
            try:
                await self._set_cancel_on_disconnect(self._s.cod_countdown_ms)
            except VenueError as exc:
                self._log.error("cancel-on-disconnect refresh failed: {}", exc)
