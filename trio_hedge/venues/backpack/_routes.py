"""Backpack REST routes (https://docs.backpack.exchange/; bodies as captured in
``tests/fixtures/backpack/captured.json``): markets, the order path (idempotent by client id), cancels, status
queries (with the order history for orders no longer resting), open orders, positions, fill history."""

from __future__ import annotations

from ...domain import ZERO, BadValue, Fill, Instrument, OrderRequest, OrderStatus, OrderType, Position, TimeInForce
from ...protocols.backpack import (
    BackpackProtocolError,
    client_id_from_str,
    order_cancel_all_body,
    order_cancel_body,
    order_execute_body,
    order_query_params,
    parse_fill_history,
    parse_market,
    parse_order,
    parse_orders,
    parse_positions,
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
    VenueUnavailable,
)
from ._session import FILL_MAX_PAGES, FILL_PAGE_LIMIT, _BackpackSession, _OrderState, _refusal


class _Routes(_BackpackSession):
    """REST routes and the order path of a Backpack session."""

    async def _load_markets(self) -> dict[str, Instrument]:
        """``GET /api/v1/markets`` -> the configured symbols' instruments.

        Raises:
            BadValue: a configured symbol is not listed. BackpackProtocolError, VenueUnavailable, RateLimited.
        """
        _, data = await self._call("GET", "/api/v1/markets", signed=False)
        if not isinstance(data, list):
            raise BackpackProtocolError(self.name, "markets: expected an array", code="PROTOCOL")
        wanted = set(self._settings.symbols)
        out: dict[str, Instrument] = {}
        for item in data:
            if isinstance(item, dict) and item.get("symbol") in wanted:
                inst = parse_market(item, venue=self.name)
                out[inst.symbol] = inst
        missing = sorted(wanted - set(out))
        if missing:
            raise BadValue(f"{self.name}: symbols not listed by the venue: {', '.join(m[:40] for m in missing)}")
        return out

    # ------------------------------------------------------------------ orders
    client_order_id_range = (1, 2**32 - 1)
    """The numeric client order ids the venue takes (uint32, never 0; the journal reserves blocks inside it)."""

    def new_client_order_id(self) -> str:
        """A fresh Backpack ``clientId`` (uint32) as a decimal string, unique among our live orders."""
        return self._ids.new_client_order_id()

    async def place(self, request: OrderRequest) -> OrderReport:
        """``POST /api/v1/order`` (``orderExecute``). Idempotent by client order id: a repeat is answered by a status
        query and sends nothing. See :meth:`Venue.place` for the contract.

        Raises:
            InvalidOrder: unknown symbol, a client id that is not a uint32 string, off-grid price/size (nothing
                sent), or the venue refused it. PostOnlyWouldCross: the post-only order would have taken (400, or
                answered ``Expired``/``PostOnlyTaker``). InsufficientMargin, OrderRejected: refused.
            RateLimited: 429. UnknownOutcome: see the module docstring; resolve with :meth:`order_status`.
            DuplicateClientOrderId: the same id is being sent right now, or the venue holds a live order with it
                (``INVALID_CLIENT_REQUEST`` "Duplicate client id"); query it. VenueUnavailable: nothing was sent
                (cannot connect; or a resting order while the private stream is lost past its budget).
            AuthError: the signature was refused.
        """
        cid = request.client_order_id
        instrument = self._instruments.get(request.symbol)
        if instrument is None:
            raise InvalidOrder(self.name, f"order {cid[:24]}: unknown symbol {request.symbol[:40]!r}", code="local")
        try:
            body = order_execute_body(request, instrument)
        except BadValue as exc:
            raise InvalidOrder(self.name, f"order refused before sending: {str(exc)[:300]}", code="local") from None
        key = (request.symbol, cid)
        prior = self._orders.get(key)
        if prior is not None and prior.send in ("sending", "acked", "unknown"):
            return await self._place_repeat(request, prior)
        if self._watchdog.blind and request.order_type is OrderType.LIMIT and request.tif is TimeInForce.GTT:
            raise VenueUnavailable(
                self.name,
                "private stream lost past its budget: resting orders are refused until it is back",
                code="private_stream_down",
            )
        st = _OrderState(request.symbol, request=request, send="sending")
        self._orders[key] = st
        self._orders.move_to_end(key)
        self._forget_old_orders()
        self._gate.begin(request.symbol, cid)
        self._ids.reserve(cid)
        try:
            _, data = await self._call("POST", "/api/v1/order", body=body, write=True)
        except OrderRejected as exc:
            if "duplicate" in exc.message.lower():
                # The venue holds a live order with this clientId (another session's, or a process before a
                # restart): it exists, so it is not a refusal of it. A repeat of this call queries it.
                st.send = "unknown"
                raise DuplicateClientOrderId(self.name, f"order {cid}: {exc.message}", code=exc.code) from None
            st.send = "refused"
            self._gate.close(request.symbol, cid)
            self._release(cid)
            raise
        except (RateLimited, VenueUnavailable, AuthError):
            # Not taken by the venue (429, cannot connect, maintenance, signature refused): may be sent again.
            self._orders.pop(key, None)
            self._release(cid)
            raise
        except BaseException:
            # UnknownOutcome, or cancelled by the caller's deadline while in flight: resolve by query.
            st.send = "unknown"
            raise
        if data is None:  # 202: accepted, not executed yet
            st.send = "acked"
            return OrderReport(
                client_order_id=cid, venue_order_id=None, symbol=request.symbol, side=request.side,
                size=request.size, price=request.price, status=OrderStatus.PENDING, filled_size=ZERO,
                reduce_only=request.reduce_only, post_only=request.post_only,
            )
        try:
            report = parse_order(data, venue=self.name)
        except (BackpackProtocolError, BadValue) as exc:
            st.send = "unknown"
            text = f"order {cid}: unreadable answer ({str(exc)[:200]})"
            raise UnknownOutcome(self.name, text, code="PROTOCOL") from None
        if report.client_order_id not in ("", cid) or report.symbol != request.symbol:
            st.send = "unknown"
            raise UnknownOutcome(self.name, f"order {cid}: the answer is about another order", code="PROTOCOL")
        st.send = "acked"
        st.venue_order_id = report.venue_order_id
        st.last_report = report
        rejection = _refusal(self.name, report)
        if rejection is not None:
            st.send = "refused"
            self._gate.close(request.symbol, cid)
            self._release(cid)
            raise rejection
        if report.status.is_terminal:
            self._release(cid)
        return report

    async def _place_repeat(self, request: OrderRequest, prior: _OrderState) -> OrderReport:
        cid = request.client_order_id
        if prior.send == "sending":
            raise DuplicateClientOrderId(self.name, f"order {cid} is being sent right now; query it", code="local")
        report = await self.order_status(request.symbol, cid)
        if report is not None:
            rejection = _refusal(self.name, report)
            if rejection is not None:
                raise rejection
            return report
        if prior.send == "acked" and prior.last_report is not None:
            return prior.last_report
        raise UnknownOutcome(self.name, f"order {cid}: the earlier send is still unresolved", code="unresolved")

    async def cancel(self, symbol: str, client_order_id: str) -> None:
        """``DELETE /api/v1/order`` by ``clientId`` (``orderCancel``). An order the venue no longer knows is not an
        error.

        Raises:
            RateLimited, UnknownOutcome, VenueUnavailable, AuthError.
        """
        try:
            client_id = client_id_from_str(client_order_id)
        except BadValue:
            self._log.warning("cancel: {!r} is not a Backpack clientId; nothing to cancel", client_order_id[:24])
            return
        try:
            await self._call("DELETE", "/api/v1/order", body=order_cancel_body(symbol, client_id=client_id), write=True)
        except OrderNotFound:
            return
        except OrderRejected as exc:
            self._log.info("cancel {}: venue says {} (treated as already terminal)", client_order_id, exc.message[:120])

    async def cancel_all(self, symbol: str) -> int:
        """``DELETE /api/v1/orders`` (``orderCancelAll``). Returns how many orders the venue listed as cancelled (0 on a
        202).

        Raises:
            RateLimited, UnknownOutcome, VenueUnavailable, AuthError.
        """
        _, data = await self._call("DELETE", "/api/v1/orders", body=order_cancel_all_body(symbol), write=True)
        if data is None:
            return 0
        try:
            return len(parse_orders(data, venue=self.name))
        except (BackpackProtocolError, BadValue) as exc:
            raise UnknownOutcome(self.name, f"cancel all {symbol}: unreadable answer ({str(exc)[:200]})",
                                 code="PROTOCOL") from None

    async def order_status(self, symbol: str, client_order_id: str) -> OrderReport | None:
        """``GET /api/v1/order?clientId=`` (``orderQuery``: resting orders only); for an order no longer resting whose
        venue id we know, ``GET /wapi/v1/history/orders?orderId=``. None if neither knows it.

        Raises:
            RateLimited, VenueUnavailable, BackpackProtocolError (malformed answer), AuthError.
        """
        try:
            client_id = client_id_from_str(client_order_id)
        except BadValue:
            return None
        try:
            _, data = await self._call("GET", "/api/v1/order", query=order_query_params(symbol, client_id=client_id))
        except OrderNotFound:
            return await self._order_from_history(symbol, client_order_id)
        if data is None:
            return None
        report = parse_order(data, venue=self.name)
        st = self._orders.get((symbol, client_order_id))
        if st is not None and st.venue_order_id is None:
            st.venue_order_id = report.venue_order_id
        return report

    async def _order_from_history(self, symbol: str, client_order_id: str) -> OrderReport | None:
        st = self._orders.get((symbol, client_order_id))
        if st is None or st.venue_order_id is None:
            return None
        try:
            _, data = await self._call(
                "GET", "/wapi/v1/history/orders", query={"orderId": st.venue_order_id, "symbol": symbol}
            )
        except (OrderNotFound, BackpackProtocolError, OrderRejected) as exc:
            self._log.debug("order history for {} unavailable: {}", client_order_id, exc.message[:120])
            return None
        if data is None:
            return None
        for report in parse_orders(data if isinstance(data, list) else [data], venue=self.name):
            if report.venue_order_id == st.venue_order_id and report.client_order_id in ("", client_order_id):
                return report
        return None

    async def open_orders(self, symbol: str) -> list[OrderReport]:
        """``GET /api/v1/orders?symbol=`` (``orderQueryAll``). Raises RateLimited, VenueUnavailable,
        BackpackProtocolError."""
        _, data = await self._call("GET", "/api/v1/orders", query={"symbol": symbol})
        return [r for r in parse_orders(data if data is not None else [], venue=self.name) if r.symbol == symbol]

    async def positions(self) -> dict[str, Position]:
        """``GET /api/v1/position`` (``positionQuery``), by symbol. Backpack lists open positions only: a configured
        symbol it leaves out is reported flat (size 0), as the Venue interface promises. Raises RateLimited,
        VenueUnavailable, BackpackProtocolError."""
        _, data = await self._call("GET", "/api/v1/position")
        out = {s: Position(self.name, s, ZERO) for s in self._settings.symbols}
        out.update(parse_positions(data if data is not None else [], venue=self.name))
        return out

    async def fills_since(self, symbol: str, since_ns: int) -> list[Fill]:
        """``GET /wapi/v1/history/fills?symbol=&from=<ms>&fillType=User&sortDirection=Asc`` (``fillHistoryQueryAll``),
        paged by ``offset`` (ascending, so fills arriving meanwhile only extend the last page), oldest first,
        ``ts_ns >= since_ns`` (venue clock).

        Raises:
            RateLimited, VenueUnavailable, BackpackProtocolError, BadValue (malformed answer).
        """
        since_ms = max(0, since_ns) // 1_000_000
        out: dict[str, Fill] = {}
        for page in range(FILL_MAX_PAGES):
            query = {
                "fillType": "User",
                "from": str(since_ms),
                "limit": str(FILL_PAGE_LIMIT),
                "offset": str(page * FILL_PAGE_LIMIT),
                "sortDirection": "Asc",
                "symbol": symbol,
            }
            _, data = await self._call("GET", "/wapi/v1/history/fills", query=query)
            items = data if isinstance(data, list) else []
            for fill in parse_fill_history(items, venue=self.name):
                if fill.symbol == symbol and fill.ts_ns >= since_ns:
                    out.setdefault(fill.trade_id, fill)
            if len(items) < FILL_PAGE_LIMIT:
                break
        return sorted(out.values(), key=lambda f: f.ts_ns)
