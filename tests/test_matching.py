"""Tests for the simulator's matching engine (trio_hedge/sim/_matching.py).

Hand-computable books: tick 0.1, lot 0.001. The standard book is

    bids 99.9 x 5, 99.8 x 3, 99.7 x 10        asks 100.0 x 2, 100.1 x 3, 100.2 x 4

Fees: maker 2 bps, taker 5 bps unless a test says otherwise (fee = price * size * bps / 10_000).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from trio_hedge.domain import (
    BadValue,
    BookInvalid,
    BookSide,
    Fill,
    Instrument,
    Level,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    PositionUpdate,
    SequenceGap,
    Side,
    TimeInForce,
    VenueEvent,
)
from trio_hedge.sim._matching import (
    REASON_BOOK_UNAVAILABLE,
    REASON_CANCELLED_BY_USER,
    REASON_DUPLICATE_CLIENT_ORDER_ID,
    REASON_FOK_NOT_FILLABLE,
    REASON_IOC_REMAINDER,
    REASON_POST_ONLY_WOULD_CROSS,
    REASON_REDUCE_ONLY_CAPPED,
    REASON_REDUCE_ONLY_WOULD_INCREASE,
    MatchingEngine,
)

D = Decimal
SYMBOL = "BTCUSDT"
INSTRUMENT = Instrument("sim", SYMBOL, "BTC", "USDT", D("0.1"), D("0.001"), D("0.001"))
BIDS = [("99.9", "5"), ("99.8", "3"), ("99.7", "10")]
ASKS = [("100.0", "2"), ("100.1", "3"), ("100.2", "4")]


def lv(pairs: Sequence[tuple[str, str]]) -> list[Level]:
    return [(D(p), D(s)) for p, s in pairs]


def make_engine(
    maker_bps: str = "2", taker_bps: str = "5", *, instrument: Instrument = INSTRUMENT, snapshot: bool = True
) -> MatchingEngine:
    eng = MatchingEngine(
        "sim", instrument, maker_fee_bps=D(maker_bps), taker_fee_bps=D(taker_bps), trade_id_prefix="T-"
    )
    if snapshot:
        assert eng.apply_snapshot(lv(BIDS), lv(ASKS), seq=100, ts_ns=1) == []
    return eng


def delta(
    eng: MatchingEngine, bids: Sequence[tuple[str, str]] = (), asks: Sequence[tuple[str, str]] = ()
) -> list[VenueEvent]:
    """A delta that continues the book exactly (Binance futures: pu == previous u)."""
    seq = eng.book.seq + 1
    return eng.apply_delta(lv(bids), lv(asks), seq=seq, first_seq=seq, prev_seq=eng.book.seq, ts_ns=seq)


def req(
    cid: str,
    side: Side,
    size: str,
    price: str | None = None,
    *,
    tif: TimeInForce = TimeInForce.GTT,
    post_only: bool = False,
    reduce_only: bool = False,
    symbol: str = SYMBOL,
) -> OrderRequest:
    return OrderRequest(
        client_order_id=cid,
        symbol=symbol,
        side=side,
        size=D(size),
        order_type=OrderType.LIMIT if price is not None else OrderType.MARKET,
        price=D(price) if price is not None else None,
        tif=tif,
        post_only=post_only,
        reduce_only=reduce_only,
    )


def fills_of(events: Sequence[VenueEvent]) -> list[Fill]:
    return [e for e in events if isinstance(e, Fill)]


def updates_of(events: Sequence[VenueEvent]) -> list[OrderUpdate]:
    return [e for e in events if isinstance(e, OrderUpdate)]


def sized(fills: Sequence[Fill]) -> list[tuple[Decimal, Decimal]]:
    return [(f.price, f.size) for f in fills]


def last_update(events: Sequence[VenueEvent]) -> OrderUpdate:
    ups = updates_of(events)
    assert ups, events
    return ups[-1]


def buy_ioc(eng: MatchingEngine, cid: str, size: str, price: str, ts_ns: int = 10) -> list[VenueEvent]:
    return eng.submit(req(cid, Side.BUY, size, price, tif=TimeInForce.IOC), ts_ns=ts_ns)


def sell_ioc(eng: MatchingEngine, cid: str, size: str, price: str, ts_ns: int = 10) -> list[VenueEvent]:
    return eng.submit(req(cid, Side.SELL, size, price, tif=TimeInForce.IOC), ts_ns=ts_ns)


# ====================================================================== maker queue model
def test_resting_order_fills_only_after_queue_ahead_has_traded() -> None:
    eng = make_engine()
    ev = eng.submit(req("q1", Side.BUY, "1", "99.9", post_only=True), ts_ns=5)
    assert [(u.status, u.filled_size, u.ts_ns) for u in updates_of(ev)] == [(OrderStatus.OPEN, D(0), 5)]
    assert fills_of(ev) == []
    # 5 ahead of us. A BUY aggressor at our price hits the asks, not our side: nothing moves.
    assert eng.apply_trade(D("99.9"), D("4"), Side.BUY, ts_ns=6) == []
    # 3 of the 5 ahead trade: still nothing for us.
    assert eng.apply_trade(D("99.9"), D("3"), Side.SELL, ts_ns=7) == []
    # 2.5 trade: 2 clear the queue, the 0.5 excess fills us at our price, as maker.
    ev = eng.apply_trade(D("99.9"), D("2.5"), Side.SELL, ts_ns=8)
    assert sized(fills_of(ev)) == [(D("99.9"), D("0.5"))]
    f = fills_of(ev)[0]
    assert f.is_maker and f.side is Side.BUY and f.ts_ns == 8 and f.trade_id == "T-1" and f.venue == "sim"
    assert eng.get_order("q1") is not None and eng.get_order("q1").status is OrderStatus.PARTIALLY_FILLED  # type: ignore[union-attr]
    # Next trade of 1: queue is empty now, fill min(1, remaining 0.5).
    ev = eng.apply_trade(D("99.9"), D("1"), Side.SELL, ts_ns=9)
    assert sized(fills_of(ev)) == [(D("99.9"), D("0.5"))]
    assert last_update(ev).status is OrderStatus.FILLED and last_update(ev).filled_size == D("1")
    assert eng.open_orders() == []
    assert eng.position().size == D("1") and eng.position().entry_price == D("99.9")
    # Filled orders no longer trade.
    assert eng.apply_trade(D("99.9"), D("10"), Side.SELL, ts_ns=10) == []


def test_queue_shrinks_when_the_level_decreases_and_never_grows() -> None:
    eng = make_engine()
    eng.submit(req("q1", Side.BUY, "1", "99.9", post_only=True), ts_ns=5)
    assert delta(eng, bids=[("99.9", "2")]) == []  # cancels ahead of us: queue 5 -> 2
    assert delta(eng, bids=[("99.9", "7")]) == []  # new size joins behind us: queue stays 2
    ev = eng.apply_trade(D("99.9"), D("2.4"), Side.SELL, ts_ns=20)
    assert sized(fills_of(ev)) == [(D("99.9"), D("0.4"))]


def test_level_deleted_puts_us_at_the_front() -> None:
    eng = make_engine()
    eng.submit(req("q1", Side.SELL, "1", "100.1", post_only=True), ts_ns=5)  # 3 ahead
    delta(eng, asks=[("100.1", "0")])
    ev = eng.apply_trade(D("100.1"), D("0.3"), Side.BUY, ts_ns=20)
    assert sized(fills_of(ev)) == [(D("100.1"), D("0.3"))]


def test_our_orders_at_one_price_share_a_trade_and_never_exceed_it() -> None:
    eng = make_engine()
    eng.submit(req("a", Side.BUY, "1", "99.9", post_only=True), ts_ns=5)  # queue 5
    eng.submit(req("b", Side.BUY, "1", "99.9", post_only=True), ts_ns=6)  # queue 5, and "a" ahead
    ev = eng.apply_trade(D("99.9"), D("6"), Side.SELL, ts_ns=7)
    assert [(f.client_order_id, f.size) for f in fills_of(ev)] == [("a", D("1"))]
    # Queue cleared for both; "a" is done, so "b" gets the next trade.
    ev = eng.apply_trade(D("99.9"), D("0.7"), Side.SELL, ts_ns=8)
    assert [(f.client_order_id, f.size) for f in fills_of(ev)] == [("b", D("0.7"))]


def test_trade_through_fills_at_our_price_regardless_of_queue() -> None:
    eng = make_engine()
    eng.submit(req("s1", Side.SELL, "1", "100.1", post_only=True), ts_ns=5)  # 3 ahead at 100.1
    assert eng.apply_trade(D("100.0"), D("5"), Side.BUY, ts_ns=6) == []  # below our sell: no fill
    ev = eng.apply_trade(D("100.2"), D("0.4"), Side.BUY, ts_ns=7)  # through our price
    assert sized(fills_of(ev)) == [(D("100.1"), D("0.4"))]
    ev = eng.apply_trade(D("100.3"), D("5"), Side.BUY, ts_ns=8)
    assert sized(fills_of(ev)) == [(D("100.1"), D("0.6"))]
    assert eng.get_order("s1").status is OrderStatus.FILLED  # type: ignore[union-attr]
    assert eng.position().size == D("-1")


def test_trade_through_budget_is_shared_best_price_first() -> None:
    eng = make_engine()
    eng.submit(req("lo", Side.BUY, "1", "99.8", post_only=True), ts_ns=5)
    eng.submit(req("hi", Side.BUY, "1", "99.9", post_only=True), ts_ns=6)
    ev = eng.apply_trade(D("99.7"), D("1.5"), Side.SELL, ts_ns=7)
    assert [(f.client_order_id, f.price, f.size) for f in fills_of(ev)] == [
        ("hi", D("99.9"), D("1")),
        ("lo", D("99.8"), D("0.5")),
    ]


def test_book_crossing_fills_at_our_price_up_to_crossing_size_once() -> None:
    eng = make_engine()
    eng.submit(req("b1", Side.BUY, "2", "99.9", post_only=True), ts_ns=5)
    # The market moves down through us: the bid at 99.9 goes, an ask of 0.5 appears at 99.9.
    ev = delta(eng, bids=[("99.9", "0")], asks=[("99.9", "0.5")])
    assert sized(fills_of(ev)) == [(D("99.9"), D("0.5"))]
    assert all(f.is_maker for f in fills_of(ev))
    assert fills_of(ev)[0].fee == D("99.9") * D("0.5") * D("2") / D("10000")
    # A delta elsewhere does not give the same 0.5 again.
    assert delta(eng, bids=[("99.8", "4")]) == []
    # The recording re-sets the 99.9 ask (to 1): fresh liquidity, fill 1 more at OUR price.
    ev = delta(eng, asks=[("99.9", "1")])
    assert sized(fills_of(ev)) == [(D("99.9"), D("1"))]
    # A snapshot that crosses us deeper: asks 99.5 x 0.2 and 99.8 x 0.1 (< our 99.9): 0.3 more at 99.9.
    ev = eng.apply_snapshot(
        lv([("99.4", "1")]), lv([("99.5", "0.2"), ("99.8", "0.1"), ("100.0", "9")]), seq=500, ts_ns=9
    )
    assert sized(fills_of(ev)) == [(D("99.9"), D("0.3"))]
    assert eng.get_order("b1").filled_size == D("1.8")  # type: ignore[union-attr]


def test_sell_crossed_by_rising_bid() -> None:
    eng = make_engine()
    eng.submit(req("s1", Side.SELL, "1", "100.1", post_only=True), ts_ns=5)
    ev = delta(eng, bids=[("100.1", "0.25"), ("100.2", "0.25")], asks=[("100.0", "0"), ("100.1", "0"), ("100.2", "0")])
    assert sized(fills_of(ev)) == [(D("100.1"), D("0.5"))]
    assert eng.position().size == D("-0.5")


# ====================================================================== post-only
def test_post_only_that_would_cross_is_rejected_never_filled() -> None:
    eng = make_engine()
    for cid, side, price in (("p1", Side.BUY, "100.0"), ("p2", Side.BUY, "100.2"), ("p3", Side.SELL, "99.9")):
        ev = eng.submit(req(cid, side, "1", price, post_only=True), ts_ns=5)
        assert [(u.status, u.reason) for u in updates_of(ev)] == [(OrderStatus.REJECTED, REASON_POST_ONLY_WOULD_CROSS)]
        assert fills_of(ev) == []
    assert eng.fills == [] and eng.open_orders() == []
    # One tick inside the spread is fine.
    ev = eng.submit(req("p4", Side.SELL, "1", "100.0", post_only=False), ts_ns=5)
    assert fills_of(ev) == []  # a sell at 100.0 does not cross a 99.9 bid: it rests
    assert eng.statistics().orders_rejected == 3


# ====================================================================== takers
def test_ioc_walks_levels_vwap_and_cancels_remainder_with_causal_events() -> None:
    eng = make_engine()
    ev = buy_ioc(eng, "i1", "6", "100.1", ts_ns=42)
    assert [type(e) for e in ev] == [Fill, OrderUpdate, PositionUpdate, Fill, OrderUpdate, PositionUpdate, OrderUpdate]
    f1, f2 = fills_of(ev)
    assert sized([f1, f2]) == [(D("100.0"), D("2")), (D("100.1"), D("3"))]
    assert not f1.is_maker and not f2.is_maker
    assert f1.fee == D("0.1") and f2.fee == D("0.15015")  # 200 * 5bps, 300.3 * 5bps
    ups = updates_of(ev)
    assert [(u.status, u.filled_size, u.reason) for u in ups] == [
        (OrderStatus.PARTIALLY_FILLED, D("2"), ""),
        (OrderStatus.PARTIALLY_FILLED, D("5"), ""),
        (OrderStatus.CANCELLED, D("5"), REASON_IOC_REMAINDER),
    ]
    positions = [e.position for e in ev if isinstance(e, PositionUpdate)]
    assert [p.size for p in positions] == [D("2"), D("5")]
    assert all(e.ts_ns == 42 for e in ev)
    order = eng.get_order("i1")
    assert order is not None and order.avg_fill_price == D("100.06")  # (200 + 300.3) / 5
    assert eng.position().entry_price == D("100.06")
    assert eng.position().realized_pnl == -(D("0.1") + D("0.15015"))
    assert eng.open_orders() == []


def test_ioc_with_nothing_within_limit_is_cancelled_unfilled() -> None:
    eng = make_engine()
    ev = sell_ioc(eng, "i1", "1", "100.0")
    assert [(u.status, u.filled_size, u.reason) for u in updates_of(ev)] == [
        (OrderStatus.CANCELLED, D(0), REASON_IOC_REMAINDER)
    ]
    assert eng.fills == []


def test_consumed_liquidity_is_not_available_twice_until_the_level_is_updated() -> None:
    eng = make_engine()
    assert sized(fills_of(buy_ioc(eng, "a", "1.5", "100.0"))) == [(D("100.0"), D("1.5"))]
    ev = buy_ioc(eng, "b", "1", "100.0")
    assert sized(fills_of(ev)) == [(D("100.0"), D("0.5"))] and last_update(ev).reason == REASON_IOC_REMAINDER
    ev = buy_ioc(eng, "c", "1", "100.0")
    assert fills_of(ev) == [] and last_update(ev).status is OrderStatus.CANCELLED
    # A delta that does not touch 100.0 restores nothing.
    delta(eng, asks=[("100.1", "3")])
    assert fills_of(buy_ioc(eng, "d", "1", "100.0")) == []
    # The recording re-sends 100.0 (even with the same size): fresh liquidity.
    delta(eng, asks=[("100.0", "2")])
    assert sized(fills_of(buy_ioc(eng, "e", "1", "100.0"))) == [(D("100.0"), D("1"))]


def test_walk_skips_consumed_levels_to_deeper_ones() -> None:
    eng = make_engine()
    buy_ioc(eng, "a", "2", "100.0")
    ev = buy_ioc(eng, "b", "1", "100.1")
    assert sized(fills_of(ev)) == [(D("100.1"), D("1"))]


def test_fok_fills_entirely_or_not_at_all() -> None:
    eng = make_engine()
    ev = eng.submit(req("f1", Side.BUY, "5.001", "100.1", tif=TimeInForce.FOK), ts_ns=5)
    assert [(u.status, u.filled_size, u.reason) for u in updates_of(ev)] == [
        (OrderStatus.CANCELLED, D(0), REASON_FOK_NOT_FILLABLE)
    ]
    assert eng.fills == []
    ev = eng.submit(req("f2", Side.BUY, "5", "100.1", tif=TimeInForce.FOK), ts_ns=6)
    assert sized(fills_of(ev)) == [(D("100.0"), D("2")), (D("100.1"), D("3"))]
    assert last_update(ev).status is OrderStatus.FILLED
    # Consumed liquidity counts: the same FOK again cannot fill.
    ev = eng.submit(req("f3", Side.BUY, "1", "100.1", tif=TimeInForce.FOK), ts_ns=7)
    assert last_update(ev).reason == REASON_FOK_NOT_FILLABLE and fills_of(ev) == []


def test_market_orders_walk_the_book_and_need_one() -> None:
    eng = make_engine()
    ev = eng.submit(req("m1", Side.BUY, "3"), ts_ns=5)
    assert sized(fills_of(ev)) == [(D("100.0"), D("2")), (D("100.1"), D("1"))]
    assert last_update(ev).status is OrderStatus.FILLED
    ev = eng.submit(req("m2", Side.SELL, "20"), ts_ns=6)  # bids hold 18
    assert sum(f.size for f in fills_of(ev)) == D("18")
    assert last_update(ev).status is OrderStatus.CANCELLED and last_update(ev).reason == REASON_IOC_REMAINDER
    assert eng.position().size == D("3") - D("18")
    # An empty opposite side: a market order is refused, a resting limit is not.
    eng2 = make_engine(snapshot=False)
    eng2.apply_snapshot(lv(BIDS), [], seq=1, ts_ns=1)
    ev = eng2.submit(req("m3", Side.BUY, "1"), ts_ns=2)
    assert [(u.status, u.reason) for u in updates_of(ev)] == [(OrderStatus.REJECTED, REASON_BOOK_UNAVAILABLE)]
    ev = eng2.submit(req("l1", Side.BUY, "1", "105.0"), ts_ns=3)
    assert last_update(ev).status is OrderStatus.OPEN


def test_gtt_limit_takes_what_crosses_and_rests_the_remainder_as_maker() -> None:
    eng = make_engine()
    ev = eng.submit(req("g1", Side.BUY, "7", "100.1"), ts_ns=5)
    assert sized(fills_of(ev)) == [(D("100.0"), D("2")), (D("100.1"), D("3"))]
    assert all(not f.is_maker for f in fills_of(ev))
    assert last_update(ev).status is OrderStatus.PARTIALLY_FILLED and last_update(ev).filled_size == D("5")
    assert [o.client_order_id for o in eng.open_orders()] == ["g1"]
    # It now rests at 100.1 with nobody ahead (no bids at 100.1): a SELL aggressor at 100.1 fills it as maker.
    ev = eng.apply_trade(D("100.1"), D("0.5"), Side.SELL, ts_ns=6)
    assert sized(fills_of(ev)) == [(D("100.1"), D("0.5"))] and fills_of(ev)[0].is_maker


# ====================================================================== fees
def test_fees_maker_rebate_and_taker_fee_signs() -> None:
    eng = make_engine(maker_bps="-1", taker_bps="4")
    eng.submit(req("mk", Side.BUY, "1", "99.9", post_only=True), ts_ns=1)
    maker = fills_of(eng.apply_trade(D("99.0"), D("1"), Side.SELL, ts_ns=2))[0]
    assert maker.fee == D("-0.00999")  # 99.9 * 1 * -1 / 10000: a rebate
    taker = fills_of(sell_ioc(eng, "tk", "1", "99.9"))[0]
    assert taker.fee == D("0.03996")  # 99.9 * 1 * 4 / 10000
    stats = eng.statistics()
    assert stats.fees_quote == D("0.02997") and stats.maker_fills == 1 and stats.taker_fills == 1
    # Round trip at the same price: realized PnL is minus the fees (the rebate counts in our favour).
    assert eng.position().size == 0 and eng.position().realized_pnl == D("-0.02997")


def test_bad_fee_is_refused() -> None:
    with pytest.raises(BadValue):
        MatchingEngine("sim", INSTRUMENT, maker_fee_bps=D("NaN"), taker_fee_bps=D(1), trade_id_prefix="x")


# ====================================================================== reduce-only
def test_reduce_only_rejected_when_flat_or_increasing() -> None:
    eng = make_engine()
    ev = eng.submit(req("r1", Side.SELL, "1", "99.9", tif=TimeInForce.IOC, reduce_only=True), ts_ns=1)
    assert [(u.status, u.reason) for u in updates_of(ev)] == [(OrderStatus.REJECTED, REASON_REDUCE_ONLY_WOULD_INCREASE)]
    buy_ioc(eng, "open", "1", "100.0")
    ev = eng.submit(req("r2", Side.BUY, "1", "100.0", tif=TimeInForce.IOC, reduce_only=True), ts_ns=2)
    assert last_update(ev).reason == REASON_REDUCE_ONLY_WOULD_INCREASE and fills_of(ev) == []
    assert eng.position().size == D("1")


def test_reduce_only_taker_is_capped_at_the_position() -> None:
    eng = make_engine()
    buy_ioc(eng, "open", "1", "100.0")
    ev = eng.submit(req("r1", Side.SELL, "3", "99.7", tif=TimeInForce.IOC, reduce_only=True), ts_ns=2)
    assert sized(fills_of(ev)) == [(D("99.9"), D("1"))]
    assert [(u.status, u.reason) for u in updates_of(ev)][-1] == (OrderStatus.CANCELLED, REASON_REDUCE_ONLY_CAPPED)
    assert eng.position().size == 0
    # FOK larger than the position cannot fill entirely.
    buy_ioc(eng, "open2", "1", "100.0")
    ev = eng.submit(req("r2", Side.SELL, "2", "99.7", tif=TimeInForce.FOK, reduce_only=True), ts_ns=3)
    assert last_update(ev).reason == REASON_FOK_NOT_FILLABLE and fills_of(ev) == []


def test_resting_reduce_only_is_capped_at_fill_time_and_never_flips() -> None:
    eng = make_engine()
    buy_ioc(eng, "open", "1", "100.0")
    ev = eng.submit(req("r1", Side.SELL, "2", "100.1", post_only=True, reduce_only=True), ts_ns=2)
    assert last_update(ev).status is OrderStatus.OPEN
    sell_ioc(eng, "part", "0.4", "99.9")  # the position shrinks to 0.6 while r1 rests
    ev = eng.apply_trade(D("100.2"), D("5"), Side.BUY, ts_ns=3)  # trade-through wants 2
    assert sized(fills_of(ev)) == [(D("100.1"), D("0.6"))]
    assert [(u.status, u.reason) for u in updates_of(ev)][-1] == (OrderStatus.CANCELLED, REASON_REDUCE_ONLY_CAPPED)
    assert eng.position().size == 0 and eng.open_orders() == []


def test_resting_reduce_only_gets_nothing_once_the_position_is_on_its_side() -> None:
    eng = make_engine()
    buy_ioc(eng, "open", "1", "100.0")
    eng.submit(req("r1", Side.SELL, "1", "100.1", post_only=True, reduce_only=True), ts_ns=2)
    sell_ioc(eng, "flip", "2", "99.9")  # now short 1: r1 would only increase it
    ev = eng.apply_trade(D("100.2"), D("5"), Side.BUY, ts_ns=3)
    assert fills_of(ev) == []
    assert [(u.status, u.reason) for u in updates_of(ev)] == [(OrderStatus.CANCELLED, REASON_REDUCE_ONLY_CAPPED)]
    assert eng.position().size == D("-1")


def test_reduce_only_gtt_that_crosses_takes_up_to_the_position_then_stops() -> None:
    eng = make_engine()
    buy_ioc(eng, "open", "1.5", "100.0")
    ev = eng.submit(req("r1", Side.SELL, "4", "99.8", reduce_only=True), ts_ns=2)
    assert sized(fills_of(ev)) == [(D("99.9"), D("1.5"))]
    assert last_update(ev).reason == REASON_REDUCE_ONLY_CAPPED and eng.open_orders() == []


# ====================================================================== position
def test_position_average_entry_realized_pnl_and_flip_through_zero() -> None:
    eng = make_engine(maker_bps="0", taker_bps="0")
    buy_ioc(eng, "b1", "1", "100.0")
    buy_ioc(eng, "b2", "1", "100.1")  # 100.0 has 1 left but the walk takes it first
    pos = eng.position()
    assert pos.size == D("2") and pos.entry_price == D("100.0")  # both at 100.0: 2 were available
    buy_ioc(eng, "b3", "2", "100.1")  # 100.1 x 2
    pos = eng.position()
    assert pos.size == D("4") and pos.entry_price == D("100.05") and pos.realized_pnl == 0
    sell_ioc(eng, "s1", "6", "99.8")  # 5 @ 99.9, 1 @ 99.8: closes 4, opens 2 short
    pos = eng.position()
    # closed 4 @ 99.9 vs 100.05 = -0.6; the flip opens -1 @ 99.9... and -1 @ 99.8: entry is the VWAP of the rest
    assert pos.size == D("-2")
    assert pos.realized_pnl == D("4") * (D("99.9") - D("100.05"))
    assert pos.entry_price == (D("99.9") + D("99.8")) / 2
    buy_ioc(eng, "b4", "2", "100.2")  # 100.1 x 1 @ 100.1, then 100.2 x 1
    pos = eng.position()
    assert pos.size == 0 and pos.entry_price is None
    expected = D("-0.6") + (D("99.85") - D("100.1")) + (D("99.85") - D("100.2"))
    assert pos.realized_pnl == expected


def test_realized_pnl_is_net_of_fees() -> None:
    eng = make_engine(maker_bps="0", taker_bps="10")
    buy_ioc(eng, "b", "1", "100.0")
    sell_ioc(eng, "s", "1", "99.9")
    fees = D("100.0") * D("0.001") + D("99.9") * D("0.001")
    assert eng.position().realized_pnl == D("-0.1") - fees


# ====================================================================== validation, ids, cancels
def test_invalid_orders_are_rejected_with_the_rule() -> None:
    inst = Instrument("sim", SYMBOL, "BTC", "USDT", D("0.1"), D("0.001"), D("0.002"), D("10"))
    eng = make_engine(instrument=inst)
    cases = {
        "tick": req("t", Side.BUY, "1", "99.95"),
        "lot": req("l", Side.BUY, "1.0005", "99.9"),
        "min size": req("m", Side.BUY, "0.001", "99.9"),
        "min notional": req("n", Side.BUY, "0.1", "99.9"),
        "symbol": req("s", Side.BUY, "1", "99.9", symbol="ETHUSDT"),
    }
    for rule, r in cases.items():
        ev = eng.submit(r, ts_ns=1)
        (u,) = updates_of(ev)
        assert u.status is OrderStatus.REJECTED and u.reason.startswith("invalid_order: "), (rule, u)
        assert eng.get_order(r.client_order_id) is not None
        assert eng.get_order(r.client_order_id).status is OrderStatus.REJECTED  # type: ignore[union-attr]
    assert "multiple of 0.1" in eng.get_order("t").reason  # type: ignore[union-attr]
    assert "min notional" in eng.get_order("n").reason  # type: ignore[union-attr]
    assert eng.statistics().orders_rejected == 5 and eng.statistics().orders_accepted == 0


def test_duplicate_client_order_ids_live_or_terminal_are_rejected_without_touching_the_original() -> None:
    eng = make_engine()
    eng.submit(req("x", Side.BUY, "1", "99.9", post_only=True), ts_ns=1)
    ev = eng.submit(req("x", Side.SELL, "1", "100.1", post_only=True), ts_ns=2)
    assert [(u.status, u.reason) for u in updates_of(ev)] == [(OrderStatus.REJECTED, REASON_DUPLICATE_CLIENT_ORDER_ID)]
    original = eng.get_order("x")
    assert original is not None and original.status is OrderStatus.OPEN and original.request.side is Side.BUY
    buy_ioc(eng, "y", "1", "100.0")  # terminal (FILLED)
    ev = buy_ioc(eng, "y", "1", "100.0")
    assert last_update(ev).reason == REASON_DUPLICATE_CLIENT_ORDER_ID and fills_of(ev) == []
    assert eng.get_order("y").status is OrderStatus.FILLED  # type: ignore[union-attr]
    assert eng.position().size == D("1")


def test_cancel_and_cancel_all() -> None:
    eng = make_engine()
    for cid, side, price in (("a", Side.BUY, "99.9"), ("b", Side.SELL, "100.1"), ("c", Side.BUY, "99.8")):
        eng.submit(req(cid, side, "1", price, post_only=True), ts_ns=1)
    ev = eng.cancel("b", ts_ns=2)
    assert [(u.client_order_id, u.status, u.reason, u.ts_ns) for u in updates_of(ev)] == [
        ("b", OrderStatus.CANCELLED, REASON_CANCELLED_BY_USER, 2)
    ]
    assert eng.apply_trade(D("100.5"), D("50"), Side.BUY, ts_ns=3) == []  # b is gone
    assert eng.cancel("b", ts_ns=4) == []  # terminal: nothing changes, no events
    assert eng.cancel("nope", ts_ns=4) == []  # unknown: no events
    assert eng.statistics().cancels_ignored == 2
    ev = eng.cancel_all(ts_ns=5)
    assert [(u.client_order_id, u.status) for u in updates_of(ev)] == [
        ("a", OrderStatus.CANCELLED),
        ("c", OrderStatus.CANCELLED),
    ]
    assert eng.open_orders() == [] and eng.cancel_all(ts_ns=6) == []
    assert eng.statistics().orders_cancelled == 3


def test_partially_filled_order_cancels_with_its_filled_size() -> None:
    eng = make_engine()
    eng.submit(req("a", Side.BUY, "2", "99.9", post_only=True), ts_ns=1)
    eng.apply_trade(D("99.0"), D("0.5"), Side.SELL, ts_ns=2)
    (u,) = updates_of(eng.cancel("a", ts_ns=3))
    assert u.status is OrderStatus.CANCELLED and u.filled_size == D("0.5")


# ====================================================================== book availability and gaps
def test_no_book_before_the_first_snapshot() -> None:
    eng = make_engine(snapshot=False)
    for r in (req("a", Side.BUY, "1", "99.9", post_only=True), req("b", Side.BUY, "1")):
        assert last_update(eng.submit(r, ts_ns=1)).reason == REASON_BOOK_UNAVAILABLE


def test_sequence_gap_propagates_and_the_engine_stays_consistent() -> None:
    eng = make_engine()
    eng.submit(req("rest", Side.BUY, "1", "99.9", post_only=True), ts_ns=1)  # queue 5
    eng.submit(req("rest2", Side.BUY, "1", "99.8", post_only=True), ts_ns=1)  # queue 3
    buy_ioc(eng, "t", "1", "100.0")
    with pytest.raises(SequenceGap):
        eng.apply_delta(lv([("99.9", "1")]), [], seq=200, first_seq=199, prev_seq=150, ts_ns=2)
    assert not eng.book.valid
    assert [o.client_order_id for o in eng.open_orders()] == ["rest", "rest2"]
    assert last_update(buy_ioc(eng, "t2", "1", "100.1")).reason == REASON_BOOK_UNAVAILABLE
    with pytest.raises(BookInvalid):  # still invalid: resync needed
        eng.apply_delta([], [], seq=201, first_seq=201, prev_seq=200, ts_ns=3)
    # Trades still fill the resting order (queue 5 at 99.9).
    assert sized(fills_of(eng.apply_trade(D("99.9"), D("5.2"), Side.SELL, ts_ns=4))) == [(D("99.9"), D("0.2"))]
    # The next snapshot restores taking (and clears consumed liquidity) and re-bounds the queue.
    eng.apply_snapshot(lv([("99.9", "7"), ("99.8", "0.1")]), lv(ASKS), seq=300, ts_ns=5)
    assert sized(fills_of(buy_ioc(eng, "t3", "2", "100.0"))) == [(D("100.0"), D("2"))]
    # rest's queue stays 0 (it does not grow back to 7); rest2's is bounded to 0.1.
    assert sized(fills_of(eng.apply_trade(D("99.9"), D("0.3"), Side.SELL, ts_ns=6))) == [(D("99.9"), D("0.3"))]
    eng.cancel("rest", ts_ns=7)
    assert sized(fills_of(eng.apply_trade(D("99.8"), D("0.3"), Side.SELL, ts_ns=8))) == [(D("99.8"), D("0.2"))]
    assert eng.statistics().book_errors == 2


def test_stale_delta_is_ignored() -> None:
    eng = make_engine()
    assert eng.apply_delta(lv([("99.9", "1")]), [], seq=90, first_seq=80, prev_seq=79, ts_ns=1) == []
    assert eng.book.size_at(BookSide.BID, D("99.9")) == D(5) and eng.book.seq == 100
    assert eng.statistics().stale_deltas == 1


def test_crossed_snapshot_raises_and_orders_stay() -> None:
    eng = make_engine()
    eng.submit(req("rest", Side.SELL, "1", "100.1", post_only=True), ts_ns=1)
    with pytest.raises(BookInvalid):
        eng.apply_snapshot(lv([("100.5", "1")]), lv([("100.0", "1")]), seq=500, ts_ns=2)
    assert [o.client_order_id for o in eng.open_orders()] == ["rest"] and eng.fills == []


def test_bad_trade_values_raise_bad_value() -> None:
    eng = make_engine()
    for price, size in ((D("NaN"), D(1)), (D(0), D(1)), (D(100), D(-1)), (D(100), D("Infinity"))):
        with pytest.raises(BadValue):
            eng.apply_trade(price, size, Side.BUY, ts_ns=1)
    with pytest.raises(BadValue):
        eng.apply_trade(D(100), D(1), "BUY", ts_ns=1)  # type: ignore[arg-type]
    with pytest.raises(BadValue):
        eng.apply_trade(100, D(1), Side.BUY, ts_ns=1)  # type: ignore[arg-type]


def test_zero_size_trade_is_a_no_op() -> None:
    eng = make_engine()
    eng.submit(req("a", Side.BUY, "1", "99.9", post_only=True), ts_ns=1)
    delta(eng, bids=[("99.9", "0")])  # front of the queue
    assert eng.apply_trade(D("99.9"), D("0"), Side.SELL, ts_ns=2) == []
    assert eng.statistics().trades == 1 and eng.fills == []


def test_fills_are_floored_to_the_lot_grid() -> None:
    eng = make_engine()
    eng.submit(req("a", Side.BUY, "1", "99.9", post_only=True), ts_ns=1)
    delta(eng, bids=[("99.9", "0")])  # front of the queue
    assert eng.apply_trade(D("99.9"), D("0.0005"), Side.SELL, ts_ns=2) == []
    assert sized(fills_of(eng.apply_trade(D("99.9"), D("0.0015"), Side.SELL, ts_ns=3))) == [(D("99.9"), D("0.001"))]


# ====================================================================== properties
PRICES = [D("99.0") + D("0.1") * i for i in range(21)]  # 99.0 .. 101.0
MID = D("100.0")
_size = st.integers(1, 3000).map(lambda n: D(n) / 1000)
_level_size = st.integers(0, 3000).map(lambda n: D(n) / 1000)
_price = st.sampled_from(PRICES)
_side = st.sampled_from([Side.BUY, Side.SELL])

_snapshot_op = st.tuples(
    st.just("snapshot"),
    st.lists(st.tuples(st.sampled_from(PRICES[:10]), _size), max_size=6),
    st.lists(st.tuples(st.sampled_from(PRICES[10:]), _size), max_size=6),
)
_delta_op = st.tuples(st.just("delta"), st.lists(st.tuples(_side, _price, _level_size), min_size=1, max_size=4))
_trade_op = st.tuples(st.just("trade"), _price, _size, _side)
_submit_op = st.tuples(
    st.just("submit"),
    _side,
    st.sampled_from(["gtt", "post", "ioc", "fok", "market"]),
    _price,
    _size,
    st.sampled_from([False, False, True]),  # reduce-only
)
_op_strategies: dict[str, st.SearchStrategy[tuple[object, ...]]] = {
    "delta": _delta_op,
    "trade": _trade_op,
    "submit": _submit_op,
    "cancel": st.tuples(st.just("cancel"), st.integers(0, 40)),
    "cancel_all": st.tuples(st.just("cancel_all")),
    "gap": st.tuples(st.just("gap")),
    "snapshot": _snapshot_op,
}
# Weighted: mostly market data and orders, rarely a cancel-all, a gap or a new snapshot.
_KINDS = ["delta"] * 8 + ["trade"] * 10 + ["submit"] * 10 + ["cancel"] * 3 + ["cancel_all", "gap"] + ["snapshot"] * 2
_ops = st.sampled_from(_KINDS).flatmap(lambda kind: _op_strategies[kind])


def _uncrossed_delta(
    book_bids: list[Level], book_asks: list[Level], levels: list[tuple[Side, Decimal, Decimal]]
) -> tuple[list[Level], list[Level]]:
    """Turn random level updates into a delta that keeps the book uncrossed: a bid at or above the asks
    removes those asks (the market moved up), and the other way round, as a real diff-depth event would."""
    bids = {p: s for p, s in book_bids}
    asks = {p: s for p, s in book_asks}
    out_b: dict[Decimal, Decimal] = {}
    out_a: dict[Decimal, Decimal] = {}
    for side, price, size in levels:
        mine, mine_out, other, other_out = (
            (bids, out_b, asks, out_a) if side is Side.BUY else (asks, out_a, bids, out_b)
        )
        mine[price] = size
        mine_out[price] = size
        if size > 0:
            for q in [q for q, s in other.items() if s > 0 and (q <= price if side is Side.BUY else q >= price)]:
                other[q] = D(0)
                other_out[q] = D(0)
    return list(out_b.items()), list(out_a.items())


def _check_event_order(events: Sequence[VenueEvent], eng: MatchingEngine) -> None:
    for i, e in enumerate(events):
        if isinstance(e, Fill):
            up, pu = events[i + 1], events[i + 2]
            assert isinstance(up, OrderUpdate) and up.client_order_id == e.client_order_id
            assert isinstance(pu, PositionUpdate)
            assert up.filled_size is not None and up.filled_size > 0


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_snapshot_op, st.lists(_ops, min_size=20, max_size=80))
def test_random_sequences_keep_the_invariants(first: tuple[object, ...], ops: list[tuple[object, ...]]) -> None:
    eng = make_engine("-1", "5", snapshot=False)
    _, bids0, asks0 = first
    eng.apply_snapshot(bids0, asks0, seq=1, ts_ns=0)  # type: ignore[arg-type]
    ids: list[str] = []
    requests: dict[str, OrderRequest] = {}
    taker_allowed: set[str] = set()
    seq = 1
    for n, op in enumerate(ops):
        kind = op[0]
        events: list[VenueEvent] = []
        if kind == "delta":
            bids, asks = eng.book.snapshot()
            bids, asks = _uncrossed_delta(bids, asks, op[1])  # type: ignore[arg-type]
            try:
                events = eng.apply_delta(bids, asks, seq=seq + 1, first_seq=seq + 1, prev_seq=seq, ts_ns=n)
            except BookInvalid:  # only when the book was already invalid (after a gap)
                assert not eng.book.valid
            seq += 1
        elif kind == "gap":
            with pytest.raises(BookInvalid):
                eng.apply_delta([], [], seq=seq + 5, first_seq=seq + 5, prev_seq=seq + 3, ts_ns=n)
            seq += 5
        elif kind == "snapshot":
            seq += 10
            events = eng.apply_snapshot(op[1], op[2], seq=seq, ts_ns=n)  # type: ignore[arg-type]
        elif kind == "trade":
            _, price, size, aggressor = op
            events = eng.apply_trade(price, size, aggressor, ts_ns=n)  # type: ignore[arg-type]
            fs = fills_of(events)
            assert sum((f.size for f in fs), D(0)) <= size  # type: ignore[operator]
            for f in fs:
                assert f.is_maker and f.price == requests[f.client_order_id].price
        elif kind == "submit":
            _, side, style, price, size, reduce_only = op
            cid = f"o{n}"
            r = OrderRequest(
                client_order_id=cid,
                symbol=SYMBOL,
                side=side,  # type: ignore[arg-type]
                size=size,  # type: ignore[arg-type]
                order_type=OrderType.MARKET if style == "market" else OrderType.LIMIT,
                price=None if style == "market" else price,  # type: ignore[arg-type]
                tif={"ioc": TimeInForce.IOC, "fok": TimeInForce.FOK}.get(str(style), TimeInForce.GTT),
                post_only=style == "post",
                reduce_only=bool(reduce_only),
            )
            ids.append(cid)
            requests[cid] = r
            if style != "post":
                taker_allowed.add(cid)
            events = eng.submit(r, ts_ns=n)
            for f in fills_of(events):
                assert not f.is_maker  # fills during submit are taker fills
                if r.price is not None:
                    assert f.price <= r.price if side is Side.BUY else f.price >= r.price
        elif kind == "cancel":
            if ids:
                events = eng.cancel(ids[int(op[1]) % len(ids)], ts_ns=n)  # type: ignore[call-overload]
        else:
            events = eng.cancel_all(ts_ns=n)
            assert all(isinstance(e, OrderUpdate) and e.status is OrderStatus.CANCELLED for e in events)
        _check_event_order(events, eng)
        for f in fills_of(events):
            if not f.is_maker:
                assert f.client_order_id in taker_allowed  # a post-only order is never a taker

    # ---- invariants over the whole run
    fills = eng.fills
    event(f"maker fills: {min(eng.statistics().maker_fills, 3)}")
    event(f"taker fills: {min(eng.statistics().taker_fills, 3)}")
    event(f"book errors: {min(eng.statistics().book_errors, 1)}")
    event(f"reduce-only fills: {min(sum(1 for f in fills if requests[f.client_order_id].reduce_only), 1)}")
    event(f"open at end: {min(len(eng.open_orders()), 1)}")
    by_order: dict[str, Decimal] = {}
    for f in fills:
        by_order[f.client_order_id] = by_order.get(f.client_order_id, D(0)) + f.size
    open_ids = {o.client_order_id for o in eng.open_orders()}
    for cid in ids:
        o = eng.get_order(cid)
        assert o is not None
        filled = by_order.get(cid, D(0))
        assert o.filled_size == filled <= o.request.size  # never overfills
        if o.status is OrderStatus.FILLED:
            assert filled == o.request.size
        elif o.status is OrderStatus.OPEN:
            assert filled == 0
        elif o.status is OrderStatus.PARTIALLY_FILLED:
            assert 0 < filled < o.request.size
        elif o.status is OrderStatus.REJECTED:
            assert filled == 0
        else:
            assert o.status is OrderStatus.CANCELLED
        assert (cid in open_ids) == (o.status in (OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED))
        if o.request.tif is TimeInForce.FOK:
            assert filled in (D(0), o.request.size)
    pos = eng.position()
    assert pos.size == sum((f.signed_size for f in fills), D(0))
    fee_total = D(0)
    for f in fills:
        bps = D("-1") if f.is_maker else D("5")
        assert f.fee == f.price * f.size * bps / 10000
        fee_total += f.fee
    assert eng.statistics().fees_quote == fee_total and eng.statistics().fills == len(fills)
    # Cash accounting: realized PnL == cash flow (-sum of signed notionals - fees) + size * entry.
    cash = -sum((f.signed_size * f.price for f in fills), D(0)) - fee_total
    assert (pos.entry_price is None) == (pos.size == 0)
    assert abs(pos.realized_pnl - cash - pos.size * (pos.entry_price or D(0))) < D("1e-18")
    # Reduce-only fills never increase or flip the position.
    running = D(0)
    for f in fills:
        after = running + f.signed_size
        if requests[f.client_order_id].reduce_only:
            assert abs(after) < abs(running) and (after == 0 or (after > 0) == (running > 0))
        running = after
