"""GRVT REST routes of the wire simulator: ``POST /full/v1/<route>`` (market data, orders, cancels, positions,
history, account summaries) and the HTTP endpoint (GRVT docs: the routes; apispec error codes)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from decimal import Decimal
from functools import cached_property
from typing import Any

import trio
from starlette.requests import Request
from starlette.responses import Response

from ...domain import ZERO, BadValue, Fill, OrderStatus, Side, is_multiple
from ...protocols.grvt import (
    NO_ORDER_ID,
    GrvtOrder,
    GrvtOrderState,
    GrvtProtocolError,
    GrvtTimeInForce,
    InvalidSignature,
    encode_json,
    format_book,
    format_decimal,
    format_rest_result,
    parse_order,
    recover_order_signer,
)
from .._matching import REASON_CANCELLED_BY_USER, REASON_DUPLICATE_CLIENT_ORDER_ID
from ._auth import _GrvtAuth
from ._common import (
    _UINT64_MAX,
    COD_MAX_MS,
    DEFAULT_CANCEL_TTL_MS,
    MAX_CANCEL_TTL_MS,
    MAX_SIGNATURE_AHEAD_NS,
    SIM_BALANCE_QUOTE,
    SIM_LEVERAGE,
    _ApiError,
    _decimal_or_none,
    _decode_body,
    _opt_uint,
    _page,
    _read_body,
)
from ._state import _CancelStatus, _OrderRecord, _RouteFn


class _GrvtRest(_GrvtAuth):
    """The HTTP endpoint and the routes (the WebSocket ``v1/...`` calls reuse :meth:`dispatch`)."""

    @cached_property
    def routes(self) -> dict[str, tuple[bool, _RouteFn]]:
        """Route name (``/full/v1/<name>``, ``v1/<name>``) -> (needs a session, handler)."""
        return {
            # public market data
            "instruments": (False, self.r_instruments),
            "all_instruments": (False, self.r_all_instruments),
            "instrument": (False, self.r_instrument),
            "currency": (False, self.r_currency),
            "book": (False, self.r_book),
            "ticker": (False, self.r_ticker),
            "mini": (False, self.r_mini),
            # private trading / account
            "create_order": (True, self.r_create_order),
            "cancel_order": (True, self.r_cancel_order),
            "cancel_all_orders": (True, self.r_cancel_all_orders),
            "cancel_on_disconnect": (True, self.r_cancel_on_disconnect),
            "order": (True, self.r_order),
            "open_orders": (True, self.r_open_orders),
            "order_history": (True, self.r_order_history),
            "positions": (True, self.r_positions),
            "fill_history": (True, self.r_fill_history),
            "account_summary": (True, self.r_account_summary),
            "aggregated_account_summary": (True, self.r_aggregated_account_summary),
            "get_sub_accounts": (True, self.r_get_sub_accounts),
        }

    async def http_endpoint(self, request: Request) -> Response:
        """Every HTTP request: auth routes and ``/full/v1/<route>``; always a GRVT-shaped answer."""
        path = request.url.path
        try:
            if request.method != "POST":
                raise _ApiError(1003, "all GRVT requests are POST", http_status=405)
            raw = await _read_body(request)
            body = _decode_body(raw, request.headers.get("content-type", ""))
            if path == "/auth/api_key/login":
                self._check_api_key_login(body)
                response = self._login_response()
                self.log.info("api-key login: session opened")
                return response
            if path == "/auth/wallet/login":
                self._check_wallet_login(body)
                response = self._login_response()
                self.log.info("wallet login: session opened")
                return response
            if not path.startswith("/full/v1/"):
                raise _ApiError(1004, f"no route {path[:80]!r}", http_status=404)
            name = path[len("/full/v1/") :]
            authed = self._session_ok(request.cookies, request.headers) is True
            status, payload = self.dispatch(name, body, authenticated=authed)
        except _ApiError as exc:
            return exc.response()
        except Exception as exc:  # never a traceback to the client
            self.log.exception("unexpected error on {}: {}", path[:80], type(exc).__name__)
            return _ApiError(1002).response()
        return Response(encode_json(payload), status, media_type="application/json")

    def dispatch(self, name: str, body: Any, *, authenticated: bool) -> tuple[int, dict[str, Any]]:
        """Run route ``name`` on ``body``: ``(http_status, response body)``.

        Raises:
            _ApiError: any venue error.
        """
        entry = self.routes.get(name)
        if entry is None:
            raise _ApiError(1004, f"no route {name[:60]!r}", http_status=404)
        private, fn = entry
        if private and not authenticated:
            raise _ApiError(1000)
        if not isinstance(body, dict):
            raise _ApiError(1003, "request body must be a JSON object")
        return 200, fn(body)

    # ================================================================== market data routes
    def r_instruments(self, body: dict[str, Any]) -> dict[str, Any]:
        limit = _opt_uint(body, "limit", default=1000)
        active = body.get("is_active")
        if active is not None and not isinstance(active, bool):
            raise _ApiError(1003, "is_active: expected a boolean")
        if active is False:
            return format_rest_result([])
        return format_rest_result([self._instrument_json(s) for s in self._symbols(body)][: max(limit, 0) or 1000])

    def r_all_instruments(self, body: dict[str, Any]) -> dict[str, Any]:
        active = body.get("is_active")
        if active is False:
            return format_rest_result([])
        return format_rest_result([self._instrument_json(s) for s in self.instruments])

    def r_instrument(self, body: dict[str, Any]) -> dict[str, Any]:
        return format_rest_result(self._instrument_json(self._instrument_arg(body)))

    def _instrument_arg(self, body: Mapping[str, Any]) -> str:
        symbol = body.get("instrument")
        if not isinstance(symbol, str):
            raise _ApiError(1003, "instrument: expected a string")
        if symbol not in self.instruments:
            raise _ApiError(3000)
        return symbol

    def r_currency(self, body: dict[str, Any]) -> dict[str, Any]:
        out: list[dict[str, Any]] = []
        known = {"USDT": (3, 6), "USDC": (2, 6)}
        next_id = 10
        for asset in sorted({i.quote for i in self.instruments.values()} | {i.base for i in self.instruments.values()}):
            cid, dec = known.get(asset, (0, 9))
            if cid == 0:
                cid, next_id = next_id, next_id + 1
            out.append({"id": cid, "symbol": asset, "balance_decimals": dec, "quantity_multiplier": str(10**dec)})
        return format_rest_result(out)

    def r_book(self, body: dict[str, Any]) -> dict[str, Any]:
        symbol = self._instrument_arg(body)
        depth = _opt_uint(body, "depth", default=10)
        if depth not in (10, 50, 100, 500):
            raise _ApiError(3031)
        book = self.exchange.market_book(self.venue, symbol)
        bids, asks = book.snapshot(depth) if book.valid else ([], [])
        return format_rest_result(format_book(symbol, bids, asks, event_time_ns=self.exchange.now_ns()))

    def _ticker(self, symbol: str) -> dict[str, Any]:
        book = self.exchange.market_book(self.venue, symbol)
        bid = book.best_bid() if book.valid else None
        ask = book.best_ask() if book.valid else None
        mid = (bid[0] + ask[0]) / 2 if bid and ask else (bid or ask or (ZERO, ZERO))[0]
        d = format_decimal
        return {
            "event_time": str(self.exchange.now_ns()),
            "instrument": symbol,
            "mark_price": d(mid),
            "index_price": d(mid),
            "last_price": d(mid),
            "last_size": "0.0",
            "mid_price": d(mid),
            "best_bid_price": d(bid[0] if bid else ZERO),
            "best_bid_size": d(bid[1] if bid else ZERO),
            "best_ask_price": d(ask[0] if ask else ZERO),
            "best_ask_size": d(ask[1] if ask else ZERO),
        }

    def r_ticker(self, body: dict[str, Any]) -> dict[str, Any]:
        out = self._ticker(self._instrument_arg(body))
        now_ns = self.exchange.now_ns()
        period = 8 * 3600 * 1_000_000_000
        out.update(
            {
                "funding_rate_8h_curr": "0.0", "funding_rate_8h_avg": "0.0", "interest_rate": "0.0",
                "forward_price": "0.0", "buy_volume_24h_b": "0.0", "sell_volume_24h_b": "0.0",
                "buy_volume_24h_q": "0.0", "sell_volume_24h_q": "0.0", "high_price": out["mid_price"],
                "low_price": out["mid_price"], "open_price": out["mid_price"], "open_interest": "0.0",
                "long_short_ratio": "1.0", "funding_rate": "0.0",
                "next_funding_time": str((now_ns // period + 1) * period),
            }
        )  # fmt: skip
        return format_rest_result(out)

    def r_mini(self, body: dict[str, Any]) -> dict[str, Any]:
        return format_rest_result(self._ticker(self._instrument_arg(body)))

    # ================================================================== orders
    def _validate_create(self, body: dict[str, Any]) -> GrvtOrder:
        """Check a create_order body the way the venue does (grvt-pysdk signing; GRVT docs: create_order errors; codes
        from apispec). Returns the parsed order. Raises _ApiError."""
        o = body.get("order")
        if not isinstance(o, dict):
            raise _ApiError(1003, "order: expected an object")
        self._check_sub(o, mismatch_code=2003)
        if o.get("order_id") not in (None, "", NO_ORDER_ID, "0x0", "0"):
            raise _ApiError(2010)
        if o.get("state") is not None:
            raise _ApiError(2050)
        md = o.get("metadata")
        coid = md.get("client_order_id") if isinstance(md, dict) else None
        if coid is None or coid == "":
            raise _ApiError(2011)
        if isinstance(md, dict) and isinstance(md.get("trigger"), dict):
            if md["trigger"].get("trigger_type") not in (None, "UNSPECIFIED"):
                raise _ApiError(2112, "trigger orders are not supported by the simulator")
        legs = o.get("legs")
        if not isinstance(legs, list):
            raise _ApiError(1003, "legs: expected an array")
        if not legs:
            raise _ApiError(2040)
        if len(legs) > 1:
            raise _ApiError(2042)
        leg = legs[0]
        if not isinstance(leg, dict):
            raise _ApiError(1003, "legs[0]: expected an object")
        symbol = leg.get("instrument")
        if not isinstance(symbol, str) or symbol not in self.instruments:
            raise _ApiError(2061)
        tif = o.get("time_in_force")
        if not isinstance(tif, str) or tif not in GrvtTimeInForce.__members__:
            raise _ApiError(1003, "time_in_force: unknown value")
        if tif not in ("GOOD_TILL_TIME", "IMMEDIATE_OR_CANCEL", "FILL_OR_KILL"):
            raise _ApiError(2030)
        sig = o.get("signature")
        if not isinstance(sig, dict):
            raise _ApiError(1003, "signature: expected an object")
        wire_chain = sig.get("chain_id")
        if wire_chain not in (None, "", 0, "0") and str(wire_chain) != str(self.chain_id):
            raise _ApiError(1012)
        try:
            recovered = recover_order_signer(body, self.signing, self.chain_id)
        except InvalidSignature as exc:
            raise _ApiError(exc.code) from None
        except BadValue as exc:
            raise _ApiError(1003, str(exc)[:200]) from None
        claimed = sig.get("signer")
        if isinstance(claimed, str) and claimed.lower() != recovered.lower():
            raise _ApiError(2002)
        if recovered.lower() != self.account_id:
            raise _ApiError(2000 if isinstance(claimed, str) else 2002)
        expiration = int(str(sig["expiration"]))  # validated by recover_order_signer
        now_ns = time.time_ns()
        if expiration <= now_ns:
            raise _ApiError(2001)
        if expiration > now_ns + MAX_SIGNATURE_AHEAD_NS:
            raise _ApiError(2008)
        is_market = o.get("is_market") is True
        raw_price = leg.get("limit_price")
        price_zero = raw_price is None or _decimal_or_none(raw_price) == ZERO
        if is_market and not price_zero:
            raise _ApiError(2020)
        if not is_market and price_zero:
            raise _ApiError(2021)
        if o.get("post_only") is True and (tif != "GOOD_TILL_TIME" or is_market):
            raise _ApiError(2032)
        try:
            order = parse_order(o, venue=self.venue)
        except GrvtProtocolError as exc:
            raise _ApiError(1003, str(exc)[:200]) from None
        inst = self.instruments[symbol]
        if order.size < inst.min_size:
            raise _ApiError(2062)
        if not is_multiple(order.size, inst.lot_size):
            raise _ApiError(2065)
        px = order.limit_price
        if px is not None:
            if not is_multiple(px, inst.tick_size):
                raise _ApiError(2064)
            if px * order.size < inst.min_notional:
                raise _ApiError(2066)
        else:
            mid = self._mid(symbol)
            if mid is not None and mid * order.size < inst.min_notional:
                raise _ApiError(2066)
        if order.reduce_only:
            pos = self.exchange.engine(self.venue, symbol).position().size
            if pos == ZERO:
                raise _ApiError(2400)
            if (pos > ZERO) == (order.side is Side.BUY):
                raise _ApiError(2401)
            if order.size > abs(pos):
                raise _ApiError(2402)
        existing = self.by_coid.get(order.client_order_id)
        if existing is not None and self._is_live(existing):
            raise _ApiError(2012)
        return order

    def r_create_order(self, body: dict[str, Any]) -> dict[str, Any]:
        order = self._validate_create(body)
        try:
            request = order.to_request(reason="grvt-wire")
        except GrvtProtocolError as exc:
            raise _ApiError(1003, str(exc)[:200]) from None
        now_ns = self.exchange.now_ns()
        rec = _OrderRecord(self._new_order_id(), order, now_ns, now_ns)
        coid = order.client_order_id
        engine = self.exchange.engine(self.venue, order.symbol)
        self.by_order_id[rec.order_id] = rec
        trap = self.ttl_traps.pop(coid, None)
        if trap is not None and trap >= trio.current_time():
            # A cancel-by-client-order-id arrived first and is still armed: the order never reaches the book.
            rec.synthetic = (OrderStatus.CANCELLED, REASON_CANCELLED_BY_USER)
            rec.cancel_reason = "CLIENT_CANCEL"
            self._register(rec)
            self._inject(self._update(rec, OrderStatus.CANCELLED, REASON_CANCELLED_BY_USER, now_ns), rec)
            self.log.info("order {} cancelled on arrival by an armed cancel TTL", coid)
        elif engine.get_order(coid) is not None:
            # The engine never reuses a client order id (a finished order had it): reject on the stream.
            rec.synthetic = (OrderStatus.REJECTED, REASON_DUPLICATE_CLIENT_ORDER_ID)
            self._inject(self._update(rec, OrderStatus.REJECTED, REASON_DUPLICATE_CLIENT_ORDER_ID, now_ns), rec)
        else:
            self._register(rec)
            self.exchange.submit(self.venue, request)
        pending = GrvtOrderState.from_domain(
            OrderStatus.PENDING, size=order.size, filled_size=ZERO, avg_fill_price=None, update_time_ns=now_ns
        )
        return format_rest_result(self._order_json(rec, pending, NO_ORDER_ID))

    def r_cancel_order(self, body: dict[str, Any]) -> dict[str, Any]:
        self._check_sub(body)
        oid, coid = body.get("order_id"), body.get("client_order_id")
        has_oid, has_coid = oid not in (None, "", NO_ORDER_ID), coid not in (None, "")
        if has_oid == has_coid:
            raise _ApiError(3021)
        ttl_ms = _opt_uint(body, "time_to_live_ms", default=0)
        ttl_ms = min(MAX_CANCEL_TTL_MS, ttl_ms // 100 * 100) or DEFAULT_CANCEL_TTL_MS
        if has_oid:
            if not isinstance(oid, str):
                raise _ApiError(1003, "order_id: expected a string")
            rec = self.by_order_id.get(oid)
            if rec is not None and self._is_live(rec):
                self._cancel(rec, "CLIENT_CANCEL")
            return format_rest_result({"ack": True})
        coid_s = str(coid) if isinstance(coid, int) and not isinstance(coid, bool) else coid
        if not isinstance(coid_s, str) or not (coid_s.isascii() and coid_s.isdigit()) or int(coid_s) > _UINT64_MAX:
            raise _ApiError(1003, "client_order_id: expected a uint64 decimal string")
        rec = self.by_coid.get(coid_s)
        if rec is None:
            now = trio.current_time()
            armed = self.ttl_traps.get(coid_s)
            if armed is not None and armed >= now:
                self._inject(_CancelStatus(coid_s, "DROPPED_DUPLICATE", self.exchange.now_ns()), None)
            else:
                self.ttl_traps[coid_s] = now + ttl_ms / 1000
                self._ttl_changed.set()
                self._ttl_changed = trio.Event()
        elif self._is_live(rec):
            self._cancel(rec, "CLIENT_CANCEL")
        return format_rest_result({"ack": True})

    def r_cancel_all_orders(self, body: dict[str, Any]) -> dict[str, Any]:
        self._check_sub(body)
        self._cancel_symbols(self._symbols(body), "CLIENT_BULK_CANCEL")
        return format_rest_result({"ack": True})

    def r_cancel_on_disconnect(self, body: dict[str, Any]) -> dict[str, Any]:
        self._check_sub(body)
        countdown_ms = _opt_uint(body, "countdown_time", default=0)
        if countdown_ms > COD_MAX_MS:
            raise _ApiError(6000)
        countdown_ms = countdown_ms // 1000 * 1000 if countdown_ms > 1000 else 0  # apispec: 0..1000 terminates
        self.cod_deadline = trio.current_time() + countdown_ms / 1000 if countdown_ms else None
        self._cod_changed.set()
        self._cod_changed = trio.Event()
        return format_rest_result({"ack": True})

    def r_order(self, body: dict[str, Any]) -> dict[str, Any]:
        self._check_sub(body)
        oid, coid = body.get("order_id"), body.get("client_order_id")
        rec: _OrderRecord | None = None
        if oid not in (None, "", NO_ORDER_ID):
            rec = self.by_order_id.get(oid) if isinstance(oid, str) else None
        elif coid not in (None, ""):
            rec = self.by_coid.get(str(coid))
        else:
            raise _ApiError(3021)
        if rec is None:
            raise _ApiError(1004)
        return format_rest_result(self._rest_order(rec))

    def r_open_orders(self, body: dict[str, Any]) -> dict[str, Any]:
        self._check_sub(body)
        out = []
        for sym in self._symbols(body):
            for order in self.exchange.engine(self.venue, sym).open_orders():
                rec = self.by_symbol_coid.get((sym, order.client_order_id))
                if rec is not None:
                    out.append(self._rest_order(rec))
        return format_rest_result(out)

    def r_order_history(self, body: dict[str, Any]) -> dict[str, Any]:
        self._check_sub(body)
        symbols = set(self._symbols(body))
        recs = [r for r in self.by_order_id.values() if r.symbol in symbols and not self._is_live(r)]
        recs.sort(key=lambda r: r.create_time_ns, reverse=True)
        page, cursor = _page(recs, body)
        return format_rest_result([self._rest_order(r) for r in page], next_cursor=cursor)

    def r_positions(self, body: dict[str, Any]) -> dict[str, Any]:
        self._check_sub(body)
        return format_rest_result(self._positions(self._symbols(body)))

    def r_fill_history(self, body: dict[str, Any]) -> dict[str, Any]:
        self._check_sub(body)
        start = _opt_uint(body, "start_time", default=0)
        end = _opt_uint(body, "end_time", default=2**63 - 1)
        fills: list[Fill] = []
        for sym in self._symbols(body):
            fills.extend(f for f in self.exchange.engine(self.venue, sym).fills if start <= f.ts_ns <= end)
        fills.sort(key=lambda f: f.ts_ns, reverse=True)
        page, cursor = _page(fills, body)
        return format_rest_result([self._fill_json(f) for f in page], next_cursor=cursor)

    def _equity(self) -> tuple[Decimal, Decimal, Decimal, list[dict[str, Any]]]:
        """(total equity, unrealized pnl, initial margin, positions JSON) of the sub-account."""
        unrealized = realized = margin = ZERO
        for sym in self.instruments:
            pos = self.exchange.engine(self.venue, sym).position()
            realized += pos.realized_pnl
            if pos.size != ZERO and pos.entry_price is not None:
                mark = self._mid(sym) or pos.entry_price
                unrealized += (mark - pos.entry_price) * pos.size
                margin += abs(mark * pos.size) / SIM_LEVERAGE
        equity = SIM_BALANCE_QUOTE + realized + unrealized
        return equity, unrealized, margin, self._positions(self.instruments)

    def r_account_summary(self, body: dict[str, Any]) -> dict[str, Any]:
        self._check_sub(body)
        equity, unrealized, margin, positions = self._equity()
        d = format_decimal
        quote = next(iter(self.instruments.values())).quote
        return format_rest_result(
            {
                "event_time": str(self.exchange.now_ns()),
                "sub_account_id": self.sub_account_id,
                "margin_type": "SIMPLE_CROSS_MARGIN",
                "settle_currency": quote,
                "unrealized_pnl": d(unrealized),
                "total_equity": d(equity),
                "initial_margin": d(margin),
                "maintenance_margin": d(margin / 2),
                "available_balance": d(equity - margin),
                "spot_balances": [{"currency": quote, "balance": d(equity - unrealized), "index_price": "1.0"}],
                "positions": positions,
                "settle_index_price": "1.0",
                "derisk_margin": "0.0",
                "derisk_to_maintenance_margin_ratio": "1.0",
                "total_cross_equity": d(equity),
                "cross_unrealized_pnl": d(unrealized),
            }
        )

    def r_aggregated_account_summary(self, body: dict[str, Any]) -> dict[str, Any]:
        equity, unrealized, margin, _ = self._equity()
        d = format_decimal
        quote = next(iter(self.instruments.values())).quote
        return format_rest_result(
            {
                "main_account_id": self.account_id,
                "total_equity": d(equity),
                "spot_balances": [{"currency": quote, "balance": d(equity - unrealized), "index_price": "1.0"}],
                "vault_investments": [],
                "total_sub_account_balance": d(equity),
                "total_sub_account_equity": d(equity),
                "total_vault_investments_balance": "0.0",
                "total_sub_account_available_balance": d(equity - margin),
                "total_usd_notional_invested": "0.0",
            }
        )

    def r_get_sub_accounts(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"sub_account_ids": [self.sub_account_id]}  # apispec ApiGetSubAccountsResponse: no envelope
