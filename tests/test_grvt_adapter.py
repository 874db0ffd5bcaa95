"""The GRVT adapter (trio_hedge/venues/grvt/_adapter.py) against the GRVT wire simulator over real loopback
HTTP and WebSocket, with a fault proxy in front of every connection.

The exchange replays a tiny synthetic recording (tests/synth.py) in real time: best bid 60000.0 and best ask
60000.1 (1.0 each) never move; a deeper level changes every 50 ms, so book deltas keep flowing. Each test
starts its own exchange, simulator and proxies (a fraction of a second).

Faults come from the shared loopback TCP fault proxy (trio_hedge/sim/_faultproxy.py), one in front of the REST
endpoint and one per WebSocket stream: it cuts every connection (RST), refuses new ones, blackholes traffic
(held until released), and drops chosen server-to-client WebSocket frames (a book delta, to make a sequence gap;
a ``create_order`` answer, to make an unknown outcome).
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import trio
from loguru import logger

from tests.rigs import GRVT_FAST, GrvtRig, grvt_rig
from tests.synth import Recording
from trio_hedge._redact import redact
from trio_hedge.domain import (
    BadValue,
    Fill,
    Instrument,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    PositionUpdate,
    Side,
    TimeInForce,
    VenueEvent,
)
from trio_hedge.sim import ContractSpec, SimMarket
from trio_hedge.venues import (
    AuthError,
    DuplicateClientOrderId,
    InvalidOrder,
    PostOnlyWouldCross,
    RateLimited,
    UnknownOutcome,
    Venue,
    VenueUnavailable,
    retry_class,
)
from trio_hedge.venues.grvt import GrvtSettings, GrvtVenue, open_grvt_venue

SYMBOL = "BTC_USDT_Perp"
D = Decimal
INSTRUMENT = Instrument(
    venue="grvt", symbol=SYMBOL, base="BTC", quote="USDT", tick_size=D("0.1"), lot_size=D("0.001"),
    min_size=D("0.001"), min_notional=D("5"),
)  # fmt: skip
BID, ASK = D("60000.0"), D("60000.1")
FAST = GRVT_FAST


pytestmark = pytest.mark.timeout(120)  # waits on sockets or subprocesses: a hang fails the test, not the run


def _recording(path: Path, seconds: float = 60.0) -> Path:
    r = Recording()
    r.snapshot(
        0, [(f"{BID - D(i) / 10}", "1.0") for i in range(20)], [(f"{ASK + D(i) / 10}", "1.0") for i in range(20)]
    )
    for k in range(1, int(seconds / 0.05)):
        r.delta(k * 0.05, bids=[("59999.0", f"{1 + k % 7}.{k % 10}")], asks=[("60001.0", f"{1 + k % 5}.5")])
    return r.write(path)


# ---------------------------------------------------------------------------------------------- rig
Rig = GrvtRig


@asynccontextmanager
async def rig(tmp_path: Path, **server_kw: Any) -> AsyncIterator[Rig]:
    market = SimMarket("grvt", INSTRUMENT, _recording(tmp_path / "grvt.gz"), ContractSpec(lot_size=D("0.001")),
                       D("-0.1"), D("4.5"))  # fmt: skip
    async with grvt_rig([market], **server_kw) as r:
        yield r


@asynccontextmanager
async def session(
    tmp_path: Path, server_kw: dict[str, Any] | None = None, **kw: Any
) -> AsyncIterator[tuple[Rig, GrvtVenue]]:
    async with rig(tmp_path, **(server_kw or {})) as r, open_grvt_venue(r.settings(**kw)) as venue:
        yield r, venue


def order(venue: GrvtVenue, side: Side, size: str, price: str | None, *, tif: TimeInForce = TimeInForce.GTT,
          post_only: bool = False, coid: str | None = None) -> OrderRequest:  # fmt: skip
    return OrderRequest(
        client_order_id=coid or venue.new_client_order_id(), symbol=SYMBOL, side=side, size=D(size),
        order_type=OrderType.LIMIT if price is not None else OrderType.MARKET, price=D(price) if price else None,
        tif=tif, post_only=post_only,
    )  # fmt: skip


async def collect(
    rx: trio.MemoryReceiveChannel[VenueEvent], done: Callable[[list[VenueEvent]], bool], *, within_s: float = 3.0
) -> list[VenueEvent]:
    """Events from ``rx`` until ``done(events)``; fails the test after ``within_s``."""
    events: list[VenueEvent] = []
    with trio.fail_after(within_s):
        while not done(events):
            events.append(await rx.receive())
    return events


async def drain(rx: trio.MemoryReceiveChannel[VenueEvent], for_s: float) -> list[VenueEvent]:
    events: list[VenueEvent] = []
    with trio.move_on_after(for_s):
        async for ev in rx:
            events.append(ev)
    return events


def updates(events: list[VenueEvent], coid: str) -> list[OrderUpdate]:
    return [e for e in events if isinstance(e, OrderUpdate) and e.client_order_id == coid]


def has_status(coid: str, status: OrderStatus) -> Callable[[list[VenueEvent]], bool]:
    return lambda evs: any(u.status is status for u in updates(evs, coid))


async def until(predicate: Callable[[], bool], *, within_s: float = 5.0, poll_s: float = 0.01) -> None:
    """Poll ``predicate`` (state of the proxy, the book, the exchange: nothing to wait on) until true."""
    with trio.fail_after(within_s):
        while not predicate():  # noqa: ASYNC110
            await trio.sleep(poll_s)


# ---------------------------------------------------------------------------------------------- tests
async def test_post_only_rests_ioc_fills_and_everything_resolves_by_client_id(tmp_path: Path) -> None:
    async with session(tmp_path) as (r, v):
        assert isinstance(v, Venue)
        rx = v.events(SYMBOL)
        book = v.book(SYMBOL)
        assert book.valid and book.best_bid() == (BID, D("1.0")) and book.best_ask() == (ASK, D("1.0"))
        assert v.feed_state(SYMBOL).connected
        assert v.instrument(SYMBOL).tick_size == D("0.1") and v.instrument_meta(SYMBOL).instrument_hash == "0x030501"
        assert int(v.new_client_order_id()) >= 2**63
        assert await v.order_status(SYMBOL, v.new_client_order_id()) is None
        assert (await v.positions())[SYMBOL].size == 0  # GRVT lists open positions only: flat is filled in

        rest = order(v, Side.BUY, "0.002", "59990.0", post_only=True)
        ack = await v.place(rest)
        assert (ack.client_order_id, ack.status, ack.venue_order_id) == (
            rest.client_order_id,
            OrderStatus.PENDING,
            None,
        )
        ioc = order(v, Side.BUY, "0.003", "60000.5", tif=TimeInForce.IOC)
        assert (await v.place(ioc)).status is OrderStatus.PENDING

        def done(evs: list[VenueEvent]) -> bool:
            return (
                has_status(rest.client_order_id, OrderStatus.OPEN)(evs)
                and has_status(ioc.client_order_id, OrderStatus.FILLED)(evs)
                and any(isinstance(e, PositionUpdate) for e in evs)
            )

        events = await collect(rx, done)
        fills = [e for e in events if isinstance(e, Fill)]
        assert [(f.client_order_id, f.side, f.price, f.size, f.is_maker) for f in fills] == [
            (ioc.client_order_id, Side.BUY, ASK, D("0.003"), False)
        ]
        pos = [e for e in events if isinstance(e, PositionUpdate)][-1].position
        assert (pos.symbol, pos.size, pos.entry_price) == (SYMBOL, D("0.003"), ASK)

        st_rest = await v.order_status(SYMBOL, rest.client_order_id)
        st_ioc = await v.order_status(SYMBOL, ioc.client_order_id)
        assert st_rest is not None and st_rest.status is OrderStatus.OPEN and st_rest.post_only
        assert st_rest.venue_order_id is not None and st_rest.venue_order_id.startswith("0x")
        assert st_ioc is not None and (st_ioc.status, st_ioc.filled_size, st_ioc.avg_fill_price) == (
            OrderStatus.FILLED, D("0.003"), ASK,
        )  # fmt: skip
        assert [o.client_order_id for o in await v.open_orders(SYMBOL)] == [rest.client_order_id]
        history = await v.fills_since(SYMBOL, 0)
        assert [f.trade_id for f in history] == [fills[0].trade_id]
        assert await v.fills_since(SYMBOL, fills[0].ts_ns + 1) == []
        assert (await v.positions())[SYMBOL].size == D("0.003")
        assert (await v.account_summary()).total_equity > 0
        snap = await v.fetch_book(SYMBOL)
        assert snap.valid and snap.best_bid() == (BID, D("1.0")) and snap.best_ask() == (ASK, D("1.0"))

        # A synchronous refusal (2064: price off the tick) is definitive: nothing exists, a repeat sends again.
        off_tick = order(v, Side.BUY, "0.001", "59990.05", post_only=True)
        for _ in range(2):
            with pytest.raises(InvalidOrder) as refused:
                await v.place(off_tick)
            assert refused.value.code == "2064" and retry_class(refused.value) == "never"
        assert r.engine.get_order(off_tick.client_order_id) is None

        # Idempotent: a repeat answers the venue's current state and sends nothing.
        again = await v.place(ioc)
        assert (again.status, again.filled_size) == (OrderStatus.FILLED, D("0.003"))
        assert len(r.engine.fills) == 1 and r.engine.position().size == D("0.003")

        # A post-only that would cross is acked, then rejected on the stream (A2.4), and a repeat raises.
        cross = order(v, Side.BUY, "0.001", str(ASK), post_only=True)
        assert (await v.place(cross)).status is OrderStatus.PENDING
        events = await collect(rx, has_status(cross.client_order_id, OrderStatus.REJECTED))
        assert updates(events, cross.client_order_id)[-1].reason == "FAIL_POST_ONLY"
        with pytest.raises(PostOnlyWouldCross):
            await v.place(cross)


async def test_hedge_like_ioc_sequence(tmp_path: Path) -> None:
    async with session(tmp_path) as (r, v):
        rx = v.events(SYMBOL)
        seen_trades: list[str] = []
        t0 = time.perf_counter()
        for size in ("0.002", "0.003", "0.005"):  # walk the hedge out in IOC slices, each resolved before the next
            req = order(v, Side.SELL, size, "59999.8", tif=TimeInForce.IOC)
            t_place_ns = time.perf_counter_ns()
            ack = await v.place(req)
            t_acked_ns = time.perf_counter_ns()
            # the ack carries the adapter's stamp of the order's frame written (the hedge latency's end)
            assert t_place_ns < ack.sent_ns < t_acked_ns
            events = await collect(rx, has_status(req.client_order_id, OrderStatus.FILLED))
            fills = [e for e in events if isinstance(e, Fill) and e.client_order_id == req.client_order_id]
            assert sum(f.size for f in fills) == D(size) and all(f.price == BID for f in fills)
            # and each fill the private stream's receipt of its frame, after the order went out
            assert all(ack.sent_ns < f.received_ns < time.perf_counter_ns() for f in fills)
            seen_trades += [f.trade_id for f in fills]
        per_order_ms = (time.perf_counter() - t0) / 3 * 1000
        assert len(set(seen_trades)) == len(seen_trades) == 3
        assert (await v.positions())[SYMBOL].size == D("-0.010") == r.engine.position().size
        assert per_order_ms < 500, per_order_ms  # loopback: place -> FILLED event, measured ~10 ms
        # An IOC that cannot trade is cancelled with nothing filled.
        miss = order(v, Side.SELL, "0.001", "60010.0", tif=TimeInForce.IOC)
        await v.place(miss)
        events = await collect(rx, has_status(miss.client_order_id, OrderStatus.CANCELLED))
        last = updates(events, miss.client_order_id)[-1]
        assert (last.filled_size, last.reason) == (D("0"), "IOC_CANCEL")


async def test_cancel_cancel_all_and_cancel_ttl(tmp_path: Path) -> None:
    async with session(tmp_path) as (r, v):
        rx = v.events(SYMBOL)
        reqs = [order(v, Side.BUY, "0.001", p, post_only=True) for p in ("59990.0", "59989.0", "59988.0")]
        for req in reqs:
            await v.place(req)
        await collect(rx, lambda evs: all(has_status(q.client_order_id, OrderStatus.OPEN)(evs) for q in reqs))

        await v.cancel(SYMBOL, reqs[0].client_order_id)
        events = await collect(rx, has_status(reqs[0].client_order_id, OrderStatus.CANCELLED))
        assert updates(events, reqs[0].client_order_id)[-1].reason == "CLIENT_CANCEL"
        await v.cancel(SYMBOL, reqs[0].client_order_id)  # already terminal: not an error

        # Another session of the account cannot reuse a live id (2012); ours resolves a repeat by query.
        async with open_grvt_venue(r.settings(cod_countdown_ms=0)) as other:
            with pytest.raises(DuplicateClientOrderId) as dup:
                await other.place(reqs[1])
            assert dup.value.code == "2012" and retry_class(dup.value) == "resolve"
        assert (await v.place(reqs[1])).status is OrderStatus.OPEN
        assert len(r.engine.open_orders()) == 2

        assert await v.cancel_all(SYMBOL) == 2
        events = await collect(rx, lambda evs: all(has_status(q.client_order_id, OrderStatus.CANCELLED)(evs)
                                                   for q in reqs[1:]))  # fmt: skip
        assert {updates(events, q.client_order_id)[-1].reason for q in reqs[1:]} == {"CLIENT_BULK_CANCEL"}
        assert await v.open_orders(SYMBOL) == [] and r.engine.open_orders() == []

        # A cancel by client id stays armed (time_to_live_ms): an order arriving after it never rests.
        late = order(v, Side.BUY, "0.001", "59990.0", post_only=True)
        await v.cancel(SYMBOL, late.client_order_id)
        assert (await v.place(late)).status is OrderStatus.PENDING
        await collect(rx, has_status(late.client_order_id, OrderStatus.CANCELLED))
        assert r.engine.get_order(late.client_order_id) is None


async def test_cut_connections_reconnect_and_book_resyncs(tmp_path: Path) -> None:
    async with session(tmp_path) as (r, v):
        rx = v.events(SYMBOL)
        book = v.book(SYMBOL)
        cut_at = trio.current_time()
        r.md.reset_all()
        r.trades.reset_all()
        await until(lambda: not book.valid, within_s=1.0)
        assert not v.feed_state(SYMBOL).connected
        await until(lambda: book.valid and v.feed_state(SYMBOL).connected, within_s=3.0)
        assert r.md.statistics().accepted == 2 and v.feed_state(SYMBOL).since_s > cut_at
        assert book.best_bid() == (BID, D("1.0"))
        await until(lambda: r.trades.statistics().accepted == 2)
        # The private stream is back: an order over the new socket and its events.
        await trio.sleep(0.2)
        req = order(v, Side.BUY, "0.001", "60000.5", tif=TimeInForce.IOC)
        await v.place(req)
        events = await collect(rx, has_status(req.client_order_id, OrderStatus.FILLED))
        assert [e.size for e in events if isinstance(e, Fill)] == [D("0.001")]


async def test_private_stream_outage_falls_back_to_rest_and_reconciles(tmp_path: Path) -> None:
    async with session(tmp_path) as (r, v):
        rx = v.events(SYMBOL)
        r.trades.refuse()
        r.trades.reset_all()
        await until(lambda: r.trades.statistics().accepted >= 3)  # reconnect attempts are being refused
        req = order(v, Side.BUY, "0.004", "60000.5", tif=TimeInForce.IOC)
        ack = await v.place(req)  # the WebSocket is down: REST create_order
        assert ack.status is OrderStatus.PENDING
        await until(lambda: r.engine.position().size == D("0.004"), within_s=2.0)
        assert await drain(rx, 0.3) == []  # nothing streamed while the socket is down

        r.trades.refuse(False)
        events = await collect(rx, lambda evs: has_status(req.client_order_id, OrderStatus.FILLED)(evs)
                               and any(isinstance(e, Fill) for e in evs)
                               and any(isinstance(e, PositionUpdate) for e in evs))  # fmt: skip
        fills = [e for e in events if isinstance(e, Fill)]
        assert [(f.client_order_id, f.size) for f in fills] == [(req.client_order_id, D("0.004"))]
        assert [e.position.size for e in events if isinstance(e, PositionUpdate)] == [D("0.004")]
        # Reconciliation emits each missed event once; nothing is repeated afterwards.
        later = await drain(rx, 0.5)
        assert not [e for e in later if isinstance(e, Fill)] and not updates(later, req.client_order_id)


async def test_blackholed_feed_is_detected_by_the_heartbeat(tmp_path: Path) -> None:
    async with session(tmp_path) as (r, v):
        book = v.book(SYMBOL)
        r.md.blackhole()
        t0 = trio.current_time()
        await until(lambda: not book.valid, within_s=2.0)
        detect_s = trio.current_time() - t0
        assert detect_s < 1.0, detect_s  # heartbeat 0.2 s + pong deadline 0.4 s
        assert "lost" in book.invalid_reason and not v.feed_state(SYMBOL).connected
        r.md.blackhole(False)
        await until(lambda: book.valid, within_s=5.0)
        assert r.md.statistics().accepted >= 2


@pytest.mark.parametrize("which", ["first", "later"])
async def test_sequence_gap_invalidates_and_resyncs_the_book(tmp_path: Path, which: str) -> None:
    async with session(tmp_path) as (r, v):
        book = v.book(SYMBOL)
        states: list[bool] = []
        if which == "later":
            await trio.sleep(0.3)  # a delta in mid-stream; "first": the first delta after the snapshot

        async def watch() -> None:
            while True:
                await v.wait_book_change(SYMBOL)
                states.append(book.valid)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(watch)
            r.md.drop_ws_frames(lambda f: b'"stream":"v1.book.d"' in f and b'"sequence_number":"0"' not in f)
            await until(lambda: r.md.statistics().ws_frames_dropped == 1 and False in states, within_s=2.0)
            await until(lambda: book.valid and states[-1], within_s=3.0)
            nursery.cancel_scope.cancel()
        assert states.index(False) < len(states) - 1 and states[-1] is True
        # Resynced on a fresh subscription on the same connection (unsubscribe + subscribe: a new snapshot), so
        # a gap on one symbol leaves the other symbols' subscriptions on that connection alone.
        assert r.md.statistics().accepted == 1
        assert book.best_ask() == (ASK, D("1.0"))


async def test_rate_limits_reads_back_off_orders_surface(tmp_path: Path) -> None:
    lines: list[str] = []
    logger.add(lambda m: lines.append(str(m)), level="WARNING")
    async with session(tmp_path, {"rate_limit_per_s": 4}, read_attempts=8, backoff_min_s=0.1) as (r, v):
        t0 = trio.current_time()
        for _ in range(12):  # three times the bucket: every read succeeds, some only after backing off
            assert await v.order_status(SYMBOL, "9300000000000000001") is None
        assert trio.current_time() - t0 > 1.0
        assert any("rate limited; retrying" in line for line in lines)

        refused: RateLimited | None = None
        refused_req = None
        for _ in range(12):
            req = order(v, Side.BUY, "0.001", "59980.0", post_only=True)
            try:
                await v.place(req)
            except RateLimited as exc:
                refused, refused_req = exc, req
                break
        assert refused is not None and refused_req is not None and retry_class(refused) == "backoff"
        assert refused.code == "1006"
        await trio.sleep(1.0)
        assert await v.order_status(SYMBOL, refused_req.client_order_id) is None  # it does not exist
        assert (await v.place(refused_req)).status is OrderStatus.PENDING  # and may be sent again


async def test_lost_ack_raises_unknown_outcome_and_resolves_by_query(tmp_path: Path) -> None:
    async with session(tmp_path, order_ack_timeout_s=0.5) as (r, v):
        rx = v.events(SYMBOL)
        r.trades.drop_ws_frames(lambda f: b'"method":"v1/create_order"' in f)
        req = order(v, Side.BUY, "0.002", "60000.5", tif=TimeInForce.IOC)
        with pytest.raises(UnknownOutcome) as info:
            await v.place(req)
        assert retry_class(info.value) == "resolve" and r.trades.statistics().ws_frames_dropped == 1
        status = await v.order_status(SYMBOL, req.client_order_id)
        assert status is not None and (status.status, status.filled_size) == (OrderStatus.FILLED, D("0.002"))
        again = await v.place(req)  # resolved through the query, never sent twice
        assert again.status is OrderStatus.FILLED
        await collect(rx, has_status(req.client_order_id, OrderStatus.FILLED))
        assert len(r.engine.fills) == 1 and r.engine.position().size == D("0.002")


async def test_cancel_on_disconnect_fires_without_refresh_and_is_disabled_on_close(tmp_path: Path) -> None:
    async with rig(tmp_path) as r:
        async with open_grvt_venue(r.settings(cod_countdown_ms=2000, cod_refresh_s=0.3)) as v:
            rx = v.events(SYMBOL)
            req = order(v, Side.BUY, "0.001", "59990.0", post_only=True)
            await v.place(req)
            await collect(rx, has_status(req.client_order_id, OrderStatus.OPEN))
            r.rest.refuse()  # the refreshes stop reaching the venue
            r.rest.reset_all()
            events = await collect(rx, has_status(req.client_order_id, OrderStatus.CANCELLED), within_s=4.0)
            assert updates(events, req.client_order_id)[-1].reason == "CLIENT_CANCEL_ON_DISCONNECT_TRIGGERED"
            r.rest.refuse(False)
            await trio.sleep(0.5)  # a refresh re-arms it
            keep = order(v, Side.BUY, "0.001", "59990.0", post_only=True)
            await v.place(keep)
            await collect(rx, has_status(keep.client_order_id, OrderStatus.OPEN))
        await trio.sleep(2.5)  # longer than the countdown: a clean close disabled it
        assert [o.client_order_id for o in r.engine.open_orders()] == [keep.client_order_id]


async def test_secrets_stay_out_of_logs_reprs_and_errors(tmp_path: Path) -> None:
    lines: list[str] = []
    logger.add(lambda m: lines.append(str(m)), level="DEBUG", format="{message} {extra}")

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    # Our loguru lines at DEBUG; third-party stdlib logging at INFO (httpx's request lines), trio-websocket at
    # DEBUG. (httpcore's DEBUG trace prints raw response headers, Set-Cookie included, before anyone can
    # register the cookie: the app holds httpcore at WARNING.)
    handler = Capture(level=logging.DEBUG)
    root, tws = logging.getLogger(), logging.getLogger("trio-websocket")
    old_levels = root.level, tws.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    tws.setLevel(logging.DEBUG)
    try:
        async with rig(tmp_path) as r:
            with pytest.raises(AuthError) as refused:
                async with open_grvt_venue(r.settings(api_key="wrong-key-" + "x" * 20)):
                    pass
            # A margin this close to the one-day session lifetime makes the cookie refresh every second.
            async with open_grvt_venue(r.settings(cookie_refresh_margin_s=86_399.2)) as v:
                req = order(v, Side.BUY, "0.001", "60000.5", tif=TimeInForce.IOC)
                await v.place(req)
                r.trades.reset_all()
                r.md.reset_all()
                await until(lambda: r.trades.statistics().accepted >= 2 and v.book(SYMBOL).valid)
                await until(lambda: len(v.secrets()) > len(r.settings().secrets()) + 1, within_s=3.0)
                status = await v.order_status(SYMBOL, req.client_order_id)  # with the refreshed cookie
                assert status is not None and status.status is OrderStatus.FILLED
                secrets = v.secrets()
                texts = [repr(v), repr(r.settings()), str(r.settings()), str(refused.value), repr(refused.value)]
    finally:
        root.removeHandler(handler)
        root.setLevel(old_levels[0])
        tws.setLevel(old_levels[1])
    settings_secrets = r.settings().secrets()
    assert r.info.api_key in settings_secrets and r.info.private_key in settings_secrets
    cookies = [s for s in secrets if s not in settings_secrets]
    assert len(cookies) >= 2  # the first session cookie and its refreshes (the refused key never got one)
    assert sum("logged in" in line for line in lines) >= 2
    assert all(redact(c) == "***" for c in cookies)  # registered for redaction as soon as received
    assert len(lines) > 20
    blob = "\n".join(lines + texts)
    for secret in (*secrets, "wrong-key-" + "x" * 20):
        assert secret not in blob


def test_settings_validate_and_hide_secrets() -> None:
    pk = "ab" * 32
    base: dict[str, Any] = {"api_key": "apikey-123456", "private_key": "0x" + pk, "sub_account_id": "123",
                            "chain_id": 325, "symbols": (SYMBOL,)}  # fmt: skip
    s = GrvtSettings.for_single_host("http://127.0.0.1:1", "ws://127.0.0.1:1/ws/full", **base)
    assert s.edge_url == s.market_data_url == s.trades_url == "http://127.0.0.1:1"
    assert s.market_data_ws_url == s.trades_ws_url == "ws://127.0.0.1:1/ws/full"
    assert "apikey" not in repr(s) and pk not in repr(s) and pk not in str(s)
    assert {"apikey-123456", "0x" + pk, pk} <= set(s.secrets())
    bad: list[dict[str, Any]] = [
        {"sub_account_id": "-1"}, {"sub_account_id": str(2**64)}, {"chain_id": 1}, {"symbols": ()},
        {"symbols": [SYMBOL]}, {"cod_countdown_ms": 500}, {"cod_countdown_ms": 3000, "cod_refresh_s": 3.0},
        {"book_delta_rate_ms": 10}, {"cancel_ttl_ms": 6000}, {"heartbeat_timeout_s": 0},
        {"heartbeat_interval_s": float("nan")}, {"api_key": ""}, {"size_step": "tick"}, {"order_expiry_s": 0},
    ]  # fmt: skip
    for change in bad:
        with pytest.raises(BadValue) as info:
            GrvtSettings.for_single_host("http://127.0.0.1:1", "ws://127.0.0.1:1/ws/full", **{**base, **change})
        assert pk not in str(info.value) and "apikey" not in str(info.value)


async def test_unreachable_venue_raises_venue_unavailable() -> None:
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    await listeners[0].aclose()  # nothing listens there now
    s = GrvtSettings.for_single_host(
        f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/ws/full", api_key="apikey-123456",
        private_key="ab" * 32, sub_account_id="123", chain_id=325, symbols=(SYMBOL,), **FAST,
    )  # fmt: skip
    with pytest.raises(VenueUnavailable):
        async with open_grvt_venue(s):
            pass


async def test_rehearse_place_signs_and_sends_nothing(tmp_path: Path) -> None:
    """The hedge path's rehearsal (engine/_rehearse.py) signs and encodes an order and drops it: the venue never
    sees it, and the same client order id is then placed for real (it was not remembered as sent)."""
    async with session(tmp_path) as (r, v):
        req = order(v, Side.SELL, "0.002", "59999.8", tif=TimeInForce.IOC)
        for _ in range(3):
            v.rehearse_place(req)
        await trio.sleep(0.2)
        assert r.engine.get_order(req.client_order_id) is None
        ack = await v.place(req)
        assert ack.client_order_id == req.client_order_id and r.engine.get_order(req.client_order_id) is not None
        with pytest.raises(InvalidOrder):
            v.rehearse_place(OrderRequest(client_order_id=req.client_order_id, symbol="ETH_USDT_Perp", side=Side.BUY,
                                          size=D("0.001"), order_type=OrderType.LIMIT, price=D("1"),
                                          tif=TimeInForce.IOC))
