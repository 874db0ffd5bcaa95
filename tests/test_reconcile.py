"""Startup reconciliation and the journal in the running bot (in-process venues, virtual time).

A "previous run" is staged before reconciliation (``run_bot(before_trading=...)``): intents left in flight in
the journal, orders resting on the venues (one the journal knows, one it does not), a residual position. The
bot must resolve, cancel, flatten and record all of it before trading; an unreadable venue stops it with
exit 75 before any order is sent; and after a normal run the journal must match what the venues saw.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import trio

from trio_hedge.app import Journal, load_config, run_bot
from trio_hedge.domain import OrderRequest, OrderStatus, OrderType, Side, TimeInForce, floor_to
from trio_hedge.engine import EXIT_OK, EXIT_VENUE_UNREACHABLE
from trio_hedge.sim import SimExchange
from trio_hedge.venues import Venue, VenueUnavailable

REPO = Path(__file__).resolve().parent.parent
IN_PROCESS = ["venues.backpack.kind=sim", "venues.grvt.kind=sim"]
PSYM, HSYM = "BTC_USDC_PERP", "BTC_USDT_Perp"


async def _best_bid(venue: Venue, symbol: str) -> Decimal:
    book = venue.book(symbol)
    while not book.valid or book.best_bid() is None:
        with trio.move_on_after(0.5):
            await venue.wait_book_change(symbol)
    top = book.best_bid()
    assert top is not None
    return top[0]


def _resting(venue: Venue, symbol: str, bid: Decimal) -> OrderRequest:
    tick = venue.instrument(symbol).tick_size
    return OrderRequest(client_order_id=venue.new_client_order_id(), symbol=symbol, side=Side.BUY,
                        size=Decimal("0.002"), order_type=OrderType.LIMIT, price=floor_to(bid * Decimal("0.95"), tick),
                        tif=TimeInForce.GTT, post_only=True, reason="quote")


def _market_buy(venue: Venue, symbol: str) -> OrderRequest:
    return OrderRequest(client_order_id=venue.new_client_order_id(), symbol=symbol, side=Side.BUY,
                        size=Decimal("0.002"), order_type=OrderType.MARKET, tif=TimeInForce.IOC, reason="hedge")


async def test_previous_run_is_resolved_cancelled_flattened_and_recorded(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    jpath = tmp_path / "j.sqlite"
    config = load_config(REPO / "config.toml", [*IN_PROCESS, "engine.cycles=1"])
    staged: dict[str, object] = {}

    async def previous_run(exchange: SimExchange | None, venues: dict[str, Venue], keys: dict[str, str]) -> None:
        assert exchange is not None
        bp, gv = venues["backpack"], venues["grvt"]
        known = _resting(bp, PSYM, await _best_bid(bp, PSYM))  # sent, ack never journaled: in flight
        never_sent = _resting(bp, PSYM, await _best_bid(bp, PSYM))  # journaled, then the crash before the send
        orphan = _resting(gv, HSYM, await _best_bid(gv, HSYM))  # on the venue, not in the journal
        with Journal.open(jpath) as j:
            j.record_intent(keys["backpack"], known)
            j.record_intent(keys["backpack"], never_sent)
        await bp.place(known)
        await gv.place(orphan)
        await gv.place(_market_buy(gv, HSYM))  # a residual hedge position the journal never heard of
        await trio.sleep(0.1)
        assert exchange.engine("grvt", HSYM).position().size == Decimal("0.002")
        staged.update(exchange=exchange, known=known.client_order_id, never_sent=never_sent.client_order_id,
                      orphan=orphan.client_order_id, keys=keys)

    result = await run_bot(config, journal_path=jpath, before_trading=previous_run)
    assert result.exit_code == EXIT_OK, result.exit_reason
    exchange = staged["exchange"]
    assert isinstance(exchange, SimExchange)
    keys = staged["keys"]
    assert isinstance(keys, dict)
    bp_engine, gv_engine = exchange.engine("backpack", PSYM), exchange.engine("grvt", HSYM)
    # venues: nothing resting, flat, the orphan cancelled by us
    assert bp_engine.open_orders() == [] and gv_engine.open_orders() == []
    assert bp_engine.position().size == 0 and gv_engine.position().size == 0
    orphan = gv_engine.get_order(str(staged["orphan"]))
    assert orphan is not None and orphan.status is OrderStatus.CANCELLED
    with Journal.open(jpath) as j:
        assert [(i.request.reason, i.request.order_type.value, i.status.value, i.venue) for i in j.inflight()] == []
        known = j.intent(keys["backpack"], str(staged["known"]))
        never = j.intent(keys["backpack"], str(staged["never_sent"]))
        assert known is not None and known.status is OrderStatus.CANCELLED
        assert [h.status for h in j.status_history(keys["backpack"], known.client_order_id)][:2] == [
            OrderStatus.PENDING, OrderStatus.OPEN]
        assert never is not None and never.status is OrderStatus.REJECTED
        assert "unknown to the venue" in never.status_reason
        assert j.intent(keys["grvt"], str(staged["orphan"])) is None  # never invented
        kinds = [e.kind for e in j.events()]
        assert kinds.count("recon.inflight") == 2
        assert "recon.orphan_order" in kinds and "recon.flatten" in kinds and "recon.fills" in kinds
        orphan_ev = [e.detail for e in j.events("recon.orphan_order")]
        assert any(str(staged["orphan"]) in d for d in orphan_ev)
        # the flatten went through the journal like any order: intent first, reduce-only
        flat_intents = [i for i in _intents(j, keys["grvt"]) if i.request.reason == "reconcile"]
        assert flat_intents and all(i.request.reduce_only and i.request.side is Side.SELL for i in flat_intents)
        assert all(i.status is OrderStatus.FILLED for i in flat_intents)
        # the residual position's fill (missed by the journal) is recorded by its trade id
        hedge_fill_ids = {f.trade_id for f in gv_engine.fills}
        assert {f.trade_id for f in j.fills(venue=keys["grvt"])} == hedge_fill_ids, (
            [(f.trade_id, f.client_order_id) for f in gv_engine.fills],
            [(i.client_order_id, i.request.reason, i.status.value) for i in _intents(j, keys["grvt"])])
        assert [r.exit_code for r in j.runs()] == [EXIT_OK]
        # reconciliation finished before the first order of the first cycle was even journaled
        done_seq = j.events("recon.done")[0].seq
        first_quote = min(i.seq for i in _intents(j, keys["backpack"]) if i.cycle_id is not None)
        assert done_seq < first_quote


def _intents(j: Journal, key: str) -> list:  # type: ignore[type-arg]
    rows = j._live().execute("SELECT client_order_id FROM intents WHERE venue = ? ORDER BY seq", (key,))
    out = []
    for r in rows:
        row = j.intent(key, r[0])
        assert row is not None
        out.append(row)
    return out


async def test_unreadable_venue_exits_75_and_sends_nothing(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    jpath = tmp_path / "j.sqlite"
    config = load_config(REPO / "config.toml", [*IN_PROCESS, "engine.cycles=1"])
    staged: dict[str, object] = {}

    async def previous_run(exchange: SimExchange | None, venues: dict[str, Venue], keys: dict[str, str]) -> None:
        assert exchange is not None
        gv = venues["grvt"]
        await gv.place(_market_buy(gv, HSYM))  # a position that must NOT be touched blind
        await trio.sleep(0.1)

        async def down() -> dict:  # type: ignore[type-arg]
            raise VenueUnavailable("backpack", "connection refused (test)")

        venues["backpack"].positions = down  # type: ignore[method-assign]
        staged.update(exchange=exchange, keys=keys, orders=len(exchange.engine("grvt", HSYM)._orders))

    result = await run_bot(config, journal_path=jpath, before_trading=previous_run)
    assert result.exit_code == EXIT_VENUE_UNREACHABLE, result.exit_reason
    assert "VenueUnreadable" in result.exit_reason
    exchange = staged["exchange"]
    assert isinstance(exchange, SimExchange)
    gv_engine = exchange.engine("grvt", HSYM)
    assert gv_engine.position().size == Decimal("0.002")  # untouched: no flatten without a full picture
    assert len(gv_engine._orders) == staged["orders"]  # no order sent anywhere
    assert exchange.engine("backpack", PSYM)._orders == {}
    with Journal.open(jpath) as j:
        assert j._live().execute("SELECT count(*) FROM intents").fetchone()[0] == 0
        assert [e.kind for e in j.events()] == ["recon.unreadable"]
        assert [r.exit_code for r in j.runs()] == [EXIT_VENUE_UNREACHABLE]
        assert j.open_cycles() == [] and j._live().execute("SELECT count(*) FROM cycles").fetchone()[0] == 0


async def test_journal_after_a_normal_run_matches_the_venues(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    jpath = tmp_path / "j.sqlite"
    config = load_config(REPO / "config.toml", [*IN_PROCESS, "engine.cycles=3"])
    seen: dict[str, SimExchange] = {}

    async def grab(exchange: SimExchange) -> None:
        seen["x"] = exchange

    result = await run_bot(config, journal_path=jpath, sim_hook=grab)
    assert result.exit_code == EXIT_OK, result.exit_reason
    keys = result.journal_venues
    x = seen["x"]
    with Journal.open(jpath) as j:
        for name, sym in (("backpack", PSYM), ("grvt", HSYM)):
            eng = x.engine(name, sym)
            intents = _intents(j, keys[name])
            # every order the venue saw was journaled first, and nothing else was journaled
            assert {i.client_order_id for i in intents} == set(eng._orders)
            for i in intents:
                venue_order = eng.get_order(i.client_order_id)
                assert venue_order is not None
                assert i.request.size == venue_order.request.size and i.request.side is venue_order.request.side
                assert i.status is venue_order.status, (i.client_order_id, i.status, venue_order.status)
            # fills == the venue's fill history, once each by trade id
            venue_fills = {(f.trade_id, f.client_order_id, f.size, f.price) for f in eng.fills}
            journal_fills = [(f.trade_id, f.client_order_id, f.size, f.price) for f in j.fills(venue=keys[name])]
            assert len(journal_fills) == len(set(journal_fills)) and set(journal_fills) == venue_fills
            from dataclasses import replace

            assert not any(j.record_fill(replace(f, venue=keys[name])) for f in eng.fills)  # idempotent
        assert j.inflight() == []
        cycles = [j.cycle(c) for c in (r[0] for r in j._live().execute("SELECT cycle_id FROM cycles"))]
        assert [c.outcome for c in cycles if c is not None] == ["completed"] * 3
        quotes = [i for i in _intents(j, keys["backpack"]) if i.request.reason == "quote"]
        assert quotes and all(i.cycle_id is not None for i in quotes)
        runs = j.runs()
        assert len(runs) == 1 and runs[0].exit_code == EXIT_OK
    assert result.summary["journal"]["intent_commit_ms"]["count"] == sum(
        len(_intents(Journal.open(jpath), k)) for k in keys.values())
