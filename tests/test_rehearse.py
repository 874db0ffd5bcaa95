"""Keeping the hedge path warm (trio_hedge/engine/_rehearse.py): rehearsals build, journal (rolled back) and
hand over the order the first hedge slice would send, and leave nothing behind: no order at the venue, no
intent in the journal, no order in the tracker, no claim on the book. The venues' own hooks are tested with
their adapters (test_grvt_adapter.py, test_backpack_adapter.py)."""

from __future__ import annotations

import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from trio_hedge._hotpath import FILL_PRIORITY, WarmPath
from trio_hedge.app import ConfigError, Journal, load_config, open_async_journal
from trio_hedge.app._reconcile import JournalRecorder
from trio_hedge.domain import OrderRequest, OrderType, Side, TimeInForce
from trio_hedge.engine import HedgeRouter, JournaledVenue, OrderTracker, analyze_depth
from trio_hedge.engine._rehearse import hedge_rehearsal

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
            with trio.fail_after(5):  # on the loop's thread, as run_bot's intents are, once the worker thread is idle
                while not journal.rehearse_intent("grvt", sell):  # noqa: ASYNC110 - the worker's lock, no event
                    await trio.sleep(0.01)
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


class _Router:
    """A router stand-in recording what it is asked to rehearse (hedge_rehearsal calls only ``rehearse``)."""

    def __init__(self) -> None:
        self.sides: list[Side] = []

    def rehearse(self, side: Side, size: Decimal) -> bool:
        self.sides.append(side)
        return True


class _Primary:
    def __init__(self) -> None:
        self.fills = 0

    def rehearse_fill(self, symbol: str) -> None:
        assert symbol == PRIMARY_SYMBOL
        self.fills += 1


def test_a_market_rehearses_only_while_idle_both_hedge_sides_in_turn() -> None:
    router, primary = _Router(), _Primary()
    idle = [False]
    rehearse = hedge_rehearsal(router, primary, PRIMARY_SYMBOL, D("0.002"), lambda: idle[0])  # type: ignore[arg-type]
    assert not rehearse() and router.sides == [] and primary.fills == 0  # a fill is being taken or routed
    idle[0] = True
    assert all(rehearse() for _ in range(4))
    assert router.sides == [Side.SELL, Side.BUY, Side.SELL, Side.BUY] and primary.fills == 4


def test_a_registration_ends_with_its_scope() -> None:
    w = WarmPath()
    with w.registered("BTC", lambda: True):
        with pytest.raises(RuntimeError), w.registered("ETH", lambda: True):
            assert w.names() == ["BTC", "ETH"]
            raise RuntimeError("the hedge scope failed")
        assert w.names() == ["BTC"]
    assert w.names() == []


def _spin_ms(ms: float) -> None:
    end = time.perf_counter() + ms / 1000
    while time.perf_counter() < end:
        pass


def test_book_work_runs_one_rehearsal_per_interval_markets_in_turn_none_while_a_fill_is_on_its_way() -> None:
    w = WarmPath()
    w.configure(5.0)
    ran: list[str] = []
    w.after_book_work()  # nothing registered: nothing to run
    with w.registered("BTC", lambda: ran.append("BTC") is None), w.registered("ETH", lambda: ran.append("ETH") is None):
        try:
            FILL_PRIORITY.configure(10_000.0)
            FILL_PRIORITY.mark()
            w.after_book_work()
            assert ran == []  # a maker fill is on its way
        finally:
            FILL_PRIORITY.configure(2.0)
        for _ in range(50):  # book messages much faster than the interval: one rehearsal, not fifty
            w.after_book_work()
        assert ran == ["BTC"]
        for _ in range(3):
            _spin_ms(5.5)
            w.after_book_work()
            w.after_book_work()
        assert ran == ["BTC", "ETH", "BTC", "ETH"] and w.rehearsals == 4
    w.configure(0)
    with w.registered("BTC", lambda: ran.append("BTC") is None):
        _spin_ms(5.5)
        w.after_book_work()  # off
    assert len(ran) == 4


def test_a_failing_rehearsal_stops_that_markets_rehearsals_only() -> None:
    w = WarmPath()
    w.configure(0.2)
    ok: list[int] = []
    failed: list[int] = []

    def broken() -> bool:
        failed.append(1)
        raise RuntimeError("boom")

    with w.registered("BTC", broken), w.registered("ETH", lambda: ok.append(1) is None):
        deadline = time.perf_counter() + 5
        while len(ok) < 3 and time.perf_counter() < deadline:
            _spin_ms(0.5)
            w.after_book_work()  # never raises: the feed that called it goes on
        assert w.names() == ["ETH"] and len(ok) == 3 and len(failed) == 1  # BTC's dropped at its first turn


def test_the_rehearsals_take_a_bounded_share_of_the_time() -> None:
    w = WarmPath()
    w.configure(0.2)
    ran: list[int] = []

    def slow() -> bool:  # a rehearsal of 2 ms: the next may come 10 x 2 ms later, not 0.2 ms later
        ran.append(1)
        _spin_ms(2)
        return True

    with w.registered("BTC", slow):
        end = time.perf_counter() + 0.2
        while time.perf_counter() < end:
            w.after_book_work()  # book messages back to back
            _spin_ms(0.1)
    assert 1 <= len(ran) <= 10  # 200 ms / (2 ms + 20 ms): at most ~9, where the interval alone would allow ~90


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
