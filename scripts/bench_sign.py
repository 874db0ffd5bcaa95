"""Benchmark GRVT order signing: trio_hedge vs grvt-pysdk 0.2.1 ``get_order_payload``.

Builds N random orders (seeded), checks that both produce byte-identical HTTP bodies (exit 1 if not),
then times payload build + EIP-712 sign for each implementation: ``--reps`` repetitions over the same N
orders (ours and pysdk alternating), median per-order time reported. The LAST line printed is exactly
``ratio_vs_pysdk=<x>`` (pysdk time / ours, 1 decimal).

pysdk is timed as its ``create_order`` does the work: ``get_grvt_order(...)`` then ``get_order_payload``;
ours as ``build_order_payload(OrderRequest, ...)`` with the ``OrderRequest`` built inside the timed loop too.

Usage: ``python scripts/bench_sign.py [--n 2000] [--reps 5] [--seed 1]``
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from decimal import Decimal
from typing import Any

from pysdk import grvt_ccxt_utils as pysdk_utils  # type: ignore[import-untyped]
from pysdk.grvt_ccxt_env import GrvtEnv  # type: ignore[import-untyped]

from trio_hedge.domain import OrderRequest, OrderType, Side, TimeInForce
from trio_hedge.protocols.grvt._signing import KECCAK_BACKEND, GrvtSigner, SigningInstrument, build_order_payload

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
PYSDK_ENV = {325: GrvtEnv.PROD, 326: GrvtEnv.TESTNET, 327: GrvtEnv.STAGING}
PYSDK_TIF = {TimeInForce.GTT: "GOOD_TILL_TIME", TimeInForce.IOC: "IMMEDIATE_OR_CANCEL", TimeInForce.FOK: "FILL_OR_KILL"}
INSTRUMENTS = {
    "BTC_USDT_Perp": SigningInstrument("BTC_USDT_Perp", "0x030501", 9),
    "ETH_USDT_Perp": SigningInstrument("ETH_USDT_Perp", "0x030401", 9),
    "SOL_USDT_Perp": SigningInstrument("SOL_USDT_Perp", "0x030c01", 9),
}
PYSDK_INSTRUMENTS = {
    s: {"instrument_hash": i.instrument_hash, "base_decimals": i.base_decimals} for s, i in INSTRUMENTS.items()
}


def make_orders(n: int, seed: int) -> list[dict[str, Any]]:
    """Hedge-like orders: mostly IOC limit takers, some market, some post-only GTT; uint64 client ids."""
    rng = random.Random(seed)
    keys = [f"{rng.randrange(1, SECP256K1_N):064x}" for _ in range(3)]
    out = []
    for _ in range(n):
        symbol = rng.choice(list(INSTRUMENTS))
        kind = rng.random()
        market = kind < 0.1
        tif = TimeInForce.IOC if kind < 0.7 else (TimeInForce.GTT if kind < 0.95 else TimeInForce.FOK)
        out.append(
            {
                "cid": str(rng.randint(2**63, 2**64 - 1)),
                "symbol": symbol,
                "side": rng.choice((Side.BUY, Side.SELL)),
                "size": Decimal(rng.randint(1, 50_000)).scaleb(-3),
                "market": market,
                "price": None if market else Decimal(rng.randint(100_000, 1_200_000)).scaleb(-1),
                "tif": tif,
                "post_only": (not market) and tif is TimeInForce.GTT and rng.random() < 0.5,
                "reduce_only": rng.random() < 0.2,
                "sub": str(rng.getrandbits(63)),
                "nonce": rng.getrandbits(32),
                "exp": time.time_ns() + 86_400 * 10**9,
                "chain": rng.choice((325, 326, 327)),
                "key": rng.choice(keys),
            }
        )
    return out


def run_ours(orders: list[dict[str, Any]], signers: dict[str, GrvtSigner]) -> list[dict[str, Any]]:
    res = []
    for o in orders:
        req = OrderRequest(
            client_order_id=o["cid"],
            symbol=o["symbol"],
            side=o["side"],
            size=o["size"],
            order_type=OrderType.MARKET if o["market"] else OrderType.LIMIT,
            price=o["price"],
            tif=o["tif"],
            post_only=o["post_only"],
            reduce_only=o["reduce_only"],
        )
        res.append(
            build_order_payload(
                req,
                INSTRUMENTS[o["symbol"]],
                sub_account_id=o["sub"],
                nonce=o["nonce"],
                expiration_ns=o["exp"],
                chain_id=o["chain"],
                signer=signers[o["key"]],
            )
        )
    return res


def run_pysdk(orders: list[dict[str, Any]]) -> list[dict[str, Any]]:
    res = []
    for o in orders:
        order = pysdk_utils.get_grvt_order(
            sub_account_id=o["sub"],
            symbol=o["symbol"],
            order_type="market" if o["market"] else "limit",
            side="buy" if o["side"] is Side.BUY else "sell",
            amount=o["size"],
            limit_price=o["price"],
            params={
                "time_in_force": PYSDK_TIF[o["tif"]],
                "post_only": o["post_only"],
                "reduce_only": o["reduce_only"],
                "client_order_id": o["cid"],
            },
        )
        order.signature.nonce = o["nonce"]
        order.signature.expiration = str(o["exp"])
        res.append(pysdk_utils.get_order_payload(order, o["key"], PYSDK_ENV[o["chain"]], PYSDK_INSTRUMENTS))
    return res


def median_per_order_us(fns: list[Any], n: int, reps: int) -> list[float]:
    """Median per-order microseconds of each fn; repetitions interleaved so load drift hits both alike."""
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(reps):
        for fn, out in zip(fns, times, strict=True):
            t0 = time.perf_counter()
            fn()
            out.append((time.perf_counter() - t0) / n * 1e6)
    return [statistics.median(t) for t in times]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000, help="orders per repetition (default 2000)")
    ap.add_argument("--reps", type=int, default=5, help="repetitions; the median is reported (default 5)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    if args.n < 1 or args.reps < 1:
        ap.error("--n and --reps must be >= 1")
    orders = make_orders(args.n, args.seed)
    signers = {o["key"]: GrvtSigner(o["key"]) for o in orders}

    ours = run_ours(orders, signers)
    theirs = run_pysdk(orders)
    dump = pysdk_utils.EnumEncoder
    mismatches = sum(json.dumps(a, cls=dump) != json.dumps(b, cls=dump) for a, b in zip(ours, theirs, strict=True))
    if mismatches:
        print(f"FAIL: {mismatches}/{args.n} payloads differ from grvt-pysdk", file=sys.stderr)
        return 1
    print(f"verified: {args.n} payloads byte-identical to grvt-pysdk get_order_payload")

    ours_us, pysdk_us = median_per_order_us(
        [lambda: run_ours(orders, signers), lambda: run_pysdk(orders)], args.n, args.reps
    )
    print(f"keccak backend: {KECCAK_BACKEND}; n={args.n} reps={args.reps} (median)")
    print(f"trio_hedge build_order_payload: {ours_us:.1f} us/order")
    print(f"grvt-pysdk get_order_payload:   {pysdk_us:.1f} us/order")
    print(f"ratio_vs_pysdk={pysdk_us / ours_us:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
