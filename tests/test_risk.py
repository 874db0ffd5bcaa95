"""The risk engine (issue 6): limits, trading states and their transitions, the event-driven imbalance check,
the loss kill switch, and how they show in the run summary.

Unit tests drive :class:`RiskEngine` with fills on a fake of the venue boundary (a venue that only has a
book and a feed state); the integration tests run the market scope on the in-process simulator.
"""

from __future__ import annotations

import itertools
from decimal import Decimal
from pathlib import Path

import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

from trio_hedge.app._report import build_summary, render_summary
from trio_hedge.domain import Fill, OrderBook, OrderRequest, OrderStatus, OrderType, Side, TimeInForce
from trio_hedge.engine import (
    EXIT_DO_NOT_RESTART,
    ImbalanceExceeded,
    LegBook,
    LossLimitHit,
    MarketHalted,
    MarketStats,
    PauseSwitch,
    RiskEngine,
    TradingState,
    run_market,
)
from trio_hedge.venues import FeedState

from .synth import HEDGE, HEDGE_SYMBOL, PRIMARY, PRIMARY_SYMBOL, market_settings, sim_pair, static_book

D = Decimal
_ids = itertools.count(1)


class _BookVenue:
    """A fake venue boundary for the risk engine: a name, a book per symbol, a healthy feed."""

    def __init__(self, name: str, symbol: str, bid: str = "100.0", ask: str = "100.1") -> None:
        self.name = name
        self._book = OrderBook(symbol)
        self.set_book(bid, ask)

    def set_book(self, bid: str, ask: str) -> None:
        self._book.apply_snapshot([(D(bid), D("5"))], [(D(ask), D("5"))], seq=next(_ids))

    def book(self, symbol: str) -> OrderBook:
        return self._book

    def feed_state(self, symbol: str) -> FeedState:
        now = trio.current_time()
        return FeedState(True, now, now)


def _fill(venue: str, symbol: str, side: Side, size: str, price: str, fee: str = "0") -> Fill:
    n = next(_ids)
    return Fill(venue, symbol, f"ext-{n}", f"t{n}", side, D(price), D(size), D(fee), False, 0)


def _engine(**overrides: object) -> tuple[RiskEngine, MarketStats, _BookVenue, _BookVenue]:
    s = market_settings(**overrides)
    stats = MarketStats()
    p, h = _BookVenue(PRIMARY, PRIMARY_SYMBOL), _BookVenue(HEDGE, HEDGE_SYMBOL)
    return RiskEngine(s, stats, p, h), stats, p, h


async def _run_until_failure(risk: RiskEngine, failures: list[tuple[float, BaseException]],
                             *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
    try:
        await risk.run(task_status=task_status)
    except* Exception as eg:
        failures.extend((trio.current_time(), e) for e in eg.exceptions)


# ------------------------------------------------------------------ imbalance: event-driven, with grace


async def test_imbalance_is_checked_from_fills_with_a_grace_period_not_by_polling(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # The periodic check runs every 1000 s: anything that happens sooner is driven by the fills.
    risk, stats, _p, _h = _engine(imbalance_tolerance=D("0.001"), imbalance_grace_s=2.0, risk_check_interval_s=1000.0)
    failures: list[tuple[float, BaseException]] = []
    async with trio.open_nursery() as nursery:
        await nursery.start(_run_until_failure, risk, failures)
        await trio.sleep(1.0)
        # a maker fill and its hedge 1.5 s later: within the grace, nothing happens
        risk.on_primary_fill(_fill(PRIMARY, PRIMARY_SYMBOL, Side.BUY, "0.002", "100.0"))
        await trio.sleep(1.5)
        risk.on_hedge_fill(_fill(HEDGE, HEDGE_SYMBOL, Side.SELL, "0.002", "100.0"))
        await trio.sleep(5.0)
        assert failures == [] and risk.state is TradingState.ACTIVE
        # an unhedged fill: the market halts exactly when the grace runs out
        started = trio.current_time()
        risk.on_primary_fill(_fill(PRIMARY, PRIMARY_SYMBOL, Side.BUY, "0.003", "100.0"))
        await trio.sleep(10.0)
    assert len(failures) == 1
    at, exc = failures[0]
    assert isinstance(exc, ImbalanceExceeded) and "0.003" in str(exc)
    assert at == pytest.approx(started + 2.0, abs=1e-6)  # not at a polling tick
    assert stats.max_abs_net_exposure == D("0.003")
    assert risk.state is TradingState.HALTED and stats.halts[0].reason.startswith("ImbalanceExceeded")


# ------------------------------------------------------------------ the operator's pause (issue 14)


async def test_pause_holds_reducing_through_a_cleared_limit_until_resumed(
    autojump_clock: trio.testing.MockClock,
) -> None:
    risk, stats, _p, _h = _engine(max_position=D("0.002"))
    switch = PauseSwitch()
    switch.attach(risk)
    quote = OrderRequest("q1", PRIMARY_SYMBOL, Side.BUY, D("0.001"), OrderType.LIMIT, D("100.0"), post_only=True,
                         reason="quote")
    hedge = OrderRequest("h1", HEDGE_SYMBOL, Side.SELL, D("0.001"), OrderType.LIMIT, D("99.9"), TimeInForce.IOC,
                         reason="hedge")
    assert switch.pause("SIGUSR1") and not switch.pause("SIGUSR1")  # a second pause changes nothing
    assert risk.state is TradingState.REDUCING and risk.paused and risk.resumable
    assert risk.quote_block(quote, 0) == "state REDUCING"
    risk.check_taker(hedge)  # fills that arrive while paused are still hedged
    # a limit hit and cleared while paused does not resume trading
    risk.on_primary_fill(_fill(PRIMARY, PRIMARY_SYMBOL, Side.BUY, "0.003", "100.0"))
    risk.on_primary_fill(_fill(PRIMARY, PRIMARY_SYMBOL, Side.SELL, "0.003", "100.0"))
    assert risk.state is TradingState.REDUCING
    assert switch.resume("SIGUSR2")
    assert risk.state is TradingState.ACTIVE and not risk.paused
    assert [(t.to_state.value, t.reason) for t in stats.transitions] == [
        ("REDUCING", "paused: SIGUSR1"), ("ACTIVE", "resumed: SIGUSR2")]
    # a market attached while the switch is on starts paused; a halted one is left alone
    late, _stats2, _p2, _h2 = _engine()
    switch.pause("SIGUSR1")
    switch.attach(late)
    assert late.state is TradingState.REDUCING and late.paused
    risk.halt(ImbalanceExceeded("test"))
    switch.resume("SIGUSR2")
    assert risk.state is TradingState.HALTED and late.state is TradingState.ACTIVE


# ------------------------------------------------------------------ limits and states


async def test_position_limit_moves_to_reducing_and_back(autojump_clock: trio.testing.MockClock) -> None:
    risk, stats, _p, _h = _engine(max_position=D("0.002"))
    quote = OrderRequest("q1", PRIMARY_SYMBOL, Side.BUY, D("0.001"), OrderType.LIMIT, D("100.0"), post_only=True,
                         reason="quote")
    assert risk.quote_block(quote, 0) is None
    risk.on_primary_fill(_fill(PRIMARY, PRIMARY_SYMBOL, Side.BUY, "0.003", "100.0"))  # e.g. a manual trade
    assert risk.state is TradingState.REDUCING and "max_position" in risk.state_reason
    assert risk.quote_block(quote, 0) == "state REDUCING"
    # REDUCING: reduce-only orders and (the documented exception) hedges go; nothing else
    hedge = OrderRequest("h1", HEDGE_SYMBOL, Side.SELL, D("0.001"), OrderType.LIMIT, D("99.9"), TimeInForce.IOC,
                         reason="hedge")
    unwind = OrderRequest("u1", PRIMARY_SYMBOL, Side.SELL, D("0.003"), OrderType.MARKET, None, TimeInForce.IOC,
                          reduce_only=True, reason="unwind")
    other = OrderRequest("o1", PRIMARY_SYMBOL, Side.BUY, D("0.001"), OrderType.LIMIT, D("99.0"), TimeInForce.IOC,
                         reason="unwind")
    risk.check_taker(hedge)
    risk.check_taker(unwind)
    with pytest.raises(MarketHalted, match="REDUCING"):
        risk.check_taker(other)
    risk.on_primary_fill(_fill(PRIMARY, PRIMARY_SYMBOL, Side.SELL, "0.003", "100.0"))
    assert risk.state is TradingState.ACTIVE
    assert [(t.from_state.value, t.to_state.value) for t in stats.transitions] == [
        ("ACTIVE", "REDUCING"), ("REDUCING", "ACTIVE")]
    assert "0.003 > max_position 0.002" in stats.transitions[0].reason
    assert stats.halts == []
    # HALTED lets nothing through but cancels and the flatten (which does not ask the risk engine)
    risk.halt(ImbalanceExceeded("test"))
    with pytest.raises(MarketHalted, match="HALTED"):
        risk.check_taker(hedge)
    risk.transition(TradingState.ACTIVE, "no way back")
    assert risk.state is TradingState.HALTED


def test_quote_limits_hold_quotes_back() -> None:
    def quote(side: Side, size: str, price: str) -> OrderRequest:
        return OrderRequest("q", PRIMARY_SYMBOL, side, D(size), OrderType.LIMIT, D(price), post_only=True,
                            reason="quote")

    async def check() -> None:
        risk, _stats, _p, _h = _engine(max_position=D("0.005"), max_notional=D("0.45"), max_open_orders=2)
        assert (risk.quote_block(quote(Side.BUY, "0.004", "100.0"), 2) or "").startswith("max_open_orders")
        assert risk.quote_block(quote(Side.BUY, "0.004", "100.0"), 1) is None  # 0.4 quote units
        assert (risk.quote_block(quote(Side.BUY, "0.0046", "100.0"), 1) or "").startswith("max_notional")  # 0.46
        assert (risk.quote_block(quote(Side.BUY, "0.006", "1.0"), 1) or "").startswith("max_position")
        # a position already held counts: after a 0.002 buy, a 0.004 buy could reach 0.006
        risk.on_primary_fill(_fill(PRIMARY, PRIMARY_SYMBOL, Side.BUY, "0.002", "1.0"))
        assert (risk.quote_block(quote(Side.BUY, "0.004", "1.0"), 1) or "").startswith("max_position")
        assert risk.quote_block(quote(Side.SELL, "0.004", "1.0"), 1) is None  # toward flat and beyond: 0.002

    trio.run(check)


async def test_notional_limit_breached_by_a_price_move_is_seen_without_a_fill(
    autojump_clock: trio.testing.MockClock,
) -> None:
    risk, stats, p, _h = _engine(max_notional=D("0.25"), risk_check_interval_s=0.05)
    failures: list[tuple[float, BaseException]] = []
    async with trio.open_nursery() as nursery:
        await nursery.start(_run_until_failure, risk, failures)
        risk.on_primary_fill(_fill(PRIMARY, PRIMARY_SYMBOL, Side.BUY, "0.002", "100.0"))
        risk.on_hedge_fill(_fill(HEDGE, HEDGE_SYMBOL, Side.SELL, "0.002", "100.0"))
        await trio.sleep(0.2)
        assert risk.state is TradingState.ACTIVE  # 0.002 x 100.05 = 0.2001
        p.set_book("130.0", "130.1")  # 0.002 x 130.05 = 0.26
        await trio.sleep(0.2)
        assert risk.state is TradingState.REDUCING and "max_notional" in risk.state_reason
        nursery.cancel_scope.cancel()
    assert failures == [] and [t.to_state for t in stats.transitions] == [TradingState.REDUCING]


def test_a_stop_keeps_the_market_reducing() -> None:
    async def main() -> None:
        risk, stats, _p, _h = _engine(max_position=D("0.002"))
        risk.on_primary_fill(_fill(PRIMARY, PRIMARY_SYMBOL, Side.BUY, "0.003", "100.0"))
        assert risk.state is TradingState.REDUCING
        risk.transition(TradingState.REDUCING, "stop requested")  # already REDUCING: now for good
        risk.on_primary_fill(_fill(PRIMARY, PRIMARY_SYMBOL, Side.SELL, "0.003", "100.0"))
        assert risk.state is TradingState.REDUCING and len(stats.transitions) == 1

    trio.run(main)


# ------------------------------------------------------------------ PnL and the loss kill switch


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([Side.BUY, Side.SELL]), st.integers(1, 50), st.integers(9_000, 11_000),
                          st.integers(-5, 50)), min_size=1, max_size=25),
       st.integers(9_000, 11_000))
def test_leg_pnl_equals_cash_flow_plus_marked_position(
    fills: list[tuple[Side, int, int, int]], mark_ticks: int
) -> None:
    leg = LegBook(_BookVenue(PRIMARY, PRIMARY_SYMBOL), PRIMARY_SYMBOL)  # type: ignore[arg-type]
    cash = D(0)
    fees = D(0)
    position = D(0)
    for i, (side, lots, ticks, fee_cents) in enumerate(fills):
        size, price, fee = D(lots) / 1000, D(ticks) / 100, D(fee_cents) / 100
        leg.apply(Fill(PRIMARY, PRIMARY_SYMBOL, "c", f"t{i}", side, price, size, fee, False, 0))
        cash -= side.sign * size * price
        fees += fee
        position += side.sign * size
    mark = D(mark_ticks) / 100
    assert leg.position == position and leg.fees == fees
    unrealized = D(0) if leg.entry_price is None else leg.position * (mark - leg.entry_price)
    # realized + unrealized at any mark = every cash flow + the position valued at the mark - fees
    assert (leg.realized + unrealized - (cash + position * mark - fees)).copy_abs() < D("1e-20")


async def test_loss_kill_switch_on_realized_and_unrealized_pnl(autojump_clock: trio.testing.MockClock) -> None:
    risk, stats, p, _h = _engine(max_loss=D("1.5"), imbalance_tolerance=D("10"), max_position=D("10"),
                                 max_notional=D("1000000"), risk_check_interval_s=0.05)
    failures: list[tuple[float, BaseException]] = []
    async with trio.open_nursery() as nursery:
        await nursery.start(_run_until_failure, risk, failures)
        # realized: bought 1 at 100.0, sold 1 at 99.0 (-1.0), fees 0.2: -1.2, above the -1.5 limit
        risk.on_primary_fill(_fill(PRIMARY, PRIMARY_SYMBOL, Side.BUY, "1", "100.0", fee="0.1"))
        risk.on_primary_fill(_fill(PRIMARY, PRIMARY_SYMBOL, Side.SELL, "1", "99.0", fee="0.1"))
        assert stats.pnl.realized == D("-1.2") and risk.state is TradingState.ACTIVE
        # unrealized: long 1 at 100.05 (the mid), marked at the mid as it falls
        risk.on_primary_fill(_fill(PRIMARY, PRIMARY_SYMBOL, Side.BUY, "1", "100.05"))
        await trio.sleep(0.2)
        assert risk.state is TradingState.ACTIVE
        p.set_book("99.7", "99.8")  # mid 99.75: unrealized -0.3, total -1.5
        await trio.sleep(1.0)
    assert len(failures) == 1 and isinstance(failures[0][1], LossLimitHit)
    assert failures[0][1].exit_code == EXIT_DO_NOT_RESTART == 78
    assert stats.pnl.unrealized == D("-0.3") and stats.pnl.total == D("-1.5")
    assert risk.state is TradingState.HALTED and "loss kill switch" in stats.halts[0].reason


# ------------------------------------------------------------------ on the market scope


async def test_foreign_fill_reduces_then_halts_flattens_and_reports(autojump_clock: trio.testing.MockClock,
                                                                    tmp_path: Path) -> None:
    # The quote rests (no trades); a trade nobody in this run sent (a manual order on the account) buys
    # 0.003 on the primary: over max_position (REDUCING: the quote is pulled), and an imbalance the hedger
    # will not hedge (not its fill): HALTED once the grace runs out; the cleanup flattens everything.
    primary_rec = static_book(tmp_path / "p.gz", [("100.0", "5")], [("100.1", "5")])
    hedge_rec = static_book(tmp_path / "h.gz", [("100.0", "5")], [("100.1", "5")])
    s = market_settings(max_position=D("0.002"), imbalance_tolerance=D("0.001"), imbalance_grace_s=0.5,
                        risk_check_interval_s=1000.0)
    stats = MarketStats()
    async with sim_pair(primary_rec, hedge_rec) as (exchange, primary, hedge):
        async with trio.open_nursery() as nursery:
            async def manual_trade() -> None:
                await trio.sleep(1.0)
                exchange.submit(PRIMARY, OrderRequest("manual-1", PRIMARY_SYMBOL, Side.BUY, D("0.003"),
                                                      OrderType.MARKET, None, TimeInForce.IOC))

            nursery.start_soon(manual_trade)
            outcome = await run_market(s, primary, hedge, stats, trio.Event())
        engine = exchange.engine(PRIMARY, PRIMARY_SYMBOL)
        quotes = [engine.get_order(c) for c in [f"{primary._id_prefix}-{i}" for i in range(1, 5)]]
        positions = (engine.position().size, exchange.engine(HEDGE, HEDGE_SYMBOL).position().size)
    assert isinstance(outcome.failure, ImbalanceExceeded)
    assert outcome.flat and positions == (0, 0)
    assert [(t.from_state.value, t.to_state.value) for t in stats.transitions] == [
        ("ACTIVE", "REDUCING"), ("REDUCING", "HALTED")]
    assert "max_position" in stats.transitions[0].reason
    assert stats.transitions[1].at_s - stats.transitions[0].at_s == pytest.approx(0.5, abs=0.05)
    placed = [q for q in quotes if q is not None and q.request.reason == "quote"]
    assert len(placed) == 1 and placed[0].status is OrderStatus.CANCELLED  # pulled, none after
    summary = build_summary({"BTC": stats}, {PRIMARY: {PRIMARY_SYMBOL: D(0)}}, "x", 1)
    assert [h["reason"][:17] for h in summary["halts"]] == ["ImbalanceExceeded"]
    assert summary["halts"][0]["market"] == "BTC" and summary["halts"][0]["at_s"] > 1.0
    assert [t["to"] for t in summary["markets"]["BTC"]["transitions"]] == ["REDUCING", "HALTED"]
    assert "halts                1" in render_summary(summary)


async def test_graceful_stop_is_a_reducing_transition_not_a_halt(autojump_clock: trio.testing.MockClock,
                                                                 tmp_path: Path) -> None:
    primary_rec = static_book(tmp_path / "p.gz", [("100.0", "5")], [("100.1", "5")])
    hedge_rec = static_book(tmp_path / "h.gz", [("100.0", "5")], [("100.1", "5")])
    stats = MarketStats()
    stop = trio.Event()
    async with sim_pair(primary_rec, hedge_rec) as (_exchange, primary, hedge):
        async with trio.open_nursery() as nursery:
            async def stop_later() -> None:
                await trio.sleep(1.0)
                stop.set()

            nursery.start_soon(stop_later)
            outcome = await run_market(market_settings(), primary, hedge, stats, stop)
    assert outcome.stopped and outcome.failure is None and outcome.flat
    assert [(t.to_state.value, t.reason.split(":")[0]) for t in stats.transitions] == [("REDUCING", "stop requested")]
    assert stats.halts == []


def test_config_keys_for_the_risk_engine() -> None:
    from trio_hedge.app import ConfigError, load_config

    m = load_config(None).markets[0]
    assert (m.max_position, m.max_notional, m.max_open_orders, m.max_loss) == (D("0.01"), D("2000"), 4, D("25"))
    for override, key in [("risk.max_position=0.001", "risk.max_position"),  # below order_size 0.002
                          ("risk.max_loss=0", "risk.max_loss"),
                          ("risk.max_open_orders=0", "risk.max_open_orders"),
                          ("risk.max_notional=-1", "risk.max_notional")]:
        with pytest.raises(ConfigError) as info:
            load_config(None, [override])
        assert info.value.key == key
