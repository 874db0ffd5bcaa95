"""Backpack REST routes of the wire simulator: public market data, the signed order, position and history
routes (Backpack REST docs; formats in ``sim/_backpack_server.py``'s module docstring)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from decimal import Decimal, DecimalException

import orjson
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
    Position,
    is_multiple,
)
from ...protocols.backpack import instruction_for, verify_request
from .._exchange import SimUnavailable
from ._format import (
    _DEPTH_LIMIT_DEFAULT,
    _DEPTH_LIMITS,
    _FILL_LIMIT_DEFAULT,
    _FILL_TYPES,
    _HISTORY_LIMIT_MAX,
    _IMF,
    _IMF_FUNCTION,
    _MARKET_CREATED_AT,
    _MARKET_TYPES,
    _MAX_PRICE_MULTIPLIER,
    _MIN_PRICE_MULTIPLIER,
    _MMF,
    _MMF_FUNCTION,
    _SIDE_TEXT,
    _SIDES,
    _SIM_USER_ID,
    _STP,
    _TEXT_TYPE,
    _TIF,
    _UNSUPPORTED_ORDER_KEYS,
    HUB_READY_WAIT_S,
    _dt,
    _history_json,
    _is_live,
    _iso_ms,
    _order_json,
    _OrderRecord,
)
from ._params import _ApiError, _json_response, _not_found, _Params, _ParseError, _rejection
from ._state import _BackpackState, _DepthHub

_Handler = Callable[[_Params], Awaitable[object]]


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
            except _ParseError as exc:
                return Response(exc.text, status_code=400, media_type=_TEXT_TYPE)
            except Exception as exc:  # a bug here must reach the client as the venue's 500, not a traceback
                self.log.error("{} {} failed: {}: {}", method, path, type(exc).__name__, str(exc)[:300])
                return _json_response(500, {"code": "SERVER_ERROR", "message": "Internal server error"})
            return _json_response(200, result)

        return Route(path, endpoint, methods=[method])

    async def _read(self, request: Request, payload: str | None) -> _Params:
        """The request's parameters: the query (GET) or the JSON object body. Raises _ParseError."""
        if payload is None:
            data: dict[str, object] = {}
            for key in request.query_params:
                values = request.query_params.getlist(key)
                data[key] = values[-1] if len(values) == 1 else list(values)
            return _Params(data, payload=None)
        raw = await request.body()
        if len(raw) > 65_536:
            raise _ParseError(f'parse request payload error: payload too large (occurred while parsing "{payload}")')
        try:
            value = orjson.loads(raw) if raw.strip() else None
        except orjson.JSONDecodeError:
            raise _ParseError(
                f'parse request payload error: invalid JSON (occurred while parsing "{payload}")'
            ) from None
        if not isinstance(value, dict):
            shown = raw[:200].decode("utf-8", "replace")
            raise _ParseError(f'parse request payload error: Expected input type "{payload}", found {shown}')
        for key, v in value.items():
            if v is None or isinstance(v, (float, dict, list)):
                raise _ParseError(
                    f"parse request payload error: unexpected {type(v).__name__} for `{key[:40]}` "
                    f'(occurred while parsing "{payload}")'
                )
        return _Params(value, payload=payload)

    def _verify(self, request: Request, instruction: str, params: _Params) -> None:
        """Check the signed headers against the parameters received (Backpack docs: signing). Raises _ApiError."""
        now_ms = time.time_ns() // 1_000_000
        try:
            verify_request(request.headers, instruction, params.data or None, self.public_key, now_ms, venue=self.venue)
        except AuthError as exc:
            code = exc.code or "UNAUTHORIZED"
            raise _ApiError(400 if code == "INVALID_SIGNATURE" else 401, code, exc.message) from None

    def _symbol(self, p: _Params, *, required: bool) -> str | None:
        symbol = p.text("symbol", required=required)
        if symbol is not None and symbol not in self.instruments:
            p.fail("symbol", 'failed to parse "MarketSymbol": Invalid market symbol')
        return symbol

    def _need_symbol(self, p: _Params) -> str:
        symbol = self._symbol(p, required=True)
        assert symbol is not None
        return symbol

    def _market_types(self, p: _Params) -> list[str] | None:
        raw = p.data.get("marketType")
        if raw is None:
            return None
        values = raw if isinstance(raw, list) else [raw]
        for v in values:
            if v not in _MARKET_TYPES:
                p.fail("marketType", 'failed to parse "MarketType": Expect a valid enumeration value.')
        return [str(v) for v in values]

    # ================================================================== public REST
    def _market_json(self, inst: Instrument) -> dict[str, object]:
        """A ``Market`` object (``GET /api/v1/markets``), keys and types as the captured SOL_USDC_PERP market, plus
        ``visible`` (required by the OpenAPI schema) and ``filters.quantity.minNotional`` when the simulated market
        has a minimum notional (read by ``_wire.parse_market``)."""
        quantity: dict[str, object] = {
            "maxQuantity": None,
            "minQuantity": _dt(inst.min_size),
            "stepSize": _dt(inst.lot_size),
        }
        if inst.min_notional > ZERO:
            quantity["minNotional"] = _dt(inst.min_notional)
        return {
            "baseSymbol": inst.base,
            "createdAt": _MARKET_CREATED_AT,
            "filters": {
                "price": {
                    "borrowEntryFeeMaxMultiplier": None,
                    "borrowEntryFeeMinMultiplier": None,
                    "maxImpactMultiplier": "1.03",
                    "maxMultiplier": _dt(_MAX_PRICE_MULTIPLIER),
                    "maxPrice": _dt(inst.tick_size * Decimal(10) ** 9),
                    "meanMarkPriceBand": {"maxMultiplier": "1.1", "minMultiplier": "0.9"},
                    "meanPremiumBand": {"tolerancePct": "0.05"},
                    "minImpactMultiplier": "0.97",
                    "minMultiplier": _dt(_MIN_PRICE_MULTIPLIER),
                    "minPrice": _dt(inst.tick_size),
                    "tickSize": _dt(inst.tick_size),
                },
                "quantity": quantity,
            },
            "fundingInterval": "28800000",
            "fundingRateLowerBound": "-100",
            "fundingRateUpperBound": "100",
            "imfFunction": dict(_IMF_FUNCTION),
            "marketType": "PERP",
            "mmfFunction": dict(_MMF_FUNCTION),
            "openInterestLimit": "0",
            "orderBookState": "Open",
            "quoteSymbol": inst.quote,
            "symbol": inst.symbol,
            "visible": True,
        }

    async def _h_markets(self, p: _Params) -> object:
        types = self._market_types(p)
        if types is not None and "PERP" not in types:
            return []
        return [self._market_json(inst) for inst in self.instruments.values()]

    async def _h_market(self, p: _Params) -> object:
        return self._market_json(self.instruments[self._need_symbol(p)])

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

    async def _h_depth(self, p: _Params) -> object:
        symbol = self._need_symbol(p)
        limit_text = p.enum("limit", _DEPTH_LIMITS, "DepthLimit")
        limit = _DEPTH_LIMIT_DEFAULT if limit_text is None else int(limit_text)
        hub = await self._ready_hub(symbol)
        book = hub.book
        bids, asks = book.snapshot(limit)
        # Both sides ascending by price, as the OpenAPI Depth example (clients re-sort, Backpack REST docs).
        return {
            "asks": [[hub.price_text(px), hub.size_text(sz)] for px, sz in asks],
            "bids": [[hub.price_text(px), hub.size_text(sz)] for px, sz in reversed(bids)],
            "lastUpdateId": str(book.seq),
            "timestamp": book.ts_ns // 1_000,
        }

    def _ticker_json(self, hub: _DepthHub) -> dict[str, object]:
        mid = hub.book.mid() or ZERO
        first = hub.first_mid or mid
        last = hub.last_mid or mid
        high = hub.high_mid or mid
        low = hub.low_mid or mid
        change = last - first
        pct = (change / first).quantize(Decimal("0.000001")) if first else ZERO
        return {
            "firstPrice": hub.price_text(first),
            "high": hub.price_text(high),
            "lastPrice": hub.price_text(last),
            "low": hub.price_text(low),
            "priceChange": _dt(change),
            "priceChangePercent": _dt(pct),
            "quoteVolume": "0",
            "symbol": hub.symbol,
            "trades": "0",
            "volume": "0",
        }

    async def _h_ticker(self, p: _Params) -> object:
        symbol = self._need_symbol(p)
        p.enum("interval", ("1d", "1w"), "TickerInterval")
        return self._ticker_json(await self._ready_hub(symbol))

    async def _h_tickers(self, p: _Params) -> object:
        p.enum("interval", ("1d", "1w"), "TickerInterval")
        return [self._ticker_json(await self._ready_hub(symbol)) for symbol in self.instruments]

    async def _h_assets(self, p: _Params) -> object:
        assets = sorted({i.base for i in self.instruments.values()} | {i.quote for i in self.instruments.values()})
        return [{"coingeckoId": None, "displayName": a, "symbol": a, "tokens": []} for a in assets]

    async def _h_securities(self, p: _Params) -> object:
        return []

    # ================================================================== orders
    def _engine_order(self, rec: _OrderRecord) -> Order | None:
        return self.exchange.engine(self.venue, rec.symbol).get_order(rec.id)

    def _find(self, symbol: str, order_id: str | None, client_id: int | None) -> tuple[_OrderRecord, Order] | None:
        """The order named by id (and, if both are given, also by clientId) in ``symbol``, with its engine state."""
        if order_id is not None:
            rec = self._orders.get(order_id)
            if rec is not None and client_id is not None and rec.client_id != client_id:
                rec = None
        else:
            rec = None if client_id is None else self._live_client.get(client_id)
        if rec is None or rec.symbol != symbol:
            return None
        order = self._engine_order(rec)
        return None if order is None else (rec, order)

    def _forget_client(self, rec: _OrderRecord) -> None:
        if rec.client_id is not None and self._live_client.get(rec.client_id) is rec:
            del self._live_client[rec.client_id]

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
            if price is not None and not market and mid is not None:
                if price > mid * _MAX_PRICE_MULTIPLIER or price < mid * _MIN_PRICE_MULTIPLIER:
                    raise _ApiError(400, "INVALID_PRICE", "Price is too far from the last active price")
        except DecimalException:
            raise _ApiError(400, "INVALID_ORDER", "Invalid order") from None

    async def _h_execute(self, p: _Params) -> object:
        """``POST /api/v1/order`` (orderExecute, Backpack REST docs)."""
        symbol = self._need_symbol(p)
        side = _SIDES[p.enum("side", _SIDES, "Side", required=True) or ""]
        order_type = p.enum("orderType", ("Limit", "Market"), "OrderTypeEnum", required=True)
        price = p.decimal("price")
        quantity = p.decimal("quantity")
        quote_quantity = p.decimal("quoteQuantity")
        tif = p.enum("timeInForce", _TIF, "TimeInForce") or "GTC"
        post_only = p.flag("postOnly")
        reduce_only = p.flag("reduceOnly")
        client_id = p.integer("clientId", limit=2**32 - 1, type_name="uint32")
        stp = p.enum("selfTradePrevention", _STP, "SelfTradePrevention") or "RejectTaker"
        p.integer("brokerId", limit=2**16 - 1, type_name="uint16")
        for key in ("autoLend", "autoLendRedeem", "autoBorrow", "autoBorrowRepay"):
            p.flag(key)
        market = order_type == "Market"
        if any(p.has(key) for key in _UNSUPPORTED_ORDER_KEYS):
            raise _ApiError(400, "NOT_IMPLEMENTED", "Trigger, take-profit and stop-loss orders are not simulated")
        if quote_quantity is not None:
            if market:
                raise _ApiError(400, "NOT_IMPLEMENTED", "Market orders by quoteQuantity are not simulated")
            raise _ApiError(400, "INVALID_ORDER", "quoteQuantity is only valid for market orders")
        if quantity is None:
            raise _ApiError(400, "INVALID_QUANTITY", "Quantity is required")
        if market:
            price = None  # a market order's price is ignored (ccxt's createOrder doc)
            if post_only:
                raise _ApiError(400, "INVALID_ORDER", "A market order cannot be post only")
        elif price is None:
            raise _ApiError(400, "INVALID_PRICE", "Price is required for a limit order")
        if post_only and tif != "GTC":
            raise _ApiError(400, "INVALID_ORDER", "A post only order must be good till cancelled")
        inst = self.instruments[symbol]
        self._validate(inst, market, price, quantity)
        if client_id is not None:
            prior = self._live_client.get(client_id)
            prior_order = None if prior is None else self._engine_order(prior)
            if prior_order is not None and _is_live(prior_order):
                raise _ApiError(400, "INVALID_CLIENT_REQUEST", "Duplicate client id")
        self._next_order_id += 1
        rec = _OrderRecord(
            id=str(self._next_order_id),
            client_id=client_id,
            symbol=symbol,
            side=side,
            market=market,
            price=price,
            quantity=quantity,
            tif=tif,
            post_only=post_only,
            reduce_only=reduce_only,
            stp=stp,
            created_ns=self.exchange.now_ns(),
        )
        try:
            request = OrderRequest(
                client_order_id=rec.id,
                symbol=symbol,
                side=side,
                size=quantity,
                order_type=OrderType.MARKET if market else OrderType.LIMIT,
                price=price,
                tif=_TIF[tif],
                post_only=post_only,
                reduce_only=reduce_only,
            )
        except BadValue as exc:
            raise _ApiError(400, "INVALID_ORDER", str(exc)[:200]) from None
        self._orders[rec.id] = rec
        self.exchange.submit(self.venue, request)
        order = self._engine_order(rec)
        if order is None or order.status is OrderStatus.REJECTED:
            del self._orders[rec.id]
            raise _rejection(order.reason if order is not None else "")
        if client_id is not None:
            self._live_client[client_id] = rec
        return _order_json(rec, order)

    async def _h_query(self, p: _Params) -> object:
        """``GET /api/v1/order`` (orderQuery): an open order by ``orderId`` or ``clientId`` (Backpack REST docs)."""
        symbol = self._need_symbol(p)
        order_id = p.order_id("orderId")
        client_id = p.integer("clientId", limit=2**32 - 1, type_name="uint32")
        if (order_id is None) == (client_id is None):
            raise _ApiError(400, "INVALID_CLIENT_REQUEST", "Specify exactly one of orderId and clientId")
        found = self._find(symbol, order_id, client_id)
        if found is None or not _is_live(found[1]):
            raise _ApiError(404, "RESOURCE_NOT_FOUND", "Order not found")
        return _order_json(*found)

    async def _h_cancel(self, p: _Params) -> object:
        """``DELETE /api/v1/order`` (orderCancel): by ``orderId`` (string or number) or ``clientId`` (Backpack REST
        docs)."""
        symbol = self._need_symbol(p)
        order_id = p.order_id("orderId")
        client_id = p.integer("clientId", limit=2**32 - 1, type_name="uint32")
        if order_id is None and client_id is None:
            raise _ApiError(400, "INVALID_CLIENT_REQUEST", "Specify orderId or clientId")
        found = self._find(symbol, order_id, client_id)
        if found is None or not _is_live(found[1]):
            raise _not_found()
        rec, order = found
        self.exchange.cancel(self.venue, symbol, rec.id)
        self._forget_client(rec)
        return _order_json(rec, order)

    async def _h_cancel_all(self, p: _Params) -> object:
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
            order = engine.get_order(rec.id)
            self._forget_client(rec)
            if order is not None:
                out.append(_order_json(rec, order))
        return out

    def _perp_symbols(self, p: _Params) -> list[str]:
        """The symbols a query's optional ``symbol`` and ``marketType`` select (every instrument when no symbol is
        given; none when the market types exclude ``PERP``, the only type this simulator lists)."""
        symbol = self._symbol(p, required=False)
        types = self._market_types(p)
        if types is not None and "PERP" not in types:
            return []
        return [symbol] if symbol is not None else list(self.instruments)

    async def _h_open_orders(self, p: _Params) -> object:
        """``GET /api/v1/orders`` (orderQueryAll): open orders, oldest first."""
        out = []
        for sym in self._perp_symbols(p):
            for order in self.exchange.engine(self.venue, sym).open_orders():
                rec = self._orders.get(order.client_order_id)
                if rec is not None:
                    out.append(_order_json(rec, order))
        return out

    async def _h_order_history(self, p: _Params) -> object:
        """``GET /wapi/v1/history/orders`` (orderHistoryQueryAll): orders no longer open [I: open orders are
        answered by ``/api/v1/orders``], newest first unless ``sortDirection=Asc``."""
        symbol = self._symbol(p, required=False)
        order_id = p.order_id("orderId")
        p.text("strategyId")
        limit, offset, descending = self._page(p)
        types = self._market_types(p)
        if types is not None and "PERP" not in types:
            return []
        items = []
        for rec in self._orders.values():
            if (symbol is not None and rec.symbol != symbol) or (order_id is not None and rec.id != order_id):
                continue
            order = self._engine_order(rec)
            if order is not None and not _is_live(order):
                items.append((rec, order))
        if descending:
            items.reverse()
        return [_history_json(rec, order) for rec, order in items[offset : offset + limit]]

    @staticmethod
    def _page(p: _Params) -> tuple[int, int, bool]:
        limit = p.integer("limit", limit=2**63 - 1, type_name="uint64")
        offset = p.integer("offset", limit=2**63 - 1, type_name="uint64") or 0
        direction = p.enum("sortDirection", ("Asc", "Desc"), "SortDirection") or "Desc"
        limit = _FILL_LIMIT_DEFAULT if limit is None else min(limit, _HISTORY_LIMIT_MAX)
        return limit, offset, direction == "Desc"

    # ================================================================== positions and fills
    def _position_json(self, pos: Position) -> dict[str, object]:
        """A ``FuturePositionWithMargin`` (``GET /api/v1/position``), keys and types as the captured response.
        Margin, funding and liquidation fields are fixed simulator values (funding is not simulated)."""
        mark = self._mark(pos.symbol, pos)
        qty = pos.size
        entry = pos.entry_price if pos.entry_price is not None else ZERO
        return {
            "breakEvenPrice": _dt(entry),
            "cumulativeFundingPayment": "0",
            "cumulativeInterest": "0",
            "entryPrice": _dt(entry),
            "estLiquidationPrice": "0",
            "imf": _IMF,
            "imfFunction": dict(_IMF_FUNCTION),
            "markPrice": _dt(mark),
            "mmf": _MMF,
            "mmfFunction": dict(_MMF_FUNCTION),
            "netCost": _dt(entry * qty),
            "netExposureNotional": _dt(abs(qty) * mark),
            "netExposureQuantity": _dt(abs(qty)),
            "netQuantity": _dt(qty),
            "pnlRealized": _dt(pos.realized_pnl),
            "pnlUnrealized": _dt((mark - entry) * qty),
            "positionId": str(self._position_ids[pos.symbol]),
            "subaccountId": None,
            "symbol": pos.symbol,
            "userId": _SIM_USER_ID,
        }

    async def _h_positions(self, p: _Params) -> object:
        """``GET /api/v1/position`` (positionQuery): open positions only."""
        out = []
        for sym in self._perp_symbols(p):
            pos = self.exchange.engine(self.venue, sym).position()
            if pos.size != ZERO:
                out.append(self._position_json(pos))
        return out

    def _fill_json(self, fill: Fill, rec: _OrderRecord) -> dict[str, object]:
        """One ``OrderFill`` (``GET /wapi/v1/history/fills``), keys and types as the captured ``fetchMyTrades``
        response (``tradeId`` a string there); the fee is in the quote asset (perpetuals, Backpack REST docs)."""
        return {
            "clientId": None if rec.client_id is None else str(rec.client_id),
            "fee": _dt(fill.fee),
            "feeSymbol": self.instruments[fill.symbol].quote,
            "isMaker": fill.is_maker,
            "orderId": rec.id,
            "price": _dt(fill.price),
            "quantity": _dt(fill.size),
            "side": _SIDE_TEXT[fill.side],
            "symbol": fill.symbol,
            "systemOrderType": None,
            "timestamp": _iso_ms(fill.ts_ns),
            "tradeId": str(self._trade_id(fill)),
        }

    async def _h_fills(self, p: _Params) -> object:
        """``GET /wapi/v1/history/fills`` (fillHistoryQueryAll): ``symbol``, ``orderId``, ``from``/``to`` (ms,
        inclusive), ``limit`` (default 100, at most 1000), ``offset``, ``sortDirection`` (default Desc)."""
        symbol = self._symbol(p, required=False)
        order_id = p.order_id("orderId")
        p.text("strategyId")
        from_ms = p.integer("from", limit=2**63 - 1, type_name="int64")
        to_ms = p.integer("to", limit=2**63 - 1, type_name="int64")
        fill_type = p.enum("fillType", _FILL_TYPES, "FillType")
        limit, offset, descending = self._page(p)
        types = self._market_types(p)
        if (types is not None and "PERP" not in types) or fill_type not in (None, "User"):
            return []
        items: list[tuple[Fill, _OrderRecord]] = []
        for sym in [symbol] if symbol is not None else list(self.instruments):
            for fill in self.exchange.engine(self.venue, sym).fills:
                rec = self._orders.get(fill.client_order_id)
                if rec is None or (order_id is not None and rec.id != order_id):
                    continue
                ts_ms = fill.ts_ns // 1_000_000
                if (from_ms is not None and ts_ms < from_ms) or (to_ms is not None and ts_ms > to_ms):
                    continue
                items.append((fill, rec))
        items.sort(key=lambda item: (item[0].ts_ns, self._trade_id(item[0])))
        if descending:
            items.reverse()
        return [self._fill_json(fill, rec) for fill, rec in items[offset : offset + limit]]
