"""The main job end to end on the embedded simulator and the shipped recordings (virtual time)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
import trio

from trio_hedge.app import load_config, run_bot
from trio_hedge.domain import OrderStatus
from trio_hedge.engine import EXIT_OK, EXIT_VENUE_UNREACHABLE
from trio_hedge.sim import SimExchange

REPO = Path(__file__).resolve().parent.parent
# Virtual-time tests use the in-process venues (trio's autojump clock and real sockets do not mix).
IN_PROCESS = ["venues.backpack.kind=sim", "venues.grvt.kind=sim"]
ONE_MARKET = 'engine.markets=["BTC"]'
"""The tests below the default job's were written for the BTC market alone: they run it alone."""


def _flat(summary: dict) -> bool:
    return all(Decimal(p) == 0 for syms in summary["final_positions"].values() for p in syms.values())


async def test_default_job_completes_20_cycles_flat(autojump_clock: trio.testing.MockClock) -> None:
    # the default job runs two markets, BTC and ETH (issue 13): each >= 20 cycles, the top level their sum
    config = load_config(REPO / "config.toml", IN_PROCESS)
    result = await run_bot(config)
    s = result.summary
    assert result.exit_code == EXIT_OK, result.exit_reason
    assert set(s["markets"]) == {"BTC", "ETH"}
    assert s["cycles_completed"] == sum(m["cycles_completed"] for m in s["markets"].values())
    assert s["cycles_failed"] == 0
    assert _flat(s)
    assert set(s["final_positions"]) == {"backpack", "grvt"}
    assert set(s["final_positions"]["backpack"]) == {"BTC_USDC_PERP", "ETH_USDC_PERP"}
    # inventory mode (the default): every leg opened or completed a cycle, and hedged exactly what the maker
    # filled; the primary was maker on all of its volume
    for name, size in (("BTC", Decimal("0.002")), ("ETH", Decimal("0.05"))):
        m = s["markets"][name]
        assert m["cycles_completed"] >= 20, (name, m["exit_reason"])
        assert m["cycle_mode"] == "inventory" and m["maker_share"] == 1.0
        assert [c["outcome"] for c in m["cycles"]].count("completed") == m["cycles_completed"]
        for c in m["cycles"]:
            assert c["outcome"] in ("opened", "completed")
            assert Decimal(c["maker_filled"]) == size == Decimal(c["hedge_filled"])
        assert m["wear_bps"] is not None
    assert s["wear_bps"] is not None and Decimal(s["volume_quote"]) > 0
    assert s["hedge_latency_ms"]["count"] >= 40
    assert s["avg_edge_bps"] is not None


@pytest.mark.parametrize("moment", ["quote_resting", "hedge_position_open"])
async def test_killing_primary_feed_mid_cycle_cancels_and_flattens(
    autojump_clock: trio.testing.MockClock, moment: str
) -> None:
    # quote timing off (markets.0.edge_memory_ms=0): the first side that passes the gate quotes at once, so a few
    # cycles complete in the first 3 s and a quote caught resting is not filled before the cleanup's cancel
    config = load_config(REPO / "config.toml", [*IN_PROCESS, ONE_MARKET, "engine.cycles=1000",
                                                "markets.0.edge_memory_ms=0"])
    seen: dict[str, object] = {}

    async def kill_mid_cycle(exchange: SimExchange) -> None:
        primary = exchange.engine("backpack", "BTC_USDC_PERP")
        hedge = exchange.engine("grvt", "BTC_USDT_Perp")
        seen["primary"], seen["hedge"] = primary, hedge
        await trio.sleep(3)  # let a few cycles complete first
        while True:
            await trio.sleep(0.001)
            if moment == "quote_resting" and primary.open_orders():
                seen["resting"] = [o.client_order_id for o in primary.open_orders()]
                break
            if moment == "hedge_position_open" and hedge.position().size != 0:
                seen["hedge_position"] = hedge.position().size
                break
        exchange.kill_feed("backpack")

    result = await run_bot(config, sim_hook=kill_mid_cycle)
    assert result.exit_code == EXIT_VENUE_UNREACHABLE
    assert "FeedDown" in result.exit_reason and "backpack" in result.exit_reason
    assert result.summary["cycles_failed"] == 1 and result.summary["cycles_completed"] >= 1
    assert _flat(result.summary)
    primary, hedge = seen["primary"], seen["hedge"]
    assert primary.open_orders() == [] and hedge.open_orders() == []  # type: ignore[attr-defined]
    if moment == "quote_resting":
        for coid in seen["resting"]:  # type: ignore[attr-defined]
            order = primary.get_order(coid)  # type: ignore[attr-defined]
            assert order.status is OrderStatus.CANCELLED, (order.status, order.reason)
            assert order.reason == "cancelled_by_user"  # cancelled by our cleanup, not expired
    else:
        assert seen["hedge_position"] != 0
        assert hedge.position().size == 0 and primary.position().size == 0  # type: ignore[attr-defined]


async def test_silent_hedge_feed_is_detected_as_stale_and_flattened(autojump_clock: trio.testing.MockClock) -> None:
    config = load_config(REPO / "config.toml", [*IN_PROCESS, "engine.cycles=1000", "risk.book_stale_ms=1500"])
    blackholed_at: list[float] = []

    async def blackhole_after_a_few_cycles(exchange: SimExchange) -> None:
        await trio.sleep(5)
        blackholed_at.append(trio.current_time())
        exchange.blackhole_feed("grvt")

    result = await run_bot(config, sim_hook=blackhole_after_a_few_cycles)
    assert blackholed_at
    assert result.exit_code == EXIT_VENUE_UNREACHABLE
    assert "BookStale" in result.exit_reason and "grvt" in result.exit_reason
    assert _flat(result.summary)
    assert result.summary["cycles_completed"] >= 1


async def test_end_of_recorded_data_stops_gracefully_and_flat(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    from .synth import Recording, venue_overrides

    def short(path: Path, symbol: str, depth: str) -> Path:
        r = Recording(symbol=symbol)
        r.snapshot(0.0, [("100.0", depth)], [("100.1", depth)])
        for i in range(1, 40):  # 2 seconds of data: quotes fill on the trades, then the data ends
            r.trade(i * 0.05, "100.0", "0.002", buyer_is_maker=True)
            r.trade(i * 0.05 + 0.01, "100.1", "0.002", buyer_is_maker=False)
            r.delta(i * 0.05 + 0.02, bids=[("99.0", str(i))], asks=[("101.0", str(i))])
        return r.write(path)

    overrides = [
        *venue_overrides("backpack", short(tmp_path / "p.gz", "A", "0.001"), symbol="BTC_USDC_PERP"),
        *venue_overrides("grvt", short(tmp_path / "h.gz", "B", "50"), symbol="BTC_USDT_Perp"),
        "venues.backpack.min_notional=0",
        "venues.grvt.min_notional=0",
        "engine.cycles=1000",
        "sim.speed=1",
    ]
    result = await run_bot(load_config(REPO / "config.toml", [*IN_PROCESS, ONE_MARKET, *overrides]))
    assert result.exit_code == EXIT_OK, result.exit_reason
    assert "recorded data ended" in result.exit_reason
    assert _flat(result.summary)
    assert result.summary["cycles_failed"] == 0
