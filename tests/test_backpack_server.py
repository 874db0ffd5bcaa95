"""The Backpack wire-protocol simulator over real loopback HTTP (httpx) and WebSocket (trio-websocket, wsproto):
signatures, every route's keys and JSON types against captured Backpack payloads, order handling, the depth
stream's continuity with the REST snapshot, the private stream, pings, the rate limit and malformed input.

The simulated market is a small synthetic recording (tests/synth.py) replayed in real time, so prices are known.
Fixtures: tests/fixtures/backpack/{captured.json, captured_ticker.json} (see tests/fixtures/SOURCES.md).
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
import wsproto
import wsproto.events
from trio_websocket import ConnectionClosed, WebSocketConnection

from tests.synth import Recording
from trio_hedge.domain import BadValue, Fill, Instrument, OrderBook, OrderStatus, OrderUpdate, Side
from trio_hedge.protocols.backpack import (
    BackpackSigner,
    WsError,
    WsFrame,
    apply_delta_raw,
    apply_snapshot,
    error_from_response,
    instruction_for,
    iso_to_ns,
    parse_book_ticker,
    parse_depth_delta_raw,
    parse_depth_snapshot,
    parse_fill_history,
    parse_markets,
    parse_order,
    parse_order_events,
    parse_orders,
    parse_position_update,
    parse_position_updates,
    parse_positions,
    parse_ws_frame,
    private_subscribe_message,
    subscribe_message,
    unsubscribe_message,
)
from trio_hedge.sim import ContractSpec, SimExchange, SimMarket, SimSettings, open_sim_exchange
from trio_hedge.sim._backpack_server import BackpackSimInfo, serve_backpack
from trio_hedge.venues import (
    AuthError,
    InvalidOrder,
    OrderNotFound,
    PostOnlyWouldCross,
    RateLimited,
)
from trio_hedge.venues._ws import open_ws

FIXTURES = Path(__file__).parent / "fixtures" / "backpack"
CAPTURED = json.loads((FIXTURES / "captured.json").read_text())
TICKER = json.loads((FIXTURES / "captured_ticker.json").read_text())["ticker"]["body"]

BTC = "BTC_USDC_PERP"
ETH = "ETH_USDC_PERP"
STEP_S = 0.005  # one recorded delta every 5 ms


# ---------------------------------------------------------------------------------------------- the market


pytestmark = pytest.mark.timeout(120)  # waits on sockets or subprocesses: a hang fails the test, not the run


def _btc_recording(path: Path) -> Path:
    """Bids 59999.9 down, asks 60000.0 up (20 levels of 1 BTC), then deltas every 5 ms for 60 s that change
    sizes, and every 10th pair remove / restore the best ask (so the inside moves and bookTicker fires)."""
    rec = Recording(symbol="BTCUSDT")
    bids = [(f"{Decimal('59999.9') - Decimal('0.1') * i}", "1.000") for i in range(20)]
    asks = [(f"{Decimal('60000.0') + Decimal('0.1') * i}", "1.000") for i in range(20)]
    rec.snapshot(0.0, bids, asks)
    for i in range(1, 12_000):
        t = i * STEP_S
        level = i % 20
        size = f"{1 + (i % 7) / 10:.3f}"
        if i % 10 == 5:
            rec.delta(t, asks=[("60000.0", "0")])
        elif i % 10 == 9:
            rec.delta(t, asks=[("60000.0", "0.500")])
        elif i % 2:
            rec.delta(t, bids=[(f"{Decimal('59999.9') - Decimal('0.1') * level}", size)])
        else:
            rec.delta(t, asks=[(f"{Decimal('60000.1') + Decimal('0.1') * level}", size)])
    return rec.write(path / "btc.gz")


def _eth_recording(path: Path) -> Path:
    rec = Recording(symbol="ETHUSDT")
    rec.snapshot(
        0.0,
        [(f"{Decimal('2999.99') - Decimal('0.01') * i}", "10.00") for i in range(10)],
        [(f"{Decimal('3000.00') + Decimal('0.01') * i}", "10.00") for i in range(10)],
    )
    for i in range(1, 600):
        rec.delta(i * 0.1, bids=[("2999.99", f"{10 + i % 5}.00")])
    return rec.write(path / "eth.gz")


def _markets(tmp_path: Path) -> list[SimMarket]:
    btc = Instrument("backpack", BTC, "BTC", "USDC", Decimal("0.1"), Decimal("0.001"), Decimal("0.001"), Decimal("5"))
    eth = Instrument("backpack", ETH, "ETH", "USDC", Decimal("0.01"), Decimal("0.01"), Decimal("0.01"), Decimal("50"))
    return [
        SimMarket(
            "backpack", btc, _btc_recording(tmp_path), ContractSpec(lot_size=btc.lot_size), Decimal("0"), Decimal("2.4")
        ),
        SimMarket(
            "backpack", eth, _eth_recording(tmp_path), ContractSpec(lot_size=eth.lot_size), Decimal("0"), Decimal("2.4")
        ),
    ]


@dataclass
class Ctx:
    exchange: SimExchange
    info: BackpackSimInfo
    http: httpx.AsyncClient
    signer: BackpackSigner

    async def call(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, str] | None = None,
        body: Any = None,
        signed: bool = True,
        signer: BackpackSigner | None = None,
        sign_params: Any = None,
        timestamp_ms: int | None = None,
        window_ms: int = 5000,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
    ) -> httpx.Response:
        """One request; signed with ``signer`` (default: the account's) over ``sign_params`` (default: what is
        sent). ``raw`` sends these bytes as the body instead of ``body``."""
        hdrs: dict[str, str] = {}
        if signed:
            params = sign_params if sign_params is not None else (body if body is not None else query)
            ts = timestamp_ms if timestamp_ms is not None else time.time_ns() // 1_000_000
            hdrs.update(
                (signer or self.signer).headers(
                    instruction_for(method, path), params or None, timestamp_ms=ts, window_ms=window_ms
                )
            )
        hdrs.update(headers or {})
        content = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        if content is not None:
            hdrs["Content-Type"] = "application/json; charset=utf-8"
        return await self.http.request(method, path, params=query, content=content, headers=hdrs)

    async def ok(self, method: str, path: str, **kw: Any) -> Any:
        resp = await self.call(method, path, **kw)
        assert resp.status_code == 200, (resp.status_code, resp.text)
        assert resp.headers["content-type"].startswith("application/json")
        return resp.json()

    async def error(self, method: str, path: str, status: int, code: str, **kw: Any) -> dict[str, Any]:
        resp = await self.call(method, path, **kw)
        assert resp.status_code == status, (resp.status_code, resp.text)
        body: dict[str, Any] = resp.json()
        assert set(body) == {"code", "message"} and body["code"] == code, body
        return body

    async def plain_400(self, method: str, path: str, **kw: Any) -> str:
        resp = await self.call(method, path, **kw)
        assert resp.status_code == 400, (resp.status_code, resp.text)
        assert resp.headers["content-type"].startswith("text/plain")
        return resp.text

    async def top(self, symbol: str = BTC) -> tuple[Decimal, Decimal]:
        snap = parse_depth_snapshot(await self.ok("GET", "/api/v1/depth", query={"symbol": symbol}, signed=False))
        return snap.bids[0][0], snap.asks[0][0]

    async def order(self, **fields: Any) -> httpx.Response:
        body = {"symbol": BTC, "orderType": "Limit", "side": "Bid", "quantity": "0.010", **fields}
        return await self.call("POST", "/api/v1/order", body=body)


@asynccontextmanager
async def running(tmp_path: Path, **server_kw: Any) -> AsyncIterator[Ctx]:
    async with open_sim_exchange(SimSettings(speed=1.0, latency_s=0.0), _markets(tmp_path)) as exchange:
        async with trio.open_nursery() as nursery:
            info = await nursery.start(partial(serve_backpack, exchange, "backpack", **server_kw))
            async with httpx.AsyncClient(base_url=info.rest, timeout=5.0, trust_env=False) as http:
                yield Ctx(exchange, info, http, BackpackSigner(info.api_secret))
            nursery.cancel_scope.cancel()


# ---------------------------------------------------------------------------------------------- conformance


def _kind(v: object) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    return type(v).__name__


def conforms(actual: Any, captured: Any, *, extra: frozenset[str] = frozenset(), where: str = "") -> None:
    """``actual`` has the captured keys (and only those plus ``extra``) with the captured JSON types, recursively.
    A captured ``null`` only says the key exists (it is a string, number or boolean when set)."""
    assert isinstance(actual, dict), f"{where}: {actual!r} is not an object"
    missing = set(captured) - set(actual)
    unexpected = set(actual) - set(captured) - extra
    assert not missing and not unexpected, f"{where}: missing {sorted(missing)}, unexpected {sorted(unexpected)}"
    for key, want in captured.items():
        got = actual[key]
        if want is None:
            assert _kind(got) in ("null", "str", "int", "bool"), f"{where}.{key}: {got!r}"
        elif isinstance(want, dict):
            conforms(got, want, extra=extra, where=f"{where}.{key}")
        else:
            assert _kind(got) == _kind(want), f"{where}.{key}: {got!r} is {_kind(got)}, captured {_kind(want)}"


def _rest(name: str) -> Any:
    return CAPTURED["rest"][name]["body"]


def _ws(name: str) -> Any:
    entry = CAPTURED["ws"][name]
    return entry["frame"] if "frame" in entry else entry


# ---------------------------------------------------------------------------------------------- websocket helpers


async def next_json(ws: WebSocketConnection, *, within_s: float = 5.0) -> dict[str, Any]:
    with trio.fail_after(within_s):
        msg: dict[str, Any] = json.loads(await ws.get_message())
        return msg


async def next_frame(ws: WebSocketConnection, stream_prefix: str, *, within_s: float = 5.0) -> dict[str, Any]:
    """The next data frame whose stream starts with ``stream_prefix`` (others are skipped)."""
    with trio.fail_after(within_s):
        while True:
            msg: dict[str, Any] = json.loads(await ws.get_message())
            if msg.get("stream", "").startswith(stream_prefix):
                return msg


async def subscribe_private(ctx: Ctx, ws: WebSocketConnection, streams: list[str]) -> None:
    await ws.send_message(private_subscribe_message(streams, ctx.signer, timestamp_ms=time.time_ns() // 1_000_000))


# ================================================================================================ tests


async def test_public_routes_conform_to_captured_payloads(tmp_path: Path) -> None:
    async with running(tmp_path) as ctx:
        markets = await ctx.ok("GET", "/api/v1/markets", signed=False)
        assert [m["symbol"] for m in markets] == [BTC, ETH]
        for m in markets:
            conforms(m, _rest("markets")[1], extra=frozenset({"visible", "minNotional"}), where=m["symbol"])
        parsed = parse_markets(markets, venue="backpack")
        assert parsed == ctx.exchange.instruments("backpack")  # tick, lot, min size and min notional round-trip
        assert await ctx.ok("GET", "/api/v1/markets", query={"marketType": "SPOT"}, signed=False) == []
        assert await ctx.ok("GET", "/api/v1/market", query={"symbol": ETH}, signed=False) == markets[1]

        depth = await ctx.ok("GET", "/api/v1/depth", query={"symbol": BTC, "limit": "5"}, signed=False)
        conforms(depth, _rest("depth"))
        assert len(depth["bids"]) == len(depth["asks"]) == 5
        assert all(len(px.split(".")[1]) == 1 and len(sz.split(".")[1]) == 3 for px, sz in depth["asks"])
        bid_prices = [Decimal(px) for px, _ in depth["bids"]]
        ask_prices = [Decimal(px) for px, _ in depth["asks"]]
        assert bid_prices == sorted(bid_prices) and ask_prices == sorted(ask_prices)  # ascending, as documented
        assert depth["lastUpdateId"].isdigit()
        snap = parse_depth_snapshot(depth)
        assert Decimal("59990") < snap.bids[0][0] < snap.asks[0][0] <= Decimal("60000.1")
        assert abs(snap.ts_ns - ctx.exchange.market_book("backpack", BTC).ts_ns) < 1_000_000_000

        ticker = await ctx.ok("GET", "/api/v1/ticker", query={"symbol": BTC}, signed=False)
        conforms(ticker, TICKER)
        assert Decimal("59999") < Decimal(ticker["lastPrice"]) < Decimal("60001")
        assert Decimal(ticker["low"]) <= Decimal(ticker["lastPrice"]) <= Decimal(ticker["high"])
        tickers = await ctx.ok("GET", "/api/v1/tickers", signed=False)
        assert [t["symbol"] for t in tickers] == [BTC, ETH]

        text = await ctx.plain_400("GET", "/api/v1/depth", query={"symbol": "DOGE_USDC_PERP"}, signed=False)
        assert text.startswith("failed to parse parameter `symbol`")
        text = await ctx.plain_400("GET", "/api/v1/depth", query={"symbol": BTC, "limit": "7"}, signed=False)
        assert "DepthLimit" in text
        assert isinstance(error_from_response(400, text), InvalidOrder)


async def test_signature_accepted_and_rejected(tmp_path: Path) -> None:
    async with running(tmp_path) as ctx:
        now = time.time_ns() // 1_000_000
        assert await ctx.ok("GET", "/api/v1/orders", query={"symbol": BTC}) == []
        assert await ctx.ok("GET", "/api/v1/position") == []

        # Tampered: signed for one symbol, sent with another.
        body = await ctx.error(
            "GET", "/api/v1/orders", 400, "INVALID_SIGNATURE", query={"symbol": ETH}, sign_params={"symbol": BTC}
        )
        assert isinstance(error_from_response(400, body), AuthError)
        # Expired, and from the future.
        await ctx.error("GET", "/api/v1/orders", 401, "UNAUTHORIZED", query={"symbol": BTC}, timestamp_ms=now - 20_000)
        await ctx.error("GET", "/api/v1/orders", 401, "UNAUTHORIZED", query={"symbol": BTC}, timestamp_ms=now + 20_000)
        # A longer window admits an older request; a window over the maximum is refused.
        await ctx.ok("GET", "/api/v1/orders", query={"symbol": BTC}, timestamp_ms=now - 20_000, window_ms=60_000)
        await ctx.error("GET", "/api/v1/orders", 401, "UNAUTHORIZED", headers={"X-Window": "60001"})
        # Another account's key; or our key with another key's signature.
        other = BackpackSigner(_other_secret())
        body = await ctx.error("GET", "/api/v1/position", 401, "UNAUTHORIZED", signer=other)
        assert isinstance(error_from_response(401, body), AuthError)
        forged = other.headers("positionQuery", None, timestamp_ms=now)
        forged["X-API-Key"] = ctx.info.api_key
        await ctx.error("GET", "/api/v1/position", 400, "INVALID_SIGNATURE", signed=False, headers=forged)
        await ctx.error("GET", "/api/v1/position", 401, "UNAUTHORIZED", signed=False)

        # A body changed after signing places nothing.
        bid, _ = await ctx.top()
        order = {"symbol": BTC, "orderType": "Limit", "side": "Bid", "price": f"{bid - 10}", "quantity": "0.010"}
        await ctx.error(
            "POST", "/api/v1/order", 400, "INVALID_SIGNATURE", body={**order, "quantity": "0.020"}, sign_params=order
        )
        assert await ctx.ok("GET", "/api/v1/orders") == []
        assert await ctx.ok("POST", "/api/v1/order", body=order)  # the same body, signed as sent, is accepted


def _other_secret() -> str:
    return base64.b64encode(bytes(range(32))).decode()


async def test_order_lifecycle_query_cancel_and_history(tmp_path: Path) -> None:
    async with running(tmp_path) as ctx:
        bid, _ = await ctx.top()
        price = bid - Decimal("5")
        created = await ctx.ok(
            "POST",
            "/api/v1/order",
            body={
                "symbol": BTC,
                "side": "Bid",
                "orderType": "Limit",
                "price": f"{price}",
                "quantity": "0.010",
                "postOnly": True,
                "timeInForce": "GTC",
                "clientId": 4242,
                "selfTradePrevention": "RejectTaker",
            },
        )
        conforms(created, _rest("order_create_limit"))
        assert created["clientId"] == "4242" and created["status"] == "New" and created["postOnly"] is True
        report = parse_order(created)
        assert (report.client_order_id, report.side, report.size, report.price, report.status) == (
            "4242",
            Side.BUY,
            Decimal("0.01"),
            price,
            OrderStatus.OPEN,
        )

        by_client = await ctx.ok("GET", "/api/v1/order", query={"symbol": BTC, "clientId": "4242"})
        by_id = await ctx.ok("GET", "/api/v1/order", query={"symbol": BTC, "orderId": created["id"]})
        assert by_client == by_id == created
        await ctx.error(
            "GET",
            "/api/v1/order",
            400,
            "INVALID_CLIENT_REQUEST",
            query={"symbol": BTC, "clientId": "4242", "orderId": created["id"]},
        )
        await ctx.error("GET", "/api/v1/order", 404, "RESOURCE_NOT_FOUND", query={"symbol": ETH, "clientId": "4242"})
        open_orders = await ctx.ok("GET", "/api/v1/orders")
        conforms(open_orders[0], _rest("open_orders")[0])
        assert [o["id"] for o in open_orders] == [created["id"]]

        # A live clientId cannot be reused.
        await ctx.error(
            "POST",
            "/api/v1/order",
            400,
            "INVALID_CLIENT_REQUEST",
            body={
                "symbol": BTC,
                "side": "Bid",
                "orderType": "Limit",
                "price": f"{price}",
                "quantity": "0.010",
                "clientId": 4242,
            },
        )

        cancelled = await ctx.ok("DELETE", "/api/v1/order", body={"symbol": BTC, "clientId": 4242})
        conforms(cancelled, _rest("order_cancel"))
        assert cancelled["status"] == "Cancelled" and cancelled["id"] == created["id"]
        body = await ctx.error(
            "GET", "/api/v1/order", 404, "RESOURCE_NOT_FOUND", query={"symbol": BTC, "clientId": "4242"}
        )
        assert isinstance(error_from_response(404, body), OrderNotFound)
        body = await ctx.error(
            "DELETE", "/api/v1/order", 400, "INVALID_CLIENT_REQUEST", body={"symbol": BTC, "clientId": 4242}
        )
        assert body["message"] == "Order not found"
        assert await ctx.ok("GET", "/api/v1/orders", query={"symbol": BTC}) == []

        history = await ctx.ok("GET", "/wapi/v1/history/orders", query={"symbol": BTC})
        conforms(history[0], _rest("order_history")[0])
        assert [h["id"] for h in history] == [created["id"]] and history[0]["status"] == "Cancelled"
        assert iso_to_ns(history[0]["createdAt"]) // 1_000_000 == int(created["createdAt"])
        assert parse_orders(history)[0].status is OrderStatus.CANCELLED

        # The clientId is free again once its order is over; cancel by orderId sent as a number (ccxt does).
        again = await ctx.ok(
            "POST",
            "/api/v1/order",
            body={
                "symbol": BTC,
                "side": "Bid",
                "orderType": "Limit",
                "price": f"{price}",
                "quantity": "0.010",
                "clientId": 4242,
            },
        )
        assert again["id"] != created["id"] and again["status"] == "New"
        gone = await ctx.ok("DELETE", "/api/v1/order", body={"symbol": BTC, "orderId": int(again["id"])})
        assert gone["status"] == "Cancelled"

        # Cancel all: every open order of the symbol, none of the other symbol's.
        ids = set()
        for i in range(3):
            placed = await ctx.ok(
                "POST",
                "/api/v1/order",
                body={
                    "symbol": BTC,
                    "side": "Ask",
                    "orderType": "Limit",
                    "price": f"{bid + 10 + i}",
                    "quantity": "0.005",
                },
            )
            ids.add(placed["id"])
        eth = await ctx.ok(
            "POST",
            "/api/v1/order",
            body={"symbol": ETH, "side": "Bid", "orderType": "Limit", "price": "2990.00", "quantity": "0.02"},
        )
        swept = await ctx.ok("DELETE", "/api/v1/orders", body={"symbol": BTC})
        assert {o["id"] for o in swept} == ids and {o["status"] for o in swept} == {"Cancelled"}
        assert await ctx.ok("DELETE", "/api/v1/orders", body={"symbol": BTC}) == []
        assert [o["id"] for o in await ctx.ok("GET", "/api/v1/orders")] == [eth["id"]]


async def test_post_only_that_would_take_is_refused_and_creates_nothing(tmp_path: Path) -> None:
    async with running(tmp_path) as ctx:
        _, ask = await ctx.top()
        body = await ctx.error(
            "POST",
            "/api/v1/order",
            400,
            "INVALID_ORDER",
            body={
                "symbol": BTC,
                "side": "Bid",
                "orderType": "Limit",
                "price": f"{ask + Decimal('0.5')}",
                "quantity": "0.010",
                "postOnly": True,
                "clientId": 9,
            },
        )
        assert isinstance(error_from_response(400, body), PostOnlyWouldCross)
        assert await ctx.ok("GET", "/api/v1/orders") == []
        assert await ctx.ok("GET", "/wapi/v1/history/orders") == []
        assert await ctx.ok("GET", "/api/v1/position") == []
        assert ctx.exchange.engine("backpack", BTC).fills == []
        ok = await ctx.order(price=f"{ask - 10}", postOnly=True, clientId=9)  # the clientId was never used
        assert ok.status_code == 200 and ok.json()["status"] == "New"


async def test_ioc_fill_positions_fills_and_reduce_only(tmp_path: Path) -> None:
    async with running(tmp_path) as ctx:
        bid, ask = await ctx.top()
        filled = await ctx.ok(
            "POST",
            "/api/v1/order",
            body={
                "symbol": BTC,
                "side": "Bid",
                "orderType": "Limit",
                "price": f"{ask + 1}",
                "quantity": "0.010",
                "timeInForce": "IOC",
                "clientId": 7,
            },
        )
        assert filled["status"] == "Filled" and filled["executedQuantity"] == "0.01"
        avg = Decimal(filled["executedQuoteQuantity"]) / Decimal("0.01")
        assert Decimal("60000.0") <= avg <= ask + 1  # the best ask moves between 60000.0 and 60000.1

        positions = await ctx.ok("GET", "/api/v1/position")
        conforms(positions[0], _rest("positions")[0])
        pos = parse_positions(positions)[BTC]
        assert pos.size == Decimal("0.01") and pos.entry_price == avg

        fills = await ctx.ok("GET", "/wapi/v1/history/fills", query={"symbol": BTC})
        conforms(fills[0], _rest("fills")[0])
        parsed = parse_fill_history(fills)
        assert sum(f.size for f in parsed) == Decimal("0.01")
        assert {f.client_order_id for f in parsed} == {"7"} and all(not f.is_maker for f in parsed)
        assert sum(f.fee for f in parsed) == sum(f.price * f.size for f in parsed) * Decimal("2.4") / 10_000
        assert {f["orderId"] for f in fills} == {filled["id"]}
        assert len({f["tradeId"] for f in fills}) == len(fills)
        late = str(max(f.ts_ns for f in parsed) // 1_000_000 + 1)
        assert await ctx.ok("GET", "/wapi/v1/history/fills", query={"from": late}) == []
        assert await ctx.ok("GET", "/wapi/v1/history/fills", query={"orderId": "1"}) == []
        assert await ctx.ok("GET", "/wapi/v1/history/fills", query={"fillType": "Liquidation"}) == []

        # Reduce-only bigger than the position: capped at it, the rest expires; the position is flat after.
        capped = await ctx.ok(
            "POST",
            "/api/v1/order",
            body={
                "symbol": BTC,
                "side": "Ask",
                "orderType": "Limit",
                "price": f"{bid - 1}",
                "quantity": "0.020",
                "timeInForce": "IOC",
                "reduceOnly": True,
            },
        )
        assert capped["status"] == "Expired" and capped["executedQuantity"] == "0.01" and capped["reduceOnly"] is True
        assert await ctx.ok("GET", "/api/v1/position") == []
        history = await ctx.ok("GET", "/wapi/v1/history/orders", query={"orderId": capped["id"]})
        assert history[0]["expiryReason"] == "ReduceOnlyNotReduced"
        # Reduce-only on a flat position: refused, nothing created.
        body = await ctx.error(
            "POST",
            "/api/v1/order",
            400,
            "INVALID_ORDER",
            body={"symbol": BTC, "side": "Ask", "orderType": "Market", "quantity": "0.010", "reduceOnly": True},
        )
        assert isinstance(error_from_response(400, body), InvalidOrder)

        market = await ctx.ok(
            "POST",
            "/api/v1/order",
            body={"symbol": BTC, "side": "Ask", "orderType": "Market", "quantity": "0.003", "clientId": 55555},
        )
        conforms(market, _rest("order_create_market_client_id"))
        assert market["status"] == "Filled" and market["quoteQuantity"] == market["executedQuoteQuantity"]
        assert parse_positions(await ctx.ok("GET", "/api/v1/position"))[BTC].size == Decimal("-0.003")
        newest_first = await ctx.ok("GET", "/wapi/v1/history/fills", query={"limit": "1"})
        assert len(newest_first) == 1 and newest_first[0]["orderId"] == market["id"]
        asc = await ctx.ok("GET", "/wapi/v1/history/fills", query={"sortDirection": "Asc", "limit": "1"})
        assert asc[0]["orderId"] == filled["id"]


async def test_field_rules_give_the_venue_errors(tmp_path: Path) -> None:
    async with running(tmp_path) as ctx:
        bid, _ = await ctx.top()
        cases: list[tuple[dict[str, Any], str]] = [
            ({"price": f"{bid - Decimal('0.05')}"}, "INVALID_PRICE"),  # off tick
            ({"price": f"{bid - 5}", "quantity": "0.0105"}, "INVALID_QUANTITY"),  # off step
            ({"price": f"{bid - 5}", "quantity": "0"}, "INVALID_QUANTITY"),
            ({"price": "30000.0"}, "INVALID_PRICE"),  # beyond the published price band
            ({}, "INVALID_PRICE"),  # a limit order without a price
            ({"price": f"{bid - 5}", "quantity": None}, "INVALID_QUANTITY"),
            ({"price": f"{bid - 5}", "postOnly": True, "timeInForce": "IOC"}, "INVALID_ORDER"),
            ({"orderType": "Market", "postOnly": True}, "INVALID_ORDER"),
            ({"price": f"{bid - 5}", "triggerPrice": f"{bid}"}, "NOT_IMPLEMENTED"),
        ]
        for fields, code in cases:
            body: dict[str, Any] = {"symbol": BTC, "side": "Bid", "orderType": "Limit", "quantity": "0.010", **fields}
            body = {k: v for k, v in body.items() if v is not None}
            await ctx.error("POST", "/api/v1/order", 400, code, body=body)
        far = await ctx.error(
            "POST",
            "/api/v1/order",
            400,
            "INVALID_PRICE",
            body={"symbol": BTC, "side": "Ask", "orderType": "Limit", "price": "90000.0", "quantity": "0.010"},
        )
        assert far["message"] == "Price is too far from the last active price"
        small = await ctx.error(
            "POST",
            "/api/v1/order",
            400,
            "INVALID_ORDER",
            body={"symbol": ETH, "side": "Bid", "orderType": "Limit", "price": "2990.00", "quantity": "0.01"},
        )  # 29.9 USDC < the 50 USDC minimum notional
        assert isinstance(error_from_response(400, small), InvalidOrder)
        assert await ctx.ok("GET", "/api/v1/orders") == []


async def test_malformed_requests_get_the_venue_error_never_a_500(tmp_path: Path) -> None:
    async with running(tmp_path) as ctx:
        base = {"symbol": BTC, "side": "Bid", "orderType": "Limit", "price": "59000.0", "quantity": "0.010"}
        sign = {"sign_params": base}  # signature of a valid body: the payload must fail before anything runs
        for raw in (
            b"{not json",
            b'{"price": NaN}',
            b"[1, 2]",
            b"",
            b'{"symbol": "BTC_USDC_PERP", "x": 1.5}',
            b'{"symbol": null}',
        ):
            text = await ctx.plain_400("POST", "/api/v1/order", raw=raw, **sign)
            assert text.startswith("parse request payload error"), text
        bad_fields: list[dict[str, Any]] = [
            {"price": "NaN"},
            {"price": "1e999"},
            {"price": "abc"},
            {"side": "Buy"},
            {"orderType": "Stop"},
            {"clientId": 2**32},
            {"clientId": -1},
            {"clientId": True},
            {"timeInForce": "GTX"},
            {"postOnly": "yes"},
            {"selfTradePrevention": "Allow"},
            {"symbol": "DOGE_USDC_PERP"},
            {"side": None},
        ]
        for fields in bad_fields:
            body = {k: v for k, v in {**base, **fields}.items() if v is not None}
            text = await ctx.plain_400("POST", "/api/v1/order", body=body)
            assert text.startswith("parse request payload error") and "OrderExecutePayload" in text, (fields, text)
            assert isinstance(error_from_response(400, text), InvalidOrder)
        text = await ctx.plain_400("GET", "/api/v1/order", query={"symbol": BTC, "clientId": "abc"})
        assert text.startswith("failed to parse parameter `clientId`")
        text = await ctx.plain_400("GET", "/api/v1/order", query={"clientId": "1"})
        assert text.startswith("failed to parse parameter `symbol`")
        text = await ctx.plain_400("DELETE", "/api/v1/order", body={"symbol": BTC, "orderId": "12x"})
        assert "OrderCancelPayload" in text
        assert (await ctx.call("GET", "/api/v1/nothing", signed=False)).status_code == 404
        assert await ctx.ok("GET", "/api/v1/orders") == []

        async with open_ws(ctx.info.ws) as ws:
            for junk, code in (
                ("not json", 4000),
                ('{"method": "PING"}', 4000),
                ('{"params": ["depth.X"]}', 4000),
                (subscribe_message(["depth.DOGE_USDC_PERP"]), 4006),
                (subscribe_message(["trade.BTC_USDC_PERP"]), 4006),
            ):
                await ws.send_message(junk)
                err = parse_ws_frame(await ws.get_message())
                assert isinstance(err, WsError) and err.code == str(code), (junk, err)
            await ws.send_message(json.dumps({"method": "SUBSCRIBE", "params": ["nope"], "id": 17}))
            assert (await next_json(ws)) == {"id": 17, "error": {"code": 4006, "message": "Invalid stream"}}
            await ws.send_message(subscribe_message([f"depth.{BTC}"]))  # the connection still works
            frame = await next_frame(ws, "depth.")
            assert frame["stream"] == f"depth.{BTC}"


async def test_depth_stream_continues_the_rest_snapshot_without_gap(tmp_path: Path) -> None:
    async with running(tmp_path) as ctx, open_ws(ctx.info.ws) as ws:
        await ws.send_message(subscribe_message([f"depth.{BTC}", f"bookTicker.{BTC}", f"depth.200ms.{ETH}"]))
        buffered = []
        frame = await next_frame(ws, "depth.")
        conforms(frame, _ws("depth"))
        buffered.append(frame)
        snap = parse_depth_snapshot(await ctx.ok("GET", "/api/v1/depth", query={"symbol": BTC}, signed=False))
        book = OrderBook(BTC)
        apply_snapshot(book, snap)
        applied = stale = 0
        ticker_seen = eth_seen = 0
        while applied < 150:
            if buffered:
                msg = buffered.pop(0)
            else:
                msg = await next_json(ws)
            parsed = parse_ws_frame(json.dumps(msg))
            assert isinstance(parsed, WsFrame)
            if msg["stream"] == f"bookTicker.{BTC}":
                conforms(msg, _ws("book_ticker"))
                bt = parse_book_ticker(parsed.data)
                if bt.update_id == book.seq:  # sent right after the depth frame of the same update
                    assert (bt.bid, bt.ask) == (book.best_bid(), book.best_ask())
                    ticker_seen += 1
                continue
            if msg["stream"] == f"depth.200ms.{ETH}":
                assert parse_depth_delta_raw(parsed.data).symbol == ETH
                eth_seen += 1
                continue
            delta = parse_depth_delta_raw(parsed.data)
            assert delta.symbol == BTC
            if apply_delta_raw(book, delta):  # raises SequenceGap on any hole
                applied += 1
            else:
                stale += 1
        assert ticker_seen > 0 and eth_seen > 0
        # The REST snapshot is always at some frame's u: catch up to a fresh one and compare the whole book.
        snap2 = parse_depth_snapshot(await ctx.ok("GET", "/api/v1/depth", query={"symbol": BTC}, signed=False))
        assert snap2.last_update_id >= book.seq
        while book.seq < snap2.last_update_id:
            msg = await next_frame(ws, f"depth.{BTC}")
            assert apply_delta_raw(book, parse_depth_delta_raw(msg["data"]))
        assert book.seq == snap2.last_update_id
        bids, asks = book.snapshot()
        assert (tuple(bids), tuple(asks)) == (snap2.bids, snap2.asks)
        # Unsubscribed streams stop.
        await ws.send_message(unsubscribe_message([f"depth.{BTC}", f"bookTicker.{BTC}", f"depth.200ms.{ETH}"]))
        with trio.move_on_after(0.3):  # frames already in flight
            while True:
                await ws.get_message()
        with trio.move_on_after(0.3) as quiet:
            await ws.get_message()
        assert quiet.cancelled_caught


async def test_private_stream_events_for_orders_fills_and_positions(tmp_path: Path) -> None:
    async with running(tmp_path) as ctx, open_ws(ctx.info.ws) as ws:
        await subscribe_private(ctx, ws, [f"account.orderUpdate.{BTC}", "account.positionUpdate"])
        # Nothing is open yet: no position snapshot. A bad signature is refused on another connection.
        async with open_ws(ctx.info.ws) as bad:
            stale = time.time_ns() // 1_000_000 - 60_000
            await bad.send_message(private_subscribe_message(["account.orderUpdate"], ctx.signer, timestamp_ms=stale))
            err = parse_ws_frame(await bad.get_message())
            assert isinstance(err, WsError) and err.code == "4001"
            assert isinstance(err.to_exception(), AuthError)
        bid, ask = await ctx.top()
        resting = await ctx.ok(
            "POST",
            "/api/v1/order",
            body={
                "symbol": BTC,
                "side": "Bid",
                "orderType": "Limit",
                "price": f"{bid - 5}",
                "quantity": "0.010",
                "postOnly": True,
                "clientId": 11,
            },
        )
        accepted = await next_frame(ws, "account.orderUpdate")
        assert accepted["stream"] == f"account.orderUpdate.{BTC}"
        conforms(accepted, _ws("order_accepted"), extra=frozenset({"c", "p", "y"}))
        data = accepted["data"]
        assert (data["e"], data["X"], data["c"], data["i"], data["o"], data["y"]) == (
            "orderAccepted",
            "New",
            11,
            resting["id"],
            "LIMIT",
            True,
        )
        assert Decimal(data["Q"]) == Decimal(data["p"]) * Decimal("0.01")

        filled = await ctx.ok(
            "POST",
            "/api/v1/order",
            body={
                "symbol": BTC,
                "side": "Bid",
                "orderType": "Limit",
                "price": f"{ask + 1}",
                "quantity": "0.010",
                "timeInForce": "IOC",
                "clientId": 12,
            },
        )
        first = await next_frame(ws, "account.orderUpdate")
        assert (first["data"]["e"], first["data"]["c"]) == ("orderAccepted", 12)
        # Every level holds at least 0.5 BTC: one fill, then its position update.
        fills_ws = [await next_frame(ws, "account.")]
        position_msg = await next_frame(ws, "account.")
        assert fills_ws[0]["stream"] == f"account.orderUpdate.{BTC}" and fills_ws[0]["data"]["e"] == "orderFill"
        conforms(fills_ws[0], {"stream": "", "data": _ws("order_fill")["data"]}, extra=frozenset({"c", "p"}))
        fill_event, update_event = parse_order_events(fills_ws[-1]["data"])
        assert isinstance(fill_event, Fill) and isinstance(update_event, OrderUpdate)
        assert fill_event.client_order_id == "12" and update_event.status is OrderStatus.FILLED
        assert fills_ws[-1]["data"]["z"] == "0.01" and fills_ws[-1]["data"]["i"] == filled["id"]
        rest_fills = await ctx.ok("GET", "/wapi/v1/history/fills", query={"orderId": filled["id"]})
        assert {int(f["tradeId"]) for f in rest_fills} == {m["data"]["t"] for m in fills_ws}
        ws_fills = [e for m in fills_ws for e in parse_order_events(m["data"]) if isinstance(e, Fill)]
        assert {f.trade_id for f in parse_fill_history(rest_fills)} == {f.trade_id for f in ws_fills}

        conforms(position_msg, _ws("position_opened"))
        assert position_msg["stream"] == "account.positionUpdate" and position_msg["data"]["e"] == "positionOpened"
        update = parse_position_update(position_msg["data"])
        assert update.position.size == Decimal("0.01")

        # An ETH order is not on the BTC order stream, but its position is on the all-markets one.
        await ctx.ok(
            "POST", "/api/v1/order", body={"symbol": ETH, "side": "Ask", "orderType": "Market", "quantity": "0.02"}
        )
        eth_pos = await next_frame(ws, "account.")
        assert eth_pos["stream"] == "account.positionUpdate" and eth_pos["data"]["s"] == ETH
        assert eth_pos["data"]["q"] == "-0.02"
        await ctx.ok("DELETE", "/api/v1/order", body={"symbol": BTC, "orderId": resting["id"]})
        cancelled = await next_frame(ws, "account.orderUpdate")
        assert (cancelled["data"]["e"], cancelled["data"]["X"], cancelled["data"]["c"]) == (
            "orderCancelled",
            "Cancelled",
            11,
        )

        # A new subscriber gets the open positions first, without an event type.
        async with open_ws(ctx.info.ws) as late:
            await late.send_message(
                private_subscribe_message(
                    ["account.positionUpdate"], ctx.signer, timestamp_ms=time.time_ns() // 1_000_000
                )
            )
            snapshot = [await next_frame(late, "account.positionUpdate") for _ in range(2)]
            assert all("e" not in m["data"] for m in snapshot)
            sizes = {u.position.symbol: u.position.size for m in snapshot for u in parse_position_updates(m["data"])}
            assert sizes == {BTC: Decimal("0.01"), ETH: Decimal("-0.02")}


async def test_server_sends_pings(tmp_path: Path) -> None:
    async with running(tmp_path, ping_interval_s=0.1) as ctx:
        host, port = ctx.info.ws.removeprefix("ws://").rstrip("/").rsplit(":", 1)
        stream = await trio.open_tcp_stream(host, int(port))
        conn = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
        await stream.send_all(conn.send(wsproto.events.Request(host=f"{host}:{port}", target="/")))
        pings: list[float] = []
        accepted = False
        with trio.fail_after(5):
            while len(pings) < 3:
                data = await stream.receive_some(65536)
                assert data, "server closed the connection"
                conn.receive_data(data)
                for event in conn.events():
                    if isinstance(event, wsproto.events.AcceptConnection):
                        accepted = True
                    elif isinstance(event, wsproto.events.Ping):
                        pings.append(trio.current_time())
                        await stream.send_all(conn.send(event.response()))
        assert accepted
        gaps = [b - a for a, b in zip(pings, pings[1:], strict=False)]
        assert all(0.07 < g < 1.0 for g in gaps), gaps
        await stream.aclose()


async def test_rate_limit_answers_429(tmp_path: Path) -> None:
    async with running(tmp_path, rate_limit_per_s=5.0) as ctx:
        statuses = []
        bodies = []
        started = trio.current_time()
        for _ in range(20):
            resp = await ctx.call("GET", "/api/v1/markets", signed=False)
            statuses.append(resp.status_code)
            if resp.status_code == 429:
                bodies.append(resp.json())
        elapsed_s = trio.current_time() - started
        assert 5 <= statuses.count(200) <= 5 + int(elapsed_s * 5) + 1 < 20  # burst 5, then 5 per second
        assert statuses.count(429) == 20 - statuses.count(200)
        assert statuses[:5] == [200] * 5
        assert bodies[0] == {"code": "TOO_MANY_REQUESTS", "message": "Too many requests"}
        assert isinstance(error_from_response(429, bodies[0]), RateLimited)
        await trio.sleep(0.5)
        assert (await ctx.call("GET", "/api/v1/markets", signed=False)).status_code == 200


async def test_killed_feed_closes_depth_subscribers_and_rest_recovers(tmp_path: Path) -> None:
    async with running(tmp_path) as ctx:
        before = parse_depth_snapshot(await ctx.ok("GET", "/api/v1/depth", query={"symbol": BTC}, signed=False))
        async with open_ws(ctx.info.ws) as ws:
            await ws.send_message(subscribe_message([f"depth.{BTC}"]))
            await next_frame(ws, "depth.")
            ctx.exchange.kill_feed("backpack")
            with pytest.raises(ConnectionClosed) as closed, trio.fail_after(5):
                while True:
                    await ws.get_message()
            reason = closed.value.reason
            assert reason is not None and reason.code == 1011
        await ctx.error("GET", "/api/v1/depth", 503, "MAINTENANCE", query={"symbol": BTC}, signed=False)
        ctx.exchange.restore_feed("backpack")
        after = parse_depth_snapshot(await ctx.ok("GET", "/api/v1/depth", query={"symbol": BTC}, signed=False))
        assert after.last_update_id > before.last_update_id


async def test_keys_and_startup_checks(tmp_path: Path) -> None:
    secret = _other_secret()
    async with open_sim_exchange(SimSettings(speed=1.0), _markets(tmp_path)) as exchange:
        with pytest.raises(BadValue):
            await serve_backpack(exchange, "backpack", host="0.0.0.0")
        with pytest.raises(BadValue):
            await serve_backpack(exchange, "nowhere")
        with pytest.raises(BadValue):
            await serve_backpack(
                exchange, "backpack", api_secret=secret, api_key=BackpackSigner(base64_seed(1)).api_key
            )
        async with trio.open_nursery() as nursery:
            info = await nursery.start(partial(serve_backpack, exchange, "backpack", api_secret=secret))
            assert info.api_key == BackpackSigner(secret).api_key and info.api_secret == secret
            assert secret not in repr(info) and info.api_key not in repr(info)
            assert info.to_json() == {"rest": info.rest, "ws": info.ws, "api_key": info.api_key, "api_secret": secret}
            assert info.rest.startswith("http://127.0.0.1:") and info.ws == info.rest.replace("http", "ws") + "/"
            with pytest.raises(RuntimeError):  # one server per venue: the account stream is taken
                await serve_backpack(exchange, "backpack")
            nursery.cancel_scope.cancel()


def base64_seed(n: int) -> str:
    return base64.b64encode(bytes([n]) * 32).decode()
