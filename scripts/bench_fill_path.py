"""Benchmark: the CPU of the maker-fill -> hedge-order hot path, in three segments, with real objects.

Segments (each timed alone, ``time.perf_counter_ns`` around the call, inside one ``trio.run``):

* ``adapter``: a Backpack ``account.orderUpdate`` ``orderFill`` frame (text, as the WebSocket client hands it
  over) through ``BackpackVenue._on_private_frame``: frame parse, ``parse_order_events`` (the Fill and the
  OrderUpdate), the receipt stamp, the kernel's event gate, the symbol's event channel (drained untimed);
* ``tracker``: ``OrderTracker._on_fill`` of that fill for a registered maker quote (``forward=True``) with the
  risk engine's ``on_primary_fill`` listener, the fill forwarded to the hedger's inbox (drained untimed);
* ``router_sell`` / ``router_buy``: ``HedgeRouter.route`` of a SELL (walks the bids) / BUY (the asks) hedge on a
  200-level book, from the call to the moment it submits
  its first order (its ``on_first_order`` hook; the benchmark stops the route there, nothing is sent): book
  read, the ladder, ``analyze_depth``, the order request, the risk check, the tracker's registration.

Each segment is timed ``warm`` (back to back) and ``cold`` (about 20 ms of allocation-heavy unrelated work
before each sample, as between two fills of a running bot; ``scripts/bench_cold_path.py``). Prints p50 and
p99 in us per segment and variant, then the LAST line ``fill_path_us`` with every figure.

For an A/B, run it alternately on two trees (``PYTHONPATH=<tree> python scripts/bench_fill_path.py``) and
compare medians; the machine's load (``os.getloadavg``) is printed beside the figures.

Usage: ``python scripts/bench_fill_path.py [--n 2000] [--cold-n 150] [--profile SEGMENT]``
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import gc
import os
import pstats
import time
from collections.abc import Callable
from decimal import Decimal
from functools import partial
from typing import Any

import httpx
import trio
from loguru import logger

from trio_hedge.domain import Fill, Instrument, OrderRequest, OrderType, Side, TimeInForce
from trio_hedge.engine import HedgeRouter, MarketSettings, MarketStats, OrderTracker, RiskEngine
from trio_hedge.protocols.backpack import BackpackSigner
from trio_hedge.venues.backpack import BackpackSettings, BackpackVenue

PRIMARY_SYMBOL = "SOL_USDC_PERP"
HEDGE_SYMBOL = "BTC_USDC_PERP"
SECRET = base64.b64encode(bytes(range(32))).decode()
FRAME = (
    '{"stream":"account.orderUpdate","data":{"e":"orderFill","E":"1748288615134547","s":"SOL_USDC_PERP",'
    '"c":%d,"S":"Bid","o":"LIMIT","f":"GTC","q":"1.00","p":"178.15","Q":"178.15","X":"PartiallyFilled",'
    '"i":"114575842681290753","t":%d,"l":"0.01","L":"178.15","m":true,"n":"-0.0001","N":"USDC","z":"%s",'
    '"Z":"1.7815","V":"RejectTaker","T":"1748288615133255","O":"USER","r":false,"y":true}}'
)


def _venue(name: str, symbol: str, http: httpx.AsyncClient, tick: str, lot: str) -> BackpackVenue:
    signer = BackpackSigner(SECRET)
    settings = BackpackSettings("http://127.0.0.1:1", "ws://127.0.0.1:1/", signer.api_key, SECRET, (symbol,),
                                name=name, event_capacity=100_000)
    venue = BackpackVenue(settings, signer, http)
    base, quote = symbol.split("_")[:2]
    venue._instruments[symbol] = Instrument(name, symbol, base, quote, Decimal(tick), Decimal(lot), Decimal(lot))
    return venue


def _load_book(venue: BackpackVenue, symbol: str, mid: Decimal, tick: Decimal, levels: int) -> None:
    bids = [(mid - tick * (i + 1), Decimal("0.0015") + Decimal(i % 7) / 1000) for i in range(levels)]
    asks = [(mid + tick * (i + 1), Decimal("0.0015") + Decimal(i % 5) / 1000) for i in range(levels)]
    feed = venue._feeds[symbol]
    feed.book.apply_snapshot(bids, asks, seq=1)
    feed.applied()


def churn(s: float) -> None:
    end = time.perf_counter() + s
    while time.perf_counter() < end:
        d = {str(k): Decimal(k) * 3 for k in range(3000)}
        del d


SEGMENTS = ("adapter", "tracker", "router_sell", "router_buy")


class _Stop(Exception):
    """Raised by the route's on_first_order hook: the route is timed up to its first submit."""


def _pct(xs: list[int], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * q))] / 1e3


async def _main(n: int, cold_n: int, profile: str | None = None) -> dict[str, float]:
    logger.remove()
    out: dict[str, float] = {}
    async with httpx.AsyncClient() as http:
        primary = _venue("backpack", PRIMARY_SYMBOL, http, "0.01", "0.01")
        hedge = _venue("hedgebp", HEDGE_SYMBOL, http, "0.1", "0.0001")
        _load_book(primary, PRIMARY_SYMBOL, Decimal("178.15"), Decimal("0.01"), 200)
        _load_book(hedge, HEDGE_SYMBOL, Decimal("60000.0"), Decimal("0.1"), 200)
        settings = MarketSettings(name="BTC", primary_symbol=PRIMARY_SYMBOL, hedge_symbol=HEDGE_SYMBOL, cycles=1,
                                  order_size=Decimal("1"), slippage_cap_bps=Decimal("10"),
                                  max_position=Decimal("1000000"), max_notional=Decimal("1e12"),
                                  imbalance_tolerance=Decimal("1e9"), max_loss=Decimal("1e12"))
        stats = MarketStats()
        risk = RiskEngine(settings, stats, primary, hedge)
        ptrack = OrderTracker(primary, PRIMARY_SYMBOL, inbox_capacity=1_000_000, on_fill=risk.on_primary_fill)
        htrack = OrderTracker(hedge, HEDGE_SYMBOL, inbox_capacity=1_000_000, on_fill=risk.on_hedge_fill)
        router = HedgeRouter(hedge, htrack, HEDGE_SYMBOL, settings, risk=risk)
        prx = primary.events(PRIMARY_SYMBOL)
        seq = [0]

        def quote() -> str:
            """A maker quote registered with the tracker (forward=True), as the hedger does; its client id."""
            cid = primary.new_client_order_id()
            ptrack.register(OrderRequest(client_order_id=cid, symbol=PRIMARY_SYMBOL, side=Side.BUY,
                                         size=Decimal("1000"), order_type=OrderType.LIMIT, price=Decimal("178.15"),
                                         tif=TimeInForce.GTT, post_only=True, reason="quote"), forward=True)
            return cid

        cid = quote()

        def frame() -> str:
            seq[0] += 1
            return FRAME % (int(cid), 10_000_000 + seq[0], Decimal(seq[0]) / 100)

        async def adapter() -> int:
            raw = frame()
            t0 = time.perf_counter_ns()
            await primary._on_private_frame(raw, t0)
            took = time.perf_counter_ns() - t0
            while True:
                try:
                    prx.receive_nowait()
                except trio.WouldBlock:
                    break
            return took

        async def tracker() -> int:
            await primary._on_private_frame(frame(), 1)
            fill = prx.receive_nowait()
            prx.receive_nowait()  # its order update (z grows with every frame)
            assert isinstance(fill, Fill)
            t0 = time.perf_counter_ns()
            await ptrack._on_fill(fill, t0)
            took = time.perf_counter_ns() - t0
            ptrack.inbox.receive_nowait()
            return took

        def stop() -> None:
            raise _Stop

        async def route(side: Side) -> int:
            t0 = time.perf_counter_ns()
            try:
                await router.route(side, Decimal("0.0100"), on_first_order=stop)
            except _Stop:
                pass
            return time.perf_counter_ns() - t0

        segments: list[tuple[str, Callable[[], Any]]] = [
            ("adapter", adapter), ("tracker", tracker), ("router_sell", partial(route, Side.SELL)),
            ("router_buy", partial(route, Side.BUY)),
        ]
        for _ in range(300):
            for _, fn in segments:
                await fn()
        if profile is not None:
            fn = dict(segments)[profile]
            prof = cProfile.Profile()
            prof.enable()
            for _ in range(n):
                await fn()
            prof.disable()
            pstats.Stats(prof).sort_stats("tottime").print_stats(30)
            return out
        for name, fn in segments:
            gc.collect()
            took = [await fn() for _ in range(n)]
            out[f"{name}_warm_p50"], out[f"{name}_warm_p99"] = _pct(took, 0.5), _pct(took, 0.99)
        for name, fn in segments:
            took = []
            for _ in range(cold_n):
                churn(0.02)
                took.append(await fn())
            out[f"{name}_cold_p50"], out[f"{name}_cold_p99"] = _pct(took, 0.5), _pct(took, 0.99)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--n", type=int, default=2000, help="warm samples per segment")
    ap.add_argument("--cold-n", type=int, default=150, help="cold samples per segment (20 ms of churn each)")
    ap.add_argument("--profile", choices=SEGMENTS, help="cProfile one segment instead")
    args = ap.parse_args()
    load = os.getloadavg()
    out = trio.run(_main, args.n, args.cold_n, args.profile)
    if args.profile:
        return 0
    for seg in SEGMENTS:
        print(f"{seg:11s} warm p50 {out[f'{seg}_warm_p50']:7.1f} us  p99 {out[f'{seg}_warm_p99']:7.1f} us   "
              f"cold p50 {out[f'{seg}_cold_p50']:7.1f} us  p99 {out[f'{seg}_cold_p99']:7.1f} us")
    print(f"load {load[0]:.2f} -> {os.getloadavg()[0]:.2f}")
    print("fill_path_us " + " ".join(f"{k}={v:.1f}" for k, v in out.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
