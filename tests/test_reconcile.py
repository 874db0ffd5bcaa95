"""Startup reconciliation and the journal in the running bot (in-process venues, virtual time).

A "previous run" is staged before reconciliation (``run_bot(before_trading=...)``): intents left in flight in
the journal, orders resting on the venues (one the journal knows, one it does not), a residual position. The
bot must resolve, cancel, flatten and record all of it before trading; an unreadable venue stops it with
exit 75 before any order is sent; and after a normal run the journal must match what the venues saw.
A venue whose reads lag (``LaggingVenue``) shows an order sent just before the crash late: reconciliation must
keep looking for it through its grace (``journal.reconcile_grace_ms``) before calling it never accepted, and
cancel it by id all the same. The exit step ``sync_inflight`` is also tested alone against a fake venue.
"""

from __future__ import annotations

import time
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import cast

import pytest
import trio
import trio.lowlevel

from trio_hedge.app import ConfigError, Journal, load_config, open_async_journal, run_bot
from trio_hedge.app._reconcile import JournalRecorder, sync_inflight
from trio_hedge.domain import OrderRequest, OrderStatus, OrderType, Side, TimeInForce, floor_to
from trio_hedge.engine import EXIT_OK, EXIT_VENUE_UNREACHABLE, JournaledVenue
from trio_hedge.sim import SimExchange
from trio_hedge.venues import DuplicateClientOrderId, OrderReport, PostOnlyWouldCross, Venue, VenueUnavailable

REPO = Path(__file__).resolve().parent.parent
# the hooks below stage "a previous run" with a second connection while the bot holds the journal: that needs
# the shared (non-exclusive) lock mode (journal.exclusive_lock, config.toml)
STAGED = "journal.exclusive_lock=false"
IN_PROCESS = ["venues.backpack.kind=sim", "venues.grvt.kind=sim", 'engine.markets=["BTC"]']
"""In-process venues, the BTC market alone (these tests were written for one market; tests/test_markets.py has
the default run's two)."""
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
    config = load_config(REPO / "config.toml", [*IN_PROCESS, "engine.cycles=1", STAGED])
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
        assert "recon.orphan_order" in kinds and "recon.flatten" in kinds and "recon.fills" in kinds, " ".join(kinds)
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
        # besides the operator tools' ops.* records of the run (issue 14)
        assert [e.kind for e in j.events() if not e.kind.startswith("ops.")] == ["recon.unreadable"]
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
        # inventory mode (the default): 3 opening legs and 3 closing ones (each closing leg completes a cycle)
        assert sorted(c.outcome for c in cycles if c is not None) == ["completed"] * 3 + ["opened"] * 3
        quotes = [i for i in _intents(j, keys["backpack"]) if i.request.reason == "quote"]
        assert quotes and all(i.cycle_id is not None for i in quotes)
        runs = j.runs()
        assert len(runs) == 1 and runs[0].exit_code == EXIT_OK
    js = result.summary["journal"]
    assert js["intent_commit_ms"]["count"] == sum(len(_intents(Journal.open(jpath), k)) for k in keys.values())
    # journal.inline_intents (the default, with the exclusive lock): intents commit on the loop's thread when
    # the journal's thread is idle; every one is counted on one path or the other
    assert js["intents_inline"] + js["intents_on_thread"] == js["intent_commit_ms"]["count"]
    assert js["intents_inline"] > 0 and js["inline_off"] == ""


# ------------------------------------------------------------------------------------ a venue that lags
class LaggingVenue:
    """A fake venue over an in-process session whose reads lag: the orders in ``hidden`` (sent before the
    "crash") are left out of ``order_status``, ``open_orders``, ``fills_since`` and the position until
    ``visible_at`` (trio time), as a real venue's query endpoints can lag its matching engine. Everything else
    is the session's; ``cancel`` and ``place`` calls are logged (client order id, trio time), then passed on."""

    def __init__(self, inner: Venue, hidden: set[str], visible_at: float) -> None:
        self.inner = inner
        self.name = inner.name
        self.hidden = hidden
        self.visible_at = visible_at
        self.status_queries: dict[str, int] = {}
        self.cancels: list[tuple[str, float]] = []
        self.places: list[tuple[str, float]] = []

    def __getattr__(self, item: str) -> object:
        return getattr(self.inner, item)

    def _lagging(self, coid: str) -> bool:
        return coid in self.hidden and trio.current_time() < self.visible_at

    async def order_status(self, symbol: str, client_order_id: str) -> object:
        self.status_queries[client_order_id] = self.status_queries.get(client_order_id, 0) + 1
        report = await self.inner.order_status(symbol, client_order_id)
        return None if self._lagging(client_order_id) else report

    async def open_orders(self, symbol: str) -> list:  # type: ignore[type-arg]
        return [o for o in await self.inner.open_orders(symbol) if not self._lagging(o.client_order_id)]

    async def fills_since(self, symbol: str, since_ns: int) -> list:  # type: ignore[type-arg]
        return [f for f in await self.inner.fills_since(symbol, since_ns) if not self._lagging(f.client_order_id)]

    async def positions(self) -> dict:  # type: ignore[type-arg]
        out = dict(await self.inner.positions())
        for symbol in list(out):
            for f in await self.inner.fills_since(symbol, 0):
                if self._lagging(f.client_order_id):  # the position without the hidden order's fills
                    p = out[symbol]
                    out[symbol] = replace(p, size=p.size - (f.size if f.side is Side.BUY else -f.size))
        return out

    async def cancel(self, symbol: str, client_order_id: str) -> None:
        self.cancels.append((client_order_id, trio.current_time()))
        await self.inner.cancel(symbol, client_order_id)

    async def place(self, request: OrderRequest) -> object:
        self.places.append((request.client_order_id, trio.current_time()))
        return await self.inner.place(request)


async def _lagging_run(
    tmp_path: Path, venue_name: str, order: str, lag_s: float, overrides: list[str]
) -> tuple[object, dict[str, object]]:
    """A previous run sent one order (``order``: "resting" quote or "market" buy) on ``venue_name`` just
    before it crashed (intent journaled, ack never recorded); the venue shows it only ``lag_s`` later."""
    jpath = tmp_path / "j.sqlite"
    config = load_config(REPO / "config.toml", [*IN_PROCESS, "engine.cycles=1", STAGED, *overrides])
    staged: dict[str, object] = {}

    async def previous_run(exchange: SimExchange | None, venues: dict[str, Venue], keys: dict[str, str]) -> None:
        assert exchange is not None
        v = venues[venue_name]
        sym = PSYM if venue_name == "backpack" else HSYM
        req = _resting(v, sym, await _best_bid(v, sym)) if order == "resting" else _market_buy(v, sym)
        with Journal.open(jpath) as j:
            j.record_intent(keys[venue_name], req)
        await v.place(req)
        await trio.sleep(0.05)
        lagging = LaggingVenue(v, {req.client_order_id}, trio.current_time() + lag_s)
        venues[venue_name] = lagging  # type: ignore[assignment]
        staged.update(exchange=exchange, coid=req.client_order_id, keys=keys, lagging=lagging, symbol=sym,
                      t0=trio.current_time())

    result = await run_bot(config, journal_path=jpath, before_trading=previous_run)
    return result, staged


async def test_an_order_the_venue_shows_late_is_found_not_declared_rejected(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    """The quote reached the venue but its reads lag by 2 s (grace 5 s): reconciliation keeps looking, finds it
    resting, records it OPEN, cancels it and records CANCELLED; it is never called "never reached the venue"."""
    result, st = await _lagging_run(tmp_path, "backpack", "resting", 2.0, [])
    assert result.exit_code == EXIT_OK, result.exit_reason  # type: ignore[attr-defined]
    exchange, coid, keys, lagging = st["exchange"], str(st["coid"]), st["keys"], st["lagging"]
    assert isinstance(exchange, SimExchange) and isinstance(keys, dict) and isinstance(lagging, LaggingVenue)
    order = exchange.engine("backpack", PSYM).get_order(coid)
    assert order is not None and order.status is OrderStatus.CANCELLED and order.reason == "cancelled_by_user"
    assert lagging.status_queries[coid] >= 3  # the first read, then once a second until it showed (t = 2 s)
    with Journal.open(tmp_path / "j.sqlite") as j:
        row = j.intent(keys["backpack"], coid)
        assert row is not None and row.status is OrderStatus.CANCELLED
        assert [h.status for h in j.status_history(keys["backpack"], coid)] == [
            OrderStatus.PENDING, OrderStatus.OPEN, OrderStatus.CANCELLED]
        assert j.events("recon.unknown_wait") and "unknown to the venue" not in row.status_reason
        # it was cancelled as the journal's own order before the first quote of the run was journaled
        cancel_ev = [e for e in j.events("recon.cancel") if coid in e.detail]
        first_quote = min(i.seq for i in _intents(j, keys["backpack"]) if i.cycle_id is not None)
        assert cancel_ev and cancel_ev[0].seq < first_quote
        assert j.inflight() == []


async def test_a_fill_the_venue_reports_late_is_recorded_and_flattened(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    """A hedge market order filled just before the crash; its status, fill and position show 2 s late. The
    journal gets the fill and FILLED (not REJECTED), and the position read again after it showed is flattened
    by reconciliation before trading."""
    result, st = await _lagging_run(tmp_path, "grvt", "market", 2.0, [])
    assert result.exit_code == EXIT_OK, result.exit_reason  # type: ignore[attr-defined]
    exchange, coid, keys = st["exchange"], str(st["coid"]), st["keys"]
    assert isinstance(exchange, SimExchange) and isinstance(keys, dict)
    eng = exchange.engine("grvt", HSYM)
    assert eng.position().size == 0
    with Journal.open(tmp_path / "j.sqlite") as j:
        row = j.intent(keys["grvt"], coid)
        assert row is not None and row.status is OrderStatus.FILLED, (row.status, row.status_reason)
        assert {f.trade_id for f in j.fills(venue=keys["grvt"]) if f.client_order_id == coid} == {
            f.trade_id for f in eng.fills if f.client_order_id == coid} != set()
        flat = [i for i in _intents(j, keys["grvt"]) if i.request.reason == "reconcile"]
        assert flat and all(i.request.side is Side.SELL and i.status is OrderStatus.FILLED for i in flat)
        assert [e for e in j.events("recon.flatten") if "0.002" in e.detail]
        assert j.inflight() == []


async def test_an_order_hidden_past_the_grace_is_cancelled_by_id_and_declared_unknown(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    """The venue's reads lag past the grace (60 s > 1 s): after the grace the intent is recorded as unknown to
    the venue (REJECTED), but reconciliation also cancels it by its client order id before trading, so the
    late order does not rest unwatched."""
    result, st = await _lagging_run(tmp_path, "backpack", "resting", 60.0, ["journal.reconcile_grace_ms=1000"])
    assert result.exit_code == EXIT_OK, result.exit_reason  # type: ignore[attr-defined]
    exchange, coid, keys, lagging = st["exchange"], str(st["coid"]), st["keys"], st["lagging"]
    assert isinstance(exchange, SimExchange) and isinstance(keys, dict) and isinstance(lagging, LaggingVenue)
    t0 = st["t0"]
    assert isinstance(t0, float)
    assert lagging.status_queries[coid] == 2  # at 0 s and at the end of the 1 s grace
    assert lagging.cancels[0][0] == coid and [c for c, _ in lagging.cancels].count(coid) == 1
    # after the grace and before trading (the order of the two is asserted next); no tighter upper bound: the
    # autojump clock jumps to the next timer whenever the loop waits on the journal's thread (5.1 s seen in CI)
    assert 0.9 <= lagging.cancels[0][1] - t0 and lagging.places
    assert lagging.cancels[0][1] <= lagging.places[0][1]
    order = exchange.engine("backpack", PSYM).get_order(coid)
    assert order is not None and order.status is OrderStatus.CANCELLED
    with Journal.open(tmp_path / "j.sqlite") as j:
        row = j.intent(keys["backpack"], coid)
        assert row is not None and row.status is OrderStatus.REJECTED
        assert "unknown to the venue (2 look(s) within 1s of its send" in row.status_reason


def test_reconcile_grace_setting() -> None:
    assert load_config(None).journal.reconcile_grace_s == 5.0
    assert load_config(None, ["journal.reconcile_grace_ms=0"]).journal.reconcile_grace_s == 0.0
    with pytest.raises(ConfigError, match="journal.reconcile_grace_ms"):
        load_config(None, ["journal.reconcile_grace_ms=-1"])


# ------------------------------------------------------------------------------------ the exit step, alone
class ExitVenue:
    """A fake venue for :func:`sync_inflight`: fixed answers by client order id, some only from a given trio
    time on (``late``), some raising VenueUnavailable (``broken``); cancels are logged."""

    name = "fake"

    def __init__(self, answers: dict[str, OrderStatus], late: dict[str, float], broken: set[str]) -> None:
        self.answers, self.late, self.broken = answers, late, broken
        self.queries: dict[str, int] = {}
        self.cancels: list[str] = []

    async def order_status(self, symbol: str, client_order_id: str) -> OrderReport | None:
        self.queries[client_order_id] = self.queries.get(client_order_id, 0) + 1
        await trio.sleep(0.01)
        if client_order_id in self.broken:
            raise VenueUnavailable(self.name, "connection refused (test)")
        status = self.answers.get(client_order_id)
        if status is None or trio.current_time() < self.late.get(client_order_id, -1.0):
            return None
        filled = Decimal("0.002") if status is OrderStatus.FILLED else Decimal(0)
        return OrderReport(client_order_id=client_order_id, venue_order_id=f"v-{client_order_id}", symbol=PSYM,
                           side=Side.BUY, size=Decimal("0.002"), price=Decimal("100"), status=status,
                           filled_size=filled)

    async def cancel(self, symbol: str, client_order_id: str) -> None:
        self.cancels.append(client_order_id)


async def test_sync_inflight_records_what_the_venue_says_and_leaves_what_it_cannot_tell(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    def req(coid: str) -> OrderRequest:
        return OrderRequest(client_order_id=coid, symbol=PSYM, side=Side.BUY, size=Decimal("0.002"),
                            order_type=OrderType.LIMIT, price=Decimal("100"), tif=TimeInForce.GTT, reason="quote")

    with Journal.open(tmp_path / "j.sqlite") as j:
        for coid in ("cancelled", "broken", "never", "late_fill", "still_open", "acked_never"):
            j.record_intent("fake", req(coid))
        j.record_status("fake", "acked_never", OrderStatus.OPEN, reason="ack")
        j.record_intent("fake", req("old_never"), ts_ns=time.time_ns() - 60 * 10**9)  # sent a minute ago
    t0 = trio.current_time()
    venue = ExitVenue({"cancelled": OrderStatus.CANCELLED, "late_fill": OrderStatus.FILLED,
                       "still_open": OrderStatus.OPEN}, {"late_fill": t0 + 1.5}, {"broken"})
    async with open_async_journal(tmp_path / "j.sqlite") as journal:
        recorder = JournalRecorder(journal)
        left = await sync_inflight(journal, [(cast(Venue, venue), "fake", PSYM)], recorder, grace_s=3.0, poll_s=1.0)
    assert 2.9 <= trio.current_time() - t0 < 4.0  # the grace (from the send), once for the leg, not per order
    assert sorted(left) == ["fake/broken", "fake/still_open"]
    assert venue.queries["never"] == 4 and venue.queries["late_fill"] == 3  # 0, 1, 2 (shown at 1.5), 3 s
    assert venue.queries["old_never"] == 1  # its grace ended long ago: decided on the first answer
    assert sorted(venue.cancels) == ["acked_never", "never", "old_never"]  # what stayed unknown, after the grace
    with Journal.open(tmp_path / "j.sqlite") as j:
        status = {c: j.intent("fake", c).status for c in venue.queries}  # type: ignore[union-attr]
        assert status == {"cancelled": OrderStatus.CANCELLED, "broken": OrderStatus.PENDING,
                          "never": OrderStatus.REJECTED, "late_fill": OrderStatus.FILLED,
                          "still_open": OrderStatus.OPEN, "acked_never": OrderStatus.EXPIRED,
                          "old_never": OrderStatus.REJECTED}
        never = j.intent("fake", "never")
        assert never is not None and "unknown to the venue (4 look(s) within 3s of its send)" in never.status_reason
        assert j.intent("fake", "late_fill").venue_order_id == "v-late_fill"  # type: ignore[union-attr]
        assert {r.client_order_id for r in j.inflight()} == {"broken", "still_open"}


# ------------------------------------------------------------------------------------ a refused order
class RefusingVenue:
    """A fake venue whose ``place`` raises the error it is given (a definitive refusal or a duplicate id)."""

    name = "fake"

    def __init__(self, error: Exception) -> None:
        self.error = error

    async def place(self, request: OrderRequest) -> OrderReport:
        await trio.lowlevel.checkpoint()
        raise self.error


@pytest.mark.parametrize(
    ("error", "status"),
    [(PostOnlyWouldCross("fake", "post-only order would cross"), OrderStatus.REJECTED),
     (DuplicateClientOrderId("fake", "client id already used"), OrderStatus.PENDING)],
)
async def test_a_refused_order_is_journaled_rejected_at_once(
    tmp_path: Path, error: Exception, status: OrderStatus
) -> None:
    """A refusal is the venue's last word on the order: journaled REJECTED when it happens, not left in
    flight for the exit step to ask about (Backpack cannot answer a status query for an order it refused).
    A duplicate client order id is not a refusal of *this* order: its intent stays in flight."""
    request = OrderRequest(client_order_id="q1", symbol=PSYM, side=Side.BUY, size=Decimal("0.002"),
                           order_type=OrderType.LIMIT, price=Decimal("100"), tif=TimeInForce.GTT, post_only=True,
                           reason="quote")  # fmt: skip
    async with open_async_journal(tmp_path / "j.sqlite") as journal:
        recorder = JournalRecorder(journal)
        venue = JournaledVenue(cast(Venue, RefusingVenue(error)), recorder, "fake")
        with pytest.raises(type(error)):
            await venue.place(request)
        await recorder.drain()
        row = await journal.intent("fake", "q1")
    assert row is not None and row.status is status
    if status is OrderStatus.REJECTED:
        assert row.status_reason.startswith("PostOnlyWouldCross")


async def test_an_order_and_a_fill_with_a_reserved_id_and_no_intent_are_ours_cancelled_and_flattened(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    """After a power loss the last intents (committed with synchronous=NORMAL) may be gone while their orders
    reached the venue: an id from a block the journal reserved durably still marks them as ours."""
    jpath = tmp_path / "j.sqlite"
    config = load_config(REPO / "config.toml", [*IN_PROCESS, "engine.cycles=1", STAGED])
    staged: dict[str, object] = {}
    first = 10**12

    async def previous_run(exchange: SimExchange | None, venues: dict[str, Venue], keys: dict[str, str]) -> None:
        assert exchange is not None
        gv = venues["grvt"]
        with Journal.open(jpath) as j:
            j.reserve_id_block(keys["grvt"], first, 4096)  # fsynced; the intents after it were lost
        resting = replace(_resting(gv, HSYM, await _best_bid(gv, HSYM)), client_order_id=str(first + 7))
        taken = replace(_market_buy(gv, HSYM), client_order_id=str(first + 8))
        await gv.place(resting)
        await gv.place(taken)
        await trio.sleep(0.1)
        staged.update(exchange=exchange, keys=keys)

    result = await run_bot(config, journal_path=jpath, before_trading=previous_run)
    assert result.exit_code == EXIT_OK, result.exit_reason
    exchange, keys = staged["exchange"], staged["keys"]
    assert isinstance(exchange, SimExchange) and isinstance(keys, dict)
    gv_engine = exchange.engine("grvt", HSYM)
    order = gv_engine.get_order(str(first + 7))
    assert order is not None and order.status is OrderStatus.CANCELLED
    assert gv_engine.position().size == 0
    with Journal.open(jpath) as j:
        lost = [e.detail for e in j.events("recon.lost_intent")]
        assert any(str(first + 7) in d and "cancelled" in d for d in lost), lost
        assert any(str(first + 8) in d and "fill" in d for d in lost), lost
        assert not [e for e in j.events("recon.orphan_order") if str(first + 7) in e.detail]
        assert j.intent(keys["grvt"], str(first + 7)) is None  # never invented
        assert "recon.flatten" in [e.kind for e in j.events()]
