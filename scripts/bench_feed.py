"""Benchmark: decode and apply the recorded Binance USD-M BTCUSDT depth stream, ours vs ccxt's order book.

Both sides get the same raw lines (the REST snapshot line and every ``depthUpdate`` line, in file order) and
pay for JSON decoding with the same decoder (orjson; ccxt's WS client uses orjson too when it is installed,
``ccxt/async_support/base/ws/client.py``).

* ours: :class:`trio_hedge.sim._replay.RecordingReader` (``parse_raw``: line, JSON, update ids and timestamps
  checked, the Binance sync rule) feeding :class:`trio_hedge.domain.OrderBook` (sequence-checked
  ``apply_snapshot`` / ``apply_raw_delta``, which parses every price and size to a validated Decimal through
  the book's string caches while applying it). ``--decoded`` runs the previous path instead (``parse``:
  validated Decimal level tuples, then ``apply_delta``).
* ccxt 4.5.90: ``ccxt.async_support.base.ws.order_book.OrderBook({}, 1000)`` (1000 = binance's default
  ``watchOrderBookLimit``), driven the way ``ccxt/pro/binance.py`` drives it: buffer diff events until the
  snapshot, ``orderbook.reset(snapshot)``, unroll the buffer by the linear rule (drop ``u < nonce``; apply if
  ``U <= nonce <= u`` or ``pu == nonce``), then per event ``pu == nonce`` and ``handle_order_book_message``
  (``float()`` of each price and amount, ``bookside.store(price, amount)``, ``nonce = u``). Its per-event
  ``safe_*`` helper calls and ``iso8601`` timestamp formatting are left out, which favours ccxt.

The final books must be identical (every level, price and size compared as Decimal against ccxt's floats via
``Decimal(repr(x))``, to the depth ccxt keeps); the script exits 1 if not. It prints messages/s and level
updates/s for each side (median of ``--runs``) and, as its LAST line, ``ratio_vs_ccxt=<ours / ccxt msgs/s>``.

Usage: ``python scripts/bench_feed.py [--runs N] [--file PATH]``
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
from ccxt.async_support.base.ws.order_book import OrderBook as CcxtOrderBook  # type: ignore[import-untyped]

import trio_hedge.domain
from trio_hedge.domain import BookSide, OrderBook
from trio_hedge.sim._replay import BookDeltaMsg, BookSnapshotMsg, RawBookDeltaMsg, RecordingReader, load_lines

DEFAULT_FILE = Path(trio_hedge.domain.__file__).parents[1] / "data" / "hftbacktest_binance-usdm_BTCUSDT_20240808.gz"
CCXT_DEPTH = 1000  # ccxt/pro/binance.py: options["watchOrderBookLimit"] default


def depth_stream(lines: list[bytes]) -> tuple[list[bytes], int]:
    """The snapshot line and every diff-depth line, in order, and their total number of price levels."""
    out = [line for line in lines if b'"depthUpdate"' in line or b'"lastUpdateId"' in line]
    levels = 0
    for line in out:
        obj = orjson.loads(line[line.find(b" ") + 1 :])
        body = obj.get("data", obj)
        levels += len(body.get("b", body.get("bids", []))) + len(body.get("a", body.get("asks", [])))
    return out, levels


def run_ours(lines: list[bytes]) -> tuple[float, OrderBook]:
    """Parse and apply with RecordingReader.parse_raw + OrderBook.apply_raw_delta. Returns (seconds, book)."""
    reader = RecordingReader()
    book = OrderBook("BTCUSDT")
    parse = reader.parse_raw
    apply_raw_delta = book.apply_raw_delta
    t0 = time.perf_counter()
    for line in lines:
        msg = parse(line)
        if type(msg) is RawBookDeltaMsg:
            apply_raw_delta(
                msg.bids, msg.asks, seq=msg.seq, first_seq=msg.first_seq, prev_seq=msg.prev_seq, ts_ns=msg.ts_ns
            )
        elif type(msg) is BookSnapshotMsg:
            book.apply_snapshot(msg.bids, msg.asks, seq=msg.seq, ts_ns=msg.ts_ns)
    elapsed = time.perf_counter() - t0
    if reader.stats.malformed or not book.valid:
        raise SystemExit(f"ours: replay failed ({reader.stats}, book valid={book.valid} {book.invalid_reason})")
    return elapsed, book


def run_ours_decoded(lines: list[bytes]) -> tuple[float, OrderBook]:
    """The previous path: RecordingReader.parse (validated Decimal tuples) + OrderBook.apply_delta."""
    reader = RecordingReader()
    book = OrderBook("BTCUSDT")
    parse = reader.parse
    apply_delta = book.apply_delta
    t0 = time.perf_counter()
    for line in lines:
        msg = parse(line)
        if type(msg) is BookDeltaMsg:
            apply_delta(
                msg.bids, msg.asks, seq=msg.seq, first_seq=msg.first_seq, prev_seq=msg.prev_seq, ts_ns=msg.ts_ns
            )
        elif type(msg) is BookSnapshotMsg:
            book.apply_snapshot(msg.bids, msg.asks, seq=msg.seq, ts_ns=msg.ts_ns)
    elapsed = time.perf_counter() - t0
    if reader.stats.malformed or not book.valid:
        raise SystemExit(f"ours: replay failed ({reader.stats}, book valid={book.valid} {book.invalid_reason})")
    return elapsed, book


def _ccxt_apply(ob: CcxtOrderBook, data: dict[str, Any]) -> None:
    # ccxt/pro/binance.py handle_order_book_message + handle_deltas + handle_delta (safe_float -> float)
    asks_store = ob["asks"].store
    bids_store = ob["bids"].store
    for delta in data["a"]:
        asks_store(float(delta[0]), float(delta[1]))
    for delta in data["b"]:
        bids_store(float(delta[0]), float(delta[1]))
    ob["nonce"] = data["u"]
    ob["timestamp"] = data["E"]


def run_ccxt(
    lines: list[bytes], apply: Callable[[CcxtOrderBook, dict[str, Any]], None] = _ccxt_apply
) -> tuple[float, CcxtOrderBook]:
    """Decode with orjson and apply to ccxt's OrderBook as ccxt's binance handler does (``apply`` per event)."""
    ob = CcxtOrderBook({}, CCXT_DEPTH)
    loads = orjson.loads
    cache: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    for line in lines:
        msg = loads(memoryview(line)[line.find(b" ") + 1 :])
        data = msg.get("data")
        if data is None:  # the REST snapshot, parsed as fetch_order_book would (floats, sorted)
            ob.reset(
                {
                    "bids": sorted(([float(p), float(q)] for p, q in msg["bids"]), reverse=True),
                    "asks": sorted([float(p), float(q)] for p, q in msg["asks"]),
                    "nonce": msg["lastUpdateId"],
                    "timestamp": msg.get("E"),
                }
            )
            for item in cache:  # fetch_order_book_snapshot: unroll the accumulated deltas (linear)
                nonce = ob["nonce"]
                if item["u"] < nonce:
                    continue
                if (item["U"] <= nonce and item["u"] >= nonce) or item["pu"] == nonce:
                    apply(ob, item)
            cache = []
            continue
        nonce = ob["nonce"]
        if nonce is None:
            cache.append(data)
        elif data["u"] >= nonce:
            if data["U"] <= nonce or data["pu"] == nonce:
                apply(ob, data)
            else:
                raise SystemExit(f"ccxt: sequence break at u={data['u']}")
    return time.perf_counter() - t0, ob


def ccxt_handler() -> Callable[[CcxtOrderBook, dict[str, Any]], None]:
    """ccxt's own per-event code: ``ccxt.pro.binanceusdm().handle_order_book_message`` (no network used)."""
    import ccxt.pro  # type: ignore[import-untyped]

    exchange = ccxt.pro.binanceusdm()
    handle = exchange.handle_order_book_message

    def apply(ob: CcxtOrderBook, data: dict[str, Any]) -> None:
        handle(None, data, ob)

    return apply


def compare(book: OrderBook, ob: CcxtOrderBook) -> tuple[bool, str]:
    """Compare the best ``CCXT_DEPTH`` levels of each side (Decimal vs Decimal(repr(float)))."""
    for side, name in ((BookSide.BID, "bids"), (BookSide.ASK, "asks")):
        theirs = list(ob[name])[:CCXT_DEPTH]
        ours = book.levels(side, CCXT_DEPTH)
        if len(ours) != len(theirs):
            return False, f"{name}: {len(ours)} levels vs ccxt {len(theirs)}"
        for i, ((p, q), (fp, fq)) in enumerate(zip(ours, theirs, strict=True)):
            if p != Decimal(repr(fp)) or q != Decimal(repr(fq)):
                return False, f"{name}[{i}]: ours ({p}, {q}) vs ccxt ({fp!r}, {fq!r})"
    full = book.depth(BookSide.BID) == len(ob["bids"]) and book.depth(BookSide.ASK) == len(ob["asks"])
    return True, f"best {CCXT_DEPTH} levels per side identical (full depth equal: {full})"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--runs", type=int, default=3, help="timed runs per side (median reported)")
    ap.add_argument("--file", type=Path, default=DEFAULT_FILE, help="a recorded Binance futures .gz file")
    ap.add_argument(
        "--no-handler", action="store_true", help="skip the informational run through ccxt's binance handler"
    )
    ap.add_argument("--decoded", action="store_true", help="time the previous path (parse + apply_delta)")
    args = ap.parse_args(argv)
    ours = run_ours_decoded if args.decoded else run_ours

    lines, n_levels = depth_stream(load_lines(args.file))
    n_msgs = len(lines)
    n_snapshots = sum(1 for line in lines if b'"lastUpdateId"' in line)
    print(f"file: {args.file.name}: {n_msgs} depth messages ({n_snapshots} snapshot), {n_levels} level updates")

    handler = ccxt_handler()
    ours_s: list[float] = []
    ccxt_s: list[float] = []
    ccxt_handler_s: list[float] = []
    book = ob = ob_handler = None
    for _ in range(max(1, args.runs)):
        gc.collect()
        t, book = ours(lines)
        ours_s.append(t)
        gc.collect()
        t, ob = run_ccxt(lines)
        ccxt_s.append(t)
        if not args.no_handler:
            gc.collect()
            t, ob_handler = run_ccxt(lines, handler)
            ccxt_handler_s.append(t)
    assert book is not None and ob is not None
    same, detail = compare(book, ob)
    print(f"final books (ours vs ccxt): {detail}")
    if ob_handler is not None:
        same_h, detail_h = compare(book, ob_handler)
        same = same and same_h
        print(f"final books (ours vs ccxt handler): {detail_h}")

    name = "parse + apply_delta" if args.decoded else "parse_raw + apply_raw_delta"
    rows = [(f"ours (RecordingReader.{name})", ours_s), ("ccxt (OrderBook fed directly)", ccxt_s)]
    if ccxt_handler_s:
        rows.append(("ccxt (binanceusdm.handle_order_book_message)", ccxt_handler_s))
    for name, secs in rows:
        med = statistics.median(secs)
        print(
            f"{name}: median {med * 1e3:.1f} ms over {len(secs)} runs: "
            f"{n_msgs / med:,.0f} msgs/s, {n_levels / med:,.0f} level updates/s"
        )
    if ccxt_handler_s:
        print(f"ratio_vs_ccxt_handler={statistics.median(ccxt_handler_s) / statistics.median(ours_s):.2f}")
    if not same:
        print("ERROR: final books differ", file=sys.stderr)
    ratio = statistics.median(ccxt_s) / statistics.median(ours_s)
    print(f"ratio_vs_ccxt={ratio:.2f}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
