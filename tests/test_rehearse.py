"""Keeping the hedge path warm (trio_hedge/engine/_rehearse.py): rehearsals build, journal (rolled back) and
hand over the order the first hedge slice would send, and leave nothing behind: no order at the venue, no
intent in the journal, no order in the tracker, no claim on the book. The venues' own hooks are tested with
their adapters (test_grvt_adapter.py, test_backpack_adapter.py)."""

from __future__ import annotations

import threading
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from trio_hedge._hotpath import FILL_PRIORITY, WARM_PATH, WarmPath
from trio_hedge.app import ConfigError, Journal, load_config, open_async_journal
from trio_hedge.app._reconcile import JournalRecorder
from trio_hedge.domain import OrderRequest, OrderType, Side, TimeInForce
from trio_hedge.engine import HedgeRouter, JournaledVenue, OrderTracker, analyze_depth
from trio_hedge.engine._rehearse import QUIET_S, rehearse_hedges

from .synth import HEDGE_SYMBOL, PRIMARY_SYMBOL, market_settings, sim_pair, static_book

D = Decimal
BIDS = [("100.0", "0.001"), ("99.9", "0.001"), ("99.8", "0.01")]
ASKS = [("100.1", "0.001"), ("100.2", "0.01")]


def _request(coid: str = "9223372036854775901", side: Side = Side.SELL) -> OrderRequest:
    return OrderRequest(client_order_id=coid, symbol=HEDGE_SYMBOL, side=side, size=D("0.002"),
                        order_type=OrderType.LIMIT, price=D("99.9"), tif=TimeInForce.IOC, reason="hedge")


class _Rehearsing:
    """A hedge venue with the optional ``rehearse_place`` hook, keeping what it was handed (the sim's in-process
    venue has none; GRVT's is tested with its adapter)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.rehearsed: list[OrderRequest] = []

    def __getattr__(self, item: str) -> Any:
        return getattr(self.inner, item)

    def rehearse_place(self, request: OrderRequest) -> None:
        self.rehearsed.append(request)


def test_a_rehearsed_intent_leaves_no_trace_and_the_id_stays_free(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    with Journal.open(path) as j:
        j.record_intent("grvt", _request("9223372036854775900"))
        before = j.statistics().last_seq
        wal_bytes = path.with_name(path.name + "-wal").stat().st_size
        for _ in range(5):
            j.rehearse_intent("grvt", _request())
            j.rehearse_intent("grvt", _request("9223372036854775900"))  # already recorded: rolled back as well
        assert j.statistics().last_seq == before
        assert j.intent("grvt", _request().client_order_id) is None
        assert path.with_name(path.name + "-wal").stat().st_size == wal_bytes  # nothing written to the WAL
        seq = j.record_intent("grvt", _request())  # the id was never taken
        assert seq == before + 1 and j.intent("grvt", _request().client_order_id) is not None


def test_a_rehearsed_intent_never_waits_for_the_shared_write_lock(tmp_path: Path) -> None:
    lock = threading.Lock()  # run_bot's intent and report connections share one (app/_run.py)
    with Journal.open(tmp_path / "j.sqlite", write_lock=lock) as j:
        with lock:  # the report connection is writing: the rehearsal is skipped, the event loop never waits
            assert j.rehearse_intent("grvt", _request()) is False
        assert j.rehearse_intent("grvt", _request()) is True
        assert not lock.locked() and j.intent("grvt", _request().client_order_id) is None


async def test_the_router_rehearses_its_first_slice_and_sends_registers_and_claims_nothing(tmp_path: Path) -> None:
    hedge_rec = static_book(tmp_path / "h.gz", BIDS, ASKS)
    primary_rec = static_book(tmp_path / "p.gz", [("100.0", "5")], [("100.1", "5")])
    s = market_settings(slippage_cap_bps=D("30"))
    async with sim_pair(primary_rec, hedge_rec) as (exchange, _primary, hedge):
        spy = _Rehearsing(hedge)
        async with open_async_journal(tmp_path / "j.sqlite", exclusive=True, inline_intents=True) as journal:
            venue: Any = JournaledVenue(spy, JournalRecorder(journal), "grvt")
            tracker = OrderTracker(venue, HEDGE_SYMBOL, inbox_capacity=16)
            router = HedgeRouter(venue, tracker, HEDGE_SYMBOL, s)
            with trio.fail_after(5):
                while not venue.book(HEDGE_SYMBOL).valid:
                    await venue.wait_book_change(HEDGE_SYMBOL)
            seq = (await journal.statistics()).last_seq
            assert router.rehearse(Side.SELL, D("0.002")) and router.rehearse(Side.BUY, D("0.002"))
            sell, buy = spy.rehearsed
            # what route() would send first: the size within the cap, priced at the level that fills it
            book = venue.book(HEDGE_SYMBOL)
            a = analyze_depth(book, Side.SELL, D("0.002"), arrival_price=D("100.0"), cap_bps=D("30"), tick=D("0.1"))
            assert (sell.side, sell.size, sell.price) == (Side.SELL, D("0.002"), a.levels[a.levels_needed - 1][0])
            assert sell.price == D("99.9") and (buy.side, buy.price) == (Side.BUY, D("100.2"))
            assert sell.tif is TimeInForce.IOC and sell.order_type is OrderType.LIMIT and not sell.reduce_only
            assert sell.client_order_id == buy.client_order_id  # one id for every rehearsal, drawn once
            assert tracker.orders == {} and router.claimed(Side.SELL) == 0
            assert exchange.engine("grvt", HEDGE_SYMBOL).get_order(sell.client_order_id) is None
            assert journal.rehearse_intent("grvt", sell)  # on the loop's thread, as the intents are (run_bot's journal)
            assert (await journal.statistics()).last_seq == seq
            assert await journal.intent("grvt", sell.client_order_id) is None


async def test_nothing_is_rehearsed_without_the_hook_or_a_fillable_book(tmp_path: Path) -> None:
    hedge_rec = static_book(tmp_path / "h.gz", BIDS, ASKS)
    primary_rec = static_book(tmp_path / "p.gz", [("100.0", "5")], [("100.1", "5")])
    async with sim_pair(primary_rec, hedge_rec) as (_exchange, _primary, hedge):
        with trio.fail_after(5):
            while not hedge.book(HEDGE_SYMBOL).valid:
                await hedge.wait_book_change(HEDGE_SYMBOL)
        tracker = OrderTracker(hedge, HEDGE_SYMBOL, inbox_capacity=16)
        assert not HedgeRouter(hedge, tracker, HEDGE_SYMBOL, market_settings()).rehearse(Side.SELL, D("0.002"))
        spy = _Rehearsing(hedge)
        # a 1 bps cap from a best bid of 100.0 reaches no level below it: 0.001 fillable, the min size is 0.001
        router = HedgeRouter(spy, tracker, HEDGE_SYMBOL, market_settings(slippage_cap_bps=D("1")))
        assert router.rehearse(Side.SELL, D("0.002")) and spy.rehearsed[-1].size == D("0.001")
        assert not router.rehearse(Side.SELL, D("0.0005"))  # below the minimum: nothing to send
        assert len(spy.rehearsed) == 1


class _Books:
    """A venue's ``wait_book_change``, changed on demand."""

    def __init__(self) -> None:
        self._lot = trio.lowlevel.ParkingLot()

    async def wait_book_change(self, symbol: str) -> None:
        await self._lot.park()

    def change(self) -> None:
        self._lot.unpark_all()


class _Counting:
    """A router stand-in counting rehearsals by side (rehearse_hedges reads its ``venue`` and ``symbol`` and calls
    ``rehearse``)."""

    def __init__(self, venue: _Books, fail_after: int | None = None) -> None:
        self.venue = venue
        self.symbol = HEDGE_SYMBOL
        self.sides: list[Side] = []
        self._fail_after = fail_after

    def rehearse(self, side: Side, size: Decimal) -> bool:
        if self._fail_after is not None and len(self.sides) >= self._fail_after:
            raise RuntimeError("boom")
        self.sides.append(side)
        return True


class _Primary(_Books):
    def __init__(self) -> None:
        super().__init__()
        self.fills = 0

    def rehearse_fill(self, symbol: str) -> None:
        assert symbol == PRIMARY_SYMBOL
        self.fills += 1


@pytest.fixture
def warm_every_ms() -> Any:
    def set_ms(ms: float) -> None:
        WARM_PATH.configure(ms)

    yield set_ms
    WARM_PATH.configure(0)
    FILL_PRIORITY.configure(2.0)


async def _changes(books: list[_Books], rounds: int) -> None:
    for _ in range(rounds):
        await trio.sleep(0.003)
        for b in books:
            b.change()
    await trio.sleep(0.003)


async def test_rehearsals_follow_book_changes_only_while_idle_and_no_fill_is_on_its_way(warm_every_ms: Any) -> None:
    warm_every_ms(1.0)
    FILL_PRIORITY.configure(10_000.0)
    hedge, primary = _Books(), _Primary()
    router = _Counting(hedge)
    idle = [False]
    async with trio.open_nursery() as nursery:
        nursery.start_soon(rehearse_hedges, router, primary, PRIMARY_SYMBOL, D("0.002"), lambda: idle[0])
        await _changes([hedge, primary], 5)
        assert router.sides == [] and primary.fills == 0  # a hedge is being taken or routed
        idle[0] = True
        FILL_PRIORITY.mark()
        await _changes([hedge, primary], 5)
        assert router.sides == []  # a maker fill is on its way
        FILL_PRIORITY.clear()
        await _changes([hedge], 2)
        await _changes([primary], 2)  # either book's change is a cue
        nursery.cancel_scope.cancel()
    assert primary.fills == len(router.sides) >= 4
    assert router.sides[:4] == [Side.SELL, Side.BUY, Side.SELL, Side.BUY]  # the hedges of both quote sides


async def test_rehearsals_are_spaced_by_the_interval_and_come_when_the_books_are_quiet(warm_every_ms: Any) -> None:
    warm_every_ms(1000.0)
    hedge, primary = _Books(), _Primary()
    router = _Counting(hedge)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(rehearse_hedges, router, primary, PRIMARY_SYMBOL, D("0.002"), lambda: True)
        await _changes([hedge, primary], 10)
        nursery.cancel_scope.cancel()
    assert len(router.sides) == 1  # one within the second, however often the books changed
    warm_every_ms(1.0)
    router = _Counting(_Books())
    with trio.move_on_after(10 * QUIET_S):  # books that never change: the path is still rehearsed
        await rehearse_hedges(router, _Primary(), PRIMARY_SYMBOL, D("0.002"), lambda: True)  # type: ignore[arg-type]
    assert len(router.sides) >= 2


async def test_a_failing_rehearsal_stops_the_rehearsals_not_the_market(warm_every_ms: Any) -> None:
    warm_every_ms(1.0)
    router = _Counting(_Books(), fail_after=2)
    with trio.fail_after(5):
        await rehearse_hedges(router, _Primary(), PRIMARY_SYMBOL, D("0.002"), lambda: True)  # type: ignore[arg-type]
    assert len(router.sides) == 2


def test_off_or_under_a_mock_clock_there_is_no_rehearsal(warm_every_ms: Any) -> None:
    router = _Counting(_Books())

    async def rehearse() -> None:
        with trio.fail_after(1):
            await rehearse_hedges(router, _Primary(), PRIMARY_SYMBOL, D("0.002"), lambda: True)  # type: ignore[arg-type]

    warm_every_ms(0)
    trio.run(rehearse)  # off: returns at once
    warm_every_ms(1.0)
    trio.run(rehearse, clock=trio.testing.MockClock(autojump_threshold=0))  # virtual time: nothing to keep warm
    assert router.sides == []


@pytest.mark.parametrize("value, fragment", [("-1", "out of range"), ("0.1", "most of a CPU"), ("'x'", "not a finite")])
def test_the_config_key_is_checked_and_named(value: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, [f"engine.warm_path_ms={value}"])
    assert "engine.warm_path_ms" in str(info.value) and fragment in str(info.value)


def test_the_interval_is_configured_in_ms() -> None:
    assert load_config(None, ["engine.warm_path_ms=0"]).warm_path_ms == 0.0
    assert load_config(None, ["engine.warm_path_ms=2.5"]).warm_path_ms == 2.5
    w = WarmPath()
    w.configure(2.5)
    assert w.interval_s == 0.0025
    with pytest.raises(ValueError):
        w.configure(float("nan"))
