"""Hedge intents queued ahead of their reports (engine/_journaled.py "Hedge intents", journal.queue_hedge_intents):
a hedge whose client order id comes from a durable block is sent before its intent is committed, and the intent
reaches the journal before anything reported about the order; every other order still commits before its send."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import trio

from trio_hedge.app import Journal, load_config, open_async_journal
from trio_hedge.app._idblocks import ReservedIds, in_blocks
from trio_hedge.app._journal import AsyncJournal, JournalIOError
from trio_hedge.app._reconcile import JournalRecorder
from trio_hedge.domain import Fill, OrderRequest, OrderStatus, OrderType, Side, TimeInForce
from trio_hedge.engine import JournaledVenue
from trio_hedge.venues import OrderReport

from .conftest import REPO

D = Decimal
GRVT_RANGE = (2**63, 2**64 - 1)
SYM = "BTC_USDT_Perp"


def _order(coid: str, reason: str) -> OrderRequest:
    if reason == "quote":
        return OrderRequest(client_order_id=coid, symbol=SYM, side=Side.BUY, size=D("0.002"),
                            order_type=OrderType.LIMIT, price=D("100.0"), tif=TimeInForce.GTT, post_only=True,
                            reason=reason)
    return OrderRequest(client_order_id=coid, symbol=SYM, side=Side.SELL, size=D("0.002"),
                        order_type=OrderType.LIMIT, price=D("99.9"), tif=TimeInForce.IOC, reason=reason)


class _Spy:
    """A venue that looks in the journal, at the moment of each send, for the order's intent."""

    name = "grvt"

    def __init__(self, journal: AsyncJournal) -> None:
        self.journal = journal
        self.intent_at_send: dict[str, bool] = {}

    async def place(self, request: OrderRequest) -> OrderReport:
        row = await self.journal.intent("grvt", request.client_order_id)
        self.intent_at_send[request.client_order_id] = row is not None
        return OrderReport(client_order_id=request.client_order_id, venue_order_id="v-" + request.client_order_id,
                           symbol=request.symbol, side=request.side, size=request.size, price=request.price,
                           status=OrderStatus.OPEN, filled_size=D(0), reduce_only=request.reduce_only,
                           post_only=request.post_only)


def _fill(request: OrderRequest) -> Fill:
    return Fill(venue="grvt", symbol=request.symbol, client_order_id=request.client_order_id, trade_id="t-1",
                side=request.side, price=D("99.9"), size=request.size, fee=D(0), is_maker=False, ts_ns=1)


async def _setup(journal: AsyncJournal, **kw: Any) -> tuple[JournalRecorder, JournaledVenue, _Spy, ReservedIds]:
    recorder = JournalRecorder(journal, **kw)
    ids = await ReservedIds.open(journal, "grvt", *GRVT_RANGE, block_size=64)
    spy = _Spy(journal)
    return recorder, JournaledVenue(spy, recorder, "grvt", ids=ids), spy, ids  # type: ignore[arg-type]


async def test_a_hedge_goes_out_before_its_intent_which_is_journaled_ahead_of_its_reports(tmp_path: Path) -> None:
    async with open_async_journal(tmp_path / "j.sqlite") as journal:
        recorder, venue, spy, ids = await _setup(journal)
        hedge = _order(ids.next_id(), "hedge")
        quote = _order(ids.next_id(), "quote")
        await venue.place(hedge)  # posts its ack (OPEN) after the intent
        recorder.post_event("grvt", _fill(hedge))  # then its fill, as the private stream would
        await venue.place(quote)
        assert spy.intent_at_send == {hedge.client_order_id: False, quote.client_order_id: True}
        await recorder.drain()
        row = await journal.intent("grvt", hedge.client_order_id)
        assert row is not None and row.request == hedge
        assert row.status is OrderStatus.FILLED  # the ack and the fill queued behind it were applied, in order
        assert [f.trade_id for f in await journal.fills()] == ["t-1"]
        assert recorder.counts["intents_queued"] == 1 and recorder.counts["intents"] == 2
        assert recorder.intent_latency.count == 1  # only the quote's intent was on its send path


@pytest.mark.parametrize("case", ["setting off", "no reserved ids", "unwind"])
async def test_other_orders_and_hedges_without_the_setting_or_reserved_ids_commit_before_the_send(
    tmp_path: Path, case: str
) -> None:
    async with open_async_journal(tmp_path / "j.sqlite") as journal:
        recorder, venue, spy, ids = await _setup(journal, queue_hedge_intents=case != "setting off")
        if case == "no reserved ids":
            venue = JournaledVenue(spy, recorder, "grvt")  # type: ignore[arg-type]
        order = _order(ids.next_id(), "unwind" if case == "unwind" else "hedge")
        await venue.place(order)
        assert spy.intent_at_send == {order.client_order_id: True}
        assert "intents_queued" not in recorder.counts


async def test_a_hedge_with_the_journal_down_goes_out_unjournaled(tmp_path: Path) -> None:
    async with open_async_journal(tmp_path / "j.sqlite") as journal:
        recorder, venue, spy, ids = await _setup(journal)
        recorder.went_down(JournalIOError(str(tmp_path), "record_intent", OSError("disk I/O error")), "test")
        hedge = _order(ids.next_id(), "hedge")
        await venue.place(hedge)
        assert spy.intent_at_send == {hedge.client_order_id: False}
        assert recorder.counts["unjournaled"] == 1
        assert [item[0] for item in recorder._queue] == ["status"]  # the ack's report only: no intent queued
        await recorder.drain()
        assert await journal.intent("grvt", hedge.client_order_id) is None


async def test_a_queued_hedge_intent_that_finds_the_queue_full_is_spilled_with_every_field(tmp_path: Path) -> None:
    from loguru import logger

    lines: list[str] = []
    sink = logger.add(lines.append, level="WARNING", format="{message}")
    try:
        async with open_async_journal(tmp_path / "j.sqlite") as journal:
            recorder, venue, spy, ids = await _setup(journal, capacity=1)
            recorder.post_note("state", "{}")  # the queue's one place is taken
            hedge = _order(ids.next_id(), "hedge")
            await venue.place(hedge)
            assert spy.intent_at_send == {hedge.client_order_id: False}
            assert recorder.counts["spilled"] >= 1
    finally:
        logger.remove(sink)
    spilled = [line for line in lines if "SPILLED" in line and hedge.client_order_id in line]
    assert spilled and "reason='hedge'" in spilled[0] and "99.9" in spilled[0], lines


async def test_a_crash_before_the_writer_leaves_a_hedge_that_its_reserved_id_marks_as_ours(tmp_path: Path) -> None:
    """What the next start's reconciliation relies on (test_reconcile.py: an order with a reserved id and no
    intent is ours, cancelled / flattened): the block of a queued hedge's id is durable before its send."""
    path = tmp_path / "j.sqlite"
    async with open_async_journal(path) as journal:
        recorder, venue, spy, ids = await _setup(journal)
        hedge = _order(ids.next_id(), "hedge")
        await venue.place(hedge)
        assert recorder._queue  # the writer never ran: the process "dies" here (no drain)
    with Journal.open(path) as j:
        assert j.intent("grvt", hedge.client_order_id) is None
        assert in_blocks(hedge.client_order_id, j.id_blocks("grvt"))


def test_the_setting_is_read_from_the_config() -> None:
    assert load_config(REPO / "config.toml").journal.queue_hedge_intents is True
    assert load_config(REPO / "config.toml", ["journal.queue_hedge_intents=false"]).journal.queue_hedge_intents is False


async def test_the_writer_commits_a_queued_hedge_intent_on_its_own(tmp_path: Path) -> None:
    async with open_async_journal(tmp_path / "j.sqlite") as journal:
        recorder, venue, spy, ids = await _setup(journal)
        async with trio.open_nursery() as nursery:
            await nursery.start(recorder.run)
            hedge = _order(ids.next_id(), "hedge")
            await venue.place(hedge)
            with trio.fail_after(5):
                while recorder._queue:  # noqa: ASYNC110 - the writer's queue has no event of its own
                    await trio.sleep(0.005)
            nursery.cancel_scope.cancel()
        row = await journal.intent("grvt", hedge.client_order_id)
        assert row is not None and row.status is OrderStatus.OPEN  # the intent, then its ack


class _CountingRecorder(JournalRecorder):
    """The real recorder, counting the intent rehearsals it is asked for."""

    rehearsed = 0

    def rehearse_intent(self, venue_key: str, request: OrderRequest, market: str | None) -> None:
        self.rehearsed += 1
        super().rehearse_intent(venue_key, request, market)


@pytest.mark.parametrize("queued", [True, False])
async def test_a_rehearsal_skips_the_intent_when_the_hedge_would_queue_it(tmp_path: Path, queued: bool) -> None:
    """The warm path rehearses what lies on the send path: a queued intent does not (engine/_rehearse.py)."""
    async with open_async_journal(tmp_path / "j.sqlite") as journal:
        recorder = _CountingRecorder(journal, queue_hedge_intents=queued)
        ids = await ReservedIds.open(journal, "grvt", *GRVT_RANGE, block_size=64)
        venue = JournaledVenue(_Spy(journal), recorder, "grvt", ids=ids)  # type: ignore[arg-type]
        venue.rehearse_place(_order(ids.next_id(), "hedge"))
        venue.rehearse_place(_order(ids.next_id(), "quote"))
        assert recorder.rehearsed == (1 if queued else 2)
