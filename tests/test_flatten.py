"""The cleanup's flatten (``engine/_flatten.py``) when it cannot close a position with one order: a reduce-only
order that fills only partly, a venue that refuses reduce-only orders, a residual below the venue's minimum, a
position that cannot be read. In isolation (``flatten_position`` / ``flatten_all`` against the in-process sim
venue, whose exchange injects the fault) and end to end (``run_bot``: the market scope's cleanup).

Every assertion reads the venue's side (the simulated exchange's orders, fills and positions) or the public
results (``FlattenResult``, the run's exit code and summary)."""

from __future__ import annotations

import signal
from decimal import Decimal
from pathlib import Path
from typing import Any

import trio

from trio_hedge.app import load_config, run_bot
from trio_hedge.domain import OrderRequest, OrderStatus, OrderType, Side, TimeInForce
from trio_hedge.engine import EXIT_OK, flatten_all, flatten_position
from trio_hedge.sim import SimExchange

from .synth import HEDGE, HEDGE_SYMBOL, PRIMARY, PRIMARY_SYMBOL, sim_pair, static_book, wait_both_legs_exposed

D = Decimal
REPO = Path(__file__).resolve().parent.parent
IN_PROCESS = ["venues.backpack.kind=sim", "venues.grvt.kind=sim", 'engine.markets=["BTC"]']
"""In-process venues, the BTC market alone (these tests were written for one market; tests/test_markets.py has
the default run's two)."""


def _books(tmp_path: Path) -> tuple[Path, Path]:
    deep = ([("100.0", "50"), ("99.9", "50")], [("100.1", "50"), ("100.2", "50")])
    return static_book(tmp_path / "p.gz", *deep), static_book(tmp_path / "h.gz", *deep)


async def _trade(venue: Any, symbol: str, side: Side, size: str) -> None:
    """A plain market order (not reduce-only): how a test leaves a position on the venue."""
    req = OrderRequest(venue.new_client_order_id(), symbol, side, D(size), OrderType.MARKET, tif=TimeInForce.IOC,
                       reason="test")
    report = await venue.place(req)
    assert report.status is OrderStatus.FILLED, report


def _flatten_orders(exchange: SimExchange, venue: str, symbol: str) -> list[tuple[Decimal, Decimal]]:
    """(size, filled) of every reduce-only ``flatten`` order the venue filled any of, in the order sent."""
    engine = exchange.engine(venue, symbol)
    seen: dict[str, tuple[Decimal, Decimal]] = {}
    for f in engine.fills:
        order = engine.get_order(f.client_order_id)
        if order.request.reduce_only and order.request.reason == "flatten":
            seen[f.client_order_id] = (order.request.size, order.filled_size)
    return list(seen.values())


async def test_a_partly_filled_flatten_order_is_followed_by_more_until_flat(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    async with sim_pair(*_books(tmp_path)) as (exchange, _p, h):
        await _trade(h, HEDGE_SYMBOL, Side.BUY, "0.005")
        exchange.limit_reduce_only_fills(HEDGE, D("0.002"))
        result = await flatten_position(h, HEDGE_SYMBOL, reason="flatten")
        position = exchange.engine(HEDGE, HEDGE_SYMBOL).position().size
        orders = _flatten_orders(exchange, HEDGE, HEDGE_SYMBOL)
    assert position == 0
    assert result.flat and result.final_position == 0
    assert result.orders_sent == 3
    # each order asks for the whole remaining position and gets at most the injected 0.002
    assert orders == [(D("0.005"), D("0.002")), (D("0.003"), D("0.002")), (D("0.001"), D("0.001"))]


async def test_flatten_respects_max_orders_and_says_it_is_not_flat(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    async with sim_pair(*_books(tmp_path)) as (exchange, _p, h):
        await _trade(h, HEDGE_SYMBOL, Side.SELL, "0.005")
        exchange.limit_reduce_only_fills(HEDGE, D("0.002"))
        result = await flatten_position(h, HEDGE_SYMBOL, reason="flatten", max_orders=2)
        position = exchange.engine(HEDGE, HEDGE_SYMBOL).position().size
        orders = _flatten_orders(exchange, HEDGE, HEDGE_SYMBOL)
    assert result.orders_sent == 2 and len(orders) == 2
    assert position == D("-0.001") == result.final_position
    assert not result.flat


async def test_a_venue_refusing_reduce_only_orders_leaves_the_position_and_says_so(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    async with sim_pair(*_books(tmp_path)) as (exchange, _p, h):
        await _trade(h, HEDGE_SYMBOL, Side.BUY, "0.004")
        exchange.refuse_reduce_only(HEDGE, "reduce_only_refused")
        result = await flatten_position(h, HEDGE_SYMBOL, reason="flatten", max_orders=3)
        engine = exchange.engine(HEDGE, HEDGE_SYMBOL)
        position = engine.position().size
        refused = engine.statistics().orders_rejected
    assert position == D("0.004") == result.final_position
    assert not result.flat
    assert result.orders_sent == refused == 3  # each refusal re-reads the position and decides anew, bounded


async def test_a_residual_below_the_minimum_size_is_reported_not_flat(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    async with sim_pair(*_books(tmp_path), min_size="0.002") as (exchange, _p, h):
        await _trade(h, HEDGE_SYMBOL, Side.BUY, "0.003")
        await _trade(h, HEDGE_SYMBOL, Side.SELL, "0.002")
        result = await flatten_position(h, HEDGE_SYMBOL, reason="flatten")
        position = exchange.engine(HEDGE, HEDGE_SYMBOL).position().size
    assert position == D("0.001") == result.final_position
    assert result.orders_sent == 0  # an order below the venue's minimum would only be refused
    assert not result.flat


async def test_an_unreadable_position_is_never_taken_for_flat(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    async with sim_pair(*_books(tmp_path)) as (exchange, _p, h):
        await _trade(h, HEDGE_SYMBOL, Side.BUY, "0.002")
        exchange.fail_position_reads(HEDGE)
        result = await flatten_position(h, HEDGE_SYMBOL, reason="flatten")
        position = exchange.engine(HEDGE, HEDGE_SYMBOL).position().size
    assert position == D("0.002")
    assert result.final_position is None and not result.flat
    assert result.orders_sent == 0


async def test_flatten_all_closes_both_legs_with_partial_fills(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    async with sim_pair(*_books(tmp_path)) as (exchange, p, h):
        await _trade(p, PRIMARY_SYMBOL, Side.BUY, "0.003")
        await _trade(h, HEDGE_SYMBOL, Side.SELL, "0.003")
        exchange.limit_reduce_only_fills(PRIMARY, D("0.001"))
        exchange.limit_reduce_only_fills(HEDGE, D("0.002"))
        results = await flatten_all([(p, PRIMARY_SYMBOL), (h, HEDGE_SYMBOL)], reason="flatten")
        positions = (exchange.engine(PRIMARY, PRIMARY_SYMBOL).position().size,
                     exchange.engine(HEDGE, HEDGE_SYMBOL).position().size)
        orders = (_flatten_orders(exchange, PRIMARY, PRIMARY_SYMBOL), _flatten_orders(exchange, HEDGE, HEDGE_SYMBOL))
    assert positions == (0, 0)
    assert [r.flat for r in results] == [True, True]
    assert [r.orders_sent for r in results] == [3, 2]
    assert [len(o) for o in orders] == [3, 2]


async def test_the_market_cleanup_sends_more_flatten_orders_when_one_fills_partly(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """End to end: a cycle's hedge has filled and both legs hold a position when a stop (SIGINT) comes; every
    reduce-only order now fills at most one lot, so the cleanup needs more than one order on a leg that holds
    two lots, and it ends flat."""
    # at most 4 lots per BTC leg (the inventory may otherwise hold 10 when the stop comes): the cleanup's 5
    # flatten orders of one lot each can close it
    config = load_config(REPO / "config.toml", [*IN_PROCESS, "engine.cycles=1000", "markets.0.max_position=0.004"])
    seen: dict[str, Any] = {}

    async def stop_when_exposed(exchange: SimExchange) -> None:
        seen["exchange"] = exchange
        seen["positions"] = await wait_both_legs_exposed(exchange, after_s=3)
        for venue in (PRIMARY, HEDGE):
            exchange.limit_reduce_only_fills(venue, D("0.001"))
        signal.raise_signal(signal.SIGINT)  # run_bot's watcher: graceful stop (cancel, flatten, exit)

    result = await run_bot(config, handle_signals=True, sim_hook=stop_when_exposed)
    assert result.exit_code == EXIT_OK, result.exit_reason
    assert "stopped by SIGINT" in result.exit_reason and "flat on every venue" in result.exit_reason
    assert all(D(p) == 0 for syms in result.summary["final_positions"].values() for p in syms.values())
    exchange: SimExchange = seen["exchange"]
    assert max(abs(pos) for pos in seen["positions"]) >= D("0.002")  # a leg held more than one capped order
    per_leg = []
    for venue, symbol in ((PRIMARY, PRIMARY_SYMBOL), (HEDGE, HEDGE_SYMBOL)):
        assert exchange.engine(venue, symbol).position().size == 0
        flatten = _flatten_orders(exchange, venue, symbol)
        assert all(filled <= D("0.001") for _, filled in flatten)
        per_leg.append(len(flatten))
    assert max(per_leg) >= 2, per_leg
