"""Not flat at exit (exit code 3, ``EXIT_NOT_FLAT``): when the cleanup cannot close a leg (the venue refuses
reduce-only orders) or cannot read it (position reads fail), the run must say so: the not-flat exit code, the
reason and the unknown or open position in the summary, a ``not_flat`` event and the exit in the journal.
A missing position report is never read as flat.

End to end on the in-process venues (virtual time): the simulated exchange injects the fault while both legs
hold a position, then a SIGINT asks for the graceful stop (cancel, flatten, exit)."""

from __future__ import annotations

import signal
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import trio

from trio_hedge.app import Journal, load_config, run_bot
from trio_hedge.engine import EXIT_NOT_FLAT, EXIT_OK
from trio_hedge.sim import SimExchange

from .synth import HEDGE, HEDGE_SYMBOL, PRIMARY, PRIMARY_SYMBOL, wait_both_legs_exposed

REPO = Path(__file__).resolve().parent.parent
IN_PROCESS = ["venues.backpack.kind=sim", "venues.grvt.kind=sim", 'engine.markets=["BTC"]']
"""In-process venues, the BTC market alone (these tests were written for one market; tests/test_markets.py has
the default run's two)."""


async def _stop_exposed_with(fault: Callable[[SimExchange], None], seen: dict[str, Any],
                             exchange: SimExchange) -> None:
    seen["exchange"] = exchange
    await wait_both_legs_exposed(exchange, after_s=2)
    fault(exchange)
    signal.raise_signal(signal.SIGINT)


async def _run(tmp_path: Path, fault: Callable[[SimExchange], None]) -> tuple[Any, SimExchange, Path]:
    jpath = tmp_path / "j.sqlite"
    config = load_config(REPO / "config.toml", [*IN_PROCESS, "engine.cycles=1000"])
    seen: dict[str, Any] = {}

    async def hook(exchange: SimExchange) -> None:
        await _stop_exposed_with(fault, seen, exchange)

    result = await run_bot(config, handle_signals=True, journal_path=jpath, sim_hook=hook)
    return result, seen["exchange"], jpath


def _journal_says_not_flat(jpath: Path, reason: str) -> None:
    with Journal.open(jpath) as j:
        runs = j.runs()
        assert [r.exit_code for r in runs] == [EXIT_NOT_FLAT]
        assert runs[0].exit_reason == reason
        events = j.events("not_flat")
        assert [e.detail for e in events] == [reason]


async def test_a_refused_flatten_ends_the_run_not_flat(autojump_clock: trio.testing.MockClock, tmp_path: Path) -> None:
    result, exchange, jpath = await _run(tmp_path, lambda x: x.refuse_reduce_only(HEDGE, "reduce_only_refused"))
    hedge_position = exchange.engine(HEDGE, HEDGE_SYMBOL).position().size
    assert hedge_position != 0  # the venue really still holds it
    assert exchange.engine(PRIMARY, PRIMARY_SYMBOL).position().size == 0  # the other leg was flattened
    assert result.exit_code == EXIT_NOT_FLAT
    assert result.exit_reason.startswith("NOT FLAT at exit") and "stopped by SIGINT" in result.exit_reason
    s = result.summary
    assert s["exit_code"] == EXIT_NOT_FLAT and s["exit_reason"] == result.exit_reason
    assert Decimal(s["final_positions"][HEDGE][HEDGE_SYMBOL]) == hedge_position
    assert Decimal(s["final_positions"][PRIMARY][PRIMARY_SYMBOL]) == 0
    _journal_says_not_flat(jpath, result.exit_reason)


async def test_unreadable_positions_end_the_run_not_flat(autojump_clock: trio.testing.MockClock,
                                                         tmp_path: Path) -> None:
    result, exchange, jpath = await _run(tmp_path, lambda x: x.fail_position_reads(HEDGE))
    assert result.exit_code == EXIT_NOT_FLAT
    assert result.exit_reason.startswith("NOT FLAT at exit")
    s = result.summary
    assert s["exit_code"] == EXIT_NOT_FLAT
    assert s["final_positions"][HEDGE] == {HEDGE_SYMBOL: "unknown"}  # never read as flat
    assert Decimal(s["final_positions"][PRIMARY][PRIMARY_SYMBOL]) == 0
    # the cleanup could not read the hedge leg, so it sent nothing there: the position is still open
    assert exchange.engine(HEDGE, HEDGE_SYMBOL).position().size != 0
    _journal_says_not_flat(jpath, result.exit_reason)


async def test_the_same_stop_without_a_fault_ends_flat(autojump_clock: trio.testing.MockClock,
                                                       tmp_path: Path) -> None:
    """The control: the same scenario with no fault exits 0, flat, and journals no not-flat event."""
    result, exchange, jpath = await _run(tmp_path, lambda x: None)
    assert result.exit_code == EXIT_OK, result.exit_reason
    assert exchange.engine(HEDGE, HEDGE_SYMBOL).position().size == 0
    with Journal.open(jpath) as j:
        assert [r.exit_code for r in j.runs()] == [EXIT_OK]
        assert j.events("not_flat") == []
