"""Third-party GRVT clients against the GRVT wire simulator: grvt-pysdk 0.2.1 ``GrvtCcxt`` and ccxt 4.5.90
``ccxt.grvt``, both synchronous (``requests``), driven from worker threads while the server runs in trio.

Only their base URLs are changed: pysdk has no base-URL parameter, so its URL table function
``pysdk.grvt_ccxt_env.get_grvt_endpoint_domains`` is replaced (its host table, ``pysdk/grvt_ccxt_env.py``); ccxt's
``urls["api"]`` is overwritten. Everything runs on 127.0.0.1.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import ccxt
import pysdk.grvt_ccxt_env as pysdk_env
import pytest
import trio
from pysdk.grvt_ccxt import GrvtCcxt
from pysdk.grvt_ccxt_env import GrvtEndpointType, GrvtEnv

from tests.synth import Recording
from trio_hedge.domain import Instrument, OrderStatus
from trio_hedge.sim import ContractSpec, SimExchange, SimMarket, SimSettings, open_sim_exchange
from trio_hedge.sim._grvt_server import GrvtSimInfo, make_test_credentials, serve_grvt

SYMBOL = "BTC_USDT_Perp"
INSTRUMENT = Instrument("grvt", SYMBOL, "BTC", "USDT", Decimal("0.1"), Decimal("0.001"), Decimal("0.001"), Decimal("5"))


pytestmark = pytest.mark.timeout(120)  # waits on sockets or subprocesses: a hang fails the test, not the run


def _recording(path: Path) -> Path:
    r = Recording()
    r.snapshot(
        0,
        [(f"{60000 - i / 10:.1f}", "1.0") for i in range(20)],
        [(f"{60000.1 + i / 10:.1f}", "1.0") for i in range(20)],
    )
    r.delta(600, bids=[("59000.0", "1.0")])
    return r.write(path)


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[tuple[SimExchange, GrvtSimInfo]]:
    market = SimMarket(
        "grvt", INSTRUMENT, _recording(tmp_path / "grvt.gz"), ContractSpec(lot_size=Decimal("0.001")),
        Decimal("-0.1"), Decimal("4.5"),
    )  # fmt: skip
    async with open_sim_exchange(SimSettings(speed=1.0, latency_s=0.001), [market]) as exchange:
        async with trio.open_nursery() as nursery:
            info = await nursery.start(serve_grvt, exchange, "grvt")
            yield exchange, info
            nursery.cancel_scope.cancel()


def _quiet_logger() -> logging.Logger:
    log = logging.getLogger("test_grvt_clients.pysdk")
    log.setLevel(logging.WARNING)  # pysdk logs cookies and signed payloads at INFO
    return log


async def test_grvt_pysdk_logs_in_trades_and_cancels(
    sim: tuple[SimExchange, GrvtSimInfo], monkeypatch: pytest.MonkeyPatch
) -> None:
    exchange, info = sim
    urls = {
        GrvtEndpointType.EDGE: info.rest,
        GrvtEndpointType.TRADE_DATA: info.rest,
        GrvtEndpointType.MARKET_DATA: info.rest,
    }
    monkeypatch.setattr(pysdk_env, "get_grvt_endpoint_domains", lambda env_name: urls)
    params = {"api_key": info.api_key, "private_key": info.private_key, "trading_account_id": info.sub_account_id}

    def flow() -> dict[str, Any]:
        out: dict[str, Any] = {}
        g = GrvtCcxt(GrvtEnv.PROD, logger=_quiet_logger(), parameters=params)  # logs in, loads markets
        out["cookie"] = g._cookie
        out["markets"] = g.markets
        out["book"] = g.fetch_order_book(SYMBOL, limit=10)
        out["ack"] = g.create_order(SYMBOL, "limit", "buy", 0.002, 59990, params={"client_order_id": 12345})
        out["open"] = g.fetch_order(params={"client_order_id": 12345})
        out["open_orders"] = g.fetch_open_orders(SYMBOL)
        out["cancelled"] = g.cancel_order(params={"client_order_id": 12345})
        out["after"] = g.fetch_order(params={"client_order_id": 12345})
        out["market"] = g.create_order(SYMBOL, "market", "buy", 0.001, params={"client_order_id": 12346})
        out["positions"] = g.fetch_positions([SYMBOL])
        bad = GrvtCcxt(GrvtEnv.PROD, logger=_quiet_logger(), parameters={**params, "api_key": "wrong"})
        out["bad_cookie"] = bad._cookie
        return out

    with trio.fail_after(20):
        out = await trio.to_thread.run_sync(flow)

    assert out["cookie"] is not None and out["cookie"]["X-Grvt-Account-Id"].startswith("0x")
    assert out["bad_cookie"] is None  # a wrong API key gets no session
    assert list(out["markets"]) == [SYMBOL] and out["markets"][SYMBOL]["instrument_hash"] == "0x030501"
    assert out["book"]["bids"][0] == {"price": "60000.0", "size": "1.0", "num_orders": "1"}
    assert out["book"]["asks"][0]["price"] == "60000.1" and len(out["book"]["bids"]) == 10
    assert out["ack"]["order_id"] == "0x00" and out["ack"]["state"]["status"] == "PENDING"
    assert out["ack"]["legs"][0]["size"] == "0.002"  # pysdk sent "0.002000000"
    opened = out["open"]["result"]
    assert opened["state"]["status"] == "OPEN" and opened["order_id"].startswith("0x0101")
    assert [o["order_id"] for o in out["open_orders"]] == [opened["order_id"]]
    assert out["cancelled"] is True
    assert out["after"]["result"]["state"]["status"] == "CANCELLED"
    assert out["after"]["result"]["state"]["reject_reason"] == "CLIENT_CANCEL"
    assert out["market"]["order_id"] == "0x00" and out["market"]["is_market"] is True  # "0E-9" price accepted
    engine = exchange.engine("grvt", SYMBOL)
    resting = engine.get_order("12345")
    assert resting is not None and resting.status is OrderStatus.CANCELLED
    assert resting.request.size == Decimal("0.002") and resting.request.price == Decimal("59990")
    taken = engine.get_order("12346")
    assert taken is not None and taken.status is OrderStatus.FILLED and taken.avg_fill_price == Decimal("60000.1")
    assert [(p["instrument"], p["size"]) for p in out["positions"]] == [(SYMBOL, "0.001")]


async def test_ccxt_grvt_signs_in_with_its_wallet_and_trades(sim: tuple[SimExchange, GrvtSimInfo]) -> None:
    exchange, info = sim
    api = {"privateEdge": info.rest + "/", "privateTrading": info.rest + "/", "publicMarket": info.rest + "/"}

    def client(private_key: str) -> Any:
        options = {"builderFee": False, "accountId": info.sub_account_id}  # plain Order signing (A3.4)
        x = ccxt.grvt({"privateKey": "0x" + private_key, "enableRateLimit": False, "options": options})
        x.urls["api"] = dict(api)
        return x

    def flow() -> dict[str, Any]:
        out: dict[str, Any] = {}
        x = client(info.private_key)
        out["markets"] = x.load_markets()
        out["book"] = x.fetch_order_book("BTC/USDT:USDT", 10)
        out["created"] = x.create_order("BTC/USDT:USDT", "limit", "buy", 0.002, 59990, params={"clientOrderId": "777"})
        out["fetched"] = x.fetch_order(None, "BTC/USDT:USDT", params={"clientOrderId": "777"})
        out["open"] = x.fetch_open_orders("BTC/USDT:USDT")
        x.cancel_order(out["fetched"]["id"], "BTC/USDT:USDT")
        out["after"] = x.fetch_order(out["fetched"]["id"], "BTC/USDT:USDT")
        intruder = client(make_test_credentials(11)[1])
        try:  # load_markets signs in first: the wallet login of a key the venue does not know fails
            intruder.load_markets()
            intruder.sign_in()
        except ccxt.AuthenticationError as exc:
            out["intruder"] = type(exc).__name__
        return out

    with trio.fail_after(20):
        out = await trio.to_thread.run_sync(flow)

    market = out["markets"]["BTC/USDT:USDT"]
    assert market["id"] == SYMBOL and market["precision"]["price"] == 0.1 and market["limits"]["amount"]["min"] == 0.001
    assert out["book"]["bids"][0] == [60000.0, 1.0] and out["book"]["asks"][0] == [60000.1, 1.0]
    assert out["created"]["status"] == "pending" and out["created"]["clientOrderId"] == "777"
    fetched = out["fetched"]
    assert fetched["status"] == "open" and fetched["id"].startswith("0x0101") and fetched["amount"] == 0.002
    assert [o["id"] for o in out["open"]] == [fetched["id"]]
    assert out["after"]["status"] == "canceled" and out["after"]["id"] == fetched["id"]
    assert out["intruder"] == "AuthenticationError"
    order = exchange.engine("grvt", SYMBOL).get_order("777")
    assert order is not None and order.status is OrderStatus.CANCELLED and order.request.price == Decimal("59990")
