"""Partial fills: every maker fill is hedged, the hedged size equals the filled size, and the hedge never
runs ahead of the fills (synthetic recordings force many small partial fills)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import trio

from trio_hedge.app import load_config, run_bot
from trio_hedge.engine import EXIT_OK
from trio_hedge.sim import SimExchange

from .synth import Recording, venue_overrides

REPO = Path(__file__).resolve().parent.parent
# Virtual-time tests use the in-process venues (trio's autojump clock and real sockets do not mix).
IN_PROCESS = ["venues.backpack.kind=sim", "venues.grvt.kind=sim", 'engine.markets=["BTC"]']
"""In-process venues, the BTC market alone (these tests were written for one market; tests/test_markets.py has
the default run's two)."""


def _primary(path: Path) -> Path:
    """Bid 100.0 / ask 100.1, 0.003 resting at the bid ahead of us; sells of 0.001 every 50 ms hit the bid,
    buys of 0.001 lift the ask: a resting 0.010 quote fills in many 0.001 slices on either side."""
    r = Recording()
    r.snapshot(0.0, [("100.0", "0.003"), ("99.9", "5")], [("100.1", "0.003"), ("100.2", "5")])
    t = 0.1
    while t < 60:
        r.trade(t, "100.0", "0.001", buyer_is_maker=True)  # aggressor sells into the bid
        r.trade(t + 0.01, "100.1", "0.001", buyer_is_maker=False)  # aggressor buys the ask
        r.delta(t + 0.02, bids=[("90.0", "1")])  # keeps the feed alive; far from the top
        t += 0.05
    return r.write(path)


def _hedge(path: Path) -> Path:
    r = Recording()
    r.snapshot(0.0, [("100.0", "50"), ("99.9", "50")], [("100.1", "50"), ("100.2", "50")])
    t = 0.1
    while t < 60:
        r.delta(t, asks=[("110.0", "1")])
        t += 0.05
    return r.write(path)


async def test_many_partial_fills_hedged_exactly(autojump_clock: trio.testing.MockClock, tmp_path: Path) -> None:
    overrides = [
        *venue_overrides("backpack", _primary(tmp_path / "p.gz"), symbol="BTC_USDC_PERP"),
        *venue_overrides("grvt", _hedge(tmp_path / "h.gz"), symbol="BTC_USDT_Perp"),
        "venues.backpack.min_notional=0",
        "venues.grvt.min_notional=0",
        "markets.0.order_size=0.010",
        "engine.cycles=4",
        "engine.cycle_mode=roundtrip",  # a 0.010 quote per cycle (inventory would cap it at max_position)
        "markets.0.requote_after_ms=100000",
        "sim.speed=1",
    ]
    config = load_config(REPO / "config.toml", [*IN_PROCESS, *overrides])
    engines: dict[str, object] = {}

    async def grab(exchange: SimExchange) -> None:
        engines["p"] = exchange.engine("backpack", "BTC_USDC_PERP")
        engines["h"] = exchange.engine("grvt", "BTC_USDT_Perp")

    result = await run_bot(config, sim_hook=grab)
    assert result.exit_code == EXIT_OK, result.exit_reason
    cycles = result.summary["markets"]["BTC"]["cycles"]
    assert len(cycles) == 4 and all(c["outcome"] == "completed" for c in cycles)
    for c in cycles:
        assert Decimal(c["maker_filled"]) == Decimal("0.010") == Decimal(c["hedge_filled"])

    p_engine, h_engine = engines["p"], engines["h"]
    p_fills = [f for f in p_engine.fills if f.is_maker]  # type: ignore[attr-defined]
    assert len(p_fills) >= 4 * 5, "the scenario must produce many partial maker fills"
    assert all(f.size < Decimal("0.010") for f in p_fills)
    hedge_fills = [
        f for f in h_engine.fills  # type: ignore[attr-defined]
        if h_engine.get_order(f.client_order_id).request.reason == "hedge"  # type: ignore[attr-defined]
    ]
    assert sum((f.size for f in hedge_fills), Decimal(0)) == sum((f.size for f in p_fills), Decimal(0))
    # The hedge never runs ahead of the fills: at each hedge fill, the total hedged so far is at most
    # the total maker-filled before it.
    hedged = Decimal(0)
    for hf in hedge_fills:
        hedged += hf.size
        filled_before = sum((f.size for f in p_fills if f.ts_ns <= hf.ts_ns), Decimal(0))
        assert hedged <= filled_before
    # one hedge order per maker fill (every fill here is one lot, and the hedge book is deep)
    assert result.summary["hedge_latency_ms"]["count"] == len(p_fills) == len(hedge_fills)
