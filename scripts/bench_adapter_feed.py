"""Benchmark: per-message decode + apply of the Backpack and GRVT adapters' book feeds, the decoded codec path
(before) vs the book's one-pass raw path (after).

Frames are recorded-shaped: the recorded Binance USD-M BTCUSDT depth stream (``trio_hedge/data/``, read with
:class:`trio_hedge.sim._replay.RecordingReader`) re-encoded the way the wire simulators publish it:

* Backpack (``trio_hedge/sim/_backpack/_state.py`` ``_DepthHub.on_diff`` and the REST ``/api/v1/depth``
  handler): a REST depth snapshot body, then one ``{"stream":"depth.<S>","data":{"e":"depth",...}}`` text frame
  per recorded delta (levels ``[[price, size], ...]`` formatted with ``protocols.backpack.fixed_text`` at the
  tick's and lot's decimal places, bids and asks ascending; ``U == u`` = the next update id; ``E``/``T`` µs strings).
* GRVT (``trio_hedge/sim/_grvt/_state.py`` ``_BookHub``): ``format_feed(v1.book.d, ..., format_book(...))``
  JSON frames, the snapshot at sequence 0 then one delta per recorded delta (``sequence_number`` n,
  ``prev_sequence_number`` n - 1; bids descending, asks ascending; ``num_orders`` an int as on WS).

Paths timed (frames are ``str``, as trio-websocket delivers text frames; the REST snapshot is applied before
the clock starts):

* before: the decoded path the adapters used before the raw one (the codecs no longer hold it; it is rebuilt
  here from their strict level parsers, as ``tests/test_adapter_book_raw.py`` does): ``parse_ws_frame`` +
  ``parse_depth_delta_raw`` + every level parsed to Decimal tuples and re-sorted + ``OrderBook.apply_delta``;
  ``parse_ws_message`` + the payload parsed to Decimal tuples + ``OrderBook.apply_delta``.
* after: what they do now: ``venues/backpack/_subscriptions._depth_of`` (``parse_depth_delta_raw``) +
  ``apply_delta_raw`` (``OrderBook.apply_raw_delta``); ``parse_ws_message`` +
  ``venues/grvt/_session._apply_book_feed`` (``parse_book_feed_raw`` + ``OrderBook.apply_raw_delta``).
* after, demux: the same per-frame steps as the adapters' shared public connection now runs them (several
  symbols on one socket, issue 13): the frame routed to its symbol's state (Backpack ``_route_depth`` + the
  symbol's "buffering while a snapshot is fetched" check; GRVT the subscription looked up by selector), then
  the same raw apply. Its cost over "after" is the demultiplexing.
* decode only: ``orjson.loads`` of every frame, the floor both paths share.

The final books of every path must be identical (every level); the script exits 1 if not. Prints µs per
message (median of ``--runs``, the paths' runs interleaved; the machine is shared, so figures are noisy) and
the ratios before / after and demux / after.

Usage: ``python scripts/bench_adapter_feed.py [--runs N] [--messages N] [--file PATH]``
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
from loguru import logger

import trio_hedge.domain
from trio_hedge.domain import BookSide, OrderBook
from trio_hedge.protocols import backpack as bp
from trio_hedge.protocols import grvt as gw
from trio_hedge.protocols.backpack._book import _levels as bp_levels_parsed
from trio_hedge.protocols.backpack._codec import _protocol as bp_protocol
from trio_hedge.protocols.grvt._book import _book_payload as grvt_book_payload
from trio_hedge.sim._replay import BookDeltaMsg, BookSnapshotMsg, RecordingReader, load_lines
from trio_hedge.venues.backpack._subscriptions import _depth_of, _route_depth
from trio_hedge.venues.grvt._session import _apply_book_feed

DEFAULT_FILE = Path(trio_hedge.domain.__file__).parents[1] / "data" / "hftbacktest_binance-usdm_BTCUSDT_20240808.gz"
SYMBOL_BP = "BTC_USDC_PERP"
SYMBOL_GRVT = "BTC_USDT_Perp"
SELECTOR = f"{SYMBOL_GRVT}@100"
TICK = Decimal("0.1")  # Binance USD-M BTCUSDT tick and lot (the recording's instrument)
LOT = Decimal("0.001")


def recorded(path: Path, limit: int) -> tuple[BookSnapshotMsg, list[BookDeltaMsg]]:
    """The recording's first book snapshot and up to ``limit`` diff-depth deltas after it."""
    reader = RecordingReader()
    snapshot: BookSnapshotMsg | None = None
    deltas: list[BookDeltaMsg] = []
    for line in load_lines(path):
        msg = reader.parse(line)
        if snapshot is None:
            if isinstance(msg, BookSnapshotMsg):
                snapshot = msg
        elif isinstance(msg, BookDeltaMsg) and msg.seq > snapshot.seq:
            deltas.append(msg)
            if len(deltas) >= limit:
                break
    if snapshot is None:
        raise SystemExit(f"{path}: no book snapshot")
    return snapshot, deltas


def backpack_frames(snapshot: BookSnapshotMsg, deltas: list[BookDeltaMsg]) -> tuple[bytes, list[str]]:
    """The REST depth body and the depth frames, encoded as the Backpack simulator encodes them."""
    pp, sp = bp.decimal_places(TICK), bp.decimal_places(LOT)
    body = orjson.dumps(
        {
            "asks": [[bp.fixed_text(p, pp), bp.fixed_text(s, sp)] for p, s in snapshot.asks],
            "bids": [[bp.fixed_text(p, pp), bp.fixed_text(s, sp)] for p, s in reversed(snapshot.bids)],
            "lastUpdateId": "1",
            "timestamp": snapshot.ts_ns // 1_000,
        }
    )
    frames = []
    for n, d in enumerate(deltas, start=2):
        us = str(d.ts_ns // 1_000)
        data = {
            "e": "depth",
            "E": us,
            "s": SYMBOL_BP,
            "a": [[bp.fixed_text(p, pp), bp.fixed_text(s, sp)] for p, s in sorted(dict(d.asks).items())],
            "b": [[bp.fixed_text(p, pp), bp.fixed_text(s, sp)] for p, s in sorted(dict(d.bids).items())],
            "U": n,
            "u": n,
            "T": us,
        }
        frames.append(bp.format_ws_frame(f"depth.{SYMBOL_BP}", orjson.dumps(data).decode()))
    return body, frames


def grvt_frames(snapshot: BookSnapshotMsg, deltas: list[BookDeltaMsg]) -> list[str]:
    """The ``v1.book.d`` frames (snapshot at sequence 0, then deltas), as the GRVT simulator encodes them."""

    def frame(seq: int, bids: list[tuple[Decimal, Decimal]], asks: list[tuple[Decimal, Decimal]], ts: int) -> str:
        feed = gw.format_book(SYMBOL_GRVT, bids, asks, event_time_ns=ts, num_orders_as_string=False)
        return orjson.dumps(gw.format_feed(gw.STREAM_BOOK_DELTA, SELECTOR, seq, max(seq - 1, 0), feed)).decode()

    out = [frame(0, snapshot.bids, snapshot.asks, snapshot.ts_ns)]
    for n, d in enumerate(deltas, start=1):
        bids = sorted(dict(d.bids).items(), reverse=True)
        asks = sorted(dict(d.asks).items())
        out.append(frame(n, bids, asks, d.ts_ns))
    return out


# ---------------------------------------------------------------------------------------------- Backpack
def backpack_before(body: bytes, frames: list[str]) -> tuple[float, OrderBook]:
    """The previous adapter path (``BackpackVenue._depth_of`` + ``_pump_depth`` before the raw path)."""
    book = OrderBook(SYMBOL_BP)
    bp.apply_snapshot(book, bp.parse_depth_snapshot(body))
    t0 = time.perf_counter()
    for raw in frames:
        frame = bp.parse_ws_frame(raw, venue="backpack")
        if isinstance(frame, bp.WsError) or frame.kind != "depth":
            continue
        delta = bp.parse_depth_delta_raw(frame.data, venue="backpack")
        with bp_protocol("backpack", "depth"):
            bids = bp_levels_parsed(delta.bids, f"{delta.symbol} bids", descending=True)
            asks = bp_levels_parsed(delta.asks, f"{delta.symbol} asks", descending=False)
        if delta.symbol == SYMBOL_BP:
            book.apply_delta(bids, asks, seq=delta.last_update_id, first_seq=delta.first_update_id, ts_ns=delta.ts_ns)
    return time.perf_counter() - t0, book


def backpack_after(body: bytes, frames: list[str]) -> tuple[float, OrderBook]:
    """The adapter's path now: ``_depth_of`` (raw levels) + ``apply_delta_raw``."""
    book = OrderBook(SYMBOL_BP)
    bp.apply_snapshot(book, bp.parse_depth_snapshot(body))
    tickers: dict[str, bp.BookTicker] = {}
    t0 = time.perf_counter()
    for raw in frames:
        delta = _depth_of("backpack", SYMBOL_BP, raw, tickers, logger)
        if delta is not None:
            bp.apply_delta_raw(book, delta, venue="backpack")
    return time.perf_counter() - t0, book


def backpack_demux(body: bytes, frames: list[str]) -> tuple[float, OrderBook]:
    """The per-frame steps of the adapter's shared public connection (``_Subscriptions._pump_depth``, several
    symbols on one socket): ``_route_depth`` against the connection's symbols, the symbol's sync state looked up
    by the delta's symbol, its "buffering while a snapshot is fetched" check, then ``apply_delta_raw``. A
    second symbol is subscribed (its state present) but the frames are all this symbol's."""
    book = OrderBook(SYMBOL_BP)
    bp.apply_snapshot(book, bp.parse_depth_snapshot(body))
    tickers: dict[str, bp.BookTicker] = {}
    syncs: dict[str, list[Any]] = {SYMBOL_BP: [None, book], "ETH_USDC_PERP": [None, OrderBook("ETH_USDC_PERP")]}
    t0 = time.perf_counter()
    for raw in frames:
        delta = _route_depth("backpack", raw, tickers, logger, syncs)
        if delta is None:
            continue
        st = syncs[delta.symbol]  # [buffered deltas or None, book], as _DepthSync holds them
        buffered = st[0]
        if buffered is not None:
            buffered.append(delta)
            continue
        bp.apply_delta_raw(st[1], delta, venue="backpack")
    return time.perf_counter() - t0, book


# ---------------------------------------------------------------------------------------------- GRVT
def grvt_before(frames: list[str]) -> tuple[float, OrderBook]:
    """The previous adapter path (``GrvtVenue._feed_loop`` before the raw path)."""
    book = OrderBook(SYMBOL_GRVT)
    snapshot_seq, base_known = 0, False
    t0 = time.perf_counter()
    for raw in frames:
        msg = gw.parse_ws_message(raw, venue="grvt")
        if not isinstance(msg, gw.GrvtFeedMessage) or msg.stream != gw.STREAM_BOOK_DELTA or msg.selector != SELECTOR:
            continue
        symbol, bids, asks, ts_ns = grvt_book_payload(msg.feed, f"{msg.stream}.feed", "grvt")
        if symbol != SYMBOL_GRVT:
            raise SystemExit("wrong symbol")
        if msg.sequence_number == 0:  # a snapshot
            book.apply_snapshot(bids, asks, seq=snapshot_seq, ts_ns=ts_ns)
            base_known = True
        else:
            prev = msg.prev_sequence_number
            book.apply_delta(
                bids,
                asks,
                seq=msg.sequence_number,
                first_seq=prev + 1 if book.seq > 0 or base_known else None,
                prev_seq=prev,
                ts_ns=ts_ns,
            )
    return time.perf_counter() - t0, book


def grvt_after(frames: list[str]) -> tuple[float, OrderBook]:
    """The adapter's path now: ``parse_ws_message`` + ``_apply_book_feed``."""
    book = OrderBook(SYMBOL_GRVT)
    snapshot_seq, base_known = 0, False
    t0 = time.perf_counter()
    for raw in frames:
        msg = gw.parse_ws_message(raw, venue="grvt")
        if not isinstance(msg, gw.GrvtFeedMessage) or msg.stream != gw.STREAM_BOOK_DELTA or msg.selector != SELECTOR:
            continue
        update = _apply_book_feed("grvt", SYMBOL_GRVT, book, msg, snapshot_seq, base_known)
        if update.is_snapshot:
            base_known = True
    return time.perf_counter() - t0, book


def grvt_demux(frames: list[str]) -> tuple[float, OrderBook]:
    """The per-frame steps of the adapter's shared market-data connection (``_Subscriptions._feed_loop``,
    several selectors on one socket): the subscription looked up by the message's selector, then
    ``_apply_book_feed`` with its snapshot base. A second selector is subscribed but unused."""
    book = OrderBook(SYMBOL_GRVT)
    subs: dict[str, list[Any]] = {
        SELECTOR: [SYMBOL_GRVT, book, 0, False],
        "ETH_USDT_Perp@100": ["ETH_USDT_Perp", OrderBook("ETH_USDT_Perp"), 0, False],
    }
    t0 = time.perf_counter()
    for raw in frames:
        msg = gw.parse_ws_message(raw, venue="grvt")
        if not isinstance(msg, gw.GrvtFeedMessage) or msg.stream != gw.STREAM_BOOK_DELTA:
            continue
        sub = subs.get(msg.selector)
        if sub is None:
            continue
        update = _apply_book_feed("grvt", sub[0], sub[1], msg, sub[2], sub[3])  # as _BookSub holds them
        if update.is_snapshot:
            sub[3] = True
    return time.perf_counter() - t0, book


def decode_only(frames: list[str]) -> tuple[float, None]:
    loads = orjson.loads
    t0 = time.perf_counter()
    for raw in frames:
        loads(raw)
    return time.perf_counter() - t0, None


def same_book(a: OrderBook, b: OrderBook) -> bool:
    return (
        a.valid
        and b.valid
        and a.seq == b.seq
        and a.ts_ns == b.ts_ns
        and all(
            [(str(p), str(s)) for p, s in a.iter_levels(side)] == [(str(p), str(s)) for p, s in b.iter_levels(side)]
            for side in (BookSide.BID, BookSide.ASK)
        )
    )


def timed(fns: list[Callable[[], tuple[float, OrderBook | None]]], runs: int) -> list[tuple[float, OrderBook | None]]:
    """Median seconds and last book of each of ``fns``, the runs interleaved (run k of every path, then run
    k + 1: a shared machine's load then weighs on every path alike)."""
    secs: list[list[float]] = [[] for _ in fns]
    books: list[OrderBook | None] = [None] * len(fns)
    for _ in range(runs):
        for i, fn in enumerate(fns):
            gc.collect()
            t, books[i] = fn()
            secs[i].append(t)
    return [(statistics.median(s), b) for s, b in zip(secs, books, strict=True)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--runs", type=int, default=5, help="timed runs per path (median reported)")
    ap.add_argument("--messages", type=int, default=20_000, help="recorded deltas to encode and replay")
    ap.add_argument("--file", type=Path, default=DEFAULT_FILE, help="a recorded Binance futures .gz file")
    args = ap.parse_args(argv)
    runs = max(1, args.runs)

    snapshot, deltas = recorded(args.file, args.messages)
    n_levels = sum(len(d.bids) + len(d.asks) for d in deltas)
    body, bp_frames = backpack_frames(snapshot, deltas)
    g_frames = grvt_frames(snapshot, deltas)
    print(
        f"file: {args.file.name}: snapshot {len(snapshot.bids)}+{len(snapshot.asks)} levels, {len(deltas)} deltas, "
        f"{n_levels / max(1, len(deltas)):.1f} levels/delta; median of {runs} runs, µs per message"
    )
    ok = True
    for venue, cases, n in (
        (
            "backpack",
            [
                ("decode only (orjson.loads)", lambda: decode_only(bp_frames)),
                ("before (decoded levels + apply_delta)", lambda: backpack_before(body, bp_frames)),
                ("after  (_depth_of raw + apply_delta_raw)", lambda: backpack_after(body, bp_frames)),
                ("after, demux (shared connection, 2 symbols)", lambda: backpack_demux(body, bp_frames)),
            ],
            len(bp_frames),
        ),
        (
            "grvt",
            [
                ("decode only (orjson.loads)", lambda: decode_only(g_frames[1:])),
                ("before (decoded levels + apply_delta)", lambda: grvt_before(g_frames)),
                ("after  (_apply_book_feed raw)", lambda: grvt_after(g_frames)),
                ("after, demux (shared connection, 2 symbols)", lambda: grvt_demux(g_frames)),
            ],
            len(g_frames),
        ),
    ):
        results = [(name, *r) for (name, _), r in zip(cases, timed([fn for _, fn in cases], runs), strict=True)]
        for name, sec, _ in results:
            print(f"{venue:8} {name:44} {sec / n * 1e6:8.2f} µs/msg")
        before, after = results[1], results[2]
        assert before[2] is not None and after[2] is not None
        demux = results[3]
        assert demux[2] is not None
        same = same_book(before[2], after[2]) and same_book(before[2], demux[2])
        ok = ok and same
        print(
            f"{venue:8} before/after = {before[1] / after[1]:.2f}x; demux/after = {demux[1] / after[1]:.2f}x; "
            f"final books identical: {same}"
        )
    if not ok:
        print("ERROR: final books differ", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
