"""The fill-priority gate (trio_hedge/_hotpath.py): book readers step aside while a maker fill is on its way."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
import trio
import trio.testing

from trio_hedge._hotpath import FILL_PRIORITY, FillPriority
from trio_hedge._streams import SymbolEventStreams
from trio_hedge.app import ConfigError, load_config
from trio_hedge.domain import Fill, OrderStatus, OrderUpdate, Side


def _fill(trade_id: str, *, maker: bool) -> Fill:
    return Fill("backpack", "BTC_USDC_PERP", "7", trade_id, Side.BUY, Decimal("60000"), Decimal("0.001"),
                Decimal("0"), maker, 1)


async def test_a_closed_gate_returns_without_a_schedule_point() -> None:
    gate = FillPriority(2.0)
    ran: list[str] = []

    async def other() -> None:
        ran.append("other")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(other)
        await gate.step_aside()  # closed: no yield, so the other task has not run yet
        assert ran == []
    assert ran == ["other"] and gate.yields == 0


async def test_an_open_gate_lets_the_fill_path_run_first_and_closes_on_clear() -> None:
    gate = FillPriority(1000.0)  # long budget: only clear() closes it here
    order: list[str] = []

    async def fill_path() -> None:
        for _ in range(3):  # three hand-offs, as adapter -> tracker -> hedge worker
            await trio.lowlevel.checkpoint()
            order.append("fill step")
        gate.clear()

    async def book_reader() -> None:
        await gate.step_aside()
        order.append("book frame")

    gate.mark()
    assert gate.open
    async with trio.open_nursery() as nursery:
        nursery.start_soon(book_reader)
        nursery.start_soon(fill_path)
    assert order == ["fill step"] * 3 + ["book frame"]
    assert not gate.open and gate.marks == 1 and gate.yields >= 3


async def test_an_uncleared_mark_holds_the_readers_back_only_for_its_budget() -> None:
    gate = FillPriority(5.0)
    gate.mark()
    t0 = time.perf_counter()
    with trio.fail_after(5):  # a bug that never lets go fails here, not by hanging
        await gate.step_aside()
    waited_s = time.perf_counter() - t0
    assert 0.004 <= waited_s < 1.0
    assert not gate.open


async def test_a_zero_budget_switches_it_off() -> None:
    gate = FillPriority(0.0)
    gate.mark()
    assert not gate.open and gate.marks == 0
    await gate.step_aside()
    assert gate.yields == 0


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf")])
def test_a_bad_budget_is_refused(bad: float) -> None:
    with pytest.raises(ValueError, match="fill priority budget"):
        FillPriority(bad)


async def test_only_a_maker_fill_opens_the_gate_as_it_is_streamed() -> None:
    FILL_PRIORITY.configure(1000.0)
    try:
        streams = SymbolEventStreams("backpack", ["BTC_USDC_PERP"], 8)
        rx = streams.take("BTC_USDC_PERP")
        await streams.send("BTC_USDC_PERP", _fill("t1", maker=False))  # a hedge or unwind: a taker fill
        await streams.send("BTC_USDC_PERP", OrderUpdate("backpack", "BTC_USDC_PERP", "7", OrderStatus.OPEN))
        assert not FILL_PRIORITY.open
        await streams.send("BTC_USDC_PERP", _fill("t2", maker=True))
        assert FILL_PRIORITY.open
        assert [type(e).__name__ for e in (rx.receive_nowait() for _ in range(3))] == ["Fill", "OrderUpdate",
                                                                                        "Fill"]
    finally:
        FILL_PRIORITY.configure(2.0)


@pytest.mark.parametrize("value, fragment", [("-1", "out of range"), ("500", "too long"), ("'x'", "not a finite")])
def test_the_config_key_is_checked_and_named(value: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, [f"engine.fill_priority_ms={value}"])
    assert "engine.fill_priority_ms" in str(info.value) and fragment in str(info.value)


def test_the_config_key_reaches_the_settings() -> None:
    assert load_config(None).fill_priority_ms == 2.0
    assert load_config(None, ["engine.fill_priority_ms=0"]).fill_priority_ms == 0.0


async def test_the_collector_waits_while_the_gate_is_open_and_runs_again_after() -> None:
    import gc

    assert gc.isenabled()
    gate = FillPriority(1000.0)
    gate.mark()
    try:
        assert not gc.isenabled()
    finally:
        gate.clear()
    assert gc.isenabled()
    gate = FillPriority(3.0)  # and when the budget runs out with no clear
    gate.mark()
    assert not gc.isenabled()
    with trio.fail_after(5):
        await gate.step_aside()
    assert gc.isenabled()


def test_a_collector_switched_off_by_the_process_stays_off() -> None:
    import gc

    gc.disable()
    try:
        gate = FillPriority(1000.0)
        gate.mark()
        gate.clear()
        assert not gc.isenabled()
    finally:
        gc.enable()
