"""The order path and REST reads of a ccxt venue session over ccxt's unified API: ``create_order``,
``cancel_order``/``cancel_all_orders``, ``fetch_order`` (or the open and recent orders where it cannot take our
client order id), ``fetch_open_orders``, ``fetch_positions``, ``fetch_my_trades``."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ...domain import (
    Fill,
    OrderNotFound,
    OrderRejected,
    OrderReport,
    OrderRequest,
    OrderStatus,
    OrderType,
    Position,
    PostOnlyWouldCross,
    TimeInForce,
    VenueUnavailable,
)
from . import _convert as cv
from ._session import _CcxtSession
from ._settings import CLIENT_ID_FETCH


class _Routes(_CcxtSession):
    """Orders and REST reads of a ccxt session."""

    client_order_id_range = (1, 2**31 - 1)
    """The numeric client order ids used (the journal reserves blocks inside it)."""

    def new_client_order_id(self) -> str:
        """A decimal client order id below 2**31 (fits Backpack's uint32 ``clientId`` and GRVT's uint64)."""
        return str(self._id_base + next(self._ids))

    async def place(self, request: OrderRequest) -> OrderReport:
        symbol, cid = request.symbol, request.client_order_id
        if cid in self._sent:  # a repeat: answered from the venue's state when it knows the order
            known = await self.order_status(symbol, cid)
            if known is not None:
                if known.status is OrderStatus.REJECTED and cid in self._post_only:
                    raise PostOnlyWouldCross(self.name, "post-only order rejected (it would have taken)",
                                             code="rejected")
                return known
        if request.post_only and self._watchdog.blind:
            raise VenueUnavailable(self.name, "private stream silent: no new resting orders")
        params: dict[str, Any] = {"clientOrderId": cid}
        if request.post_only:
            params["postOnly"] = True
            self._post_only.add(cid)
        if request.reduce_only:
            params["reduceOnly"] = True
        if request.order_type is OrderType.LIMIT and request.tif in (TimeInForce.IOC, TimeInForce.FOK):
            params["timeInForce"] = request.tif.value
        kind = "limit" if request.order_type is OrderType.LIMIT else "market"
        price = str(request.price) if request.price is not None else None
        self._sent.add(cid)
        self._live[symbol].add(cid)
        self._live_kick.set()
        self._gate.begin(symbol, cid)
        try:
            order = await self._call("create_order", self._unified[symbol], kind, request.side.value.lower(),
                                     str(request.size), price, params, write=True, post_only=request.post_only)
        except OrderRejected:
            self._live[symbol].discard(cid)
            self._gate.close(symbol, cid)
            raise
        order = dict(order)
        order.setdefault("symbol", self._unified[symbol])
        order["clientOrderId"] = order.get("clientOrderId") or cid
        for k, v in (("amount", str(request.size)), ("side", request.side.value.lower()), ("price", price)):
            if order.get(k) is None:
                order[k] = v
        r = cv.report(symbol, order, cid)
        if r.venue_order_id:
            self._remember(cid, r.venue_order_id)
        if r.status is OrderStatus.REJECTED:
            self._gate.close(symbol, cid)
            if request.post_only:
                raise PostOnlyWouldCross(self.name, "post-only order rejected", code="rejected")
            raise OrderRejected(self.name, "order rejected", code="rejected")
        return r

    async def cancel(self, symbol: str, client_order_id: str) -> None:
        vid = self._vid_by_cid.get(client_order_id)
        if vid is None:
            known = await self.order_status(symbol, client_order_id)
            if known is None or known.status.is_terminal or known.venue_order_id is None:
                return
            vid = known.venue_order_id
        try:
            await self._call("cancel_order", vid, self._unified[symbol], {}, write=True)
        except OrderRejected:
            # refused: an order already terminal is not an error (exchanges say it as "not found", a bad request...)
            known = await self.order_status(symbol, client_order_id)
            if known is not None and not known.status.is_terminal:
                raise
        except OrderNotFound:
            return

    async def cancel_all(self, symbol: str) -> int:
        before = await self.open_orders(symbol)
        if self._x.has.get("cancelAllOrders"):
            await self._call("cancel_all_orders", self._unified[symbol], write=True)
        else:  # the fallback: one cancel per open order
            for r in before:
                if r.venue_order_id is not None:
                    try:
                        await self._call("cancel_order", r.venue_order_id, self._unified[symbol], {}, write=True)
                    except OrderNotFound:
                        pass
        return len(before)

    async def order_status(self, symbol: str, client_order_id: str) -> OrderReport | None:
        unified = self._unified[symbol]
        vid = self._vid_by_cid.get(client_order_id)
        try:
            if self._settings.ccxt_id in CLIENT_ID_FETCH:
                order = await self._call("fetch_order", None, unified, {"clientOrderId": client_order_id})
            elif vid is not None:
                order = await self._call("fetch_order", vid, unified)
            else:
                order = await self._find(unified, client_order_id)
        except OrderNotFound:
            return None
        if not order:
            return None
        order = dict(order)
        cid = self._cid_of(order) or client_order_id
        if cid != client_order_id:
            return None
        return cv.report(symbol, order, cid)

    async def _find(self, unified: str, cid: str) -> dict[str, Any] | None:
        """An order by client order id where ``fetch_order`` cannot take one: open orders, then recent orders."""
        for method in ("fetch_open_orders", "fetch_orders" if self._x.has.get("fetchOrders") else None):
            if method is None:
                continue
            for o in await self._call(method, unified):
                if str(o.get("clientOrderId") or "") == cid:
                    return dict(o)
        return None

    async def open_orders(self, symbol: str) -> list[OrderReport]:
        out = []
        for o in await self._call("fetch_open_orders", self._unified[symbol]):
            o = dict(o)
            out.append(cv.report(symbol, o, self._cid_of(o)))
        return out

    async def _read_positions(self) -> dict[str, Position]:
        """The positions of every symbol of the session (0 when the exchange lists none), one ``fetch_positions``
        call; :meth:`~trio_hedge.venues.ccxt._subscriptions._Subscriptions.positions` reads the fills first."""
        out = {s: Position(self.name, s, Decimal(0)) for s in self._settings.symbols}
        for p in await self._call("fetch_positions", [self._unified[s] for s in self._settings.symbols]):
            symbol = self._ours(p.get("symbol"))
            if symbol is not None:
                out[symbol] = cv.position(self.name, symbol, dict(p), self._contract[symbol])
        return out

    async def fills_since(self, symbol: str, since_ns: int) -> list[Fill]:
        return await self._fills_of(self._unified[symbol], since_ns)

    async def _fills_of(self, unified: str | None, since_ns: int) -> list[Fill]:
        """The account's fills of ``unified`` (every symbol of the session when None) at or after ``since_ns``
        (venue time, ns), oldest first."""
        trades = await self._call("fetch_my_trades", unified, since_ns // 1_000_000)
        out: list[Fill] = []
        for t in trades:
            t = dict(t)
            symbol = self._ours(t.get("symbol") if unified is None else unified)
            if symbol is None:
                continue
            vid = str(t.get("order") or "")
            cid = self._cid_by_vid.get(vid) or str(t.get("clientOrderId") or "")
            f = cv.fill(self.name, symbol, t, cid)
            if f.ts_ns >= since_ns:
                out.append(f)
                self._venue_time_ms = max(self._venue_time_ms, f.ts_ns // 1_000_000)
        out.sort(key=lambda f: f.ts_ns)
        return out
