"""Tests for the recorded Binance data reader (trio_hedge/sim/_replay.py).

The real recordings are the two files shipped in trio_hedge/data (see trio_hedge/data/SOURCES.md); the full
pass over both takes a few seconds. Everything else uses small synthetic lines in the recorded format.
"""

from __future__ import annotations

import functools
import gzip
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trio_hedge.domain import BadValue, OrderBook, Side
from trio_hedge.domain._book import CheckedLevels
from trio_hedge.sim._replay import (
    BookDeltaMsg,
    BookSnapshotMsg,
    ContractSpec,
    RecordingError,
    RecordingReader,
    TickerMsg,
    TradeMsg,
    load_lines,
    read_recording,
)

D = Decimal
DATA = Path(__file__).resolve().parent.parent / "trio_hedge" / "data"
COINM_SPEC = ContractSpec(inverse=True, contract_value_quote=D(100), lot_size=D("0.001"))


@dataclass(frozen=True)
class Recording:
    path: Path
    spec: ContractSpec
    # Diff events received before the snapshot line that finish before it (u <= lastUpdateId): the figures in
    # /work/shared/data/SOURCES.md (4 / 23), verified below against the raw lines.
    stale_before_snapshot: int
    # Diff events received before the snapshot line that bridge it (SOURCES.md does not mention them; both
    # files have 2, verified below): dropping them would leave a gap before the first later event.
    bridging_before_snapshot: int


RECORDINGS = {
    "usdm": Recording(DATA / "hftbacktest_binance-usdm_BTCUSDT_20240808.gz", ContractSpec(), 4, 2),
    "coinm": Recording(DATA / "hftbacktest_binance-coinm_BTCUSD_PERP_20240808.gz", COINM_SPEC, 23, 2),
}


@functools.cache
def recorded_lines(name: str) -> list[bytes]:
    """The lines of a shipped recording, read once per test session."""
    return load_lines(RECORDINGS[name].path)


def raw_json(line: bytes) -> dict[str, Any]:
    return orjson.loads(line[line.index(b" ") + 1 :])  # type: ignore[no-any-return]


def mk(obj: dict[str, Any], recv_ns: int = 1_000) -> bytes:
    return f"{recv_ns} ".encode() + orjson.dumps(obj)


def depth(U: int, u: int, pu: int | None, b: list[list[str]], a: list[list[str]], T: int = 5) -> bytes:  # noqa: N803
    data: dict[str, Any] = {"e": "depthUpdate", "E": T + 1, "T": T, "s": "BTCUSDT", "U": U, "u": u, "b": b, "a": a}
    if pu is not None:
        data["pu"] = pu
    return mk({"stream": "btcusdt@depth@0ms", "data": data})


def snapshot(seq: int, bids: list[list[str]], asks: list[list[str]]) -> bytes:
    return mk({"lastUpdateId": seq, "E": 9, "T": 8, "bids": bids, "asks": asks})


def trade(p: str = "100.0", q: str = "2", m: bool = True, t: int = 42) -> bytes:
    data = {"e": "trade", "E": 11, "T": 10, "s": "BTCUSDT", "t": t, "p": p, "q": q, "X": "MARKET", "m": m}
    return mk({"stream": "btcusdt@trade", "data": data})


def ticker(b: str = "99.9", bq: str = "1", a: str = "100.0", aq: str = "2") -> bytes:
    data = {"e": "bookTicker", "u": 7, "s": "BTCUSDT", "b": b, "B": bq, "a": a, "A": aq, "T": 12, "E": 13}
    return mk({"stream": "btcusdt@bookTicker", "data": data})


# --------------------------------------------------------------------------- the real recordings
@pytest.mark.parametrize("name", ["usdm", "coinm"])
def test_snapshot_delta_sync_on_recorded_data(name: str) -> None:
    """Every delta after the snapshot continues the book: no gap, never crossed, valid to the end; and the
    book agrees with every bookTicker recorded at the same update id (an independent check of the sync,
    the merge of the pre-snapshot events, and the size conversion)."""
    rec = RECORDINGS[name]
    lines = recorded_lines(name)
    reader = RecordingReader(rec.spec)
    book = OrderBook(name)
    tops: dict[int, tuple[Any, Any]] = {}
    snapshots: list[BookSnapshotMsg] = []
    n_deltas = 0
    for line in lines:
        msg = reader.parse(line)
        if type(msg) is BookSnapshotMsg:
            snapshots.append(msg)
            book.apply_snapshot(msg.bids, msg.asks, seq=msg.seq, ts_ns=msg.ts_ns)
        elif type(msg) is BookDeltaMsg:
            assert snapshots, "a delta before the snapshot"
            assert msg.prev_seq == book.seq  # the pu chain is unbroken
            assert book.apply_delta(
                msg.bids, msg.asks, seq=msg.seq, first_seq=msg.first_seq, prev_seq=msg.prev_seq, ts_ns=msg.ts_ns
            )
            bid, ask = book.best_bid(), book.best_ask()
            assert bid is not None and ask is not None and bid[0] < ask[0]
            tops[msg.seq] = (bid, ask)
            n_deltas += 1
    assert len(snapshots) == 1 and reader.stats.snapshots == 1
    assert book.valid and book.invalid_reason == ""
    assert reader.stats.malformed == 0 and reader.stats.last_error == ""

    # the Binance sync rule, recomputed from the raw lines
    snap_at = next(i for i, line in enumerate(lines) if b'"lastUpdateId"' in line)
    last_update_id = raw_json(lines[snap_at])["lastUpdateId"]
    before = [raw_json(line)["data"]["u"] for line in lines[:snap_at] if b'"depthUpdate"' in line]
    stale = sum(1 for u in before if u <= last_update_id)
    assert reader.stats.dropped_before_snapshot == stale == rec.stale_before_snapshot
    assert reader.stats.merged_into_snapshot == len(before) - stale == rec.bridging_before_snapshot
    assert snapshots[0].seq == max(before)  # the snapshot carries the merged events
    n_depth_lines = sum(1 for line in lines if b'"depthUpdate"' in line)
    assert n_deltas == reader.stats.deltas == n_depth_lines - len(before)

    # bookTicker (best bid/ask published by the exchange at update id u) vs our book at the same id
    matched = 0
    for line in lines:
        if b"@bookTicker" not in line:
            continue
        data = raw_json(line)["data"]
        top = tops.get(data["u"])
        if top is None:
            continue
        (bid, bid_size), (ask, ask_size) = top
        assert (bid, ask) == (D(data["b"]), D(data["a"]))
        assert bid_size == rec.spec.to_base(D(data["B"]), bid)
        assert ask_size == rec.spec.to_base(D(data["A"]), ask)
        matched += 1
    assert matched >= 500  # 629 (usdm) and 1124 (coinm) tickers land exactly on a depth event's final id


@pytest.mark.parametrize("name", ["usdm", "coinm"])
def test_trades_and_counters_on_recorded_data(name: str) -> None:
    rec = RECORDINGS[name]
    lines = recorded_lines(name)
    reader = RecordingReader(rec.spec, include_tickers=True)
    trades = [m for m in map(reader.parse, lines) if type(m) is TradeMsg]
    raw_trades = [raw_json(line)["data"] for line in lines if b"@trade" in line]
    raw_tickers = sum(1 for line in lines if b"@bookTicker" in line)
    assert len(trades) == len(raw_trades) == reader.stats.trades
    assert reader.stats.tickers == raw_tickers
    assert reader.stats.lines == len(lines) and reader.stats.malformed == 0
    sells = 0
    for msg, raw in zip(trades, raw_trades, strict=True):
        assert msg.trade_id == str(raw["t"])
        assert msg.price == D(raw["p"]) and msg.ts_ns == raw["T"] * 1_000_000
        # m = "buyer is maker": the aggressor sold
        assert msg.aggressor is (Side.SELL if raw["m"] else Side.BUY)
        assert msg.size == rec.spec.to_base(D(raw["q"]), msg.price)
        sells += msg.aggressor is Side.SELL
    assert 0 < sells < len(trades)  # both sides occur


def test_inverse_conversion_on_recorded_coinm_lines() -> None:
    lines = recorded_lines("coinm")
    # first trade of the file: t=849714402, p=61804.8, q=4 contracts (m=false: a buy)
    # 4 * 100 / 61804.8 = 0.006472... BTC; on a 0.001 lot: 0.006 (61804.8 * 0.006 = 370.83 <= 400 < 432.63)
    line = next(line for line in lines if b'"t":849714402' in line)
    msg = RecordingReader(COINM_SPEC).parse(line)
    assert isinstance(msg, TradeMsg)
    assert (msg.price, msg.size, msg.aggressor) == (D("61804.8"), D("0.006"), Side.BUY)
    msg = RecordingReader(ContractSpec(inverse=True, contract_value_quote=D(100))).parse(line)
    assert isinstance(msg, TradeMsg) and msg.size == D(400) / D("61804.8")
    # the REST snapshot alone (no pre-snapshot events buffered): best bid 61804.7 x 35 contracts
    # 35 * 100 / 61804.7 = 0.05663 BTC -> 0.056 (61804.7 * 0.056 = 3461.06 <= 3500 < 3522.87)
    snap_line = next(line for line in lines if b'"lastUpdateId"' in line)
    snap = RecordingReader(COINM_SPEC).parse(snap_line)
    assert isinstance(snap, BookSnapshotMsg)
    assert snap.seq == 1007198635033 and snap.bids[0] == (D("61804.7"), D("0.056"))


# --------------------------------------------------------------------------- size conversion
@pytest.mark.parametrize(
    ("spec", "size", "price", "want"),
    [
        pytest.param(ContractSpec(), D("0.014"), D(61800), D("0.014"), id="linear"),
        pytest.param(ContractSpec(lot_size=D("0.01")), D("0.019"), D(1), D("0.01"), id="linear-floored"),
        pytest.param(COINM_SPEC, D(3), D(50000), D("0.006"), id="inverse-exact"),
        pytest.param(COINM_SPEC, D(35), D("61804.7"), D("0.056"), id="inverse-floored"),
        pytest.param(COINM_SPEC, D(7), D(70000), D("0.010"), id="inverse-on-a-lot-boundary"),
        pytest.param(
            ContractSpec(inverse=True, contract_value_quote=D(100), lot_size=D("0.01")),
            D(1),
            D(20000),
            D("0.00"),
            id="inverse-floors-to-zero",
        ),
        pytest.param(
            # 100 / 10000.00000000000000000000000001 = 0.00999...9 (just under 0.01): a 28-digit division would
            # round it up to 0.01; the exact floor gives 0
            ContractSpec(inverse=True, contract_value_quote=D(100), lot_size=D("0.01")),
            D(1),
            D("10000.00000000000000000000000001"),
            D(0),
            id="inverse-exact-below-boundary",
        ),
        pytest.param(ContractSpec(inverse=True, contract_value_quote=D(100)), D(1), D(3), D(100) / D(3), id="no-lot"),
    ],
)
def test_to_base(spec: ContractSpec, size: Decimal, price: Decimal, want: Decimal) -> None:
    assert spec.to_base(size, price) == want


@pytest.mark.parametrize(
    "kwargs",
    [{"contract_value_quote": D(0)}, {"contract_value_quote": D("NaN")}, {"lot_size": D(-1)}, {"lot_size": D("Inf")}],
)
def test_contract_spec_rejects_bad_values(kwargs: dict[str, Decimal]) -> None:
    with pytest.raises(BadValue):
        ContractSpec(inverse=True, **kwargs)


def test_inverse_levels_that_floor_to_zero_are_absent() -> None:
    spec = ContractSpec(inverse=True, contract_value_quote=D(100), lot_size=D("0.01"))
    reader = RecordingReader(spec)
    # 1 contract at 20000 = 0.005 -> 0 on a 0.01 lot; 3 contracts at 20000 = 0.015 -> 0.01
    snap = reader.parse(snapshot(10, [["20000.0", "1"], ["19999.0", "3"]], [["20001.0", "4"]]))
    assert isinstance(snap, BookSnapshotMsg)
    assert snap.bids == [(D("19999.0"), D("0.01"))] and snap.asks == [(D("20001.0"), D("0.01"))]
    delta = reader.parse(depth(11, 12, 10, [["19999.0", "1"]], []))
    assert isinstance(delta, BookDeltaMsg) and delta.bids == [(D("19999.0"), D(0))]  # 0: the level goes away


# --------------------------------------------------------------------------- sync rule (synthetic)
def test_pre_snapshot_events_stale_dropped_bridging_merged() -> None:
    reader = RecordingReader()
    assert reader.parse(depth(80, 90, 70, [["99.0", "1"]], [])) is None  # stale (u < 100)
    assert reader.parse(depth(91, 100, 90, [["99.1", "1"]], [])) is None  # stale (u == 100)
    assert reader.parse(depth(95, 105, 100, [["99.5", "2"]], [["101.0", "0"]], T=20)) is None  # bridges
    assert reader.parse(depth(107, 110, 105, [["99.6", "3"]], [], T=21)) is None  # continues
    snap = reader.parse(snapshot(100, [["99.4", "1"]], [["101.0", "5"], ["102.0", "1"]]))
    assert isinstance(snap, BookSnapshotMsg)
    assert snap.seq == 110 and snap.ts_ns == 21_000_000
    assert snap.bids == [(D("99.6"), D(3)), (D("99.5"), D(2)), (D("99.4"), D(1))]
    assert snap.asks == [(D("102.0"), D(1))]
    st_ = reader.stats
    assert (st_.dropped_before_snapshot, st_.merged_into_snapshot, st_.snapshots, st_.deltas) == (2, 2, 1, 0)
    nxt = reader.parse(depth(111, 120, 110, [], [["101.5", "1"]]))
    assert isinstance(nxt, BookDeltaMsg) and reader.stats.deltas == 1
    book = OrderBook("X")
    book.apply_snapshot(snap.bids, snap.asks, seq=snap.seq)
    assert book.apply_delta(nxt.bids, nxt.asks, seq=nxt.seq, first_seq=nxt.first_seq, prev_seq=nxt.prev_seq)
    assert book.best_ask() == (D("101.5"), D(1))


def test_pre_snapshot_events_that_do_not_bridge_leave_the_snapshot_unmerged() -> None:
    reader = RecordingReader()
    reader.parse(depth(150, 160, 140, [["99.5", "2"]], []))  # starts after 100 + 1: cannot bridge
    snap = reader.parse(snapshot(100, [["99.4", "1"]], [["101.0", "5"]]))
    assert isinstance(snap, BookSnapshotMsg) and snap.seq == 100 and snap.bids == [(D("99.4"), D(1))]
    assert reader.stats.malformed == 1 and "do not merge" in reader.stats.last_error
    assert reader.stats.dropped_before_snapshot == 1 and reader.stats.merged_into_snapshot == 0


def test_snapshot_without_pre_events_and_a_second_snapshot() -> None:
    reader = RecordingReader()
    first = reader.parse(snapshot(100, [["99.0", "1"]], [["101.0", "1"]]))
    assert isinstance(first, BookSnapshotMsg) and first.seq == 100 and first.ts_ns == 8_000_000
    assert isinstance(reader.parse(depth(101, 102, 100, [], [])), BookDeltaMsg)
    second = reader.parse(snapshot(300, [["98.0", "1"]], [["102.0", "1"]]))
    assert isinstance(second, BookSnapshotMsg) and second.seq == 300 and reader.stats.snapshots == 2


# --------------------------------------------------------------------------- message fields
def test_trade_fields_and_aggressor() -> None:
    reader = RecordingReader()
    sold = reader.parse(trade(m=True))
    bought = reader.parse(trade(m=False, t=43, p="100.5", q="0.25"))
    assert sold == TradeMsg(1_000, "42", D("100.0"), D(2), Side.SELL, 10_000_000)
    assert bought == TradeMsg(1_000, "43", D("100.5"), D("0.25"), Side.BUY, 10_000_000)


def test_tickers_included_or_skipped() -> None:
    skipped = RecordingReader()
    assert skipped.parse(ticker()) is None and skipped.stats.tickers == 1 and skipped.stats.malformed == 0
    reader = RecordingReader(COINM_SPEC, include_tickers=True)
    msg = reader.parse(ticker(b="50000.0", bq="3", a="50000.1", aq="10"))
    # 3 * 100 / 50000 = 0.006; 10 * 100 / 50000.1 = 0.019999... -> 0.019
    assert msg == TickerMsg(1_000, D("50000.0"), D("0.006"), D("50000.1"), D("0.019"), 12_000_000)
    assert reader.stats.tickers == 1


def test_event_time_used_when_no_transaction_time() -> None:
    data = {"e": "trade", "E": 77, "t": 1, "p": "1.5", "q": "1", "m": False}
    msg = RecordingReader().parse(mk({"stream": "x@trade", "data": data}))
    assert isinstance(msg, TradeMsg) and msg.ts_ns == 77_000_000


def test_delta_levels_are_checked_levels() -> None:
    reader = RecordingReader()
    reader.parse(snapshot(1, [["1.0", "1"]], [["2.0", "1"]]))
    msg = reader.parse(depth(2, 3, 1, [["1.0", "0"]], [["2.5", "4"]]))
    assert isinstance(msg, BookDeltaMsg)
    assert type(msg.bids) is CheckedLevels and type(msg.asks) is CheckedLevels
    assert (msg.seq, msg.first_seq, msg.prev_seq, msg.ts_ns) == (3, 2, 1, 5_000_000)
    assert msg.bids == [(D("1.0"), D(0))] and msg.asks == [(D("2.5"), D(4))]


# --------------------------------------------------------------------------- malformed lines
ENVELOPE = b'{"stream":"btcusdt@depth@0ms","data":{"e":"depthUpdate","E":1,"T":1,"U":1,"u":2,"pu":0,'
MALFORMED = [
    pytest.param(b"123 {not json", "bad JSON", id="bad-json"),
    pytest.param(
        b'123 {"stream":"x@trade","data":{"e":"trade","E":1,"t":1,"p":NaN,"q":"1","m":true}}', "bad JSON", id="bare-nan"
    ),
    pytest.param(b"123 " + ENVELOPE + b'"b":[["NaN","1"]],"a":[]}}', "not finite", id="nan-price"),
    pytest.param(b"123 " + ENVELOPE + b'"b":[["Infinity","1"]],"a":[]}}', "not finite", id="inf-price"),
    pytest.param(b"123 " + ENVELOPE + b'"b":[["-1.0","1"]],"a":[]}}', "must be > 0", id="negative-price"),
    pytest.param(b"123 " + ENVELOPE + b'"b":[],"a":[["0.0","1"]]}}', "must be > 0", id="zero-price"),
    pytest.param(b"123 " + ENVELOPE + b'"b":[["1.0","-1"]],"a":[]}}', "must be >= 0", id="negative-size"),
    pytest.param(b"123 " + ENVELOPE + b'"b":[["1.0","abc"]],"a":[]}}', "not a decimal number", id="text-size"),
    pytest.param(b"123 " + ENVELOPE + b'"b":[[1.5,"1"]],"a":[]}}', "not a decimal string", id="float-price"),
    pytest.param(b"123 " + ENVELOPE + b'"b":["12"],"a":[]}}', "not a [price, size] pair", id="string-level"),
    pytest.param(b"123 " + ENVELOPE + b'"b":[["1.0","1","x"]],"a":[]}}', "bad value", id="three-item-level"),
    pytest.param(b"123 " + ENVELOPE + b'"b":{},"a":[]}}', "not lists", id="levels-not-a-list"),
    pytest.param(
        b'123 {"stream":"x","data":{"e":"depthUpdate","E":1,"U":"1","u":2,"b":[],"a":[]}}',
        "not integers",
        id="string-seq",
    ),
    pytest.param(
        b'123 {"stream":"x","data":{"e":"depthUpdate","E":1,"U":3,"u":2,"b":[],"a":[]}}',
        "first update",
        id="reversed-ids",
    ),
    pytest.param(
        b'123 {"stream":"x","data":{"e":"depthUpdate","E":1,"U":1,"u":2,"a":[]}}',
        "missing field 'b'",
        id="missing-field",
    ),
    pytest.param(
        b'123 {"stream":"x","data":{"e":"trade","T":1,"t":1,"p":"-5","q":"1","m":true}}',
        "must be > 0",
        id="negative-trade-price",
    ),
    pytest.param(
        b'123 {"stream":"x","data":{"e":"trade","T":1,"t":1,"p":"5","q":"0","m":true}}',
        "size must be > 0",
        id="zero-trade-size",
    ),
    pytest.param(
        b'123 {"stream":"x","data":{"e":"trade","T":1,"t":1,"p":"5","q":"1","m":"yes"}}',
        "boolean",
        id="non-boolean-maker",
    ),
    pytest.param(
        b'123 {"stream":"x","data":{"e":"trade","T":-1,"t":1,"p":"5","q":"1","m":true}}',
        "timestamp",
        id="negative-time",
    ),
    pytest.param(b'123 {"stream":"x","data":{"e":"markPriceUpdate","E":1}}', "unknown event type", id="unknown-event"),
    pytest.param(b'123 {"stream":"x","data":{"E":1}}', "missing field 'e'", id="no-event-type"),
    pytest.param(b'123 {"foo":1}', "neither", id="not-an-envelope"),
    pytest.param(b"123 [1,2]", "bad value", id="json-array"),
    pytest.param(b'{"lastUpdateId":1,"bids":[],"asks":[]}', "separator", id="no-receive-time"),
    pytest.param(b'abc {"lastUpdateId":1,"bids":[],"asks":[]}', "bad value", id="bad-receive-time"),
    pytest.param(b'123 {"lastUpdateId":"1","bids":[],"asks":[]}', "not an integer", id="snapshot-bad-id"),
    pytest.param(b'123 {"lastUpdateId":1,"bids":[["1","NaN"]],"asks":[]}', "not finite", id="snapshot-nan"),
]


@pytest.mark.parametrize(("line", "why"), MALFORMED)
def test_malformed_lines_are_counted_not_raised(line: bytes, why: str) -> None:
    reader = RecordingReader(include_tickers=True)
    assert reader.parse(line) is None
    assert reader.stats.malformed == 1 and reader.stats.lines == 1
    assert why in reader.stats.last_error and reader.stats.last_error.startswith("line 1:")
    assert isinstance(reader.parse(trade()), TradeMsg)  # the reader carries on
    assert reader.stats.malformed == 1


def test_crossed_ticker_is_malformed() -> None:
    reader = RecordingReader(include_tickers=True)
    assert reader.parse(ticker(b="100.0", a="100.0")) is None
    assert reader.stats.malformed == 1 and "crossed" in reader.stats.last_error


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.text(max_size=8)
    | st.sampled_from(["1.5", "NaN", "-1", "0"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=12,
)
_FIELDS = st.fixed_dictionaries(
    {"e": st.sampled_from(["depthUpdate", "trade", "bookTicker", "other"])},
    optional={k: _JSON for k in ["E", "T", "U", "u", "pu", "b", "a", "t", "p", "q", "m", "B", "A"]},
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=_FIELDS, raw=st.binary(max_size=40), snap=st.booleans())
def test_parse_never_raises_and_returns_only_valid_values(data: dict[str, Any], raw: bytes, snap: bool) -> None:
    reader = RecordingReader(COINM_SPEC, include_tickers=True)
    if snap:
        reader.parse(snapshot(0, [["1.0", "1"]], [["2.0", "1"]]))
    for line in (b"5 " + orjson.dumps({"stream": "x", "data": data}), raw, b"5 " + raw):
        msg = reader.parse(line)
        if isinstance(msg, BookDeltaMsg):
            levels = list(msg.bids) + list(msg.asks)
            assert all(p.is_finite() and p > 0 and s.is_finite() and s >= 0 for p, s in levels)
        elif isinstance(msg, TradeMsg):
            assert msg.price > 0 and msg.size >= 0 and msg.aggressor in (Side.BUY, Side.SELL)
        elif isinstance(msg, TickerMsg):
            assert 0 < msg.bid < msg.ask and msg.bid_size >= 0 and msg.ask_size >= 0
    assert reader.stats.lines == 3 + snap


# --------------------------------------------------------------------------- files
def test_load_lines_and_read_recording(tmp_path: Path) -> None:
    path = tmp_path / "rec.gz"
    body = [
        depth(90, 99, 80, [["99.0", "1"]], []),
        snapshot(100, [["99.0", "1"]], [["101.0", "1"]]),
        trade(),
        ticker(),
        depth(101, 102, 100, [["99.5", "1"]], []),
    ]
    path.write_bytes(gzip.compress(b"\n".join(body) + b"\n\n"))
    assert load_lines(path) == body
    msgs = list(read_recording(path))
    assert [type(m) for m in msgs] == [BookSnapshotMsg, TradeMsg, BookDeltaMsg]
    assert [type(m) for m in read_recording(str(path), include_tickers=True)] == [
        BookSnapshotMsg,
        TradeMsg,
        TickerMsg,
        BookDeltaMsg,
    ]


def test_unusable_files_raise_recording_error(tmp_path: Path) -> None:
    with pytest.raises(RecordingError, match="cannot read"):
        load_lines(tmp_path / "missing.gz")
    plain = tmp_path / "plain.gz"
    plain.write_bytes(b"123 {}\n")
    with pytest.raises(RecordingError, match="gzip"):
        load_lines(plain)
    truncated = tmp_path / "truncated.gz"
    truncated.write_bytes(gzip.compress(snapshot(1, [], []))[:-10])
    with pytest.raises(RecordingError, match="gzip"):
        load_lines(truncated)
    no_snapshot = tmp_path / "nosnap.gz"
    no_snapshot.write_bytes(gzip.compress(trade()))
    with pytest.raises(RecordingError, match="snapshot"):
        load_lines(no_snapshot)
    with pytest.raises(RecordingError):
        next(read_recording(no_snapshot))
