"""The main job with legs through ccxt (``kind = "ccxt"``): ccxt.pro's clients of Backpack and GRVT against the
embedded wire simulators on loopback (real clock, real sockets, the asyncio bridge in its own thread)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
import trio

from trio_hedge.app import load_config, run_bot
from trio_hedge.engine import EXIT_OK

REPO = Path(__file__).resolve().parent.parent
BOTH = ["venues.backpack.kind=ccxt", "venues.grvt.kind=ccxt"]
MIXED = ["venues.grvt.kind=ccxt"]  # native Backpack primary, ccxt GRVT hedge


def _flat(summary: dict) -> bool:
    return all(Decimal(p) == 0 for syms in summary["final_positions"].values() for p in syms.values())


@pytest.mark.slow  # 13-24 s: runs in CI's slow/chaos pass (.ci/run), keeps the default run under budget
async def test_both_legs_through_ccxt_trade_and_end_flat(tmp_path: Path) -> None:
    config = load_config(REPO / "config.toml", [*BOTH, "engine.cycles=3", "sim.speed=5",
                                                f"journal.path={tmp_path / 'j.sqlite'}"])
    assert {v.kind for v in config.venues.values()} == {"ccxt"}
    with trio.fail_after(120):
        result = await run_bot(config)
    assert result.exit_code == EXIT_OK, result.exit_reason
    s = result.summary
    # the default run's two markets (BTC, ETH) over one ccxt client per venue
    assert s["cycles_completed"] == 6 and s["cycles_failed"] == 0 and _flat(s)
    assert {n: m["cycles_completed"] for n, m in s["markets"].items()} == {"BTC": 3, "ETH": 3}
    for name, size in (("BTC", Decimal("0.002")), ("ETH", Decimal("0.05"))):
        for c in s["markets"][name]["cycles"]:
            assert Decimal(c["maker_filled"]) == Decimal(c["hedge_filled"]) == size


@pytest.mark.slow  # ~13 s: runs in CI's slow/chaos pass (.ci/run), keeps the default run under budget
async def test_the_primary_through_ccxt_with_its_order_stream_polled_trades_and_ends_flat(tmp_path: Path) -> None:
    """``ccxt_poll``: the maker leg's fills reach the hedger through REST polls of its orders (no order stream),
    at the shipped poll interval (``heartbeat_ms``, 1 s): a fill may reach the engine over a second late, and the
    position check waits the venue's ``event_delay_s`` before it calls a difference a drift (with its 0.5 s
    ``risk.event_grace_ms`` alone, every run failed with PositionDrift on a maker fill still in flight)."""
    config = load_config(REPO / "config.toml", [
        "venues.backpack.kind=ccxt", 'venues.backpack.ccxt_poll=["watchOrders"]',
        "engine.cycles=2", "sim.speed=5",
        f"journal.path={tmp_path / 'j.sqlite'}"])  # fmt: skip
    with trio.fail_after(120):
        result = await run_bot(config)
    assert result.exit_code == EXIT_OK, result.exit_reason
    s = result.summary  # the default run's two markets, both polled over the one ccxt session of Backpack
    assert s["cycles_completed"] == 4 and s["cycles_failed"] == 0 and _flat(s)
    assert {n: m["cycles_completed"] for n, m in s["markets"].items()} == {"BTC": 2, "ETH": 2}


@pytest.mark.slow
@pytest.mark.parametrize("overrides", [BOTH, MIXED], ids=["both-ccxt", "native-primary-ccxt-hedge"])
async def test_the_default_job_through_ccxt_completes_20_cycles(tmp_path: Path, overrides: list[str]) -> None:
    """The issue's acceptance: the shipped config with legs through ccxt (about 60-80 s at 4x)."""
    config = load_config(REPO / "config.toml", [*overrides, f"journal.path={tmp_path / 'j.sqlite'}"])
    with trio.fail_after(300):
        result = await run_bot(config)
    assert result.exit_code == EXIT_OK, result.exit_reason
    assert all(m["cycles_completed"] >= 20 for m in result.summary["markets"].values()) and _flat(result.summary)
