"""Backpack REST routes of the wire simulator: public market data, the signed order, position and history
routes (Backpack REST docs; formats in ``sim/_backpack_server.py``'s module docstring)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from decimal import Decimal, DecimalException

import trio
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ...domain import (
    ZERO,
    AuthError,
    BadValue,
    Fill,
    Instrument,
    Order,
    OrderRequest,
    OrderStatus,
    OrderType,
    is_multiple,
)
from ...protocols.backpack import (
    DEFAULT_MARKET_TERMS,
    DEPTH_LIMIT_DEFAULT,
    DEPTH_LIMITS,
    FILL_TYPES,
    TIME_IN_FORCE,
    BackpackOrder,
    RequestParams,
    RequestParseError,
    format_depth_snapshot,
    format_history_fill,
    format_market,
    format_position,
    format_ticker,
    instruction_for,
    parse_order_execute,
    parse_request_body,
    verify_request,
)
from .._exchange import SimUnavailable
from ._errors import _ApiError, _json_response, _not_found, _rejection, _text_response
from ._model import (
    _SIM_USER_ID,
    HUB_READY_WAIT_S,
    _history_json,
    _is_live,
    _order_json,
    _OrderRecord,
)
from ._state import _BackpackState, _DepthHub

_Handler = Callable[[RequestParams], Awaitable[object]]


class _BackpackRest(_BackpackState):
    """The REST routes (a mixin of the server class)."""

    # ================================================================== REST plumbing
    def _routes(self) -> list[Route]:
        r = self._route
        return [
            r("GET", "/api/v1/markets", self._h_markets, signed=False),
            r("GET", "/api/v1/market", self._h_market, signed=False),
            r("GET", "/api/v1/depth", self._h_depth, signed=False),
            r("GET", "/api/v1/ticker", self._h_ticker, signed=False),
            r("GET", "/api/v1/tickers", self._h_tickers, signed=False),
            r("GET", "/api/v1/assets", self._h_assets, signed=False),
            r("GET", "/api/v1/securities", self._h_securities, signed=False),
            r("POST", "/api/v1/order", self._h_execute, payload="OrderExecutePayload"),
            r("GET", "/api/v1/order", self._h_query),
            r("DELETE", "/api/v1/order", self._h_cancel, payload="OrderCancelPayload"),
            r("GET", "/api/v1/orders", self._h_open_orders),
            r("DELETE", "/api/v1/orders", self._h_cancel_all, payload="OrderCancelAllPayload"),
            r("GET", "/api/v1/position", self._h_positions),
            r("GET", "/wapi/v1/history/fills", self._h_fills),
            r("GET", "/wapi/v1/history/orders", self._h_order_history),
        ]

    def _route(
        self, method: str, path: str, handler: _Handler, *, signed: bool = True, payload: str | None = None
    ) -> Route:
        instruction = instruction_for(method, path) if signed else ""

        async def endpoint(request: Request) -> Response:
            try:
                params = await self._read(request, payload)
                if signed:
                    self._verify(request, instruction, params)
                result = await handler(params)
            except _ApiError as exc:
                return exc.response()
            except RequestParseError as exc:
                return _text_response(400, exc.text)
            except Exception as exc:  # a bug here must reach the client as the venue's 500, not a traceback
                self.log.error("{} {} failed: {}: {}", method, path, type(exc).__name__, str(exc)[:300])
                return _json_response(500, {"code": "SERVER_ERROR", "message": "Internal server error"})
            return _json_response(200, result)

        return Route(path, endpoint, methods=[method])

    async def _read(self, request: Request, payload: str | None) -> RequestParams:
        """The request's parameters: the query (GET) or the JSON object body (:func:`parse_request_body`).
        Raises RequestParseError."""
        if payload is None:
            data: dict[str, object] = {}
            for key in request.query_params:
                values = request.query_params.getlist(key)
                data[key] = values[-1] if len(values) == 1 else list(values)
            return RequestParams(data, payload=None)
        return parse_request_body(await request.body(), payload)

    def _verify(self, request: Request, instruction: str, params: RequestParams) -> None:
        """Check the signed headers against the parameters received (Backpack docs: signing). Raises _ApiError."""
        now_ms = time.time_ns() // 1_000_000
        try:
            verify_request(request.headers, instruction, params.data or None, self.public_key, now_ms, venue=self.venue)
        except AuthError as exc:
            code = exc.code or "UNAUTHORIZED"
            raise _ApiError(400 if code == "INVALID_SIGNATURE" else 401, code, exc.message) from None

    def _need_symbol(self, p: RequestParams) -> str:
        symbol = p.symbol(self.instruments, required=True)
        assert symbol is not None
        return symbol

    # ================================================================== public REST
    async def _h_markets(self, p: RequestParams) -> object:
        types = p.market_types()
        if types is not None and "PERP" not in types:
            return []
        return [format_market(inst) for inst in self.instruments.values()]

    async def _h_market(self, p: RequestParams) -> object:
        return format_market(self.instruments[self._need_symbol(p)])

    async def _ready_hub(self, symbol: str) -> _DepthHub:
        """The symbol's depth hub, started and holding a valid book. Raises _ApiError 503 otherwise."""
        hub = self.hubs[symbol]
        try:
            await hub.start(self.nursery)
        except SimUnavailable:
            raise _ApiError(503, "MAINTENANCE", "Market data is unavailable") from None
        if not hub.book.valid:
            with trio.move_on_after(HUB_READY_WAIT_S):
                await hub.wait_valid()
        if not hub.book.valid:
            raise _ApiError(503, "MAINTENANCE", "Order book is unavailable")
        return hub

    async def _h_depth(self, p: RequestParams) -> object:
        symbol = self._need_symbol(p)
        limit_text = p.enum("limit", DEPTH_LIMITS, "DepthLimit")
        limit = DEPTH_LIMIT_DEFAULT if limit_text is None else int(limit_text)
        hub = await self._ready_hub(symbol)
        book = hub.book
        bids, asks = book.snapshot(limit)
        return format_depth_snapshot(
            bids,
            asks,
            last_update_id=book.seq,
            ts_ns=book.ts_ns,
            price_places=hub.price_places,
            size_places=hub.size_places,
        )

    @staticmethod
    def _ticker_json(hub: _DepthHub) -> dict[str, object]:
        """The REST ticker of ``hub``'s market: prices are the book mids the hub has seen (no trades)."""
        mid = hub.book.mid() or ZERO
        return format_ticker(
            hub.symbol,
            first=hub.first_mid or mid,
            last=hub.last_mid or mid,
            high=hub.high_mid or mid,
            low=hub.low_mid or mid,
            price_places=hub.price_places,
        )

    async def _h_ticker(self, p: RequestParams) -> object:
        symbol = self._need_symbol(p)
        p.enum("interval", ("1d", "1w"), "TickerInterval")
        return self._ticker_json(await self._ready_hub(symbol))

    async def _h_tickers(self, p: RequestParams) -> object:
        p.enum("interval", ("1d", "1w"), "TickerInterval")
        return [self._ticker_json(await self._ready_hub(symbol)) for symbol in self.instruments]

    async def _h_assets(self, p: RequestParams) -> object:
        assets = sorted({i.base for i in self.instruments.values()} | {i.quote for i in self.instruments.values()})
        return [{"coingeckoId": None, "displayName": a, "symbol": a, "tokens": []} for a in assets]

    async def _h_securities(self, p: RequestParams) -> object:
        return []

    # ================================================================== orders
    def _engine_order(self, rec: _OrderRecord) -> Order | None:
        return self.exchange.engine(self.venue, rec.wire.symbol).get_order(rec.wire.id)

    def _find(self, symbol: str, order_id: str | None, client_id: int | None) -> tuple[_OrderRecord, Order] | None:
        """The order named by id (and, if both are given, also by clientId) in ``symbol``, with its engine state."""
        if order_id is not None:
            rec = self._orders.get(order_id)
            if rec is not None and client_id is not None and rec.wire.client_id != client_id:
                rec = None
        else:
            rec = None if client_id is None else self._live_client.get(client_id)
        if rec is None or rec.wire.symbol != symbol:
            return None
        order = self._engine_order(rec)
        return None if order is None else (rec, order)

    def _forget_client(self, rec: _OrderRecord) -> None:
        if rec.wire.client_id is not None and self._live_client.get(rec.wire.client_id) is rec:
            del self._live_client[rec.wire.client_id]

    def _validate(self, inst: Instrument, market: bool, price: Decimal | None, quantity: Decimal) -> None:
        """The venue's field rules (tick, step, minimum quantity and notional, price band). Raises _ApiError."""
        try:
            if price is not None and (price <= ZERO or not is_multiple(price, inst.tick_size)):
                raise _ApiError(
                    400, "INVALID_PRICE", f"Price must be a positive multiple of the tick size {inst.tick_size}"
                )
            if quantity <= ZERO or not is_multiple(quantity, inst.lot_size):
                raise _ApiError(
                    400, "INVALID_QUANTITY", f"Quantity must be a positive multiple of the step size {inst.lot_size}"
                )
            if quantity < inst.min_size:
                raise _ApiError(400, "INVALID_QUANTITY", f"Quantity is below the minimum of {inst.min_size}")
            if price is not None and price * quantity < inst.min_notional:
                raise _ApiError(400, "INVALID_ORDER", f"Order value is below the minimum of {inst.min_notional}")
            mid = self.exchange.market_book(self.venue, inst.symbol).mid()
            terms = DEFAULT_MARKET_TERMS  # the band format_market publishes
            if price is not None and not market and mid is not None:
                if price > mid * terms.max_price_multiplier or price < mid * terms.min_price_multiplier:
                    raise _ApiError(400, "INVALID_PRICE", "Price is too far from the last active price")
        except DecimalException:
            raise _ApiError(400, "INVALID_ORDER", "Invalid order") from None

    async def _h_execute(self, p: RequestParams) -> object:
        """``POST /api/v1/order`` (orderExecute, Backpack REST docs)."""
        req = parse_order_execute(p, self.instruments)
        symbol, market, price, quantity = req.symbol, req.market, req.price, req.quantity
        if req.trigger:
            raise _ApiError(400, "NOT_IMPLEMENTED", "Trigger, take-profit and stop-loss orders are not simulated")
        if req.quote_quantity is not None:
            if market:
                raise _ApiError(400, "NOT_IMPLEMENTED", "Market orders by quoteQuantity are not simulated")
            raise _ApiError(400, "INVALID_ORDER", "quoteQuantity is only valid for market orders")
        if quantity is None:
            raise _ApiError(400, "INVALID_QUANTITY", "Quantity is required")
        if market:
            price = None  # a market order's price is ignored (ccxt's createOrder doc)
            if req.post_only:
                raise _ApiError(400, "INVALID_ORDER", "A market order cannot be post only")
        elif price is None:
            raise _ApiError(400, "INVALID_PRICE", "Price is required for a limit order")
        if req.post_only and req.tif != "GTC":
            raise _ApiError(400, "INVALID_ORDER", "A post only order must be good till cancelled")
        client_id = req.client_id
        inst = self.instruments[symbol]
        self._validate(inst, market, price, quantity)
        if client_id is not None:
            prior = self._live_client.get(client_id)
            prior_order = None if prior is None else self._engine_order(prior)
            if prior_order is not None and _is_live(prior_order):
                raise _ApiError(400, "INVALID_CLIENT_REQUEST", "Duplicate client id")
        self._next_order_id += 1
        wire = BackpackOrder(
            id=str(self._next_order_id),
            client_id=client_id,
            symbol=symbol,
            side=req.side,
            market=market,
            price=price,
            quantity=quantity,
            tif=req.tif,
            post_only=req.post_only,
            reduce_only=req.reduce_only,
            stp=req.stp,
            created_ns=self.exchange.now_ns(),
        )
        rec = _OrderRecord(wire)
        try:
            request = OrderRequest(
                client_order_id=wire.id,
                symbol=symbol,
                side=wire.side,
                size=quantity,
                order_type=OrderType.MARKET if market else OrderType.LIMIT,
                price=price,
                tif=TIME_IN_FORCE[wire.tif],
                post_only=wire.post_only,
                reduce_only=wire.reduce_only,
            )
        except BadValue as exc:
            raise _ApiError(400, "INVALID_ORDER", str(exc)[:200]) from None
        self._orders[wire.id] = rec
        self.exchange.submit(self.venue, request)
        order = self._engine_order(rec)
        if order is None or order.status is OrderStatus.REJECTED:
            del self._orders[wire.id]
            raise _rejection(order.reason if order is not None else "")
        if client_id is not None:
            self._live_client[client_id] = rec
        return _order_json(rec, order)

    async def _h_query(self, p: RequestParams) -> object:
        """``GET /api/v1/order`` (orderQuery): an open order by ``orderId`` or ``clientId`` (Backpack REST docs)."""
        symbol = self._need_symbol(p)
        order_id = p.order_id("orderId")
        client_id = p.client_id()
        if (order_id is None) == (client_id is None):
            raise _ApiError(400, "INVALID_CLIENT_REQUEST", "Specify exactly one of orderId and clientId")
        found = self._find(symbol, order_id, client_id)
        if found is None or not _is_live(found[1]):
            raise _ApiError(404, "RESOURCE_NOT_FOUND", "Order not found")
        return _order_json(*found)

    async def _h_cancel(self, p: RequestParams) -> object:
        """``DELETE /api/v1/order`` (orderCancel): by ``orderId`` (string or number) or ``clientId`` (Backpack REST
        docs)."""
        symbol = self._need_symbol(p)
        order_id = p.order_id("orderId")
        client_id = p.client_id()
        if order_id is None and client_id is None:
            raise _ApiError(400, "INVALID_CLIENT_REQUEST", "Specify orderId or clientId")
        found = self._find(symbol, order_id, client_id)
        if found is None or not _is_live(found[1]):
            raise _not_found()
        rec, order = found
        self.exchange.cancel(self.venue, symbol, rec.wire.id)
        self._forget_client(rec)
        return _order_json(rec, order)

    async def _h_cancel_all(self, p: RequestParams) -> object:
        """``DELETE /api/v1/orders`` (orderCancelAll): the cancelled orders, ``[]`` when none (Backpack REST docs)."""
        symbol = self._need_symbol(p)
        kind = p.enum("orderType", ("RestingLimitOrder", "ConditionalOrder"), "CancelOrderTypeEnum")
        if kind == "ConditionalOrder":
            return []
        engine = self.exchange.engine(self.venue, symbol)
        recs = [rec for o in engine.open_orders() if (rec := self._orders.get(o.client_order_id)) is not None]
        self.exchange.cancel_all(self.venue, symbol)
        out = []
        for rec in recs:
            order = engine.get_order(rec.wire.id)
            self._forget_client(rec)
            if order is not None:
                out.append(_order_json(rec, order))
        return out

    def _perp_symbols(self, p: RequestParams) -> list[str]:
        """The symbols a query's optional ``symbol`` and ``marketType`` select (every instrument when no symbol is
        given; none when the market types exclude ``PERP``, the only type this simulator lists)."""
        symbol = p.symbol(self.instruments, required=False)
        types = p.market_types()
        if types is not None and "PERP" not in types:
            return []
        return [symbol] if symbol is not None else list(self.instruments)

    async def _h_open_orders(self, p: RequestParams) -> object:
        """``GET /api/v1/orders`` (orderQueryAll): open orders, oldest first."""
        out = []
        for sym in self._perp_symbols(p):
            for order in self.exchange.engine(self.venue, sym).open_orders():
                rec = self._orders.get(order.client_order_id)
                if rec is not None:
                    out.append(_order_json(rec, order))
        return out

    async def _h_order_history(self, p: RequestParams) -> object:
        """``GET /wapi/v1/history/orders`` (orderHistoryQueryAll): orders no longer open [I: open orders are
        answered by ``/api/v1/orders``], newest first unless ``sortDirection=Asc``."""
        symbol = p.symbol(self.instruments, required=False)
        order_id = p.order_id("orderId")
        p.text("strategyId")
        limit, offset, descending = p.page()
        types = p.market_types()
        if types is not None and "PERP" not in types:
            return []
        items = []
        for rec in self._orders.values():
            if (symbol is not None and rec.wire.symbol != symbol) or (order_id is not None and rec.wire.id != order_id):
                continue
            order = self._engine_order(rec)
            if order is not None and not _is_live(order):
                items.append((rec, order))
        if descending:
            items.reverse()
        return [_history_json(rec, order) for rec, order in items[offset : offset + limit]]

    # ================================================================== positions and fills
    async def _h_positions(self, p: RequestParams) -> object:
        """``GET /api/v1/position`` (positionQuery): open positions only."""
        out = []
        for sym in self._perp_symbols(p):
            pos = self.exchange.engine(self.venue, sym).position()
            if pos.size != ZERO:
                out.append(
                    format_position(
                        pos,
                        mark=self._mark(sym, pos),
                        position_id=self._position_ids[sym],
                        user_id=_SIM_USER_ID,
                    )
                )
        return out

    def _fill_json(self, fill: Fill, rec: _OrderRecord) -> dict[str, object]:
        """One ``OrderFill`` of ``fill`` (:func:`format_history_fill`); the fee is in the quote asset (perpetuals,
        Backpack REST docs)."""
        return format_history_fill(
            fill,
            order_id=rec.wire.id,
            client_id=rec.wire.client_id,
            trade_id=self._trade_id(fill),
            fee_symbol=self.instruments[fill.symbol].quote,
        )

    async def _h_fills(self, p: RequestParams) -> object:
        """``GET /wapi/v1/history/fills`` (fillHistoryQueryAll): ``symbol``, ``orderId``, ``from``/``to`` (ms,
        inclusive), ``limit`` (default 100, at most 1000), ``offset``, ``sortDirection`` (default Desc)."""
        symbol = p.symbol(self.instruments, required=False)
        order_id = p.order_id("orderId")
        p.text("strategyId")
        from_ms = p.integer("from", limit=2**63 - 1, type_name="int64")
        to_ms = p.integer("to", limit=2**63 - 1, type_name="int64")
        fill_type = p.enum("fillType", FILL_TYPES, "FillType")
        limit, offset, descending = p.page()
        types = p.market_types()
        if (types is not None and "PERP" not in types) or fill_type not in (None, "User"):
            return []
        items: list[tuple[Fill, _OrderRecord]] = []
        for sym in [symbol] if symbol is not None else list(self.instruments):
            for fill in self.exchange.engine(self.venue, sym).fills:
                rec = self._orders.get(fill.client_order_id)
                if rec is None or (order_id is not None and rec.wire.id != order_id):
                    continue
                ts_ms = fill.ts_ns // 1_000_000
                if (from_ms is not None and ts_ms < from_ms) or (to_ms is not None and ts_ms > to_ms):
                    continue
                items.append((fill, rec))
        items.sort(key=lambda item: (item[0].ts_ns, self._trade_id(item[0])))
        if descending:
            items.reverse()
        return [self._fill_json(fill, rec) for fill, rec in items[offset : offset + limit]]
