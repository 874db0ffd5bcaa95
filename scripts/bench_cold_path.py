"""Benchmark: what a cold CPU cache costs one step of the hedge path, and what a rehearsal gives back.

The step timed: build a GRVT ``OrderRequest``, sign it (EIP-712, as ``GrvtVenue._sign``) and encode the
``v1/create_order`` JSON-RPC frame (no socket). It is timed once after each of these gaps:

* ``back-to-back``: nothing in between (warm: the floor);
* ``sleep X``: the process sleeps (other processes on the machine may run);
* ``spin X``: a busy loop that touches almost no memory;
* ``churn X``: allocation-heavy Python work touching new memory (dicts of Decimals, as decoding and applying
  book frames does between two fills of a running bot);
* ``churn X, rehearsed``: the same work, then the step once untimed (a rehearsal) right before the timed one: what
  ``engine/_rehearse.py`` does every ``engine.warm_path_ms``, so that the real step finds its code and data warm.

Prints one line per gap with p50 and p90 in us over ``--n`` samples, then the LAST line
``cold_path_us warm=<p50> churn20=<p50> churn1=<p50> rehearsed=<p50>``.

Usage: ``python scripts/bench_cold_path.py [--n 150]``
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from decimal import Decimal

from trio_hedge.domain import OrderRequest, OrderType, Side, TimeInForce
from trio_hedge.protocols.grvt import GrvtSigner, SigningInstrument, build_order_rpc_payload, encode_json

SIGNER = GrvtSigner(f"{0x1234567 * 0x9E3779B97F4A7C15:064x}"[-64:])  # a throwaway test key
INSTRUMENT = SigningInstrument("BTC_USDT_Perp", "0x030501", 9)


def step(i: int) -> int:
    """One order built, signed and encoded; returns the ns it took."""
    t0 = time.perf_counter_ns()
    req = OrderRequest(client_order_id=str(2**63 + i), symbol="BTC_USDT_Perp", side=Side.SELL, size=Decimal("0.002"),
                       order_type=OrderType.LIMIT, price=Decimal("60000.1"), tif=TimeInForce.IOC, reason="hedge")
    payload = build_order_rpc_payload(req, INSTRUMENT, sub_account_id="1", nonce=i + 1,
                                      expiration_ns=time.time_ns() + 10**10, chain_id=325, signer=SIGNER,
                                      request_id=i + 1)
    encode_json(payload).decode()
    return time.perf_counter_ns() - t0


def spin(s: float) -> None:
    end = time.perf_counter() + s
    while time.perf_counter() < end:
        pass


def churn(s: float) -> None:
    end = time.perf_counter() + s
    while time.perf_counter() < end:
        d = {str(k): Decimal(k) * 3 for k in range(3000)}
        del d


def measure(n: int, gap: Callable[[], None] | None, rehearse: bool = False) -> tuple[float, float]:
    took = []
    for i in range(n):
        if gap is not None:
            gap()
        if rehearse:
            step(i)
        took.append(step(i))
    took.sort()
    return took[len(took) // 2] / 1e3, took[int(len(took) * 0.9)] / 1e3


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--n", type=int, default=150, help="samples per gap")
    args = ap.parse_args()
    for i in range(200):
        step(i)
    cases: list[tuple[str, Callable[[], None] | None, bool]] = [
        ("back-to-back", None, False),
        ("sleep 1 ms", lambda: time.sleep(0.001), False),
        ("sleep 20 ms", lambda: time.sleep(0.02), False),
        ("spin 20 ms", lambda: spin(0.02), False),
        ("churn 1 ms", lambda: churn(0.001), False),
        ("churn 20 ms", lambda: churn(0.02), False),
        ("churn 20 ms, rehearsed", lambda: churn(0.02), True),
    ]
    p50: dict[str, float] = {}
    for name, gap, rehearse in cases:
        p50[name], p90 = measure(args.n, gap, rehearse)
        print(f"{name:24s} p50 {p50[name]:7.1f} us  p90 {p90:7.1f} us", flush=True)
    print(f"cold_path_us warm={p50['back-to-back']:.1f} churn20={p50['churn 20 ms']:.1f} "
          f"churn1={p50['churn 1 ms']:.1f} rehearsed={p50['churn 20 ms, rehearsed']:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
