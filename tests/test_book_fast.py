"""Tests for the raw (JSON-decoded levels) fast path of the order book: ``OrderBook.apply_raw_delta`` /
``apply_raw_snapshot`` (trio_hedge/domain/_book.py) and ``RecordingReader.parse_raw`` (trio_hedge/sim/_replay.py).

The reference is the Decimal path: every value parsed with ``parse_price`` / ``parse_size`` and handed to
``apply_delta`` / ``apply_snapshot`` (a value the parsers refuse is handed over as is, so that the book refuses
it in turn). The fast path must give identical books, return values and error types on any stream.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trio_hedge.domain import BadValue, BookInvalid, BookSide, OrderBook, SequenceGap, parse_price, parse_size
from trio_hedge.sim._replay import BookDeltaMsg, BookSnapshotMsg, RawBookDeltaMsg, RecordingReader, load_lines

D = Decimal
BID, ASK = BookSide.BID, BookSide.ASK
USDM = Path(__file__).resolve().parent.parent / "trio_hedge" / "data" / "hftbacktest_binance-usdm_BTCUSDT_20240808.gz"


def _ref_value(value: object, parse: Any) -> object:
    try:
        return parse(value)
    except BadValue:
        return value  # not a Decimal (or a bad one): apply_delta refuses it with BookInvalid


def _ref_levels(pairs: object) -> object:
    """The reference parse: well-formed pairs become (Decimal, Decimal); anything else reaches the book as is."""
    if not isinstance(pairs, list):
        return pairs
    out: list[object] = []
    for pair in pairs:
        if isinstance(pair, (list, tuple)) and len(pair) == 2:
            out.append((_ref_value(pair[0], parse_price), _ref_value(pair[1], parse_size)))
        else:
            out.append(pair)
    return out


def _outcome(call: Any) -> tuple[str, object]:
    try:
        return "ok", call()
    except (BookInvalid, SequenceGap) as exc:
        return type(exc).__name__, None


def _state(book: OrderBook) -> tuple[object, ...]:
    if not book.valid:
        return (False, book.seq)
    bids, asks = book.snapshot()
    return (True, book.seq, book.ts_ns, bids, asks, book.depth(BID), book.depth(ASK), book.best_bid(), book.best_ask())


# --------------------------------------------------------------------------- property tests
# Prices on small grids (frequent deletes and re-adds, i.e. ghosts revived and popped), spelled several ways;
# bad values of every kind the wire could carry.
_GOOD_BID_PX = st.sampled_from([f"{i / 10:.1f}" for i in range(900, 1000)] + ["99.90", "95.0", "099.5", "95"])
_GOOD_ASK_PX = st.sampled_from([f"{i / 10:.1f}" for i in range(1000, 1100)] + ["100.00", "105.0", "1.05E+2"])
_GOOD_SIZES = st.one_of(
    st.sampled_from(["0", "0.000", "0E-8", "1", "2.5", " 3 ", "0.001"]),
    st.decimals(min_value=0, max_value=50, places=3).map(str),
    st.integers(min_value=0, max_value=9),
)
_BAD_VALUES = st.sampled_from(
    ["NaN", "nan", "sNaN", "Infinity", "-Infinity", "-1", "-0.5", "abc", "", "1.2.3", "0x10", 1.5, 100.0, True, None]
)
_BAD_PRICES = st.one_of(_BAD_VALUES, st.sampled_from(["0", "0.00", "-99.9", 0]))


def _pairs(prices: st.SearchStrategy[object], bad_rate: int) -> st.SearchStrategy[list[Any]]:
    good = st.tuples(prices, _GOOD_SIZES).map(list)
    bad = st.one_of(
        st.tuples(_BAD_PRICES, _GOOD_SIZES).map(list),
        st.tuples(prices, _BAD_VALUES).map(list),
        st.tuples(prices, _GOOD_SIZES),  # a tuple pair is fine
        st.sampled_from([["99.0"], ["99.0", "1", "2"], "12", {"99.0": "1"}, 5, [["99.0", "1"]], ["99.0", ["1"]]]),
    )
    return st.lists(st.one_of(*([good] * bad_rate), bad), max_size=30)


_STEP = st.tuples(
    st.sampled_from(["delta", "delta", "delta", "delta", "delta", "snapshot"]),
    _pairs(_GOOD_BID_PX, 30),
    _pairs(_GOOD_ASK_PX, 30),
    st.sampled_from(["next", "next", "next", "stale", "gap", "bridge"]),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    snap_bids=_pairs(_GOOD_BID_PX, 60),
    snap_asks=_pairs(_GOOD_ASK_PX, 60),
    steps=st.lists(_STEP, max_size=30),
    use_prev=st.booleans(),
)
def test_raw_path_equals_reference_path(
    snap_bids: list[Any], snap_asks: list[Any], steps: list[tuple[str, list[Any], list[Any], str]], use_prev: bool
) -> None:
    fast = OrderBook("FAST")
    ref = OrderBook("REF")
    got = _outcome(lambda: fast.apply_raw_snapshot(snap_bids, snap_asks, seq=10, ts_ns=1))
    want = _outcome(lambda: ref.apply_snapshot(_ref_levels(snap_bids), _ref_levels(snap_asks), seq=10, ts_ns=1))  # type: ignore[arg-type]
    assert got == want
    assert _state(fast) == _state(ref)
    for n, (kind, bids, asks, seqing) in enumerate(steps):
        base = ref.seq
        if kind == "snapshot":
            seq = base + 5
            got = _outcome(lambda: fast.apply_raw_snapshot(bids, asks, seq=seq, ts_ns=n))  # noqa: B023
            want = _outcome(lambda: ref.apply_snapshot(_ref_levels(bids), _ref_levels(asks), seq=seq, ts_ns=n))  # type: ignore[arg-type]  # noqa: B023
        else:
            seq, first, prev = {
                "next": (base + 2, base + 1, base),
                "stale": (base, base - 1, base - 2),
                "gap": (base + 4, base + 3, base + 2),
                "bridge": (base + 3, base, base - 1),
            }[seqing]
            kw: dict[str, Any] = {"seq": seq, "first_seq": first, "ts_ns": n}
            if use_prev:
                kw["prev_seq"] = prev
            got = _outcome(lambda: fast.apply_raw_delta(bids, asks, **kw))  # noqa: B023
            want = _outcome(lambda: ref.apply_delta(_ref_levels(bids), _ref_levels(asks), **kw))  # type: ignore[arg-type]  # noqa: B023
        assert got == want, (kind, seqing, bids, asks)
        assert _state(fast) == _state(ref)
        if not ref.valid:  # both resync from the same good snapshot
            fast.apply_raw_snapshot([["90.0", "1"]], [["110.0", "1"]], seq=ref.seq + 10)
            ref.apply_snapshot([(D("90.0"), D(1))], [(D("110.0"), D(1))], seq=ref.seq + 10)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    deltas=st.lists(
        st.tuples(
            st.lists(st.tuples(st.integers(1, 400), st.sampled_from(["0", "0", "1", "2.50"])), max_size=60),
            st.lists(st.tuples(st.integers(401, 800), st.sampled_from(["0", "0", "3", "0.1"])), max_size=60),
        ),
        max_size=40,
    )
)
def test_raw_path_many_ghosts_stay_exact(deltas: list[tuple[list[tuple[int, str]], list[tuple[int, str]]]]) -> None:
    """Wide grids and many deletes: ghosts accumulate past the compaction limit and are dropped; every query
    still matches a plain dict model."""
    book = OrderBook("DEEP")
    book.apply_raw_snapshot(
        [[str(i), "1"] for i in range(1, 400, 3)], [[str(i), "1"] for i in range(401, 800, 3)], seq=0
    )
    model_b = {D(i): D(1) for i in range(1, 400, 3)}
    model_a = {D(i): D(1) for i in range(401, 800, 3)}
    for n, (bids, asks) in enumerate(deltas, start=1):
        assert book.apply_raw_delta(
            [[str(p), s] for p, s in bids], [[str(p), s] for p, s in asks], seq=n, prev_seq=n - 1
        )
        for model, levels in ((model_b, bids), (model_a, asks)):
            for p, s in levels:
                if D(s):
                    model[D(p)] = D(s)
                else:
                    model.pop(D(p), None)
        want_b = sorted(model_b.items(), reverse=True)
        want_a = sorted(model_a.items())
        assert book.snapshot() == (want_b, want_a)
        assert book.depth(BID) == len(want_b) and book.depth(ASK) == len(want_a)
        assert book.best_bid() == (want_b[0] if want_b else None)
        assert book.best_ask() == (want_a[0] if want_a else None)
        for p, _ in bids:
            assert book.size_at(BID, D(p)) == model_b.get(D(p), 0)


# --------------------------------------------------------------------------- unit tests
def raw_book() -> OrderBook:
    book = OrderBook("T")
    book.apply_raw_snapshot([["99.9", "5"], ["99.8", "3"]], [["100.0", "2"], ["100.1", "3"]], seq=100, ts_ns=7)
    return book


def test_raw_snapshot_and_delta_apply_like_the_decimal_path() -> None:
    book = raw_book()
    assert book.valid and book.best_bid() == (D("99.9"), D(5)) and book.best_ask() == (D("100.0"), D(2))
    assert book.apply_raw_delta([["99.9", "0"], ["99.85", "1.5"]], [["100.0", "0.000"]], seq=101, first_seq=101)
    assert book.snapshot() == ([(D("99.85"), D("1.5")), (D("99.8"), D(3))], [(D("100.1"), D(3))])
    assert book.seq == 101 and book.updates == 2
    # the deleted best bid comes back (a ghost revived): still sorted, still exact
    assert book.apply_raw_delta([["99.9", "4"]], [], seq=102, first_seq=102)
    assert book.levels(BID, 3) == [(D("99.9"), D(4)), (D("99.85"), D("1.5")), (D("99.8"), D(3))]
    assert book.size_at(BID, D("99.90")) == 4 and book.size_at(ASK, D("100.0")) == 0
    assert book.apply_raw_delta([], [], seq=102, first_seq=102) is False  # stale


@pytest.mark.parametrize(
    ("bids", "asks", "reason"),
    [
        ([["NaN", "1"]], [], "not finite"),
        ([["Infinity", "1"]], [], "not finite"),
        ([["-99", "1"]], [], "must be > 0"),
        ([["0", "1"]], [], "must be > 0"),
        ([], [["100.5", "-1"]], "must be >= 0"),
        ([], [["100.5", "1e"]], "not a decimal number"),
        ([], [["100.5", 1.0]], "float is not accepted"),
        ([[99.5, "1"]], [], "float is not accepted"),
        ([[True, "1"]], [], "bool is not accepted"),
        ([["99.5", None]], [], "NoneType is not a decimal number"),
        ([["99.5"]], [], "is not a [price, size] pair"),
        ([["99.5", "1", "2"]], [], "is not a [price, size] pair"),
        (["12"], [], "is not a [price, size] pair"),  # a 2-char string must not unpack as a pair
        ([{"99.5": "1"}], [], "is not a [price, size] pair"),
        ([[["99.5"], "1"]], [], "list is not a decimal number"),  # unhashable
        ("99.5", [], "are not a list"),
    ],
)
def test_raw_delta_bad_values_invalidate_with_a_precise_reason(bids: Any, asks: Any, reason: str) -> None:
    book = raw_book()
    with pytest.raises(BookInvalid) as info:
        book.apply_raw_delta(bids, asks, seq=101, first_seq=101)
    assert type(info.value) is BookInvalid and reason in str(info.value)
    assert not book.valid and reason in book.invalid_reason
    with pytest.raises(BookInvalid):
        book.apply_raw_delta([], [], seq=102, first_seq=102)  # resync required
    book.apply_raw_snapshot([["99", "1"]], [["101", "1"]], seq=200)
    assert book.valid and book.apply_raw_delta([["99", "2"]], [], seq=201, first_seq=201)


def test_a_float_equal_to_a_cached_string_is_still_refused() -> None:
    book = raw_book()
    assert book.apply_raw_delta([["99.5", "1"], ["99.0", "2"]], [], seq=101, first_seq=101)  # "99.5" now cached
    with pytest.raises(BookInvalid, match="float"):
        book.apply_raw_delta([[99.5, "1"]], [], seq=102, first_seq=102)
    book.apply_raw_snapshot([["99", "1"]], [["101", "1"]], seq=200)
    with pytest.raises(BookInvalid, match="bool"):
        book.apply_raw_delta([["99", True]], [], seq=201, first_seq=201)  # True == 1 == a cached "1"? never hits


def test_ints_are_accepted_like_parse_price() -> None:
    book = raw_book()
    assert book.apply_raw_delta([[99, 4]], [[101, 0]], seq=101, first_seq=101)
    assert book.size_at(BID, D(99)) == 4 and book.depth(ASK) == 2


def test_raw_bad_snapshot_and_crossed_results() -> None:
    book = OrderBook("T")
    with pytest.raises(BookInvalid, match="bad snapshot value.*not finite"):
        book.apply_raw_snapshot([["99", "NaN"]], [], seq=1)
    assert not book.valid and book.best_bid() is None
    with pytest.raises(BookInvalid, match="crossed"):
        book.apply_raw_snapshot([["101", "1"]], [["100", "1"]], seq=1)
    book = raw_book()
    with pytest.raises(BookInvalid, match="crossed"):
        book.apply_raw_delta([["100.05", "1"]], [["100.1", "0"]], seq=101, first_seq=101)
    assert not book.valid


def test_raw_sequence_rules() -> None:
    book = raw_book()  # at 100, bridging
    with pytest.raises(SequenceGap):
        book.apply_raw_delta([], [], seq=110, first_seq=105, prev_seq=104)
    assert not book.valid
    book = raw_book()
    assert book.apply_raw_delta([], [], seq=103, first_seq=99, prev_seq=98)  # bridges the snapshot
    assert book.apply_raw_delta([], [], seq=104, first_seq=104, prev_seq=103)
    with pytest.raises(SequenceGap):
        book.apply_raw_delta([["NaN", "1"]], [], seq=106, first_seq=106, prev_seq=105)  # the gap is found first
    book = raw_book()
    assert book.apply_raw_delta([["NaN", "1"]], [], seq=100, first_seq=100, prev_seq=99) is False  # stale: unread
    assert book.valid


def test_the_caches_are_per_book_and_bounded() -> None:
    import trio_hedge.domain._book as book_module

    a, b = raw_book(), raw_book()
    a.apply_raw_delta([["99.5", "1"]], [], seq=101, first_seq=101)
    assert "99.5" in a._raw_px and "99.5" not in b._raw_px
    old = book_module._RAW_CACHE_MAX
    book_module._RAW_CACHE_MAX = 8
    try:
        for i in range(40):
            assert a.apply_raw_delta([[f"{50 + i}.5", f"{i}.25"]], [], seq=102 + i, first_seq=102 + i)
            assert len(a._raw_px) <= 8 and len(a._raw_qty) <= 8
    finally:
        book_module._RAW_CACHE_MAX = old
    assert a.valid and a.depth(BID) == 3 + 40  # every level landed, exact after the cache was cleared
    assert a.levels(BID, 2) == [(D("99.9"), D(5)), (D("99.8"), D(3))] and a.size_at(BID, D("89.5")) == D("39.25")


# --------------------------------------------------------------------------- RecordingReader.parse_raw
def _line(obj: dict[str, Any], recv_ns: int = 1_000) -> bytes:
    return f"{recv_ns} ".encode() + orjson.dumps(obj)


def _depth(U: int, u: int, pu: int, b: list[Any], a: list[Any]) -> bytes:  # noqa: N803
    data = {"e": "depthUpdate", "E": 6, "T": 5, "s": "BTCUSDT", "U": U, "u": u, "pu": pu, "b": b, "a": a}
    return _line({"stream": "btcusdt@depth@0ms", "data": data})


def test_parse_raw_returns_raw_deltas_and_merges_pre_snapshot_events() -> None:
    reader = RecordingReader()
    assert reader.parse_raw(_depth(95, 101, 94, [["99.7", "9"]], [])) is None  # before the snapshot: buffered
    snap = reader.parse_raw(_line({"lastUpdateId": 100, "bids": [["99.9", "1"]], "asks": [["100.1", "2"]]}))
    assert isinstance(snap, BookSnapshotMsg) and snap.seq == 101 and snap.bids == [(D("99.9"), D(1)), (D("99.7"), D(9))]
    msg = reader.parse_raw(_depth(102, 103, 101, [["99.9", "NaN"]], [["100.1", "0"]]))
    assert isinstance(msg, RawBookDeltaMsg) and msg.bids == [["99.9", "NaN"]] and msg.ts_ns == 5_000_000
    assert reader.stats.deltas == 1 and reader.stats.malformed == 0  # values are the book's to check
    book = OrderBook("B")
    book.apply_snapshot(snap.bids, snap.asks, seq=snap.seq)
    with pytest.raises(BookInvalid, match="not finite"):
        book.apply_raw_delta(msg.bids, msg.asks, seq=msg.seq, first_seq=msg.first_seq, prev_seq=msg.prev_seq)
    # line-level problems are still counted by the reader
    assert reader.parse_raw(_depth(105, 104, 103, [], [])) is None and reader.stats.malformed == 1
    assert reader.parse_raw(b"1 {not json") is None and reader.stats.malformed == 2


def test_parse_raw_bad_pre_snapshot_event_stops_the_merge() -> None:
    reader = RecordingReader()
    assert reader.parse_raw(_depth(95, 101, 94, [["-1", "9"]], [])) is None
    snap = reader.parse_raw(_line({"lastUpdateId": 100, "bids": [["99.9", "1"]], "asks": [["100.1", "2"]]}))
    assert isinstance(snap, BookSnapshotMsg) and snap.seq == 100  # unmerged
    assert reader.stats.malformed == 1 and "must be > 0" in reader.stats.last_error


def test_parse_raw_with_a_size_conversion_returns_decoded_deltas() -> None:
    from trio_hedge.sim._replay import ContractSpec

    reader = RecordingReader(ContractSpec(lot_size=D("0.1")))
    reader.parse_raw(_line({"lastUpdateId": 100, "bids": [["99.9", "1"]], "asks": [["100.1", "2"]]}))
    msg = reader.parse_raw(_depth(101, 101, 100, [["99.9", "1.25"]], []))
    assert isinstance(msg, BookDeltaMsg) and msg.bids == [(D("99.9"), D("1.2"))]


def test_recorded_stream_raw_and_decoded_paths_build_the_same_book() -> None:
    lines = [ln for ln in load_lines(USDM) if b'"depthUpdate"' in ln or b'"lastUpdateId"' in ln][:1500]
    books = []
    for raw in (True, False):
        reader = RecordingReader()
        book = OrderBook("BTCUSDT")
        applied = 0
        for line in lines:
            msg = reader.parse_raw(line) if raw else reader.parse(line)
            if isinstance(msg, BookSnapshotMsg):
                book.apply_snapshot(msg.bids, msg.asks, seq=msg.seq, ts_ns=msg.ts_ns)
            elif isinstance(msg, RawBookDeltaMsg):
                applied += book.apply_raw_delta(
                    msg.bids, msg.asks, seq=msg.seq, first_seq=msg.first_seq, prev_seq=msg.prev_seq, ts_ns=msg.ts_ns
                )
            elif isinstance(msg, BookDeltaMsg):
                applied += book.apply_delta(
                    msg.bids, msg.asks, seq=msg.seq, first_seq=msg.first_seq, prev_seq=msg.prev_seq, ts_ns=msg.ts_ns
                )
        assert book.valid and reader.stats.malformed == 0 and applied > 1000
        books.append((book.snapshot(), book.seq, book.ts_ns, book.depth(BID), book.depth(ASK)))
    assert books[0] == books[1]
