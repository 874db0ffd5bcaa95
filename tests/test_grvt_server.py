"""The GRVT wire-protocol simulator over real loopback HTTP (httpx) and WebSocket (trio-websocket).

The exchange replays a tiny synthetic recording (tests/synth.py) in real time: the best bid 60000.0 and
best ask 60000.1 (1.0 each) never move, deeper levels change every 10 ms for 1.5 s, then the book is quiet.
Expected wire shapes come from captured GRVT traffic copied into tests/fixtures/grvt/ (see SOURCES.md).
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from trio_websocket import ConnectionRejected, WebSocketConnection

from tests.synth import Recording
from trio_hedge.domain import Instrument, OrderBook, OrderRequest, OrderType, Side, TimeInForce
from trio_hedge.protocols.grvt import (
    GrvtFeedMessage,
    GrvtSigner,
    SigningInstrument,
    apply_raw_book_update,
    build_order_payload,
    expiration_ns_after,
    new_nonce,
    parse_book_feed_raw,
    parse_set_cookie,
    parse_subscribe_result,
    parse_ws_message,
    wire_order_digest,
)
from trio_hedge.sim import ContractSpec, SimExchange, SimMarket, SimSettings, open_sim_exchange
from trio_hedge.sim._grvt_server import GrvtSimInfo, make_test_credentials, serve_grvt
from trio_hedge.venues._ws import open_ws

FIXTURES = Path(__file__).parent / "fixtures" / "grvt"
SYMBOL = "BTC_USDT_Perp"
INSTRUMENT = Instrument(
    venue="grvt",
    symbol=SYMBOL,
    base="BTC",
    quote="USDT",
    tick_size=Decimal("0.1"),
    lot_size=Decimal("0.001"),
    min_size=Decimal("0.001"),
    min_notional=Decimal("5"),
)
SIGNING = {SYMBOL: SigningInstrument(SYMBOL, "0x030501", 9)}
MOVING_S = 1.5


pytestmark = pytest.mark.timeout(120)  # waits on sockets or subprocesses: a hang fails the test, not the run


def _recording(path: Path) -> Path:
    r = Recording()
    bids = [(f"{Decimal('60000.0') - Decimal(i) / 10}", "1.0") for i in range(20)]
    asks = [(f"{Decimal('60000.1') + Decimal(i) / 10}", "1.0") for i in range(20)]
    r.snapshot(0, bids, asks)
    for k in range(1, int(MOVING_S / 0.01)):
        level = Decimal(1 + k % 5) / 10
        deep = "0" if k % 4 == 0 else f"{1 + k % 3}.5"  # 59998.0 comes and goes
        r.delta(
            k * 0.01,
            bids=[(f"{Decimal('60000.0') - level}", f"{1 + k % 7}.{k % 10}"), ("59998.0", deep)],
            asks=[(f"{Decimal('60000.1') + level}", f"{1 + k % 3}.{k % 9}")],
        )
    r.delta(600, bids=[("59000.0", "2.0")])  # keeps the replay running
    return r.write(path)


@dataclass
class Sim:
    exchange: SimExchange
    info: GrvtSimInfo


@asynccontextmanager
async def running_sim(tmp_path: Path, **server_kw: Any) -> AsyncIterator[Sim]:
    market = SimMarket(
        "grvt", INSTRUMENT, _recording(tmp_path / "grvt.gz"), ContractSpec(lot_size=Decimal("0.001")),
        Decimal("-0.1"), Decimal("4.5"),
    )  # fmt: skip
    async with open_sim_exchange(SimSettings(speed=1.0, latency_s=0.001), [market]) as exchange:
        async with trio.open_nursery() as nursery:
            info = await nursery.start(
                lambda task_status: serve_grvt(exchange, "grvt", task_status=task_status, **server_kw)
            )
            yield Sim(exchange, info)
            nursery.cancel_scope.cancel()


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[Sim]:
    async with running_sim(tmp_path) as s:
        yield s


class Api:
    """A minimal GRVT REST client: login, POST with the session, signed order bodies."""

    def __init__(self, info: GrvtSimInfo, http: httpx.AsyncClient) -> None:
        self.info = info
        self.http = http
        self.account = ""
        self.signer = GrvtSigner(info.private_key)

    async def login(self) -> httpx.Response:
        r = await self.http.post("/auth/api_key/login", json={"api_key": self.info.api_key})
        assert r.status_code == 200, r.text
        self.account = r.headers["X-Grvt-Account-Id"]
        self.http.headers["X-Grvt-Account-Id"] = self.account
        return r

    @property
    def cookie(self) -> str:
        return self.http.cookies["gravity"]

    async def post(self, route: str, body: Any) -> httpx.Response:
        return await self.http.post(f"/full/v1/{route}", json=body)

    async def call(self, route: str, body: dict[str, Any]) -> Any:
        r = await self.post(route, {"sub_account_id": self.info.sub_account_id, **body})
        assert r.status_code == 200, r.text
        return r.json()["result"]

    def order(
        self,
        coid: str,
        *,
        buy: bool = True,
        size: str = "0.002",
        price: str | None = "59990.0",
        tif: str = "GOOD_TILL_TIME",
        post_only: bool = False,
        reduce_only: bool = False,
        signer: GrvtSigner | None = None,
        expiration_ns: int | None = None,
        chain_id: int | None = None,
        edit: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """A create_order body signed over its final content (``edit`` runs before signing)."""
        order: dict[str, Any] = {
            "sub_account_id": self.info.sub_account_id,
            "is_market": price is None,
            "time_in_force": tif,
            "post_only": post_only,
            "reduce_only": reduce_only,
            "legs": [{"instrument": SYMBOL, "size": size, "limit_price": price, "is_buying_asset": buy}],
            "signature": {
                "expiration": str(expiration_ns or expiration_ns_after(60)),
                "nonce": new_nonce(),
            },
            "metadata": {"client_order_id": coid},
        }
        if edit is not None:
            edit(order)
        signer = signer or self.signer
        digest = wire_order_digest({"order": order}, SIGNING, chain_id or self.info.chain_id)
        r, s, v = signer.sign_digest(digest)
        order["signature"].update({"r": r, "s": s, "v": v, "signer": signer.address})
        return {"order": order}


@asynccontextmanager
async def api_for(sim: Sim) -> AsyncIterator[Api]:
    async with httpx.AsyncClient(base_url=sim.info.rest, timeout=5) as http:
        api = Api(sim.info, http)
        await api.login()
        yield api


class Frames:
    """A WebSocket connection with a backlog: frames read while waiting for another one are kept."""

    def __init__(self, ws: WebSocketConnection) -> None:
        self.ws = ws
        self.backlog: list[dict[str, Any]] = []

    async def send(self, obj: Any) -> None:
        await self.ws.send_message(json.dumps(obj))

    async def next(self, pred: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """The first frame (backlog first) matching ``pred``, within 5 s."""
        for i, msg in enumerate(self.backlog):
            if pred(msg):
                return self.backlog.pop(i)
        with trio.fail_after(5):
            while True:
                msg = json.loads(await self.ws.get_message())
                if pred(msg):
                    return msg
                self.backlog.append(msg)

    def taken(self, stream: str) -> list[dict[str, Any]]:
        """Remove and return the backlog's frames of ``stream``."""
        out = [m for m in self.backlog if m.get("stream") == stream]
        self.backlog = [m for m in self.backlog if m.get("stream") != stream]
        return out


@asynccontextmanager
async def ws_for(sim: Sim, api: Api | None = None, *, path: str = "/ws/full") -> AsyncIterator[Frames]:
    headers: list[tuple[str, str]] = []
    if api is not None:
        headers = [("Cookie", f"gravity={api.cookie}"), ("X-Grvt-Account-Id", api.account)]
    url = sim.info.ws.removesuffix("/ws/full") + path
    async with open_ws(url, headers=headers, connect_timeout_s=5, disconnect_timeout_s=2) as ws:
        yield Frames(ws)


async def rpc(ws: Frames, method: str, params: dict[str, Any], rid: int) -> dict[str, Any]:
    await ws.send({"jsonrpc": "2.0", "method": method, "params": params, "id": rid})
    return await ws.next(lambda m: m.get("id") == rid)


async def subscribe(ws: Frames, stream: str, selector: str, rid: int) -> dict[str, Any]:
    msg = await rpc(ws, "subscribe", {"stream": stream, "selectors": [selector]}, rid)
    assert "error" not in msg, msg
    return msg


def order_frame(coid: str, status: str) -> Callable[[dict[str, Any]], bool]:
    def pred(m: dict[str, Any]) -> bool:
        f = m.get("feed", {})
        return (
            m.get("stream") == "v1.order"
            and f.get("metadata", {}).get("client_order_id") == coid
            and f["state"]["status"] == status
        )

    return pred


def same_shape(mine: Any, ref: Any, path: str = "$", extra_ok: frozenset[str] = frozenset()) -> None:
    """``mine`` has every key of ``ref`` (recursively) with the same JSON type, and no other keys."""
    if isinstance(ref, dict):
        assert isinstance(mine, dict), (path, mine)
        assert not set(ref) - set(mine), (path, "missing", set(ref) - set(mine))
        assert not set(mine) - set(ref) - extra_ok, (path, "extra", set(mine) - set(ref) - extra_ok)
        for k in ref:
            same_shape(mine[k], ref[k], f"{path}.{k}", extra_ok)
    elif isinstance(ref, list):
        assert isinstance(mine, list), (path, mine)
        if ref:
            assert mine, (path, "empty list where the capture has elements")
            for i, item in enumerate(mine):
                same_shape(item, ref[0], f"{path}[{i}]", extra_ok)
    else:
        assert type(mine) is type(ref), (path, mine, ref)


def captured(name: str, file: str = "rest_responses.json") -> Any:
    return json.loads((FIXTURES / file).read_text())[name]


def assert_error(r: httpx.Response, code: int, status: int) -> None:
    assert r.status_code == status, (r.status_code, r.text)
    body = r.json()
    assert set(body) == {"code", "message", "status"}, body
    assert body["code"] == code and body["status"] == status, body
    assert isinstance(body["message"], str) and body["message"] and "Traceback" not in body["message"]


# ---------------------------------------------------------------------------------------------- auth
async def test_login_cookie_is_parseable_by_pysdk_and_gates_private_routes(sim: Sim) -> None:
    async with httpx.AsyncClient(base_url=sim.info.rest, timeout=5) as http:
        bad = await http.post("/auth/api_key/login", json={"api_key": sim.info.api_key + "x"})
        assert_error(bad, 1000, 401)
        assert "set-cookie" not in bad.headers
        api = Api(sim.info, http)
        r = await api.login()
        header = r.headers["set-cookie"]
        assert sim.info.api_key not in repr(sim.info) and sim.info.private_key not in repr(sim.info)
        assert json.loads(json.dumps(sim.info.to_json()))["private_key"] == sim.info.private_key
        # exactly what grvt-pysdk get_cookie_with_expiration does with it
        jar: SimpleCookie = SimpleCookie()
        jar.load(header)
        expiry = datetime.strptime(jar["gravity"]["expires"], "%a, %d %b %Y %H:%M:%S %Z")
        assert jar["gravity"].value == api.cookie
        cookie = parse_set_cookie(header)
        assert abs(cookie.expires_s - (time.time() + 86_400)) < 120
        assert expiry.replace(tzinfo=UTC).timestamp() == cookie.expires_s
        assert "secure" not in header.lower()  # plain-HTTP loopback: a Secure cookie would never be sent back
        assert r.headers["X-Grvt-Account-Id"].startswith("0x") and len(r.headers["X-Grvt-Account-Id"]) == 42
        same_shape(r.json(), captured("login", "server_conformance.json")["body"],
                   extra_ok=frozenset({"funding_account_address", "sub_account_id"}))  # fmt: skip
        assert r.json()["sub_account_id"] == sim.info.sub_account_id

        body = {"sub_account_id": sim.info.sub_account_id}
        assert (await api.post("open_orders", body)).status_code == 200
        del http.headers["X-Grvt-Account-Id"]
        assert_error(await api.post("open_orders", body), 1000, 401)  # cookie without the account header
    async with httpx.AsyncClient(base_url=sim.info.rest, timeout=5) as anon:
        assert_error(await anon.post("/full/v1/open_orders", json=body), 1000, 401)
        forged = {"Cookie": "gravity=forged-token", "X-Grvt-Account-Id": api.account}
        assert_error(await anon.post("/full/v1/positions", json=body, headers=forged), 1000, 401)
        assert (await anon.post("/full/v1/instrument", json={"instrument": SYMBOL})).status_code == 200  # public

    # WebSocket: a forged cookie is refused at the upgrade; no cookie serves public streams only
    with pytest.raises(ConnectionRejected) as rejected:
        async with open_ws(sim.info.ws, headers=[("Cookie", "gravity=forged")], connect_timeout_s=5):
            pass
    assert rejected.value.status_code == 401
    async with ws_for(sim) as ws:
        denied = await rpc(ws, "subscribe", {"stream": "v1.order", "selectors": [sim.info.sub_account_id]}, 1)
        assert denied["error"]["code"] == 1000 and denied["method"] == "subscribe" and denied["id"] == 1
        denied = await rpc(ws, "v1/open_orders", {"sub_account_id": sim.info.sub_account_id}, 2)
        assert denied["error"]["code"] == 1000
        ok = await subscribe(ws, "v1.book.d", f"{SYMBOL}@500", 3)
        assert ok["result"]["subs"] == [f"{SYMBOL}@500"]


async def test_ccxt_style_wallet_login(sim: Sim) -> None:
    """``/auth/wallet/login``: an EIP-712 WalletLogin signature by the account key opens a session."""
    from trio_hedge.protocols.grvt import keccak256

    signer = GrvtSigner(sim.info.private_key)

    def signed(key: GrvtSigner, expiration_ns: int) -> dict[str, Any]:
        domain = keccak256(
            keccak256(b"EIP712Domain(string name,string version,uint256 chainId)")
            + keccak256(b"GRVT Exchange") + keccak256(b"0") + sim.info.chain_id.to_bytes(32, "big")
        )  # fmt: skip
        nonce = 12345
        struct = keccak256(
            keccak256(b"WalletLogin(address signer,uint32 nonce,int64 expiration)")
            + bytes(12) + bytes.fromhex(key.address[2:]) + nonce.to_bytes(32, "big") + expiration_ns.to_bytes(32, "big")
        )  # fmt: skip
        r, s, v = key.sign_digest(keccak256(b"\x19\x01" + domain + struct))
        sig = {"signer": key.address, "r": r, "s": s, "v": v, "expiration": str(expiration_ns), "nonce": nonce}
        return {"address": key.address, "signature": sig}

    async with httpx.AsyncClient(base_url=sim.info.rest, timeout=5) as http:
        ok = await http.post("/auth/wallet/login", json=signed(signer, expiration_ns_after(30)))
        assert ok.status_code == 200, ok.text
        assert ok.headers["set-cookie"].startswith("gravity=")
        other = GrvtSigner(make_test_credentials(7)[1])
        assert_error(await http.post("/auth/wallet/login", json=signed(other, expiration_ns_after(30))), 1000, 401)
        expired = signed(signer, time.time_ns() - 1_000_000_000)
        assert_error(await http.post("/auth/wallet/login", json=expired), 2001, 403)


# ---------------------------------------------------------------------------------------------- conformance
async def test_rest_and_stream_shapes_match_captured_grvt_traffic(sim: Sim) -> None:
    sub = sim.info.sub_account_id
    async with api_for(sim) as api, ws_for(sim, api) as ws:
        r = await api.post("instruments", {"kind": ["PERPETUAL"], "is_active": True, "limit": 1000})
        same_shape(r.json(), captured("instruments")["body"])
        assert r.json()["result"][0]["instrument_hash"] == "0x030501"
        instrument = (await api.post("instrument", {"instrument": SYMBOL})).json()
        same_shape(instrument, {"result": captured("instrument_btc")["body"]})
        assert SigningInstrument.from_wire(instrument["result"]) == SIGNING[SYMBOL]
        same_shape((await api.post("book", {"instrument": SYMBOL, "depth": 10})).json(), captured("book")["body"])
        same_shape((await api.post("ticker", {"instrument": SYMBOL})).json(),
                   captured("ticker", "server_conformance.json")["body"])  # fmt: skip
        same_shape(await api.call("open_orders", {}), captured("open_orders_empty")["body"]["result"])
        same_shape(await api.call("positions", {}), captured("positions_empty")["body"]["result"])

        results = {}
        for i, stream in enumerate(("v1.order", "v1.fill", "v1.position", "v1.state")):
            results[stream] = (await subscribe(ws, stream, sub, 10 + i))["result"]
        same_shape({"jsonrpc": "2.0", "result": results["v1.order"], "id": 1, "method": "subscribe"},
                   captured("subscribe_result_mini_d", "ws_frames.json")["frame"])  # fmt: skip
        ack = await api.post(
            "create_order", api.order("1001", size="0.001", price="60000.1", tif="IMMEDIATE_OR_CANCEL")
        )
        same_shape(ack.json(), captured("create_order_ack")["body"])
        by_stream: dict[str, dict[str, Any]] = {}
        with trio.fail_after(5):
            while len(by_stream) < 4:
                frame = await ws.next(lambda m: "stream" in m and m["stream"] not in by_stream)
                by_stream[frame["stream"]] = frame
        ws_captures = json.loads((FIXTURES / "ws_frames.json").read_text())
        same_shape(by_stream["v1.fill"], ws_captures["fill"]["frame"])
        same_shape(by_stream["v1.position"], ws_captures["position"]["frame"])
        same_shape(by_stream["v1.order"], ws_captures["order"]["frame"])
        assert by_stream["v1.order"]["feed"]["state"]["status"] == "FILLED"
        assert by_stream["v1.state"]["feed"]["order_id"] == by_stream["v1.order"]["feed"]["order_id"]

        same_shape(
            await api.call("order", {"client_order_id": "1001"}),
            captured("order_filled")["body"]["result"],
            extra_ok=frozenset({"builder", "builder_fee"}),
        )  # newer captures (ack, v1.order) have them
        same_shape(
            await api.call("positions", {}),
            captured("positions")["body"]["result"],
            extra_ok=frozenset({"margin_type"}),
        )
        fills = (await api.post("fill_history", {"sub_account_id": sub, "limit": 2})).json()
        same_shape(fills, captured("fill_history")["body"] | {"next": ""})
        summary = (await api.post("account_summary", {"sub_account_id": sub})).json()
        same_shape(summary, captured("account_summary", "server_conformance.json")["body"])
        assert [p["size"] for p in summary["result"]["positions"]] == ["0.001"]
        agg = (await api.post("aggregated_account_summary", {})).json()
        assert agg["result"]["main_account_id"] == api.account
        same_shape(
            (await api.post("cancel_all_orders", {"sub_account_id": sub})).json(), captured("cancel_all_ack")["body"]
        )


# ---------------------------------------------------------------------------------------------- orders
async def test_create_query_cancel_and_cancel_all(sim: Sim) -> None:
    sub = sim.info.sub_account_id
    async with api_for(sim) as api, ws_for(sim, api) as ws:
        await subscribe(ws, "v1.order", sub, 1)
        await subscribe(ws, "v1.state", f"{sub}-{SYMBOL}", 2)
        request = OrderRequest(
            "9223372036854775808",
            SYMBOL,
            Side.BUY,
            Decimal("0.002"),
            OrderType.LIMIT,
            Decimal("59990.0"),
            TimeInForce.GTT,
        )
        body = build_order_payload(
            request,
            SIGNING[SYMBOL],
            sub_account_id=sub,
            nonce=new_nonce(),
            expiration_ns=expiration_ns_after(60),
            chain_id=sim.info.chain_id,
            signer=api.signer,
        )
        ack = (await api.post("create_order", body)).json()["result"]
        assert ack["order_id"] == "0x00" and ack["state"]["status"] == "PENDING"
        assert ack["legs"] == [
            {"instrument": SYMBOL, "size": "0.002", "limit_price": "59990.0", "is_buying_asset": True}
        ]
        opened = (await ws.next(order_frame(request.client_order_id, "OPEN")))["feed"]
        oid = opened["order_id"]
        assert oid.startswith("0x") and len(oid) == 34 and oid != "0x00"
        state = await ws.next(lambda m: m.get("stream") == "v1.state")
        assert state["selector"] == f"{sub}-{SYMBOL}"
        assert state["feed"]["order_id"] == oid and state["feed"]["order_state"]["status"] == "OPEN"
        engine_order = sim.exchange.engine("grvt", SYMBOL).get_order(request.client_order_id)
        assert engine_order is not None and engine_order.request.price == Decimal("59990.0")

        by_coid = await api.call("order", {"client_order_id": request.client_order_id})
        by_oid = await api.call("order", {"order_id": oid})
        assert by_coid == by_oid and by_coid["order_id"] == oid and by_coid["state"]["status"] == "OPEN"
        assert [o["order_id"] for o in await api.call("open_orders", {"kind": ["PERPETUAL"]})] == [oid]
        dup = await api.post("create_order", api.order(request.client_order_id))
        assert_error(dup, 2012, 400)
        assert_error(await api.post("order", {"sub_account_id": sub, "client_order_id": "42"}), 1004, 404)
        assert_error(await api.post("cancel_order", {"sub_account_id": sub}), 3021, 400)

        assert await api.call("cancel_order", {"order_id": oid}) == {"ack": True}
        cancelled = (await ws.next(order_frame(request.client_order_id, "CANCELLED")))["feed"]
        assert cancelled["order_id"] == oid and cancelled["state"]["reject_reason"] == "CLIENT_CANCEL"
        assert (await api.call("order", {"order_id": oid}))["state"]["status"] == "CANCELLED"

        # JSON-RPC trading on the same socket: the result is the whole REST body (A4.6)
        rpc_ack = await rpc(ws, "v1/create_order", api.order("2001"), 50)
        assert rpc_ack["method"] == "v1/create_order" and rpc_ack["result"]["result"]["order_id"] == "0x00"
        await api.post("create_order", api.order("2002", buy=False, price="60010.0"))
        await ws.next(order_frame("2002", "OPEN"))
        assert len(await api.call("open_orders", {})) == 2
        rpc_cancel = await rpc(ws, "v1/cancel_order", {"sub_account_id": sub, "client_order_id": "2001"}, 51)
        assert rpc_cancel["result"] == {"result": {"ack": True}}
        assert (await ws.next(order_frame("2001", "CANCELLED")))["feed"]["state"]["reject_reason"] == "CLIENT_CANCEL"
        assert await api.call("cancel_all_orders", {"base": ["BTC"]}) == {"ack": True}
        bulk = (await ws.next(order_frame("2002", "CANCELLED")))["feed"]
        assert bulk["state"]["reject_reason"] == "CLIENT_BULK_CANCEL"
        assert await api.call("open_orders", {}) == []
        assert sim.exchange.engine("grvt", SYMBOL).open_orders() == []


async def test_order_signature_and_field_rules_answer_venue_codes(sim: Sim) -> None:
    other = GrvtSigner(make_test_credentials(3)[1])
    cases: list[tuple[str, Callable[[Api], dict[str, Any]], int, int]] = [
        ("tampered size", lambda a: _tamper(a.order("11"), size="0.003"), 2002, 403),
        ("signed by another key", lambda a: a.order("12", signer=other), 2000, 403),
        ("other chain id", lambda a: a.order("13", chain_id=326), 2002, 403),
        ("expired", lambda a: a.order("14", expiration_ns=time.time_ns() - 10**9), 2001, 403),
        ("over 30 days", lambda a: a.order("15", expiration_ns=time.time_ns() + 31 * 86400 * 10**9), 2008, 403),
        ("bad v", lambda a: _tamper(a.order("16"), v=29), 2005, 403),
        ("wire chain id", lambda a: _tamper(a.order("17"), chain_id="326"), 1012, 400),
        ("price off tick", lambda a: a.order("20", price="59990.05"), 2064, 400),
        ("size off lot", lambda a: a.order("21", size="0.0015"), 2065, 400),
        ("below min size", lambda a: a.order("22", size="0.0005"), 2062, 400),
        ("below min notional", lambda a: a.order("23", size="0.001", price="1000.0"), 2066, 400),
        ("post-only IOC", lambda a: a.order("24", tif="IMMEDIATE_OR_CANCEL", post_only=True), 2032, 400),
        ("market with price", lambda a: a.order("25", edit=lambda o: o.update(is_market=True)), 2020, 400),
        ("limit without price", lambda a: a.order("26", price="0"), 2021, 400),
        ("two legs", lambda a: a.order("27", edit=lambda o: o["legs"].append(dict(o["legs"][0]))), 2042, 400),
        ("all-or-none", lambda a: a.order("28", tif="ALL_OR_NONE"), 2030, 400),
        ("reduce-only flat", lambda a: a.order("29", reduce_only=True), 2400, 400),
        ("other sub-account", lambda a: a.order("30", edit=lambda o: o.update(sub_account_id="1")), 2003, 403),
        ("no client order id", lambda a: a.order("31", edit=lambda o: o.update(metadata={})), 2011, 400),
        ("unknown instrument", lambda a: _tamper(a.order("32"), instrument="ETH_USDT_Perp"), 2061, 400),
        ("NaN size", lambda a: _tamper(a.order("33"), size="NaN"), 1003, 400),
    ]
    async with api_for(sim) as api:
        for name, make, code, status in cases:
            r = await api.post("create_order", make(api))
            assert r.status_code == status and r.json()["code"] == code, (name, r.text)
            assert_error(r, code, status)
        assert sim.exchange.engine("grvt", SYMBOL).statistics().orders_submitted == 0  # nothing reached the book
        ok = await api.post("create_order", api.order("40"))
        assert ok.status_code == 200, ok.text


def _tamper(body: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """Change a signed body after signing (leg fields, or signature fields v / chain_id)."""
    order = body["order"]
    for k, v in changes.items():
        if k in ("v", "chain_id"):
            order["signature"][k] = v
        else:
            order["legs"][0][k] = v
    return body


async def test_post_only_cross_is_rejected_on_the_stream_not_by_an_error(sim: Sim) -> None:
    sub = sim.info.sub_account_id
    async with api_for(sim) as api, ws_for(sim, api) as ws:
        await subscribe(ws, "v1.order", sub, 1)
        await subscribe(ws, "v1.state", sub, 2)
        r = await api.post("create_order", api.order("501", price="60000.1", post_only=True))
        assert r.status_code == 200 and r.json()["result"]["state"]["status"] == "PENDING"
        rejected = (await ws.next(order_frame("501", "REJECTED")))["feed"]
        assert rejected["state"]["reject_reason"] == "FAIL_POST_ONLY" and rejected["post_only"] is True
        state = (await ws.next(lambda m: m.get("stream") == "v1.state"))["feed"]
        assert state["order_state"]["status"] == "REJECTED" and state["order_id"] == rejected["order_id"]
        assert state["order_state"]["reject_reason"] == "FAIL_POST_ONLY"
        queried = await api.call("order", {"client_order_id": "501"})
        assert queried["state"]["status"] == "REJECTED" and queried["state"]["reject_reason"] == "FAIL_POST_ONLY"
        assert sim.exchange.engine("grvt", SYMBOL).fills == []
        # a post-only that does not cross rests
        await api.post("create_order", api.order("502", price="60000.0", post_only=True))
        await ws.next(order_frame("502", "OPEN"))


async def test_ioc_fills_top_level_and_cancels_the_rest_then_reduce_only_rules(sim: Sim) -> None:
    sub = sim.info.sub_account_id
    async with api_for(sim) as api, ws_for(sim, api) as ws:
        for i, stream in enumerate(("v1.order", "v1.fill", "v1.position")):
            await subscribe(ws, stream, f"{sub}-{SYMBOL}", i + 1)
        await api.post("create_order", api.order("601", size="1.5", price="60000.1", tif="IMMEDIATE_OR_CANCEL"))
        final = (await ws.next(order_frame("601", "CANCELLED")))["feed"]
        assert final["state"]["reject_reason"] == "IOC_CANCEL"
        assert final["state"]["traded_size"] == ["1.0"] and final["state"]["book_size"] == ["0.0"]
        assert final["state"]["avg_fill_price"] == ["60000.1"]
        fills = [m["feed"] for m in ws.taken("v1.fill")]
        assert [(f["size"], f["price"], f["is_taker"], f["order_id"]) for f in fills] == [
            ("1.0", "60000.1", True, final["order_id"])
        ]
        assert Decimal(fills[0]["fee"]) == Decimal("60000.1") * Decimal("4.5") / 10_000
        position = await ws.next(lambda m: m.get("stream") == "v1.position")
        assert position["feed"]["size"] == "1.0" and position["selector"] == f"{sub}-{SYMBOL}"
        history = await api.call("fill_history", {"kind": ["PERPETUAL"]})
        assert [(f["trade_id"], f["order_id"]) for f in history] == [(fills[0]["trade_id"], final["order_id"])]
        assert [p["size"] for p in await api.call("positions", {})] == ["1.0"]

        assert_error(await api.post("create_order", api.order("602", reduce_only=True)), 2401, 400)
        too_big = api.order("603", buy=False, size="2.0", price=None, reduce_only=True)
        assert_error(await api.post("create_order", too_big), 2402, 400)
        # a ccxt-style market order (limit_price null), reduce-only: fills at the best bid
        await api.post("create_order", api.order("604", buy=False, size="0.5", price=None, reduce_only=True))
        sold = (await ws.next(order_frame("604", "FILLED")))["feed"]
        assert sold["is_market"] is True and sold["state"]["avg_fill_price"] == ["60000.0"]
        assert sim.exchange.engine("grvt", SYMBOL).position().size == Decimal("0.5")


async def test_cancel_ttl_kills_a_late_order_and_expires_otherwise(sim: Sim) -> None:
    sub = sim.info.sub_account_id
    async with api_for(sim) as api, ws_for(sim, api) as ws:
        await subscribe(ws, "v1.order", sub, 1)
        await subscribe(ws, "v1.cancel", sub, 2)
        assert await api.call("cancel_order", {"client_order_id": "701", "time_to_live_ms": "2000"}) == {"ack": True}
        ack = await api.post("create_order", api.order("701"))
        assert ack.status_code == 200 and ack.json()["result"]["state"]["status"] == "PENDING"
        killed = (await ws.next(order_frame("701", "CANCELLED")))["feed"]
        assert killed["state"]["reject_reason"] == "CLIENT_CANCEL" and killed["order_id"] != "0x00"
        assert sim.exchange.engine("grvt", SYMBOL).get_order("701") is None  # never reached the book
        assert (await api.call("order", {"client_order_id": "701"}))["state"]["status"] == "CANCELLED"

        start = trio.current_time()
        await api.call("cancel_order", {"client_order_id": "702", "time_to_live_ms": "250"})
        await api.call("cancel_order", {"client_order_id": "702", "time_to_live_ms": "250"})
        dropped = await ws.next(lambda m: m.get("stream") == "v1.cancel")
        assert dropped["feed"]["cancel_status"] == "DROPPED_DUPLICATE"
        expired = await ws.next(lambda m: m.get("stream") == "v1.cancel")
        assert expired["feed"]["cancel_status"] == "EXPIRED" and expired["feed"]["client_order_id"] == "702"
        assert 0.2 <= trio.current_time() - start < 1.5
        ok = await api.post("create_order", api.order("702"))  # the trap is gone: the order rests
        assert ok.status_code == 200
        await ws.next(order_frame("702", "OPEN"))


async def test_cancel_on_disconnect_fires_unless_refreshed(sim: Sim) -> None:
    sub = sim.info.sub_account_id
    async with api_for(sim) as api, ws_for(sim, api) as ws:
        await subscribe(ws, "v1.order", sub, 1)
        assert_error(
            await api.post("cancel_on_disconnect", {"sub_account_id": sub, "countdown_time": 300_001}), 6000, 400
        )
        assert_error(await api.post("cancel_on_disconnect", {"sub_account_id": sub, "countdown_time": -5}), 1003, 400)
        await api.post("create_order", api.order("801"))
        await ws.next(order_frame("801", "OPEN"))
        start = trio.current_time()
        assert await api.call("cancel_on_disconnect", {"countdown_time": 1500}) == {"ack": True}  # -> 1 s
        await trio.sleep(0.6)
        await api.call("cancel_on_disconnect", {"countdown_time": "1500"})  # refreshed: due at ~1.6 s
        await trio.sleep(0.6)
        assert [o["metadata"]["client_order_id"] for o in await api.call("open_orders", {})] == ["801"]
        fired = (await ws.next(order_frame("801", "CANCELLED")))["feed"]
        assert fired["state"]["reject_reason"] == "CLIENT_CANCEL_ON_DISCONNECT_TRIGGERED"
        assert 1.5 <= trio.current_time() - start < 2.5
        assert await api.call("open_orders", {}) == []
        # 0..1000 ms disables the countdown
        await api.post("create_order", api.order("802"))
        await ws.next(order_frame("802", "OPEN"))
        await api.call("cancel_on_disconnect", {"countdown_time": 1500})
        await api.call("cancel_on_disconnect", {"countdown_time": 1000})
        await trio.sleep(1.2)
        assert [o["metadata"]["client_order_id"] for o in await api.call("open_orders", {})] == ["802"]


# ---------------------------------------------------------------------------------------------- market data
async def test_book_snapshot_then_deltas_rebuild_the_venue_book_without_gaps(sim: Sim) -> None:
    async def follow(ws: Frames, rid: int, book: OrderBook, stats: dict[str, int]) -> None:
        selector = f"{SYMBOL}@100"
        result = parse_subscribe_result((await subscribe(ws, "v1.book.d", selector, rid))["result"])
        assert ws.backlog == []  # the answer comes before any feed frame
        snap_seq = result.snapshot_seq(selector)
        assert snap_seq is not None and result.latest_sequence_numbers == (snap_seq,)
        last = snap_seq
        while True:
            with trio.move_on_after(0.4) as quiet:
                msg = parse_ws_message(await ws.ws.get_message())
            if quiet.cancelled_caught:
                if trio.current_time() - t0 > MOVING_S + 0.3:
                    return
                continue
            assert isinstance(msg, GrvtFeedMessage) and msg.selector == selector
            update = parse_book_feed_raw(msg)
            if update.is_snapshot:
                assert msg.sequence_number == 0 and stats["snapshots"] == 0
                stats["snapshots"] += 1
                apply_raw_book_update(book, update, snapshot_seq=snap_seq)
                continue
            assert msg.prev_sequence_number == last and msg.sequence_number == last + 1, (last, msg)
            assert apply_raw_book_update(book, update)
            last = msg.sequence_number
            stats["deltas"] += 1

    t0 = trio.current_time()
    early, late = OrderBook(SYMBOL), OrderBook(SYMBOL)
    s_early, s_late = {"snapshots": 0, "deltas": 0}, {"snapshots": 0, "deltas": 0}
    async with ws_for(sim) as ws1, ws_for(sim) as ws2, ws_for(sim) as ws3:
        with trio.fail_after(10):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(follow, ws1, 1, early, s_early)

                async def late_joiner() -> None:
                    await trio.sleep(0.5)
                    await follow(ws2, 2, late, s_late)

                nursery.start_soon(late_joiner)
                snap_msgs: list[GrvtFeedMessage] = []

                async def snapshots() -> None:
                    await subscribe(ws3, "v1.book.s", f"{SYMBOL}@500-10", 3)
                    with trio.move_on_after(MOVING_S + 1.2):
                        while True:
                            m = parse_ws_message(await ws3.ws.get_message())
                            assert isinstance(m, GrvtFeedMessage)
                            snap_msgs.append(m)

                nursery.start_soon(snapshots)
    truth_bids, truth_asks = sim.exchange.market_book("grvt", SYMBOL).snapshot()
    for book, stats in ((early, s_early), (late, s_late)):
        assert stats["snapshots"] == 1 and stats["deltas"] > 20, stats
        assert book.snapshot() == (truth_bids, truth_asks)
    assert s_early["deltas"] > s_late["deltas"]
    assert 2 <= len(snap_msgs) <= 8
    last_snap = OrderBook(SYMBOL)
    assert apply_raw_book_update(last_snap, parse_book_feed_raw(snap_msgs[-1]))
    assert all(m.sequence_number == 0 and m.selector == f"{SYMBOL}@500-10" for m in snap_msgs)
    assert last_snap.snapshot() == (truth_bids[:10], truth_asks[:10])


async def test_subscribe_errors_and_killed_feed(sim: Sim) -> None:
    async with ws_for(sim) as ws:
        cases = [("v1.book.d", f"{SYMBOL}@7", 3030), ("v1.book.s", f"{SYMBOL}@500-11", 3031),
                 ("v1.book.d", SYMBOL, 1101), ("v1.book.d", "DOGE_USDT_Perp@500", 3000)]  # fmt: skip
        for rid, (stream, selector, code) in enumerate(cases, 1):
            msg = await rpc(ws, "subscribe", {"stream": stream, "selectors": [selector]}, rid)
            assert msg["error"]["code"] == code and msg["id"] == rid and msg["method"] == "subscribe", msg
        await subscribe(ws, "v1.book.d", f"{SYMBOL}@500", 9)
        await ws.next(lambda m: m.get("stream") == "v1.book.d")
        with trio.fail_after(2):
            await ws.ws.ping()  # the server answers WebSocket pings
        sim.exchange.kill_feed("grvt")
        with trio.fail_after(5):
            with pytest.raises(Exception) as closed:  # noqa: PT011 - trio_websocket.ConnectionClosed
                while True:
                    await ws.ws.get_message()
        assert closed.value.reason.code == 1011  # type: ignore[attr-defined]
    async with ws_for(sim) as ws:
        msg = await rpc(ws, "subscribe", {"stream": "v1.book.d", "selectors": [f"{SYMBOL}@500"]}, 1)
        assert msg["error"]["code"] == 1002
        sim.exchange.restore_feed("grvt")
        await subscribe(ws, "v1.book.d", f"{SYMBOL}@500", 2)
        snap = await ws.next(lambda m: m.get("stream") == "v1.book.d")
        assert snap["sequence_number"] == "0"


async def test_legacy_ws_subscribe_format(sim: Sim) -> None:
    async with ws_for(sim, path="/ws") as ws:
        await ws.send(
            {
                "request_id": 7,
                "stream": "v1.book.s",
                "feed": [f"{SYMBOL}@500-10"],
                "method": "subscribe",
                "is_full": True,
            }
        )
        first = await ws.next(lambda m: True)
        assert first["request_id"] == 7 and first["subs"] == [f"{SYMBOL}@500-10"] and first["num_snapshots"] == [1]
        snap = await ws.next(lambda m: True)
        assert snap["stream"] == "v1.book.s" and len(snap["feed"]["bids"]) == 10
        await ws.send({"request_id": 8, "stream": "v1.order", "feed": ["1"], "method": "subscribe"})
        err = await ws.next(lambda m: "code" in m)
        assert err == {"code": 1000, "message": err["message"], "status": 401}


# ---------------------------------------------------------------------------------------------- limits, bad input
async def test_rate_limit_answers_1006(tmp_path: Path) -> None:
    async with running_sim(tmp_path, rate_limit_per_s=5) as s:
        async with httpx.AsyncClient(base_url=s.info.rest, timeout=5) as http:
            body = {"instrument": SYMBOL}
            statuses = [(await http.post("/full/v1/instrument", json=body)).status_code for _ in range(5)]
            assert statuses == [200] * 5
            limited = await http.post("/full/v1/instrument", json=body)
            assert_error(limited, 1006, 429)
            assert limited.headers["retry-after"] == "1"
            await trio.sleep(0.25)  # > 1 token at 5/s
            assert (await http.post("/full/v1/instrument", json=body)).status_code == 200


async def test_malformed_input_gets_the_venue_error_format(sim: Sim) -> None:
    sub = sim.info.sub_account_id
    async with api_for(sim) as api:
        raw = {"Content-Type": "application/json"}
        assert_error(await api.http.post("/full/v1/open_orders", content=b"{not json", headers=raw), 1003, 400)
        assert_error(
            await api.http.post("/full/v1/open_orders", content=b'{"sub_account_id": NaN}', headers=raw), 1003, 400
        )
        assert_error(await api.http.post("/full/v1/open_orders", content=b"[]", headers=raw), 1003, 400)
        no_type = await api.http.post("/full/v1/open_orders", content=json.dumps({"sub_account_id": sub}).encode())
        assert_error(no_type, 1003, 400)
        assert_error(await api.http.get("/full/v1/open_orders"), 1003, 405)
        assert_error(await api.post("no_such_route", {}), 1004, 404)
        assert_error(await api.post("create_order", {}), 1003, 400)
        assert_error(await api.post("create_order", {"order": {"sub_account_id": sub, "legs": "x"}}), 2011, 400)
        assert_error(await api.post("open_orders", {"sub_account_id": "12ab"}), 3020, 400)
        assert_error(await api.post("open_orders", {"sub_account_id": sub, "kind": [1]}), 1003, 400)
        assert_error(await api.post("book", {"instrument": SYMBOL, "depth": 7}), 3031, 400)
        assert_error(await api.post("book", {"instrument": "NOPE"}), 3000, 400)
        assert_error(await api.post("fill_history", {"sub_account_id": sub, "cursor": "zz"}), 1003, 400)
        huge = await api.http.post("/full/v1/open_orders", content=b" " * (2 << 20), headers=raw)
        assert_error(huge, 1003, 400)
        async with ws_for(sim, api) as ws:
            await ws.ws.send_message("{nope")
            bad = await ws.next(lambda m: "error" in m)
            assert bad["jsonrpc"] == "2.0" and bad["error"]["code"] == 1003
            unknown = await rpc(ws, "frobnicate", {}, 5)
            assert unknown["error"]["code"] == 1003 and unknown["id"] == 5
            no_params = await rpc(ws, "subscribe", {"stream": "v1.book.d"}, 6)
            assert no_params["error"]["code"] == 1003
            still_alive = await rpc(ws, "v1/open_orders", {"sub_account_id": sub}, 7)
            assert still_alive["result"] == {"result": []}


async def test_default_config_market_streams_and_fills_bot_sized_orders() -> None:
    """The shipped config's GRVT market (real recording, inverse contract floored to the 0.001 lot): the
    listed instrument carries the configured grid, the book streams without gaps, and orders of the bot's
    size are valid and trade."""
    from trio_hedge.app import load_config
    from trio_hedge.app._run import sim_markets

    config = load_config(None)
    async with open_sim_exchange(SimSettings(speed=4.0, latency_s=0.002), sim_markets(config)) as exchange:
        async with trio.open_nursery() as nursery:
            info = await nursery.start(serve_grvt, exchange, "grvt")
            sim = Sim(exchange, info)
            async with api_for(sim) as api, ws_for(sim, api) as ws:
                listed = (await api.post("instrument", {"instrument": SYMBOL})).json()["result"]
                configured = config.venues["grvt"].market.instrument  # type: ignore[union-attr]
                assert (listed["tick_size"], listed["min_size"], listed["min_notional"]) == ("0.1", "0.001", "5.0")
                assert Decimal(listed["min_size"]) == configured.min_size == configured.lot_size
                selector = f"{SYMBOL}@100"
                result = parse_subscribe_result((await subscribe(ws, "v1.book.d", selector, 1))["result"])
                book = OrderBook(SYMBOL)
                first = parse_book_feed_raw(parse_ws_message(await ws.ws.get_message()))  # type: ignore[arg-type]
                assert first.is_snapshot and len(first.bids) > 100
                apply_raw_book_update(book, first, snapshot_seq=result.snapshot_seq(selector))
                deltas = 0
                with trio.fail_after(5):
                    while deltas < 20:
                        msg = parse_ws_message(await ws.ws.get_message())
                        assert isinstance(msg, GrvtFeedMessage)
                        assert apply_raw_book_update(book, parse_book_feed_raw(msg)) and book.valid
                        deltas += 1
                bid, ask = book.best_bid(), book.best_ask()
                assert bid is not None and ask is not None and bid[0] < ask[0]

                await subscribe(ws, "v1.order", info.sub_account_id, 2)
                size = str(config.markets[0].order_size)
                limit = str(INSTRUMENT.round_price(ask[0] * Decimal("1.001")))
                hedge = await api.post(
                    "create_order", api.order("9001", size=size, price=limit, tif="IMMEDIATE_OR_CANCEL")
                )
                assert hedge.status_code == 200, hedge.text
                filled = (await ws.next(order_frame("9001", "FILLED")))["feed"]
                assert filled["state"]["traded_size"] == [size]
                assert Decimal(filled["state"]["avg_fill_price"][0]) <= Decimal(limit)
                quote = await api.post(
                    "create_order", api.order("9002", size=size, price=str(bid[0] - 50), post_only=True)
                )
                assert quote.status_code == 200, quote.text
                await ws.next(order_frame("9002", "OPEN"))
            nursery.cancel_scope.cancel()
