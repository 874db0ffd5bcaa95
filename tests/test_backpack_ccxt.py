"""ccxt 4.5.90's own Backpack client against the Backpack wire-protocol simulator: an independent implementation
of the protocol (signing, URLs, payloads, parsing) must work unchanged when pointed at the simulator.

ccxt's sync ``ccxt.backpack`` (``requests``) runs in a worker thread (``trio.to_thread.run_sync``) while the
server runs in trio. The market is the default config's Backpack venue (the embedded BTCUSDT recording).
"""

from __future__ import annotations

from decimal import Decimal
from functools import partial
from typing import Any

import ccxt
import trio

from trio_hedge.app import load_config
from trio_hedge.app._run import sim_markets
from trio_hedge.sim import SimSettings, open_sim_exchange
from trio_hedge.sim._backpack_server import BackpackSimInfo, serve_backpack

SYMBOL = "BTC/USDC:USDC"  # ccxt's unified name of BTC_USDC_PERP


def _client(info: BackpackSimInfo) -> Any:
    client = ccxt.backpack(
        {"apiKey": info.api_key, "secret": info.api_secret, "enableRateLimit": False, "timeout": 5000}
    )
    client.urls["api"] = {"public": info.rest, "private": info.rest}
    client.session.trust_env = False  # loopback only: never through a proxy from the environment
    return client


def _session(info: BackpackSimInfo) -> dict[str, Any]:
    """Everything ccxt does, in one thread: load markets, book, create / query / cancel, a fill, positions."""
    client = _client(info)
    out: dict[str, Any] = {"markets": client.load_markets()}
    out["book"] = book = client.fetch_order_book(SYMBOL, limit=5)
    price = float(Decimal(str(book["bids"][0][0])) - Decimal("50"))
    out["created"] = created = client.create_order(
        SYMBOL, "limit", "buy", 0.002, price, {"postOnly": True, "clientOrderId": 777}
    )
    out["open"] = client.fetch_open_order(created["id"], SYMBOL)
    out["open_orders"] = client.fetch_open_orders(SYMBOL)
    out["cancelled"] = client.cancel_order(created["id"], SYMBOL)
    out["after_cancel"] = client.fetch_order(created["id"], SYMBOL)  # from the order history
    out["market"] = client.create_order(SYMBOL, "market", "buy", 0.003)
    out["positions"] = client.fetch_positions()
    out["trades"] = client.fetch_my_trades(SYMBOL)
    return out


async def test_ccxt_backpack_client_trades_against_the_simulator() -> None:
    config = load_config(None)
    markets = [m for m in sim_markets(config) if m.venue == "backpack"]
    async with open_sim_exchange(SimSettings(speed=20.0, latency_s=0.0), markets) as exchange:
        async with trio.open_nursery() as nursery:
            info = await nursery.start(partial(serve_backpack, exchange, "backpack"))
            with trio.fail_after(20):
                out = await trio.to_thread.run_sync(_session, info)
            nursery.cancel_scope.cancel()

    market = out["markets"][SYMBOL]
    inst = exchange.instruments("backpack")["BTC_USDC_PERP"]
    assert market["id"] == "BTC_USDC_PERP" and market["swap"] and market["active"]
    assert Decimal(str(market["precision"]["price"])) == inst.tick_size
    assert Decimal(str(market["precision"]["amount"])) == inst.lot_size

    book = out["book"]
    assert len(book["bids"]) == len(book["asks"]) == 5
    assert book["bids"][0][0] < book["asks"][0][0] and book["nonce"] > 0
    assert [b[0] for b in book["bids"]] == sorted((b[0] for b in book["bids"]), reverse=True)

    created, opened, cancelled = out["created"], out["open"], out["cancelled"]
    assert created["status"] == "open" and created["clientOrderId"] == "777" and created["postOnly"]
    assert created["amount"] == 0.002 and created["side"] == "buy" and created["type"] == "limit"
    assert opened["id"] == created["id"] and opened["status"] == "open" and opened["price"] == created["price"]
    assert [o["id"] for o in out["open_orders"]] == [created["id"]]
    assert cancelled["id"] == created["id"] and cancelled["status"] == "canceled"
    assert out["after_cancel"]["status"] == "canceled"

    filled = out["market"]
    assert filled["status"] == "closed" and filled["filled"] == 0.003
    positions = [p for p in out["positions"] if p["symbol"] == SYMBOL]
    # ccxt 4.5.90 backpack.parse_position leaves contracts and prices as the venue's strings.
    assert len(positions) == 1 and positions[0]["side"] == "long"
    assert Decimal(str(positions[0]["contracts"])) == Decimal("0.003")
    assert abs(Decimal(str(positions[0]["entryPrice"])) - Decimal(str(filled["average"]))) < Decimal("1e-6")
    assert sum(t["amount"] for t in out["trades"]) == 0.003 and {t["order"] for t in out["trades"]} == {filled["id"]}
    # The engine saw exactly these orders and this position.
    engine = exchange.engine("backpack", "BTC_USDC_PERP")
    assert engine.position().size == Decimal("0.003") and engine.open_orders() == []
