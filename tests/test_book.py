"""Tests for the L2 order book (trio_hedge/domain/_book.py).

Hand-computable books. The standard one (seq 100):

    bids 99.9 x 5, 99.8 x 3, 99.7 x 10        asks 100.0 x 2, 100.1 x 3, 100.2 x 4
"""

from __future__ import annotations

import copy
import pickle
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trio_hedge.domain import BadValue, BookInvalid, BookSide, Level, OrderBook, SequenceGap, walk
from trio_hedge.domain._book import CheckedLevels

D = Decimal
BID, ASK = BookSide.BID, BookSide.ASK


def lv(*pairs: tuple[str, str]) -> list[Level]:
    return [(D(p), D(s)) for p, s in pairs]


STD_BIDS = lv(("99.9", "5"), ("99.8", "3"), ("99.7", "10"))
STD_ASKS = lv(("100.0", "2"), ("100.1", "3"), ("100.2", "4"))


def std_book(seq: int = 100) -> OrderBook:
    book = OrderBook("TEST")
    book.apply_snapshot(STD_BIDS, STD_ASKS, seq=seq, ts_ns=7)
    return book


# --------------------------------------------------------------------------- snapshot and deltas
def test_new_book_is_invalid_and_rejects_deltas() -> None:
    book = OrderBook("TEST")
    assert not book.valid and book.invalid_reason
    assert book.best_bid() is None and book.best_ask() is None and book.mid() is None
    with pytest.raises(BookInvalid):
        book.apply_delta(lv(("1", "1")), [], seq=1)


def test_snapshot_then_deltas() -> None:
    book = std_book()
    assert book.valid and book.seq == 100 and book.ts_ns == 7 and book.updates == 1
    assert book.best_bid() == (D("99.9"), D(5)) and book.best_ask() == (D("100.0"), D(2))
    assert book.mid() == D("99.95")
    # bridging delta: change a size, add a level on each side, delete one
    assert book.apply_delta(
        lv(("99.9", "6"), ("99.85", "1")),
        lv(("100.0", "0"), ("100.05", "7")),
        seq=105,
        first_seq=101,
        prev_seq=99,
        ts_ns=9,
    )
    assert book.seq == 105 and book.ts_ns == 9 and book.updates == 2
    assert book.levels(BID, 10) == lv(("99.9", "6"), ("99.85", "1"), ("99.8", "3"), ("99.7", "10"))
    assert book.levels(ASK, 10) == lv(("100.05", "7"), ("100.1", "3"), ("100.2", "4"))
    # continuing delta (pu == previous u)
    assert book.apply_delta(lv(("99.7", "0")), lv(("100.2", "1")), seq=110, first_seq=108, prev_seq=105)
    assert book.levels(BID, 10) == lv(("99.9", "6"), ("99.85", "1"), ("99.8", "3"))
    assert book.levels(ASK, 10) == lv(("100.05", "7"), ("100.1", "3"), ("100.2", "1"))
    assert book.depth(BID) == 3 and book.depth(ASK) == 3


def test_snapshot_ignores_zero_sizes_and_sorts() -> None:
    book = OrderBook("TEST")
    book.apply_snapshot(lv(("99.7", "1"), ("99.9", "2"), ("99.8", "0")), lv(("100.2", "1"), ("100.0", "3")), seq=1)
    assert book.levels(BID, 5) == lv(("99.9", "2"), ("99.7", "1"))
    assert book.levels(ASK, 5) == lv(("100.0", "3"), ("100.2", "1"))
    assert book.size_at(BID, D("99.8")) == 0


def test_zero_size_deletes_and_deleting_an_absent_level_is_harmless() -> None:
    book = std_book()
    book.apply_delta(lv(("99.9", "0"), ("50", "0")), lv(("100.0", "0")), seq=101, first_seq=101)
    assert book.best_bid() == (D("99.8"), D(3)) and book.best_ask() == (D("100.1"), D(3))
    assert book.size_at(BID, D("99.9")) == 0 and book.depth(BID) == 2
    # the deleted level comes back with a new size
    book.apply_delta(lv(("99.9", "4")), [], seq=102, first_seq=102)
    assert book.levels(BID, 5) == lv(("99.9", "4"), ("99.8", "3"), ("99.7", "10"))


@pytest.mark.parametrize("wrap", [list, CheckedLevels], ids=["plain", "checked"])
def test_deleted_inner_levels_come_back_once(wrap: type[list[Level]]) -> None:
    def lv(*pairs: tuple[str, str]) -> list[Level]:
        return wrap([(D(p), D(s)) for p, s in pairs])

    book = std_book()
    book.apply_delta(lv(("99.8", "0")), lv(("100.1", "0")), seq=101, first_seq=101)
    assert book.levels(BID, 5) == lv(("99.9", "5"), ("99.7", "10"))
    assert book.levels(ASK, 5) == lv(("100.0", "2"), ("100.2", "4"))
    book.apply_delta(lv(("99.8", "7"), ("99.80", "8")), lv(("100.10", "8")), seq=102, first_seq=102)
    assert book.levels(BID, 5) == lv(("99.9", "5"), ("99.8", "8"), ("99.7", "10"))
    assert book.levels(ASK, 5) == lv(("100.0", "2"), ("100.1", "8"), ("100.2", "4"))
    assert book.depth(BID) == 3 and book.depth(ASK) == 3
    # delete again, twice in one delta, then re-add
    book.apply_delta(lv(("99.8", "0"), ("99.8", "0")), lv(("100.1", "0")), seq=103, first_seq=103)
    book.apply_delta(lv(("99.8", "1")), lv(("100.1", "1")), seq=104, first_seq=104)
    assert book.snapshot() == (
        lv(("99.9", "5"), ("99.8", "1"), ("99.7", "10")),
        lv(("100.0", "2"), ("100.1", "1"), ("100.2", "4")),
    )


def test_a_side_can_be_emptied_and_refilled() -> None:
    book = std_book()
    book.apply_delta([], lv(("100.0", "0"), ("100.1", "0"), ("100.2", "0")), seq=101, first_seq=101)
    assert book.best_ask() is None and book.mid() is None and book.levels(ASK, 3) == []
    assert book.valid  # one empty side is not crossed
    book.apply_delta([], lv(("101", "1")), seq=102, first_seq=102)
    assert book.best_ask() == (D(101), D(1))


def test_stale_delta_dropped() -> None:
    book = std_book()
    assert book.apply_delta(lv(("99.9", "1")), [], seq=100, first_seq=90) is False
    assert book.apply_delta(lv(("99.9", "1")), [], seq=95, first_seq=90, prev_seq=80) is False
    assert book.best_bid() == (D("99.9"), D(5)) and book.seq == 100 and book.updates == 1 and book.valid


def test_bridging_rule() -> None:
    # the first delta after the snapshot must have U <= S + 1 (and u > S)
    book = std_book(100)
    assert book.apply_delta(lv(("99.9", "1")), [], seq=120, first_seq=90, prev_seq=89)
    book = std_book(100)
    assert book.apply_delta(lv(("99.9", "1")), [], seq=120, first_seq=101)
    book = std_book(100)
    with pytest.raises(SequenceGap) as info:
        book.apply_delta(lv(("99.9", "1")), [], seq=120, first_seq=102, prev_seq=95)
    assert not book.valid and info.value.expected == 101 and info.value.got == 102
    assert book.best_bid() == (D("99.9"), D(5))  # nothing of the rejected delta was applied


def test_snapshot_cut_at_an_event_boundary_is_continued_by_prev_seq() -> None:
    # A snapshot at S followed by the event whose pu == S continues it exactly, even when U > S + 1
    # (Binance futures ids are not contiguous).
    book = std_book(100)
    assert book.apply_delta(lv(("99.9", "1")), [], seq=130, first_seq=125, prev_seq=100)
    assert book.valid and book.seq == 130


def test_gap_via_prev_seq_invalidates_until_new_snapshot() -> None:
    book = std_book(100)
    book.apply_delta([], [], seq=110, first_seq=101, prev_seq=100)
    with pytest.raises(SequenceGap) as info:
        book.apply_delta(lv(("99.9", "1")), [], seq=130, first_seq=121, prev_seq=120)
    assert info.value.expected == 110 and info.value.got == 120
    assert not book.valid and "gap" in book.invalid_reason
    with pytest.raises(BookInvalid) as again:
        book.apply_delta([], [], seq=140, first_seq=131, prev_seq=130)
    assert not isinstance(again.value, SequenceGap) and "resync" in str(again.value)
    book.apply_snapshot(STD_BIDS, STD_ASKS, seq=200)
    assert book.valid and book.invalid_reason == ""
    assert book.apply_delta(lv(("99.9", "2")), [], seq=201, first_seq=201)
    assert book.best_bid() == (D("99.9"), D(2))


def test_gap_via_first_seq_without_prev_seq() -> None:
    book = std_book(100)
    book.apply_delta([], [], seq=105, first_seq=101)
    assert book.apply_delta([], [], seq=107, first_seq=106)  # U == previous u + 1
    with pytest.raises(SequenceGap) as info:
        book.apply_delta([], [], seq=120, first_seq=110)
    assert info.value.expected == 108 and info.value.got == 110
    assert not book.valid
    with pytest.raises(BookInvalid):
        book.apply_delta([], [], seq=121, first_seq=121)


def test_crossed_snapshot_rejected() -> None:
    book = OrderBook("TEST")
    with pytest.raises(BookInvalid, match="crossed"):
        book.apply_snapshot(lv(("100.0", "1")), lv(("100.0", "1")), seq=1)
    assert not book.valid


def test_crossed_delta_rejected() -> None:
    book = std_book()
    with pytest.raises(BookInvalid, match="crossed"):
        book.apply_delta(lv(("100.1", "1")), [], seq=101, first_seq=101)
    assert not book.valid and "crossed" in book.invalid_reason
    with pytest.raises(BookInvalid):
        book.apply_delta([], [], seq=102, first_seq=102)


BAD_LEVELS = [
    pytest.param((D("NaN"), D(1)), id="nan-price"),
    pytest.param((D("sNaN"), D(1)), id="snan-price"),
    pytest.param((D("Infinity"), D(1)), id="inf-price"),
    pytest.param((D("-1"), D(1)), id="negative-price"),
    pytest.param((D("0"), D(1)), id="zero-price"),
    pytest.param((D("1"), D("-0.5")), id="negative-size"),
    pytest.param((D("1"), D("NaN")), id="nan-size"),
    pytest.param((D("1"), D("Infinity")), id="inf-size"),
    pytest.param((1.5, D(1)), id="float-price"),
    pytest.param((D(1), "2"), id="str-size"),
]


@pytest.mark.parametrize("bad", BAD_LEVELS)
@pytest.mark.parametrize("side", ["bids", "asks"])
def test_bad_delta_value_invalidates(bad: Level, side: str) -> None:
    book = std_book()
    bids, asks = ([bad], []) if side == "bids" else ([], [bad])
    with pytest.raises(BookInvalid, match="bad delta value"):
        book.apply_delta(bids, asks, seq=101, first_seq=101)
    assert not book.valid
    with pytest.raises(BookInvalid):
        book.apply_delta([], [], seq=102, first_seq=102)


@pytest.mark.parametrize("bad", BAD_LEVELS)
def test_bad_snapshot_value_invalidates(bad: Level) -> None:
    book = std_book()
    with pytest.raises(BookInvalid, match="bad snapshot value"):
        book.apply_snapshot([*STD_BIDS, bad], STD_ASKS, seq=200)
    assert not book.valid
    assert book.best_bid() is None and book.levels(BID, 5) == []  # no half-built state is readable


@pytest.mark.parametrize("bad", BAD_LEVELS)
def test_checked_levels_refuse_bad_values(bad: Level) -> None:
    with pytest.raises(BadValue):
        CheckedLevels([bad])
    good = CheckedLevels(STD_BIDS)
    with pytest.raises(BadValue):
        good.append(bad)
    with pytest.raises(BadValue):
        good.extend([bad])
    with pytest.raises(BadValue):
        good.insert(0, bad)
    with pytest.raises(BadValue):
        good[0] = bad
    with pytest.raises(BadValue):
        good[0:1] = [bad]
    with pytest.raises(BadValue):
        good += [bad]
    assert good == STD_BIDS  # unchanged by every refused mutation


def test_checked_levels_refuse_non_tuple_items() -> None:
    with pytest.raises(BadValue):
        CheckedLevels([[D(1), D(1)]])  # type: ignore[list-item]
    with pytest.raises(BadValue):
        CheckedLevels([(D(1), D(1), D(1))])  # type: ignore[list-item]


def test_checked_levels_behave_as_lists_and_survive_copies() -> None:
    checked = CheckedLevels(STD_BIDS)
    assert checked == STD_BIDS and isinstance(checked, list)
    checked.sort()
    checked.pop()
    checked.append((D(50), D(1)))
    for clone in (copy.copy(checked), copy.deepcopy(checked), pickle.loads(pickle.dumps(checked))):
        assert type(clone) is CheckedLevels and clone == checked
    book = OrderBook("TEST")
    book.apply_snapshot(checked, CheckedLevels(STD_ASKS), seq=1)
    assert book.levels(BID, 5) == lv(("99.8", "3"), ("99.7", "10"), ("50", "1"))


def test_checked_levels_are_applied_like_plain_lists() -> None:
    plain, checked = std_book(), std_book()
    bids = lv(("99.9", "0"), ("99.85", "2"), ("99.7", "1"))
    asks = lv(("100.1", "0"), ("100.3", "5"))
    plain.apply_delta(bids, asks, seq=101, first_seq=101)
    checked.apply_delta(CheckedLevels(bids), CheckedLevels(asks), seq=101, first_seq=101)
    assert (
        plain.snapshot()
        == checked.snapshot()
        == (
            lv(("99.85", "2"), ("99.8", "3"), ("99.7", "1")),
            lv(("100.0", "2"), ("100.2", "4"), ("100.3", "5")),
        )
    )


def test_non_pair_level_is_a_book_error() -> None:
    book = std_book()
    with pytest.raises(BookInvalid):
        book.apply_delta([D(1)], [], seq=101, first_seq=101)  # type: ignore[list-item]
    assert not book.valid


# --------------------------------------------------------------------------- depth queries
def test_levels_and_cumulative() -> None:
    book = std_book()
    assert book.levels(BID, 2) == lv(("99.9", "5"), ("99.8", "3"))
    assert book.levels(ASK, 1) == lv(("100.0", "2"))
    assert book.levels(BID, 0) == [] and book.levels(ASK, -1) == []
    assert book.cumulative(BID, 3) == lv(("99.9", "5"), ("99.8", "8"), ("99.7", "18"))
    assert book.cumulative(ASK, 5) == lv(("100.0", "2"), ("100.1", "5"), ("100.2", "9"))
    assert book.snapshot(depth=1) == (lv(("99.9", "5")), lv(("100.0", "2")))
    assert book.snapshot() == (STD_BIDS, STD_ASKS)
    assert list(book.iter_levels(ASK)) == STD_ASKS


def test_estimate_fill_vwap_worst_and_partial() -> None:
    book = std_book()
    # buy 4 from the asks: 2 @ 100.0 + 2 @ 100.1 = 400.2 -> vwap 100.05
    est = book.estimate_fill(ASK, D(4))
    assert (est.filled, est.vwap, est.worst_price, est.levels_used, est.complete) == (
        D(4),
        D("100.05"),
        D("100.1"),
        2,
        True,
    )
    # sell 9 into the bids: 5 @ 99.9 + 3 @ 99.8 + 1 @ 99.7 = 499.5 + 299.4 + 99.7 = 898.6 -> vwap 99.8444...
    est = book.estimate_fill(BID, D(9))
    assert est.filled == 9 and est.worst_price == D("99.7") and est.levels_used == 3
    assert est.vwap == D("898.6") / 9
    # limited: buy 10 but not above 100.1 -> only 5 available
    est = book.estimate_fill(ASK, D(10), limit_price=D("100.1"))
    assert (est.filled, est.worst_price, est.complete) == (D(5), D("100.1"), False)
    assert est.vwap == (D("200.0") + D("300.3")) / 5
    # a limit that nothing satisfies
    est = book.estimate_fill(BID, D(1), limit_price=D(100))
    assert (est.filled, est.vwap, est.worst_price, est.levels_used) == (D(0), None, None, 0)
    # more than the whole side
    est = book.estimate_fill(ASK, D(100))
    assert est.filled == 9 and not est.complete and est.worst_price == D("100.2")


def test_walk_on_plain_levels() -> None:
    est = walk(lv(("10", "1"), ("11", "1")), D("1.5"), None, ASK)
    assert est.vwap == (D(10) + D("5.5")) / D("1.5") and est.worst_price == D(11)


def test_liquidity_within() -> None:
    book = std_book()
    assert book.liquidity_within(ASK, D("100.1")) == 5
    assert book.liquidity_within(ASK, D("99.99")) == 0
    assert book.liquidity_within(BID, D("99.8")) == 8
    assert book.liquidity_within(BID, D("0.1")) == 18


def test_many_deletes_then_queries_stay_exact() -> None:
    # Deleting most of a deep side (forces the internal compaction) leaves exact depth queries.
    bids = [(D(1000 + i), D(1)) for i in range(400)]
    asks = [(D(2000 + i), D(2)) for i in range(400)]
    book = OrderBook("DEEP")
    book.apply_snapshot(bids, asks, seq=1)
    book.apply_delta(
        [(D(1000 + i), D(0)) for i in range(0, 400, 2)] + [(D(1399), D(0))],
        [(D(2000 + i), D(0)) for i in range(1, 400, 2)] + [(D(2000), D(0))],
        seq=2,
        first_seq=2,
    )
    want_bids = [(D(1000 + i), D(1)) for i in range(397, 0, -2)]
    want_asks = [(D(2000 + i), D(2)) for i in range(2, 400, 2)]
    assert book.snapshot() == (want_bids, want_asks)
    assert book.depth(BID) == 199 and book.depth(ASK) == 199
    assert book.best_bid() == (D(1397), D(1)) and book.best_ask() == (D(2002), D(2))
    book.apply_delta([(D(1398), D(5))], [(D(2001), D(3))], seq=3, first_seq=3)
    assert book.levels(BID, 2) == [(D(1398), D(5)), (D(1397), D(1))]
    assert book.levels(ASK, 2) == [(D(2001), D(3)), (D(2002), D(2))]


# --------------------------------------------------------------------------- property test
# Bids live on a grid below 100, asks above it, so a random sequence never crosses; the grids are small so that
# levels are often deleted and re-added (the lazy-deletion path), and some prices differ only in their exponent.
_BID_PRICES = st.sampled_from([D(i) / 10 for i in range(900, 1000)] + [D("99.90"), D("95.0")])
_ASK_PRICES = st.sampled_from([D(i) / 10 for i in range(1000, 1100)] + [D("100.00"), D("105.00")])
_SIZES = st.one_of(
    st.just(D(0)),
    st.just(D("0.000")),
    st.decimals(min_value=0, max_value=50, places=3),
    st.decimals(min_value="0.001", max_value=5, places=3),
)
_SIDE_LEVELS = st.lists(st.tuples(_BID_PRICES, _SIZES), max_size=40)
_DELTAS = st.lists(
    st.tuples(
        st.lists(st.tuples(_BID_PRICES, _SIZES), max_size=40),
        st.lists(st.tuples(_ASK_PRICES, _SIZES), max_size=40),
        st.booleans(),
    ),
    max_size=25,
)


def _reference_apply(side: dict[Decimal, Decimal], levels: list[Level]) -> None:
    for price, size in levels:
        if size == 0:
            side.pop(price, None)
        else:
            side[price] = size


def _reference_snapshot(levels: list[Level]) -> dict[Decimal, Decimal]:
    # a snapshot lists levels: zero-size entries are ignored (not deletes); a repeated price keeps its last size
    return {price: size for price, size in levels if size != 0}


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    snap_bids=st.lists(st.tuples(_BID_PRICES, _SIZES), max_size=300),
    snap_asks=st.lists(st.tuples(_ASK_PRICES, _SIZES), max_size=300),
    deltas=_DELTAS,
)
def test_book_matches_reference_model(
    snap_bids: list[Level], snap_asks: list[Level], deltas: list[tuple[list[Level], list[Level], bool]]
) -> None:
    ref_bids = _reference_snapshot(snap_bids)
    ref_asks = _reference_snapshot(snap_asks)
    book = OrderBook("PROP")
    book.apply_snapshot(snap_bids, CheckedLevels(snap_asks), seq=0)
    for i, (bids, asks, checked) in enumerate(deltas, start=1):
        _reference_apply(ref_bids, bids)
        _reference_apply(ref_asks, asks)
        if checked:
            bids, asks = CheckedLevels(bids), CheckedLevels(asks)
        assert book.apply_delta(bids, asks, seq=i, prev_seq=i - 1 if i > 1 else None, first_seq=i)
        want_bids = sorted(ref_bids.items(), reverse=True)
        want_asks = sorted(ref_asks.items())
        assert book.snapshot() == (want_bids, want_asks)
        assert book.best_bid() == (want_bids[0] if want_bids else None)
        assert book.best_ask() == (want_asks[0] if want_asks else None)
        assert book.depth(BID) == len(want_bids) and book.depth(ASK) == len(want_asks)
        assert book.levels(ASK, 3) == want_asks[:3] and book.levels(BID, 3) == want_bids[:3]
        for price, _ in bids:
            assert book.size_at(BID, price) == ref_bids.get(price, 0)
    assert book.valid and book.seq == len(deltas)
