"""Strategy economics (issue 13): the inventory cycle mode, side selection, position checks while running,
and the cost per volume in the summary and the metrics."""

from __future__ import annotations

import re
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import trio

from trio_hedge.app import load_config, run_bot
from trio_hedge.app._metrics import BotCollector
from trio_hedge.app._report import build_summary
from trio_hedge.domain import Fill, OrderRequest, OrderType, Side, TimeInForce
from trio_hedge.engine import MarketStats, PositionDrift, flatten_position, run_market

from .conftest import REPO
from .synth import (
    HEDGE,
    HEDGE_SYMBOL,
    PRIMARY,
    PRIMARY_SYMBOL,
    Recording,
    market_settings,
    sim_pair,
    static_book,
    steady_trades,
)


def _primary_orders(exchange: Any) -> list[Any]:
    engine = exchange.engine(PRIMARY, PRIMARY_SYMBOL)
    ids = sorted({f.client_order_id for f in engine.fills})
    return [engine.get_order(c) for c in ids]


async def test_inventory_mode_builds_and_works_back_within_max_position_all_maker(
        autojump_clock: trio.testing.MockClock, tmp_path: Path) -> None:
    primary_rec = steady_trades(tmp_path / "p.gz", until_s=120.0)
    hedge_rec = static_book(tmp_path / "h.gz", [("100.0", "5")], [("100.1", "5")], until_s=120.0)
    s = market_settings(cycle_mode="inventory", cycles=4, max_position=D("0.006"), max_notional=D("1000"),
                        position_check_interval_s=0.5)
    stats = MarketStats()
    async with sim_pair(primary_rec, hedge_rec) as (exchange, primary, hedge):
        outcome = await run_market(s, primary, hedge, stats, trio.Event())
        p_engine = exchange.engine(PRIMARY, PRIMARY_SYMBOL)
        h_engine = exchange.engine(HEDGE, HEDGE_SYMBOL)
        orders = _primary_orders(exchange)
        p_fills, h_fills = list(p_engine.fills), list(h_engine.fills)
    assert outcome.failure is None and outcome.flat
    assert stats.cycles_completed == 4
    assert [r.flat for r in outcome.flatten] == [True, True]
    assert sum(r.orders_sent for r in outcome.flatten) == 0, "ended flat by its own post-only closes"
    assert [c.leg for c in stats.cycles].count("open") == 4 and [c.leg for c in stats.cycles].count("close") == 4
    # it went beyond one order_size (built inventory) but never past max_position on either leg
    for fills in (p_fills, h_fills):
        pos, peak = D(0), D(0)
        for f in sorted(fills, key=lambda f: f.ts_ns):
            pos += f.signed_size
            peak = max(peak, abs(pos))
        assert pos == 0 and D("0.002") < peak <= D("0.006")
    assert orders and all(o.request.post_only and o.request.order_type is OrderType.LIMIT for o in orders)
    assert all(f.is_maker for f in p_fills) and stats.maker_share == 1
    assert all(f.side is Side.BUY for f in p_fills[:2]) and not all(f.side is Side.BUY for f in p_fills)


async def test_side_selection_trades_the_side_that_passes_the_gate(autojump_clock: trio.testing.MockClock,
                                                                  tmp_path: Path) -> None:
    # The hedge venue trades 1% below the primary: buying on the primary (hedged by a sell there) never
    # passes a 0 bps gate, selling on the primary (hedged by a buy there) always does.
    primary_rec = steady_trades(tmp_path / "p.gz", until_s=60.0)
    hedge_rec = static_book(tmp_path / "h.gz", [("99.0", "5")], [("99.1", "5")])
    s = market_settings(cycles=3, min_edge_bps=D("0"), primary_maker_fee_bps=D("0"), hedge_taker_fee_bps=D("0"))
    stats = MarketStats()
    async with sim_pair(primary_rec, hedge_rec) as (_exchange, primary, hedge):
        outcome = await run_market(s, primary, hedge, stats, trio.Event())
    assert outcome.failure is None and outcome.flat
    assert stats.cycles_completed == 3
    assert [c.side for c in stats.cycles] == ["SELL", "SELL", "SELL"]  # cycles 0 and 2 preferred BUY
    assert stats.quote_skips.get("other_side", 0) >= 2
    assert "edge" not in stats.quote_skips, "never idled on the failing side while the other one passed"


async def test_inventory_closes_through_a_basis_with_the_cycle_gate(autojump_clock: trio.testing.MockClock,
                                                                     tmp_path: Path) -> None:
    # The same 1% basis: SELL opens at +95.4 bps net, the BUY close alone is -104.5 bps net (below the -5
    # gate), but the cycle's two legs average -4.5 bps: the close goes, the basis cannot stall it.
    primary_rec = steady_trades(tmp_path / "p.gz", until_s=60.0)
    hedge_rec = static_book(tmp_path / "h.gz", [("99.0", "5")], [("99.1", "5")])
    s = market_settings(cycle_mode="inventory", cycles=3, min_edge_bps=D("-5"), primary_maker_fee_bps=D("0"),
                        hedge_taker_fee_bps=D("4.5"), max_position=D("0.004"), max_notional=D("1000"))
    stats = MarketStats()
    async with sim_pair(primary_rec, hedge_rec) as (_exchange, primary, hedge):
        outcome = await run_market(s, primary, hedge, stats, trio.Event())
    assert outcome.failure is None and outcome.flat and stats.cycles_completed == 3
    legs = [(c.leg, c.side) for c in stats.cycles]
    assert {leg for leg in legs if leg[0] == "open"} == {("open", "SELL")}
    assert {leg for leg in legs if leg[0] == "close"} == {("close", "BUY")}
    closes = [c.expected_edge_bps for c in stats.cycles if c.leg == "close"]
    assert closes and all(e is not None and e < D("-5") for e in closes)  # below the gate on its own


def _swinging_basis(path: Path, *, phase_s: float, until_s: float, start_high: bool = True,
                    once: bool = False) -> Path:
    """A hedge book whose level swings every ``phase_s`` (``once``: at ``phase_s`` only) between 100.2/100.3
    ("high": a BUY quote at the primary's 100.0 bid expects +20 bps, a SELL at its 100.1 ask -20) and
    100.0/100.1 (both expect 0): a basis that moves."""
    r = Recording()
    high, low = ([("100.2", "5")], [("100.3", "5")]), ([("100.0", "5")], [("100.1", "5")])
    r.snapshot(0.0, *(high if start_high else low))
    t, phase, is_high = 0.05, phase_s, start_high
    while t < until_s:
        if t >= phase:
            old, new = (high, low) if is_high else (low, high)
            r.delta(t, bids=[(old[0][0][0], "0"), *new[0]], asks=[(old[1][0][0], "0"), *new[1]])
            is_high, phase = not is_high, until_s if once else phase + phase_s
        else:
            r.delta(t, bids=[("1.0", "1")], asks=[("1000.0", "1")])
        t += 0.05
    return r.write(path)


async def _expected_edges(tmp_path: Path, edge_memory_s: float) -> tuple[list[tuple[str, D]], dict[str, int]]:
    primary_rec = steady_trades(tmp_path / "p.gz", every_s=0.5, until_s=120.0)
    hedge_rec = _swinging_basis(tmp_path / "h.gz", phase_s=4.0, until_s=120.0)
    s = market_settings(cycle_mode="inventory", cycles=3, max_position=D("0.004"), max_notional=D("1000"),
                        edge_memory_s=edge_memory_s)
    stats = MarketStats()
    async with sim_pair(primary_rec, hedge_rec) as (_exchange, primary, hedge):
        outcome = await run_market(s, primary, hedge, stats, trio.Event())
    assert outcome.failure is None and outcome.flat and stats.cycles_completed == 3
    legs = [(c.side, c.expected_edge_bps) for c in stats.cycles if c.maker_filled]
    assert legs and all(e is not None for _, e in legs)
    return [(side, e) for side, e in legs if e is not None], stats.quote_skips


async def test_inventory_quotes_each_side_at_its_better_moments(autojump_clock: trio.testing.MockClock,
                                                                tmp_path: Path) -> None:
    # edge_memory_s: a side quotes only when its expected edge is at least its own moving average (BUY about
    # +10 bps, SELL about -10 here): BUY legs at +20, SELL legs at 0, never the other way round
    legs, skips = await _expected_edges(tmp_path, edge_memory_s=20.0)
    assert all(e > 19 for side, e in legs if side == "BUY") and all(e > -1 for side, e in legs if side == "SELL")
    assert {side for side, _ in legs} == {"BUY", "SELL"} and skips.get("edge_typical", 0) > 0
    # without it the first side that passes the gate goes, whatever the moment
    legs, skips = await _expected_edges(tmp_path, edge_memory_s=0.0)
    assert any(e < 1 for side, e in legs if side == "BUY") or any(e < -19 for side, e in legs if side == "SELL")
    assert "edge_typical" not in skips


async def test_inventory_quote_timing_waits_at_most_edge_memory_per_leg(autojump_clock: trio.testing.MockClock,
                                                                        tmp_path: Path) -> None:
    # the basis swings once (at 1 s, while the BUY rests) and stays: SELL's edge drops from 0 to -20 bps, below
    # its average for good; the close still goes once its leg has waited edge_memory_s (5 s). A quote fills in
    # about 2 s (0.003 ahead of it, a trade of 0.001 every 0.5 s).
    primary_rec = steady_trades(tmp_path / "p.gz", every_s=0.5, until_s=60.0)
    hedge_rec = _swinging_basis(tmp_path / "h.gz", phase_s=1.0, until_s=60.0, start_high=False, once=True)
    s = market_settings(cycle_mode="inventory", cycles=1, max_position=D("0.002"), max_notional=D("1000"),
                        edge_memory_s=5.0)
    stats = MarketStats()
    async with sim_pair(primary_rec, hedge_rec) as (_exchange, primary, hedge):
        started = trio.current_time()
        outcome = await run_market(s, primary, hedge, stats, trio.Event())
        took = trio.current_time() - started
    assert outcome.failure is None and outcome.flat and stats.cycles_completed == 1
    assert [c.side for c in stats.cycles] == ["BUY", "SELL"] and stats.quote_skips.get("edge_typical", 0) > 0
    assert stats.cycles[1].expected_edge_bps is not None and stats.cycles[1].expected_edge_bps < -19
    # two fills of about 2 s each and one wait of edge_memory_s between them, not the minute of data
    assert 2 * 1.5 + 5.0 <= took < 2 * 2.5 + 5.0 + 1.0, took


async def test_silent_fill_is_detected_halted_and_flattened_from_the_venue_position(
        autojump_clock: trio.testing.MockClock, tmp_path: Path) -> None:
    # Trades so rare that the quote rests all along (no cycle verification runs): only the position check
    # can see a hedge-venue fill that the private stream never delivers.
    primary_rec = steady_trades(tmp_path / "p.gz", every_s=30.0, until_s=200.0)
    hedge_rec = static_book(tmp_path / "h.gz", [("100.0", "5")], [("100.1", "5")], until_s=200.0)
    s = market_settings(cycles=5, position_check_interval_s=1.0, event_grace_s=0.5)
    stats = MarketStats()
    async with sim_pair(primary_rec, hedge_rec) as (exchange, primary, hedge):
        async with trio.open_nursery() as nursery:
            injected_at: list[float] = []

            async def inject() -> None:
                await trio.sleep(2.0)
                injected_at.append(trio.current_time())
                exchange.inject_silent_fill(HEDGE, HEDGE_SYMBOL, Side.BUY, D("0.003"))

            nursery.start_soon(inject)
            started = trio.current_time()
            outcome = await run_market(s, primary, hedge, stats, trio.Event())
        h_engine = exchange.engine(HEDGE, HEDGE_SYMBOL)
        flatten_orders = [h_engine.get_order(f.client_order_id) for f in h_engine.fills
                          if f.client_order_id != "injected"]
        final = (exchange.engine(PRIMARY, PRIMARY_SYMBOL).position().size, h_engine.position().size)
    assert isinstance(outcome.failure, PositionDrift), outcome.failure
    assert "grvt BTC_USDT_Perp reports 0.003" in str(outcome.failure)
    halted_after_s = stats.halts[0].at_s - (injected_at[0] - started)
    assert 0 < halted_after_s <= 1.0 + 0.5 + 0.1  # within the interval (+ the recheck after event_grace_s)
    assert outcome.flat and final == (0, 0)
    # the tracked hedge position was 0: the flatten took its side and size from the venue's position
    assert [(o.request.side, o.request.size, o.request.reduce_only) for o in flatten_orders] == [
        (Side.SELL, D("0.003"), True)]


async def test_flatten_takes_its_side_from_the_venue_position(autojump_clock: trio.testing.MockClock,
                                                             tmp_path: Path) -> None:
    primary_rec = static_book(tmp_path / "p.gz", [("100.0", "5")], [("100.1", "5")])
    hedge_rec = static_book(tmp_path / "h.gz", [("100.0", "5")], [("100.1", "5")])
    async with sim_pair(primary_rec, hedge_rec) as (exchange, primary, _hedge):
        await trio.sleep(0.5)
        exchange.submit(PRIMARY, OrderRequest("manual-1", PRIMARY_SYMBOL, Side.SELL, D("0.004"), OrderType.MARKET,
                                              None, TimeInForce.IOC))
        await trio.sleep(0.1)
        result = await flatten_position(primary, PRIMARY_SYMBOL, reason="flatten")
        engine = exchange.engine(PRIMARY, PRIMARY_SYMBOL)
        sent = [engine.get_order(f.client_order_id) for f in engine.fills if f.client_order_id != "manual-1"]
    assert result.flat and result.orders_sent == 1
    assert [(o.request.side, o.request.size) for o in sent] == [(Side.BUY, D("0.004"))]


def _fill(venue: str, side: Side, size: str, price: str, fee: str, maker: bool, t_s: int) -> Fill:
    return Fill(venue, "X", "c", f"{venue}{t_s}", side, D(price), D(size), D(fee), maker, t_s * 1_000_000_000)


def test_wear_fees_maker_share_and_cycles_per_hour_in_summary_and_metrics() -> None:
    stats = MarketStats(cycle_mode="inventory")
    stats.on_fill(_fill("bp", Side.BUY, "1", "100", "0", True, 0), primary=True)
    stats.on_fill(_fill("gr", Side.SELL, "1", "100", "0.045", False, 0), primary=False)
    stats.on_fill(_fill("bp", Side.SELL, "1", "100", "0.024", False, 1800), primary=True)
    stats.on_fill(_fill("gr", Side.BUY, "1", "100", "0.045", False, 1800), primary=False)
    stats.pnl.realized = D("-0.114")
    stats.cycles_completed = 1
    summary = build_summary({"BTC": stats}, {}, "done", 0)
    m = summary["markets"]["BTC"]
    assert m["volume_quote"] == "400.00" and m["fees_quote"] == "0.1140"
    assert m["venues"] == {"bp": {"volume_quote": "200.00", "fees_quote": "0.0240"},
                           "gr": {"volume_quote": "200.00", "fees_quote": "0.0900"}}
    assert m["wear_bps"] == summary["wear_bps"] == 2.85  # 0.114 / 400 * 1e4
    # the top level's volume is the one wear divides by (the fills'), not a count of its own
    assert summary["volume_quote"] == "400.00" and summary["pnl_quote"]["total"] == "-0.1140"
    assert m["maker_share"] == 0.5 and m["cycle_mode"] == "inventory"
    assert m["cycles_per_hour"] == summary["cycles_per_hour"] == 2.0  # 1 cycle in half an hour of venue time
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for fam in BotCollector({"BTC": stats}).collect() for s in fam.samples}
    assert samples[("trio_hedge_wear_bps", (("market", "BTC"),))] == 2.85
    assert samples[("trio_hedge_maker_share", (("market", "BTC"),))] == 0.5
    assert samples[("trio_hedge_venue_fees_quote", (("market", "BTC"), ("venue", "gr")))] == 0.09


_CYCLE_LINE = re.compile(r"market: \d+ cycles, volume ([\d.]+) \(backpack ([\d.]+) / grvt ([\d.]+)\), "
                         r"fees (-?[\d.]+) \(backpack (-?[\d.]+) / grvt (-?[\d.]+)\), wear ")


async def test_wear_volume_and_fees_agree_in_summary_and_per_cycle_line(
        autojump_clock: trio.testing.MockClock, log_lines: list[str]) -> None:
    # ETH's feed dies after its first fill (a failed market, its hedge cut short): the printed figures agree all
    # the same, in total and per market.
    async def kill_eth_feed(exchange: Any) -> None:
        with trio.fail_after(300):
            while not exchange.engine("backpack", "ETH_USDC_PERP").fills:  # noqa: ASYNC110 - simulator state
                await trio.sleep(0.05)
        exchange.kill_feed("backpack", "ETH_USDC_PERP")

    config = load_config(REPO / "config.toml", ["venues.backpack.kind=sim", "venues.grvt.kind=sim",
                                                "engine.cycles=2"])
    s = (await run_bot(config, sim_hook=kill_eth_feed)).summary
    eth = s["markets"]["ETH"]
    assert "FeedDown" in eth["exit_reason"], eth["exit_reason"]
    for view in (s, *s["markets"].values()):  # wear from the printed figures: one volume basis
        pnl, volume, wear = D(view["pnl_quote"]["total"]), D(view["volume_quote"]), D(str(view["wear_bps"]))
        # what the printed precisions allow: pnl to 1e-4, volume to 1e-2, wear to 1e-4
        slack = D("0.00005") / volume * 10_000 + abs(wear) * D("0.005") / volume + D("0.00005")
        assert volume > 0 and abs(wear - -pnl / volume * 10_000) <= slack, view
    assert D(s["volume_quote"]) == sum((D(m["volume_quote"]) for m in s["markets"].values()), D(0))
    for m in s["markets"].values():
        assert D(m["volume_quote"]) == sum((D(v["volume_quote"]) for v in m["venues"].values()), D(0))
    # the per-cycle line: the market's volume and fees in total and per venue, on one line
    lines = [line for line in log_lines if "market: " in line and " cycles/h" in line]
    assert len(lines) >= 4 and not any("\n" in line.rstrip("\n") for line in lines)
    for line in lines:
        m = _CYCLE_LINE.search(line)
        assert m is not None, line
        vol, vol_bp, vol_gr, fees, fees_bp, fees_gr = (D(x) for x in m.groups())
        assert vol_bp > 0 and vol_gr > 0 and abs(vol - vol_bp - vol_gr) <= D("0.01"), line
        assert fees_gr > 0 and abs(fees - fees_bp - fees_gr) <= D("0.0001"), line
