"""Smart routing of the hedge and the quoting gates (issue 6).

Depth analysis and the arrival-price cap on plain books; the router's fallback ladder on the in-process
simulator over thin synthetic books (what our takers consume stays consumed, so the book can show liquidity
that is gone); partial fills hedged exactly once with duplicated stream events and a slow hedge venue; the
edge gate and price band on the full market scope.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st
from loguru import logger

from trio_hedge.domain import BookSide, OrderBook, OrderStatus, Side
from trio_hedge.engine import (
    HedgeFailed,
    Hedger,
    HedgeRouter,
    MarketStats,
    OrderTracker,
    RiskEngine,
    analyze_depth,
    cap_limit_price,
    check_quote,
    expected_edge_bps,
    run_market,
)

from .synth import (
    HEDGE,
    HEDGE_SYMBOL,
    PRIMARY,
    PRIMARY_SYMBOL,
    FaultyVenue,
    market_settings,
    rising_bids,
    sim_pair,
    static_book,
    steady_trades,
)

D = Decimal
BPS = D(10_000)


def _book(bids: list[tuple[str, str]], asks: list[tuple[str, str]]) -> OrderBook:
    b = OrderBook("X")
    b.apply_snapshot([(D(p), D(s)) for p, s in bids], [(D(p), D(s)) for p, s in asks], seq=1)
    return b


# ------------------------------------------------------------------ depth analysis and the cap


def test_depth_analysis_within_the_cap_from_arrival() -> None:
    book = _book([("100.0", "0.001"), ("99.95", "0.001"), ("99.85", "0.002"), ("99.0", "5")], [("100.1", "1")])
    a = analyze_depth(book, Side.SELL, D("0.003"), arrival_price=D("100.0"), cap_bps=D("10"), tick=D("0.01"))
    assert a.limit_price == D("99.90")  # ceil(100.0 * (1 - 10/10^4)) on the 0.01 grid
    assert a.levels == [(D("100.0"), D("0.001")), (D("99.95"), D("0.001"))]
    assert a.cumulative == [(D("100.0"), D("0.001")), (D("99.95"), D("0.002"))]
    assert a.available == D("0.002") and not a.complete
    assert a.worst_price == D("99.95") and a.levels_needed == 2
    assert a.vwap == (D("100.0") + D("99.95")) / 2
    # A wider cap reaches the 15 bps level; the size is then complete.
    wide = analyze_depth(book, Side.SELL, D("0.003"), arrival_price=D("100.0"), cap_bps=D("20"), tick=D("0.01"))
    assert wide.complete and wide.worst_price == D("99.85") and wide.levels_needed == 3
    # The cap is measured from the arrival price, not the current best: after the market ran 20 bps away
    # from an arrival of 100.2, nothing is within 10 bps of it although the book is full.
    gone = analyze_depth(book, Side.SELL, D("0.003"), arrival_price=D("100.2"), cap_bps=D("10"), tick=D("0.01"))
    assert gone.best_price == D("100.0") and gone.available == 0 and gone.levels == [] and gone.worst_price is None


prices = st.integers(min_value=9_000, max_value=11_000)  # ticks of 0.01
sizes = st.integers(min_value=1, max_value=50).map(lambda n: D(n) / 1000)


@settings(max_examples=150, deadline=None)
@given(
    levels=st.dictionaries(prices, sizes, min_size=1, max_size=30),
    side=st.sampled_from([Side.BUY, Side.SELL]),
    arrival_ticks=prices,
    cap=st.integers(min_value=1, max_value=300).map(D),
    size=sizes,
)
def test_depth_analysis_agrees_with_the_book_and_never_passes_the_cap(
    levels: dict[int, Decimal], side: Side, arrival_ticks: int, cap: Decimal, size: Decimal
) -> None:
    tick = D("0.01")
    pairs = [(str(D(p) * tick), str(s)) for p, s in levels.items()]
    # Only the side the taker walks matters; put every level there.
    book = _book([] if side is Side.BUY else pairs, pairs if side is Side.BUY else [])
    arrival = D(arrival_ticks) * tick
    a = analyze_depth(book, side, size, arrival_price=arrival, cap_bps=cap, tick=tick, max_levels=100)
    bside = BookSide.ASK if side is Side.BUY else BookSide.BID
    assert a.limit_price == cap_limit_price(side, arrival, cap, tick)
    # the limit never passes the cap (rounding is toward the arrival price)
    assert side.sign * (a.limit_price - arrival) / arrival * BPS <= cap
    assert a.available == book.liquidity_within(bside, a.limit_price)
    est = book.estimate_fill(bside, size, a.limit_price)
    assert (a.vwap, a.worst_price, a.levels_needed) == (est.vwap, est.worst_price, est.levels_used)
    for price, _ in a.levels:
        assert (price <= a.limit_price) if side is Side.BUY else (price >= a.limit_price)
    assert [c for _, c in a.cumulative] == sorted(c for _, c in a.cumulative)


def test_expected_edge_is_the_hedge_vwap_against_the_maker_price_less_both_fees() -> None:
    hedge = _book([("100.0", "0.001"), ("99.9", "0.001"), ("99.0", "5")], [("100.2", "0.001"), ("100.3", "5")])
    # BUY quote at 99.8 for 0.002: hedged by a SELL walking the bids -> VWAP 99.95.
    e = expected_edge_bps(Side.BUY, D("99.8"), D("0.002"), hedge, primary_maker_fee_bps=D("1"),
                          hedge_taker_fee_bps=D("4.5"), hedge_cap_bps=D("20"), hedge_tick=D("0.1"))
    assert e == (D("99.95") - D("99.8")) / D("99.8") * BPS - D("1") - D("4.5")
    # SELL quote at 100.5 for 0.002: hedged by a BUY walking the asks -> VWAP 100.25.
    e = expected_edge_bps(Side.SELL, D("100.5"), D("0.002"), hedge, primary_maker_fee_bps=D("-0.5"),
                          hedge_taker_fee_bps=D("2"), hedge_cap_bps=D("20"), hedge_tick=D("0.1"))
    assert e == (D("100.5") - D("100.25")) / D("100.5") * BPS + D("0.5") - D("2")
    # Not fillable within the hedge cap: no edge, no quote.
    assert expected_edge_bps(Side.BUY, D("99.8"), D("0.003"), hedge, primary_maker_fee_bps=D(0),
                             hedge_taker_fee_bps=D(0), hedge_cap_bps=D("20"), hedge_tick=D("0.1")) is None
    kw = dict(primary_maker_fee_bps=D(0), hedge_taker_fee_bps=D(0), hedge_cap_bps=D("20"), hedge_tick=D("0.1"))
    assert check_quote(Side.BUY, D("99.8"), D("0.003"), hedge, min_edge_bps=D(-100), price_band_bps=D(100),
                       **kw).reason == "hedge_depth"
    # the band: 99.8 is |99.8 - 100.1| / 100.1 = 29.97 bps from the hedge mid
    assert check_quote(Side.BUY, D("99.8"), D("0.002"), hedge, min_edge_bps=D(-100), price_band_bps=D(29),
                       **kw).reason == "band"
    assert check_quote(Side.BUY, D("99.8"), D("0.002"), hedge, min_edge_bps=D(-100), price_band_bps=D(30), **kw).ok


# ------------------------------------------------------------------ the router's ladder on a thin book

THIN_BIDS = [("100.0", "0.001"), ("99.9", "0.001"), ("99.8", "0.001"), ("99.7", "0.001"), ("99.0", "5")]
"""One lot at each of 0, 10, 20 and 30 bps below 100.0, then depth at 100 bps."""
DEEP_ASKS = [("100.1", "5")]


class _Logs:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self._id = logger.add(self.lines.append, format=lambda r: f"[{r['extra'].get('tag', '-')}] {{message}}\n",
                              level="DEBUG")

    def close(self) -> None:
        logger.remove(self._id)

    def has(self, text: str) -> bool:
        return any(text in line for line in self.lines)


async def _route_twice(tmp_path: Path, *, market_fallback: bool, second: str) -> tuple[object, object, object,
                                                                                       _Logs, Exception | None]:
    """Route a SELL of 0.002 on the thin book (it takes the top two levels), then a SELL of ``second``
    against a book that still SHOWS those levels (the simulator keeps what we took consumed)."""
    hedge_rec = static_book(tmp_path / "h.gz", THIN_BIDS, DEEP_ASKS)
    primary_rec = static_book(tmp_path / "p.gz", [("100.0", "5")], [("100.1", "5")])
    s = market_settings(slippage_cap_bps=D("10"), slippage_cap_step_bps=D("10"), hard_slippage_cap_bps=D("30"),
                        market_fallback=market_fallback)
    logs = _Logs()
    error: Exception | None = None
    async with sim_pair(primary_rec, hedge_rec) as (exchange, _primary, hedge):
        async with trio.open_nursery() as nursery:
            tracker = OrderTracker(hedge, HEDGE_SYMBOL, inbox_capacity=16)
            await nursery.start(tracker.run)
            counters: dict[str, int] = {}
            router = HedgeRouter(hedge, tracker, HEDGE_SYMBOL, s, counters=counters)
            first = await router.route(Side.SELL, D("0.002"))
            try:
                second_result: object = await router.route(Side.SELL, D(second))
            except HedgeFailed as exc:
                error, second_result = exc, None
            nursery.cancel_scope.cancel()
        engine = exchange.engine(HEDGE, HEDGE_SYMBOL)
    logs.close()
    return (first, second_result, (engine, counters)), tracker, s, logs, error  # type: ignore[return-value]


async def test_thin_book_ladder_widens_within_the_hard_cap(autojump_clock: trio.testing.MockClock,
                                                           tmp_path: Path) -> None:
    (first, second, (engine, counters)), _tracker, s, logs, error = await _route_twice(
        tmp_path, market_fallback=False, second="0.002")
    assert error is None
    assert first.filled == D("0.002") and first.iterations == 1 and first.cap_bps == D("10")  # type: ignore[attr-defined]
    assert second.filled == D("0.002") and second.cap_bps == D("30")  # type: ignore[attr-defined]
    assert counters["widened"] == 2 and "market" not in counters
    hard_limit = cap_limit_price(Side.SELL, D("100.0"), s.hard_slippage_cap_bps, D("0.1"))  # type: ignore[attr-defined]
    fills = engine.fills
    assert sum(f.size for f in fills) == D("0.004")
    assert all(f.price >= hard_limit for f in fills)  # never worse than the hard cap from the arrival price
    assert D("99.0") not in {f.price for f in fills}  # the deep level beyond the cap was never touched
    assert sorted(f.price for f in fills) == [D("99.7"), D("99.8"), D("99.9"), D("100.0")]
    # every slice was an IOC limit within the cap in force
    for f in fills:
        order = engine.get_order(f.client_order_id)
        assert order.request.tif.value == "IOC" and order.request.price >= hard_limit
    # the iteration lines are DEBUG, tagged once (the tag, not a second one in the message)
    assert logs.has("_SMART_ROUTING] Starting with sell order at 100.0, available liquidity: 0.002")
    assert logs.has("_SMART_ROUTING] Iteration 1: placing 0.002 at 99.9 (level 1)")
    assert not logs.has("[SMART_ROUTING]")
    assert logs.has("widening the cap to 20 bps") and logs.has("widening the cap to 30 bps")


async def test_ladder_exhausted_without_market_fallback_fails_within_the_hard_cap(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    (_first, second, (engine, counters)), _tracker, s, logs, error = await _route_twice(
        tmp_path, market_fallback=False, second="0.004")
    assert isinstance(error, HedgeFailed) and second is None
    assert "0.002 unfilled" in str(error)
    assert counters["failed"] == 1 and "market" not in counters
    hard_limit = cap_limit_price(Side.SELL, D("100.0"), s.hard_slippage_cap_bps, D("0.1"))  # type: ignore[attr-defined]
    assert all(f.price >= hard_limit for f in engine.fills)
    assert sum(f.size for f in engine.fills) == D("0.004")  # all there was within 30 bps, nothing more
    assert logs.has("ladder exhausted: 0.002 of 0.004 not filled: flatten and halt the market")


async def test_market_fallback_takes_the_rest_beyond_the_hard_cap(autojump_clock: trio.testing.MockClock,
                                                                  tmp_path: Path) -> None:
    (_first, second, (engine, counters)), _tracker, _s, logs, error = await _route_twice(
        tmp_path, market_fallback=True, second="0.004")
    assert error is None
    assert second.filled == D("0.004") and second.market_used  # type: ignore[attr-defined]
    assert counters["market"] == 1
    market_fills = [f for f in engine.fills if engine.get_order(f.client_order_id).request.order_type.value == "MARKET"]
    assert [(f.price, f.size) for f in market_fills] == [(D("99.0"), D("0.002"))]
    assert second.max_slippage_bps == D(100)  # type: ignore[attr-defined]  # 99.0 vs the arrival 100.0
    assert logs.has("MARKET order")


async def test_hedge_ladder_exhausted_flattens_and_halts_the_market(autojump_clock: trio.testing.MockClock,
                                                                    tmp_path: Path) -> None:
    # Cycle 0 (BUY quote) is hedged by selling the two top bids; cycle 1 (SELL) by buying the deep asks, and
    # its unwind sells what is left of the bids within 20 bps (and, the unwind's last resort, at market);
    # cycle 2 (BUY) meets bids the book still shows but that are gone: the ladder widens to the 20 bps hard
    # cap, finds nothing, and, without a market fallback, the market flattens and halts.
    primary_rec = steady_trades(tmp_path / "p.gz")
    hedge_rec = static_book(tmp_path / "h.gz", [("100.0", "0.001"), ("99.9", "0.001"), ("99.8", "0.001"),
                                                 ("99.0", "5")], [("100.1", "5")])
    s = market_settings(cycles=3, hard_slippage_cap_bps=D("20"), market_fallback=False)
    stats = MarketStats()
    async with sim_pair(primary_rec, hedge_rec) as (exchange, primary, hedge):
        outcome = await run_market(s, primary, hedge, stats, trio.Event())
        engine = exchange.engine(HEDGE, HEDGE_SYMBOL)
        hedge_fills = [f for f in engine.fills if engine.get_order(f.client_order_id).request.reason == "hedge"]
        final = (exchange.engine(PRIMARY, PRIMARY_SYMBOL).position().size, engine.position().size)
    assert isinstance(outcome.failure, HedgeFailed)
    assert outcome.flat and final == (0, 0)
    assert stats.cycles_completed == 2 and stats.cycles[-1].outcome == "failed: HedgeFailed"
    assert [t.to_state.value for t in stats.transitions] == ["HALTED"]
    assert stats.halts[0].reason.startswith("HedgeFailed: hedge SELL 0.001")  # one 0.001 maker fill
    hard_limit = cap_limit_price(Side.SELL, D("100.0"), D("20"), D("0.1"))
    sells = [f for f in hedge_fills if f.side is Side.SELL]
    assert sells and all(f.price >= hard_limit for f in sells)  # no hedge fill past the hard cap
    assert D("99.0") not in {f.price for f in hedge_fills}
    assert stats.routing["widened"] >= 1 and stats.routing["failed"] == 1


def test_depth_analysis_starts_past_the_liquidity_our_own_slices_in_flight_claim() -> None:
    book = _book([("100.0", "0.001"), ("99.9", "0.002"), ("99.8", "0.001"), ("99.0", "5")], [("100.1", "1")])
    kw = dict(arrival_price=D("100.0"), cap_bps=D("20"), tick=D("0.01"))
    # 0.002 claimed: the whole 100.0 level and half of 99.9 are being taken by another slice of ours
    a = analyze_depth(book, Side.SELL, D("0.002"), claimed=D("0.002"), **kw)  # type: ignore[arg-type]
    assert a.best_price == D("100.0")  # still the book's best
    assert a.levels == [(D("99.9"), D("0.001")), (D("99.8"), D("0.001"))]
    assert a.available == D("0.002") and a.worst_price == D("99.8") and a.levels_needed == 2
    # everything within the cap claimed: nothing available (the router then waits, it does not widen)
    none = analyze_depth(book, Side.SELL, D("0.001"), claimed=D("0.004"), **kw)  # type: ignore[arg-type]
    assert none.available == 0 and none.levels == [] and none.worst_price is None


def test_a_route_waits_for_claims_only_when_the_book_without_them_could_fill_it() -> None:
    """The wait condition (``_router._fillable``): the book, claims ignored, shows at least one minimum size
    within the cap. When it does not, our claims are not what is missing and the route widens at once."""
    from trio_hedge.domain import Instrument
    from trio_hedge.engine._router import _fillable

    inst = Instrument(venue="v", symbol="X", base="BTC", quote="USDT", tick_size=D("0.1"), lot_size=D("0.001"),
                      min_size=D("0.002"))
    book = _book([("100.0", "0.001"), ("99.9", "0.001"), ("99.0", "5")], [("100.1", "1")])
    assert _fillable(book, Side.SELL, D("0.005"), D("100.0"), D("10"), inst)  # 0.002 within 10 bps
    assert not _fillable(book, Side.SELL, D("0.005"), D("100.0"), D("5"), inst)  # 0.001 < min size
    assert not _fillable(book, Side.SELL, D("0.005"), D("100.5"), D("10"), inst)  # the book ran away


async def _concurrent_routes(tmp_path: Path, sizes: tuple[str, str], **overrides: object) -> tuple[
        list[object], dict[str, int], list[tuple[object, ...]]]:
    """Two routes of SELL ``sizes`` through ONE router at once on the thin book; the hedge venue takes 70 ms
    per order, so the second route decides while the first one's slice is in flight.
    Returns (route results, ladder counters, hedge orders as (size, limit price, filled size))."""
    hedge_rec = static_book(tmp_path / "h.gz", THIN_BIDS, DEEP_ASKS)
    primary_rec = static_book(tmp_path / "p.gz", [("100.0", "5")], [("100.1", "5")])
    s = market_settings(**overrides)
    results: list[object] = []
    async with sim_pair(primary_rec, hedge_rec) as (exchange, _primary, h):
        hedge = FaultyVenue(h, place_delay_s=0.07)
        async with trio.open_nursery() as nursery:
            tracker = OrderTracker(hedge, HEDGE_SYMBOL, inbox_capacity=16)
            await nursery.start(tracker.run)
            counters: dict[str, int] = {}
            router = HedgeRouter(hedge, tracker, HEDGE_SYMBOL, s, counters=counters)

            async def one(size: str, delay_s: float) -> None:
                await trio.sleep(delay_s)
                results.append(await router.route(Side.SELL, D(size)))

            async with trio.open_nursery() as routes:
                routes.start_soon(one, sizes[0], 0.0)
                routes.start_soon(one, sizes[1], 0.01)  # while the first slice is in flight
            assert router.claimed(Side.SELL) == 0  # every claim released
            nursery.cancel_scope.cancel()
        engine = exchange.engine(HEDGE, HEDGE_SYMBOL)
        orders = [engine.get_order(r.client_order_id) for r in hedge.placed("hedge")]
    return results, counters, [(o.request.size, o.request.price, o.filled_size) for o in orders]


async def test_concurrent_routes_price_past_each_others_slices(autojump_clock: trio.testing.MockClock,
                                                               tmp_path: Path) -> None:
    # One lot at 100.0, 99.9, 99.8, 99.7: the first route's slice takes 100.0 and 99.9; the second, deciding
    # while it is in flight, prices past that claim at 99.7 and fills at once (without the claim it would
    # send to 99.9 too, miss, and step down a level per miss).
    results, counters, orders = await _concurrent_routes(
        tmp_path, ("0.002", "0.002"), slippage_cap_bps=D("30"), hard_slippage_cap_bps=D("30"))
    assert [(r.filled, r.iterations) for r in results] == [(D("0.002"), 1), (D("0.002"), 1)]  # type: ignore[attr-defined]
    assert orders == [(D("0.002"), D("99.9"), D("0.002")), (D("0.002"), D("99.7"), D("0.002"))]
    assert "widened" not in counters and "waited_for_own_slice" not in counters


async def test_a_route_waits_for_its_own_slice_instead_of_widening_against_it(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    # The 10 bps cap holds 0.002 (100.0, 99.9), all of it claimed by the first route's slice in flight. The
    # second route waits for that slice to be resolved before it decides, so its first order is still within
    # its 10 bps cap (a route widening against our own claim would have sent its first order to 99.8).
    results, counters, orders = await _concurrent_routes(
        tmp_path, ("0.002", "0.001"), slippage_cap_bps=D("10"), slippage_cap_step_bps=D("10"),
        hard_slippage_cap_bps=D("30"), market_fallback=False)
    assert counters["waited_for_own_slice"] >= 1
    assert orders[0] == (D("0.002"), D("99.9"), D("0.002"))
    assert orders[1][1] >= D("99.9")  # the second route's first order: within its own 10 bps cap
    assert [r.filled for r in results] == [D("0.002"), D("0.001")]  # type: ignore[attr-defined]
    assert results[1].cap_bps == D("20")  # type: ignore[attr-defined]  # it widened only after a real miss


# ------------------------------------------------------------------ partial fills, each hedged once


async def test_partial_fills_hedged_exactly_once_and_no_quote_while_a_hedge_is_pending(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    # 0.001 maker fills every 20 ms while the best bid rises a tick every 100 ms (the quote is re-quoted over
    # and over, partly filled); every fill event is delivered TWICE by the stream; the hedge venue takes
    # 70 ms more per order, so fills arrive while a hedge is in flight.
    primary_rec = rising_bids(tmp_path / "p.gz")
    hedge_rec = static_book(tmp_path / "h.gz", [("100.0", "50")], [("110.0", "50")])
    s = market_settings(cycles=1, order_size=D("0.020"), requote_after_s=0.03, max_position=D("0.05"))
    stats = MarketStats()
    violations: list[str] = []
    async with sim_pair(primary_rec, hedge_rec) as (exchange, p, h):
        async with trio.open_nursery() as nursery:
            primary = FaultyVenue(p, nursery=nursery, duplicate_fills=True)
            hedge = FaultyVenue(h, place_delay_s=0.07)
            risk = RiskEngine(s, stats, primary, hedge)
            ptrack = OrderTracker(primary, PRIMARY_SYMBOL, inbox_capacity=64, on_fill=risk.on_primary_fill)
            htrack = OrderTracker(hedge, HEDGE_SYMBOL, inbox_capacity=64, on_fill=risk.on_hedge_fill)
            # two routes at most (not the default): fills beyond that wait and are hedged together
            hedger = Hedger(s, primary, hedge, ptrack, htrack, stats, trio.Event(), risk=risk,
                            max_hedges_in_flight=2)

            def no_pending_hedge(request: object) -> None:
                if request.reason != "quote":  # type: ignore[attr-defined]
                    return
                maker = sum(o.filled_size for o in ptrack.orders.values() if o.request.reason == "quote")
                hedged = sum(o.filled_size for o in htrack.orders.values() if o.request.reason == "hedge")
                pending = ptrack.inbox.statistics().current_buffer_used
                if maker != hedged or pending:
                    violations.append(f"quote sent with {maker} filled, {hedged} hedged, {pending} in the inbox")

            primary.on_place = no_pending_hedge
            await nursery.start(ptrack.run)
            await nursery.start(htrack.run)
            await nursery.start(risk.run)
            await hedger.run()
            nursery.cancel_scope.cancel()
        p_engine = exchange.engine(PRIMARY, PRIMARY_SYMBOL)
        h_engine = exchange.engine(HEDGE, HEDGE_SYMBOL)
    assert stats.cycles_completed == 1
    assert violations == []
    quotes = [p_engine.get_order(r.client_order_id) for r in primary.placed("quote")]
    partly = [q for q in quotes if q.status is OrderStatus.CANCELLED and 0 < q.filled_size < q.request.size]
    assert len(partly) >= 2  # re-quoted after partial fills: new quotes were sent mid-cycle
    maker_fills = [f for f in p_engine.fills if f.is_maker]
    assert len(maker_fills) == 20  # many partial fills
    # every maker fill was delivered twice and hedged once, keyed by its trade id
    delivered = [f.trade_id for f in primary.delivered_fills if f.is_maker]
    assert sorted(delivered) == sorted(2 * [f.trade_id for f in maker_fills])
    assert hedger.hedged_trade_ids == {f.trade_id for f in maker_fills}
    assert stats.maker_fills == len(maker_fills)
    hedge_orders = [h_engine.get_order(r.client_order_id) for r in hedge.placed("hedge")]
    hedge_filled = sum(o.filled_size for o in hedge_orders)
    assert hedge_filled == sum(f.size for f in maker_fills) == D("0.020")
    # fills that arrived during a hedge in flight were hedged together right after it
    assert max(o.request.size for o in hedge_orders) > D("0.001")
    assert all(o.status is OrderStatus.FILLED for o in hedge_orders)


# ------------------------------------------------------------------ the edge gate and the price band


async def _run_briefly(tmp_path: Path, run_s: float, **overrides: object) -> tuple[MarketStats, object, int, object]:
    primary_rec = steady_trades(tmp_path / "p.gz")
    hedge_rec = static_book(tmp_path / "h.gz", [("99.0", "5")], [("99.1", "5")])
    s = market_settings(**overrides)
    stats = MarketStats()
    stop = trio.Event()
    async with sim_pair(primary_rec, hedge_rec) as (exchange, primary, hedge):
        async with trio.open_nursery() as nursery:
            async def stop_later() -> None:
                await trio.sleep(run_s)
                stop.set()

            nursery.start_soon(stop_later)
            outcome = await run_market(s, primary, hedge, stats, stop)
            nursery.cancel_scope.cancel()
        submitted = exchange.engine(PRIMARY, PRIMARY_SYMBOL).statistics().orders_submitted
    return stats, outcome, submitted, s


@pytest.mark.parametrize("min_edge,quotes", [("-50", False), ("-200", True)])
async def test_no_quote_when_the_expected_edge_is_below_the_threshold(
    autojump_clock: trio.testing.MockClock, tmp_path: Path, min_edge: str, quotes: bool
) -> None:
    # BUY at the primary bid 100.0, hedged by selling at the hedge bid 99.0: -100 bps gross, -104.5 net of
    # the default fees (primary maker 0, hedge taker 4.5). SELL at the primary ask 100.1, hedged by buying at
    # the hedge ask 99.1: +99.9 bps gross, +95.4 net, which passes either threshold.
    stats, outcome, submitted, _ = await _run_briefly(
        tmp_path, 2.0, min_edge_bps=D(min_edge), primary_maker_fee_bps=D(0), hedge_taker_fee_bps=D("4.5"))
    assert outcome.flat and outcome.failure is None  # type: ignore[attr-defined]
    assert submitted >= 1 and stats.expected_edges_bps
    buy_edge = (D("99.0") - D("100.0")) / D("100.0") * BPS - D("4.5")
    if quotes:
        assert stats.expected_edges_bps[0] == buy_edge  # cycle 0 prefers BUY, and it passes
    else:
        # side selection (issue 13): the BUY side is held back by the gate and the SELL side trades instead
        assert stats.quote_skips["other_side"] > 0 and "edge" not in stats.quote_skips
        assert all(e > 0 for e in stats.expected_edges_bps) and {c.side for c in stats.cycles} == {"SELL"}


@pytest.mark.parametrize("band,quotes", [("50", False), ("200", True)])
async def test_no_quote_outside_the_price_band(autojump_clock: trio.testing.MockClock, tmp_path: Path,
                                               band: str, quotes: bool) -> None:
    # The primary bid 100.0 is |100.0 - 99.05| / 99.05 = 95.9 bps from the hedge venue's mid.
    stats, outcome, submitted, _ = await _run_briefly(tmp_path, 2.0, price_band_bps=D(band))
    assert outcome.flat  # type: ignore[attr-defined]
    if quotes:
        assert submitted >= 1
    else:
        assert submitted == 0 and stats.quote_skips["band"] > 0


async def test_resting_quote_is_pulled_when_its_edge_is_gone(autojump_clock: trio.testing.MockClock,
                                                             tmp_path: Path) -> None:
    from .synth import Recording

    # No trades on the primary (the quote rests); after 1 s the hedge venue's bids drop from 100.0 to 99.0.
    r = Recording()
    r.snapshot(0.0, [("100.0", "5")], [("100.1", "5")])
    for i in range(1, 60):
        r.delta(i * 0.05, bids=[("90.0", str(i))])
    primary_rec = r.write(tmp_path / "p.gz")
    h = Recording()
    h.snapshot(0.0, [("100.0", "5")], [("100.1", "5")])
    h.delta(1.0, bids=[("100.0", "0"), ("99.0", "5")])
    for i in range(1, 60):
        h.delta(1.0 + i * 0.05, asks=[("110.0", str(i))])
    hedge_rec = h.write(tmp_path / "h.gz")
    s = market_settings(min_edge_bps=D("-50"))
    stats = MarketStats()
    stop = trio.Event()
    async with sim_pair(primary_rec, hedge_rec) as (exchange, primary, hedge):
        async with trio.open_nursery() as nursery:
            async def stop_later() -> None:
                await trio.sleep(2.5)
                stop.set()

            nursery.start_soon(stop_later)
            outcome = await run_market(s, primary, hedge, stats, stop)
        engine = exchange.engine(PRIMARY, PRIMARY_SYMBOL)
        submitted = engine.statistics().orders_submitted
    assert outcome.flat and outcome.failure is None
    assert stats.quote_skips.get("pulled_edge") == 1
    # pulled, and not placed again on the BUY side while its edge stays below the threshold; side selection
    # (issue 13) quotes the SELL side instead (100.1 vs the hedge ask 100.1: -4.5 bps net, above -50)
    assert submitted == 2 and [c.side for c in stats.cycles] == ["SELL"]


def test_config_keys_for_quoting_and_routing() -> None:
    from trio_hedge.app import ConfigError, load_config

    m = load_config(None).markets[0]
    # fees come from the venues (the sim's own values): primary maker, hedge taker
    assert (m.primary_maker_fee_bps, m.hedge_taker_fee_bps) == (D("0"), D("4.5"))
    assert m.slippage_ladder_bps() == [D("10"), D("20"), D("30")] and m.market_fallback is True
    assert m.min_edge_bps == D("-5") and m.price_band_bps == D("25")
    for override, key in [("markets.0.hard_slippage_cap_bps=5", "markets.0.hard_slippage_cap_bps"),
                          ("markets.0.market_fallback=1", "markets.0.market_fallback"),
                          ("markets.0.min_edge_bps=abc", "markets.0.min_edge_bps"),
                          ("markets.0.price_band_bps=0", "markets.0.price_band_bps")]:
        with pytest.raises(ConfigError) as info:
            load_config(None, [override])
        assert info.value.key == key


def test_live_venues_must_configure_their_fees(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from trio_hedge.app import ConfigError, load_config

    monkeypatch.setenv("TRIO_HEDGE_GRVT_API_KEY", "k" * 10)
    monkeypatch.setenv("TRIO_HEDGE_GRVT_PRIVATE_KEY", "ab" * 32)
    shipped = (Path(__file__).resolve().parent.parent / "config.toml").read_text()
    live = shipped.split("[venues.grvt]")[0] + (
        '[venues.grvt]\nkind = "grvt"\nendpoint = "live"\nsymbol = "BTC_USDT_Perp"\nsub_account_id = "1"\n')
    (tmp_path / "c.toml").write_text(live)
    btc = ['engine.markets=["BTC"]']  # the live GRVT venue above lists only the BTC symbol
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "c.toml", btc)
    assert info.value.key == "venues.grvt.maker_fee_bps" and "fee schedule" in info.value.fix
    (tmp_path / "c.toml").write_text(live + 'maker_fee_bps = "-0.01"\ntaker_fee_bps = "3.5"\n')
    m = load_config(tmp_path / "c.toml", btc).markets[0]
    assert m.hedge_taker_fee_bps == D("3.5") and m.hedge_rate_limit is not None  # the GRVT profile by kind
