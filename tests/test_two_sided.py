"""Two-sided quoting (issue 13, side selection: ``two_sided = true``): a BUY and a SELL post-only quote rest at
once, each only if it passes the gate; the limits hold for the worst case of both filling; every fill of either
side is hedged; the run ends flat."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest
import trio

from trio_hedge.app._config import ConfigError, load_config
from trio_hedge.domain import OrderRequest, OrderType, Side, TimeInForce
from trio_hedge.engine import MarketStats, RiskEngine, run_market

from .synth import HEDGE, HEDGE_SYMBOL, PRIMARY, PRIMARY_SYMBOL, market_settings, sim_pair, static_book, steady_trades

REPO = Path(__file__).resolve().parent.parent


def _signed_path(fills: list[Any]) -> tuple[D, D]:
    """(final position, largest |position| on the way) from a venue's fills in time order."""
    pos, peak = D(0), D(0)
    for f in sorted(fills, key=lambda f: f.ts_ns):
        pos += f.signed_size
        peak = max(peak, abs(pos))
    return pos, peak


async def _resting_sides(settings: Any, primary_rec: Path, hedge_rec: Path) -> tuple[list[Side], list[Any], Any]:
    """Run the market for 2 s of venue time without a trade on the primary, then cancel it (the market
    scope's cleanup runs): (the sides of the primary's open orders at 2 s, its open orders after cleanup,
    the market's stats)."""
    stats = MarketStats()
    async with sim_pair(primary_rec, hedge_rec) as (exchange, primary, hedge):
        engine = exchange.engine(PRIMARY, PRIMARY_SYMBOL)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(run_market, settings, primary, hedge, stats, trio.Event())
            await trio.sleep(2.0)
            sides = sorted(o.request.side.value for o in engine.open_orders())
            nursery.cancel_scope.cancel()
        after = list(engine.open_orders())
    return [Side(s) for s in sides], after, stats


async def test_both_sides_rest_at_once_when_both_pass(autojump_clock: trio.testing.MockClock, tmp_path: Path) -> None:
    primary_rec = static_book(tmp_path / "p.gz", [("100.0", "5")], [("100.1", "5")])
    hedge_rec = static_book(tmp_path / "h.gz", [("100.0", "5")], [("100.1", "5")])
    sides, after, _stats = await _resting_sides(market_settings(two_sided=True), primary_rec, hedge_rec)
    assert sides == [Side.BUY, Side.SELL]
    assert after == [], "the cleanup cancelled both quotes"
    # the same market one-sided rests one quote
    sides, _after, _stats = await _resting_sides(market_settings(), primary_rec, hedge_rec)
    assert sides == [Side.BUY]


async def test_only_the_side_that_passes_the_gate_rests(autojump_clock: trio.testing.MockClock,
                                                        tmp_path: Path) -> None:
    # The hedge venue trades 1% below the primary: a BUY on the primary never passes a 0 bps gate, a SELL does.
    primary_rec = static_book(tmp_path / "p.gz", [("100.0", "5")], [("100.1", "5")])
    hedge_rec = static_book(tmp_path / "h.gz", [("99.0", "5")], [("99.1", "5")])
    s = market_settings(two_sided=True, min_edge_bps=D("0"), primary_maker_fee_bps=D("0"),
                        hedge_taker_fee_bps=D("0"))
    sides, after, _stats = await _resting_sides(s, primary_rec, hedge_rec)
    assert sides == [Side.SELL]
    assert after == []


@pytest.mark.parametrize("mode", ["roundtrip", "inventory"])
async def test_fills_on_both_sides_are_hedged_and_the_run_ends_flat(
        autojump_clock: trio.testing.MockClock, tmp_path: Path, mode: str) -> None:
    # Trades hit the bid and the ask every 50 ms: both resting quotes fill within 10 ms of each other, so the
    # other side's quote often fills before its cancel lands (the race the signed hedge accounting handles).
    primary_rec = steady_trades(tmp_path / "p.gz", until_s=120.0)
    hedge_rec = static_book(tmp_path / "h.gz", [("100.0", "50")], [("100.1", "50")], until_s=120.0)
    s = market_settings(two_sided=True, cycle_mode=mode, cycles=4, max_position=D("0.006"), max_notional=D("1000"))
    stats = MarketStats()
    both_resting = 0  # samples (every 10 ms of venue time) with a BUY and a SELL quote resting at once
    async with sim_pair(primary_rec, hedge_rec) as (exchange, primary, hedge):
        engine = exchange.engine(PRIMARY, PRIMARY_SYMBOL)
        async with trio.open_nursery() as nursery:
            async def sample() -> None:
                nonlocal both_resting
                while True:
                    both_resting += {o.request.side for o in engine.open_orders()} == {Side.BUY, Side.SELL}
                    await trio.sleep(0.01)

            nursery.start_soon(sample)
            outcome = await run_market(s, primary, hedge, stats, trio.Event())
            nursery.cancel_scope.cancel()
        p_fills = list(engine.fills)
        h_fills = list(exchange.engine(HEDGE, HEDGE_SYMBOL).fills)
    assert outcome.failure is None and outcome.flat, outcome.failures
    assert stats.cycles_completed == 4
    assert both_resting > 0
    assert {f.side for f in p_fills} == {Side.BUY, Side.SELL}
    assert all(f.is_maker for f in p_fills) or mode == "roundtrip"  # roundtrip unwinds the primary with IOC
    for fills in (p_fills, h_fills):
        final, peak = _signed_path(fills)
        assert final == 0 and peak <= D("0.006")
    maker = [f for f in p_fills if f.is_maker]
    assert len(maker) == stats.maker_fills


@pytest.mark.parametrize("max_position", ["0.002", "0.003", "0.004", "0.006"])
async def test_worst_case_of_both_filling_stays_within_max_position(
        autojump_clock: trio.testing.MockClock, tmp_path: Path, max_position: str) -> None:
    primary_rec = steady_trades(tmp_path / "p.gz", until_s=120.0)
    hedge_rec = static_book(tmp_path / "h.gz", [("100.0", "50")], [("100.1", "50")], until_s=120.0)
    s = market_settings(two_sided=True, cycle_mode="inventory", cycles=3, max_position=D(max_position),
                        max_notional=D("1000"))
    stats = MarketStats()
    async with sim_pair(primary_rec, hedge_rec) as (exchange, primary, hedge):
        outcome = await run_market(s, primary, hedge, stats, trio.Event())
        p_fills = list(exchange.engine(PRIMARY, PRIMARY_SYMBOL).fills)
        h_fills = list(exchange.engine(HEDGE, HEDGE_SYMBOL).fills)
    assert outcome.failure is None and outcome.flat, outcome.failures
    assert stats.cycles_completed >= 1
    for fills in (p_fills, h_fills):
        final, peak = _signed_path(fills)
        assert final == 0 and peak <= D(max_position)
    assert "REDUCING" not in {t.to_state.value for t in stats.transitions}, "no fill ever passed a limit"


@pytest.mark.parametrize(("position", "side", "resting", "blocked"), [
    ("0.004", Side.BUY, "0", False),       # 0.004 + 0.002 = max
    ("0.005", Side.BUY, "0", True),        # one lot past
    ("0.004", Side.SELL, "0", False),      # the other side only brings it back
    ("0.002", Side.BUY, "0.002", False),   # 0.002 + live 0.002 + 0.002 = max
    ("0.003", Side.BUY, "0.002", True),    # live quote of the side counted
    ("-0.004", Side.SELL, "0", False),
    ("-0.004", Side.SELL, "0.001", True),
    ("-0.006", Side.BUY, "0.002", False),  # closing side: back to -0.002
])
async def test_quote_block_counts_the_sides_live_quotes(
        autojump_clock: trio.testing.MockClock, tmp_path: Path, position: str, side: Side, resting: str,
        blocked: bool) -> None:
    book = static_book(tmp_path / "b.gz", [("100.0", "5")], [("100.1", "5")])
    s = market_settings(two_sided=True, max_position=D("0.006"), max_notional=D("1000"), max_open_orders=2)
    async with sim_pair(book, book) as (_exchange, primary, hedge):
        risk = RiskEngine(s, MarketStats(), primary, hedge)
        risk.primary.position = D(position)
        req = OrderRequest(client_order_id="q", symbol=PRIMARY_SYMBOL, side=side, size=D("0.002"),
                           order_type=OrderType.LIMIT, price=D("100"), tif=TimeInForce.GTT, post_only=True)
        block = risk.quote_block(req, 1, D(resting))
        assert (block is not None) is blocked, block
        if block is not None:
            assert block.startswith("max_position")
        # max_open_orders counts the other side's live quote
        assert (risk.quote_block(req, 2, D(resting)) or "").startswith("max_open_orders")


def test_config_two_sided() -> None:
    c = load_config(None, ["markets.0.two_sided=true"])
    assert c.markets[0].two_sided and not c.markets[1].two_sided
    with pytest.raises(ConfigError) as info:
        load_config(None, ['markets.0.two_sided="yes"'])
    assert info.value.key == "markets.0.two_sided" and "true" in info.value.fix
    with pytest.raises(ConfigError) as info:
        load_config(None, ["markets.0.two_sided=true", "risk.max_open_orders=1"])
    assert info.value.key == "markets.0.two_sided" and "max_open_orders" in info.value.fix


@pytest.mark.slow  # ~13 s: runs in CI's slow/chaos pass (.ci/run), keeps the default run under budget
@pytest.mark.timeout(240)
def test_a_two_sided_run_ends_flat_and_counts_cycles(tmp_path: Path) -> None:
    out = tmp_path / "summary.json"
    proc = subprocess.run([sys.executable, "-m", "trio_hedge", "--config", str(REPO / "config.toml"),
                           "--set", "engine.cycles=3", "--set", "sim.speed=8", "--set", "markets.0.two_sided=true",
                           "--set", "markets.1.two_sided=true", "--set", f"journal.path={tmp_path / 'j.sqlite'}",
                           "--summary-json", str(out)], cwd=tmp_path, capture_output=True, text=True, timeout=180,
                          check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads(out.read_text())
    assert {n: m["cycles_completed"] for n, m in summary["markets"].items()} == {"BTC": 3, "ETH": 3}
    assert all(D(p) == 0 for v in summary["final_positions"].values() for p in v.values())
