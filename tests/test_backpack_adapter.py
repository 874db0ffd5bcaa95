"""The Backpack adapter against the Backpack wire simulator over loopback (real clock, real sockets).

Each test starts a simulated exchange on a small synthetic recording (tests/synth.py), serves it with
``serve_backpack`` and opens the real adapter on it. Faults are injected with:

* the shared loopback TCP fault proxy (trio_hedge/sim/_faultproxy.py), which resets (RST) every connection,
  refuses new ones, blackholes them (forwards nothing, holding the data: a silent connection, as a cut cable
  looks), delays the answers, or drops one depth frame (a sequence gap);
* :class:`WsRelay`, a WebSocket relay defined here that injects frames and pings the adapter's connections from
  the server side.

Every wait is bounded (``fail_after``); the file runs in well under a minute.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, WebSocketRequest, open_websocket_url, serve_websocket

from trio_hedge.domain import (
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
from trio_hedge.sim import ContractSpec, SimExchange, SimMarket, SimSettings, open_sim_exchange
from trio_hedge.sim._backpack_server import serve_backpack
from trio_hedge.venues import (
    AuthError,
    DuplicateClientOrderId,
    InvalidOrder,
    PostOnlyWouldCross,
    RateLimited,
    UnknownOutcome,
    Venue,
    VenueUnavailable,
)
from trio_hedge.venues.backpack import BackpackSettings, BackpackVenue, open_backpack_venue

from .rigs import BackpackRig, backpack_rig, proxied
from .synth import Recording

SYM = "BTC_USDC_PERP"
D = Decimal
INSTRUMENT = Instrument("backpack", SYM, "BTC", "USDC", D("0.1"), D("0.001"), D("0.001"))


# ============================================================================================== fixtures


pytestmark = pytest.mark.timeout(120)  # waits on sockets or subprocesses: a hang fails the test, not the run


def _recording(path: Path, *, fill_start_s: float, duration_s: float = 30.0) -> Path:
    """Bid 100.0 x1 / 99.9 x5 / 99.5 x10, ask 100.1 x1 / 100.2 x5 / 100.5 x10; a far level (90.0) changes every
    50 ms so the depth stream never sleeps; from ``fill_start_s`` a 0.001 sell prints at 99.8 every 250 ms, which
    fills our buys at 99.8 (no queue there) and trades through buys above it. Buys at 99.7 or below never fill."""
    r = Recording(symbol="BTCUSDC")
    r.snapshot(0.0, [("100.0", "1"), ("99.9", "5"), ("99.5", "10")], [("100.1", "1"), ("100.2", "5"), ("100.5", "10")])
    for i in range(1, int(duration_s / 0.05)):
        t = i * 0.05
        r.delta(t, bids=[("90.0", "1" if i % 2 else "2")])
        if t >= fill_start_s and i % 5 == 0:
            r.trade(t + 0.01, "99.8", "0.001", buyer_is_maker=True)
    return r.write(path)


Sim = BackpackRig


@asynccontextmanager
async def running_sim(tmp_path: Path, *, fill_start_s: float = 1.0, **server: Any) -> AsyncIterator[Sim]:
    market = SimMarket("backpack", INSTRUMENT, _recording(tmp_path / "bp.gz", fill_start_s=fill_start_s),
                       ContractSpec(lot_size=D("0.001")), D("-1"), D("4"))
    async with backpack_rig([market], **server) as sim:
        yield sim


def _req(venue: Venue, side: Side, size: str, price: str | None, **kw: object) -> OrderRequest:
    return OrderRequest(
        client_order_id=venue.new_client_order_id(), symbol=SYM, side=side, size=D(size),
        order_type=OrderType.LIMIT if price is not None else OrderType.MARKET,
        price=None if price is None else D(price), **kw,  # type: ignore[arg-type]
    )


async def _until(rx: trio.MemoryReceiveChannel[VenueEvent], seen: list[VenueEvent],
                 done: Callable[[list[VenueEvent]], bool], *, within_s: float) -> None:
    """Receive events into ``seen`` until ``done(seen)``; fail after ``within_s``."""
    with trio.fail_after(within_s):
        while not done(seen):
            seen.append(await rx.receive())


async def _wait_for(cond: Callable[[], bool], *, within_s: float, step_s: float = 0.02) -> None:
    """Poll state owned by another component (the simulated venue) that offers nothing to wait on."""
    with trio.fail_after(within_s):
        while not cond():  # noqa: ASYNC110
            await trio.sleep(step_s)


def _updates(seen: list[VenueEvent], cid: str) -> list[OrderUpdate]:
    return [e for e in seen if isinstance(e, OrderUpdate) and e.client_order_id == cid]


def _fills(seen: list[VenueEvent], cid: str) -> list[Fill]:
    return [e for e in seen if isinstance(e, Fill) and e.client_order_id == cid]


async def _book_matches_venue(venue: BackpackVenue, exchange: SimExchange, *, within_s: float) -> None:
    """Wait until the adapter's book equals the simulated venue's own book (full depth)."""
    truth = exchange.market_book("backpack", SYM)
    with trio.fail_after(within_s):
        while not (venue.book(SYM).valid and venue.book(SYM).snapshot() == truth.snapshot()):
            await venue.wait_book_change(SYM)


# ============================================================================================== fault helpers


_proxied = proxied


@dataclass
class WsRelay:
    """A WebSocket relay to ``upstream``: can inject frames into the public or private connections, and can ping
    the adapter's connections (server side)."""

    upstream: str
    url: str = ""
    clients: dict[WebSocketConnection, bool] = field(default_factory=dict)  # connection -> is private

    async def run(self, *, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            server = await nursery.start(partial(serve_websocket, self._handle, "127.0.0.1", 0, ssl_context=None))
            self.url = f"ws://127.0.0.1:{server.port}/"
            task_status.started(self.url)

    async def _handle(self, request: WebSocketRequest) -> None:
        client = await request.accept()
        self.clients[client] = False
        try:
            async with open_websocket_url(self.upstream, disconnect_timeout=0.5) as up:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._to_server, client, up, nursery.cancel_scope)
                    nursery.start_soon(self._to_client, client, up, nursery.cancel_scope)
        except (ConnectionClosed, OSError, trio.BrokenResourceError):
            pass
        finally:
            self.clients.pop(client, None)

    async def _to_server(self, client: WebSocketConnection, up: WebSocketConnection, scope: trio.CancelScope) -> None:
        try:
            while True:
                message = await client.get_message()
                if "account." in str(message):
                    self.clients[client] = True
                await up.send_message(message)
        except ConnectionClosed:
            scope.cancel()

    async def _to_client(self, client: WebSocketConnection, up: WebSocketConnection, scope: trio.CancelScope) -> None:
        try:
            while True:
                message = await up.get_message()
                await client.send_message(message)
        except ConnectionClosed:
            scope.cancel()

    async def inject(self, text: str, *, private: bool) -> int:
        n = 0
        for client, is_private in list(self.clients.items()):
            if is_private == private:
                await client.send_message(text)
                n += 1
        return n

    async def ping_clients(self) -> list[bool]:
        """Ping every adapter connection from the server side; True for each pong within 1 s."""
        out = []
        for client in list(self.clients):
            with trio.move_on_after(1.0) as scope:
                await client.ping()
            out.append(not scope.cancelled_caught)
        return out


# ============================================================================================== settings and secrets


def test_settings_repr_hides_secrets_and_secrets_lists_them() -> None:
    s = BackpackSettings("http://127.0.0.1:1", "ws://127.0.0.1:1/", "PUBLICKEYb64aaaa", "SECRETSEEDb64bbbb", (SYM,))
    assert "PUBLICKEYb64aaaa" not in repr(s) and "SECRETSEEDb64bbbb" not in repr(s)
    assert s.secrets() == ("PUBLICKEYb64aaaa", "SECRETSEEDb64bbbb")
    with pytest.raises(ValueError, match="heartbeat_interval_s"):
        replace(s, heartbeat_interval_s=5.0)
    with pytest.raises(ValueError, match="window_ms"):
        replace(s, window_ms=60_001)
    with pytest.raises(ValueError, match="symbols"):
        replace(s, symbols=())


async def test_open_rejects_a_key_that_is_not_the_secrets_key(tmp_path: Path) -> None:
    async with running_sim(tmp_path) as sim:
        bad = sim.settings(api_key=sim.info.api_key[:-4] + "AAA=")
        with pytest.raises(AuthError) as excinfo:
            async with open_backpack_venue(bad):
                pass
        assert sim.info.api_key[:-4] not in str(excinfo.value) and sim.info.api_secret not in str(excinfo.value)


# ============================================================================================== trading


async def test_open_syncs_book_and_post_only_rests_then_fills(tmp_path: Path) -> None:
    async with running_sim(tmp_path, fill_start_s=1.0) as sim:
        with trio.fail_after(10):
            async with open_backpack_venue(sim.settings()) as venue:
                assert isinstance(venue, Venue)
                inst = venue.instrument(SYM)
                assert (inst.tick_size, inst.lot_size, inst.min_size) == (D("0.1"), D("0.001"), D("0.001"))
                assert "api_secret" not in repr(venue) and sim.info.api_key not in repr(venue)
                assert venue.feed_state(SYM).connected
                await _book_matches_venue(venue, sim.exchange, within_s=2)
                rx = venue.events(SYM)
                req = _req(venue, Side.BUY, "0.002", "99.8", post_only=True)
                report = await venue.place(req)
                assert report.status is OrderStatus.OPEN and report.post_only and report.price == D("99.8")
                assert report.client_order_id == req.client_order_id
                status = await venue.order_status(SYM, req.client_order_id)
                assert status is not None and status.status is OrderStatus.OPEN
                assert sim.engine_orders() == [report.venue_order_id]
                seen: list[VenueEvent] = []
                cid = req.client_order_id
                await _until(rx, seen, lambda s: any(u.status is OrderStatus.FILLED for u in _updates(s, cid)),
                             within_s=5)
                fills = _fills(seen, cid)
                assert sum(f.size for f in fills) == D("0.002")
                assert all(f.is_maker and f.price == D("99.8") for f in fills)
                assert len({f.trade_id for f in fills}) == len(fills)
                # each fill comes before the update it causes; the first update is the acceptance
                statuses = [u.status for u in _updates(seen, cid)]
                assert statuses[0] is OrderStatus.OPEN and statuses[-1] is OrderStatus.FILLED
                history = await venue.fills_since(SYM, 0)
                assert {f.trade_id for f in history} == {f.trade_id for f in fills}
                done = await venue.order_status(SYM, cid)  # no longer resting: answered from order history
                assert done is not None and done.status is OrderStatus.FILLED and done.filled_size == D("0.002")
                positions = await venue.positions()
                assert positions[SYM].size == D("0.002")
                await _until(rx, seen, lambda s: any(isinstance(e, PositionUpdate) and e.position.size == D("0.002")
                                                     for e in s), within_s=2)


async def test_post_only_that_would_take_is_refused_and_never_rests(tmp_path: Path) -> None:
    async with running_sim(tmp_path, fill_start_s=30) as sim:
        with trio.fail_after(10):
            async with open_backpack_venue(sim.settings()) as venue:
                req = _req(venue, Side.BUY, "0.002", "100.1", post_only=True)
                with pytest.raises(PostOnlyWouldCross):
                    await venue.place(req)
                assert sim.engine_orders() == []
                assert await venue.order_status(SYM, req.client_order_id) is None
                # the refusal is definitive: the same id may be sent again as a valid order
                report = await venue.place(replace(req, price=D("99.6")))
                assert report.status is OrderStatus.OPEN


async def test_ioc_fills_and_reduce_only_only_reduces(tmp_path: Path) -> None:
    async with running_sim(tmp_path, fill_start_s=30) as sim:
        with trio.fail_after(10):
            async with open_backpack_venue(sim.settings()) as venue:
                rx = venue.events(SYM)
                with pytest.raises(InvalidOrder):  # flat: a reduce-only order cannot reduce anything
                    await venue.place(_req(venue, Side.SELL, "0.001", "100.0", tif=TimeInForce.IOC, reduce_only=True))
                buy = _req(venue, Side.BUY, "0.002", "100.1", tif=TimeInForce.IOC)
                t_place_ns = time.perf_counter_ns()
                report = await venue.place(buy)
                assert report.status is OrderStatus.FILLED and report.filled_size == D("0.002")
                assert report.avg_fill_price == D("100.1")
                seen: list[VenueEvent] = []
                await _until(rx, seen, lambda s: sum(f.size for f in _fills(s, buy.client_order_id)) == D("0.002"),
                             within_s=3)
                t_seen_ns = time.perf_counter_ns()
                assert not any(f.is_maker for f in _fills(seen, buy.client_order_id))
                # each fill carries the private stream's receipt of its frame (the hedge latency's start)
                assert all(t_place_ns < f.received_ns <= t_seen_ns for f in _fills(seen, buy.client_order_id))
                with pytest.raises(InvalidOrder):  # long: a reduce-only buy would increase the position
                    await venue.place(_req(venue, Side.BUY, "0.001", "100.2", tif=TimeInForce.IOC, reduce_only=True))
                close = _req(venue, Side.SELL, "0.005", "100.0", tif=TimeInForce.IOC, reduce_only=True)
                report = await venue.place(close)
                assert report.filled_size == D("0.002")  # capped at the position, never flips it
                assert report.status in (OrderStatus.EXPIRED, OrderStatus.CANCELLED, OrderStatus.FILLED)
                assert (await venue.positions())[SYM].size == 0  # flat: reported, as 0 (the Venue interface)
                market = await venue.place(_req(venue, Side.SELL, "0.001", None))
                assert market.filled_size == D("0.001") and market.price is None
                assert (await venue.positions())[SYM].size == D("-0.001")


async def test_cancel_cancel_all_and_status_by_client_id(tmp_path: Path) -> None:
    async with running_sim(tmp_path, fill_start_s=30) as sim:
        with trio.fail_after(10):
            async with open_backpack_venue(sim.settings()) as venue:
                rx = venue.events(SYM)
                reqs = [
                    _req(venue, Side.BUY, "0.001", "99.6", post_only=True),
                    _req(venue, Side.BUY, "0.001", "99.7", post_only=True),
                    _req(venue, Side.SELL, "0.001", "100.4", post_only=True),
                ]
                assert len({r.client_order_id for r in reqs}) == 3
                assert all(r.client_order_id.isdigit() and 0 < int(r.client_order_id) < 2**32 for r in reqs)
                for r in reqs:
                    await venue.place(r)
                assert {r.client_order_id for r in await venue.open_orders(SYM)} == {r.client_order_id for r in reqs}
                first = reqs[0].client_order_id
                await venue.cancel(SYM, first)
                seen: list[VenueEvent] = []
                await _until(rx, seen, lambda s: any(u.status is OrderStatus.CANCELLED for u in _updates(s, first)),
                             within_s=3)
                status = await venue.order_status(SYM, first)
                assert status is not None and status.status is OrderStatus.CANCELLED
                await venue.cancel(SYM, first)  # already terminal: not an error
                await venue.cancel(SYM, "not-a-backpack-id")  # nothing of ours: not an error
                assert await venue.cancel_all(SYM) == 2
                assert await venue.open_orders(SYM) == [] and sim.engine_orders() == []
                assert await venue.cancel_all(SYM) == 0
                assert await venue.order_status(SYM, "123") is None  # never sent
                others = [r.client_order_id for r in reqs[1:]]
                await _until(rx, seen, lambda s: all(any(u.status is OrderStatus.CANCELLED for u in _updates(s, c))
                                                     for c in others), within_s=3)


async def test_place_is_idempotent_by_client_id(tmp_path: Path) -> None:
    async with running_sim(tmp_path, fill_start_s=30) as sim:
        with trio.fail_after(10):
            async with open_backpack_venue(sim.settings()) as venue:
                req = _req(venue, Side.BUY, "0.001", "99.6", post_only=True)
                first = await venue.place(req)
                again = await venue.place(req)
                assert again.venue_order_id == first.venue_order_id and again.status is OrderStatus.OPEN
                assert len(sim.engine_orders()) == 1
                await venue.cancel(SYM, req.client_order_id)
                later = await venue.place(req)  # a repeat after the order ended reports it, sends nothing
                assert later.venue_order_id == first.venue_order_id and later.status is OrderStatus.CANCELLED
                assert sim.engine_orders() == []


async def test_a_timed_out_place_is_unknown_and_its_repeat_resolves_without_sending(tmp_path: Path) -> None:
    async with running_sim(tmp_path, fill_start_s=30) as sim, _proxied(sim.info.rest) as rest:
        with trio.fail_after(10):
            async with open_backpack_venue(sim.settings(rest_url=f"http://127.0.0.1:{rest.port}")) as venue:
                req = _req(venue, Side.BUY, "0.001", "99.6", post_only=True)
                rest.set_latency(down_s=1.5)  # the answer comes after our request budget (0.8 s)
                with pytest.raises(UnknownOutcome) as excinfo:
                    await venue.place(req)
                assert excinfo.value.code == "timeout"
                assert len(sim.engine_orders()) == 1  # ...but the venue did take it
                rest.set_latency(down_s=0.0)
                again = await venue.place(req)  # resolved by a status query, not a second order
                assert again.status is OrderStatus.OPEN and again.client_order_id == req.client_order_id
                assert sim.engine_orders() == [again.venue_order_id]


async def test_a_client_id_live_in_another_session_is_a_duplicate_not_a_refusal(tmp_path: Path) -> None:
    async with running_sim(tmp_path, fill_start_s=30) as sim:
        with trio.fail_after(10):
            async with open_backpack_venue(sim.settings()) as first, open_backpack_venue(sim.settings()) as second:
                req = _req(first, Side.BUY, "0.001", "99.6", post_only=True)
                placed = await first.place(req)
                with pytest.raises(DuplicateClientOrderId):
                    await second.place(req)
                found = await second.place(req)  # the repeat asks the venue and finds the live order
                assert found.venue_order_id == placed.venue_order_id and len(sim.engine_orders()) == 1


# ============================================================================================== feed faults


async def test_depth_gap_invalidates_the_book_and_resyncs(tmp_path: Path) -> None:
    async with running_sim(tmp_path, fill_start_s=30) as sim, _proxied(sim.info.ws) as proxy:
        with trio.fail_after(10):
            async with open_backpack_venue(sim.settings(ws_url=f"ws://127.0.0.1:{proxy.port}/")) as venue:
                await _book_matches_venue(venue, sim.exchange, within_s=2)
                seq_before = venue.book(SYM).seq
                proxy.drop_ws_frames(lambda frame: b'"stream":"depth.' in frame)
                with trio.fail_after(2):
                    while venue.book(SYM).valid:
                        await venue.wait_book_change(SYM)
                assert "gap" in venue.book(SYM).invalid_reason and proxy.statistics().ws_frames_dropped == 1
                assert not venue.feed_state(SYM).connected
                await _book_matches_venue(venue, sim.exchange, within_s=3)
                assert venue.feed_state(SYM).connected and venue.book(SYM).seq > seq_before + 1


async def test_deltas_arriving_while_a_slow_snapshot_is_fetched_are_buffered(
    tmp_path: Path, log_lines: list[str]
) -> None:
    async with running_sim(tmp_path, fill_start_s=30) as sim, _proxied(sim.info.rest) as slow_rest:
        slow_rest.set_latency(down_s=0.3)  # ~6 depth updates per fetch
        with trio.fail_after(10):
            async with open_backpack_venue(sim.settings(rest_url=f"http://127.0.0.1:{slow_rest.port}")) as venue:
                await _book_matches_venue(venue, sim.exchange, within_s=2)
                await trio.sleep(0.3)
                assert venue.book(SYM).valid and venue.feed_state(SYM).connected
        assert not any("book invalid" in line or "does not join" in line for line in log_lines)


async def test_reconnect_after_reset_and_missed_fills_are_reconciled_once(
    tmp_path: Path, log_lines: list[str]
) -> None:
    async with running_sim(tmp_path, fill_start_s=2.0) as sim, _proxied(sim.info.ws) as proxy:
        settings = sim.settings(ws_url=f"ws://127.0.0.1:{proxy.port}/", private_stream_budget_s=5.0)
        with trio.fail_after(15):
            async with open_backpack_venue(settings) as venue:
                rx = venue.events(SYM)
                req = _req(venue, Side.BUY, "0.004", "99.8", post_only=True)
                cid = req.client_order_id
                await venue.place(req)
                seen: list[VenueEvent] = []
                await _until(rx, seen, lambda s: len(_fills(s, cid)) >= 1, within_s=5)
                proxy.refuse()
                proxy.reset_all()  # every WS connection (depth and private) gets a RST; no new one for 0.9 s
                with trio.fail_after(1):
                    while venue.book(SYM).valid:
                        await venue.wait_book_change(SYM)
                await trio.sleep(0.9)  # fills keep happening on the venue meanwhile
                missed = len(sim.exchange.engine("backpack", SYM).fills) - len(_fills(seen, cid))
                assert missed >= 2, "the outage must hide fills from the stream"
                proxy.refuse(False)
                await _until(rx, seen, lambda s: any(u.status is OrderStatus.FILLED for u in _updates(s, cid)),
                             within_s=6)
                await _book_matches_venue(venue, sim.exchange, within_s=3)
                with trio.move_on_after(0.5):  # nothing may follow twice
                    while True:
                        seen.append(await rx.receive())
        fills = _fills(seen, cid)
        assert len(fills) == len({f.trade_id for f in fills}) == 4
        assert sum(f.size for f in fills) == D("0.004")
        assert len(sim.exchange.engine("backpack", SYM).fills) == 4
        assert [u.status for u in _updates(seen, cid)].count(OrderStatus.FILLED) == 1
        assert [e.position.size for e in seen if isinstance(e, PositionUpdate)][-1] == D("0.004")
        assert any("reconciled" in line for line in log_lines)
        _no_secret_in(sim, log_lines)


async def test_server_pings_are_answered_and_malformed_frames_do_not_crash(
    tmp_path: Path, log_lines: list[str]
) -> None:
    async with running_sim(tmp_path, fill_start_s=30) as sim:
        relay = WsRelay(sim.info.ws)
        await sim.nursery.start(relay.run)
        with trio.fail_after(10):
            async with open_backpack_venue(sim.settings(ws_url=relay.url)) as venue:
                pongs = await relay.ping_clients()
                assert len(pongs) == 2 and all(pongs)  # the depth and the private connection both answer
                rx = venue.events(SYM)
                assert await relay.inject('{"stream":"account.orderUpdate","data":{"e":"orderFill","s":5}}',
                                          private=True) == 1
                assert await relay.inject("not json at all", private=True) == 1
                assert await relay.inject('{"stream":"depth.BTC_USDC_PERP","data":{"e":"depth","U":"x"}}',
                                          private=False) == 1
                await _book_matches_venue(venue, sim.exchange, within_s=3)  # resynced, still running
                req = _req(venue, Side.BUY, "0.001", "99.6", post_only=True)
                await venue.place(req)
                seen: list[VenueEvent] = []
                await _until(rx, seen, lambda s: bool(_updates(s, req.client_order_id)), within_s=3)
        assert sum("malformed" in line for line in log_lines) >= 3
        assert not any("connection down" in line for line in log_lines)  # pings never cost a connection


# ============================================================================================== watchdog


async def test_private_stream_loss_cancels_resting_orders_over_rest(tmp_path: Path, log_lines: list[str]) -> None:
    async with running_sim(tmp_path, fill_start_s=30) as sim, _proxied(sim.info.ws) as proxy:
        with trio.fail_after(15):
            async with open_backpack_venue(sim.settings(ws_url=f"ws://127.0.0.1:{proxy.port}/")) as venue:
                rx = venue.events(SYM)
                resting = _req(venue, Side.BUY, "0.001", "99.6", post_only=True)
                await venue.place(resting)
                await trio.sleep(2.5)  # 2.5 budgets of a quiet but healthy private stream: its pongs count
                assert len(sim.engine_orders()) == 1
                proxy.blackhole()  # silent: only the heartbeat can notice
                t0 = trio.current_time()
                await _wait_for(lambda: sim.engine_orders() == [], within_s=3)
                took_s = trio.current_time() - t0
                assert 0.7 <= took_s < 2.5  # the budget (1 s) counts from the last sign of life (a pong)
                with pytest.raises(VenueUnavailable):  # no new resting order while blind
                    await venue.place(_req(venue, Side.BUY, "0.001", "99.5", post_only=True))
                ioc = await venue.place(_req(venue, Side.BUY, "0.001", "100.1", tif=TimeInForce.IOC))
                assert ioc.status is OrderStatus.FILLED  # takers still go out (a flatten needs them)
                proxy.blackhole(False)
                proxy.reset_all()
                seen: list[VenueEvent] = []
                cid = resting.client_order_id
                await _until(rx, seen, lambda s: any(u.status is OrderStatus.CANCELLED for u in _updates(s, cid)),
                             within_s=5)  # learnt by reconciliation after the reconnect
                await venue.place(_req(venue, Side.BUY, "0.001", "99.5", post_only=True))  # allowed again
        assert sum("no cancel-on-disconnect" in line for line in log_lines) == 1  # one outage, one cancel
        _no_secret_in(sim, log_lines)


async def test_watchdog_marks_the_feed_down_when_rest_fails_too(tmp_path: Path, log_lines: list[str]) -> None:
    async with running_sim(tmp_path, fill_start_s=30) as sim, _proxied(sim.info.ws) as ws_proxy, \
            _proxied(sim.info.rest) as rest_proxy:  # fmt: skip
        settings = sim.settings(ws_url=f"ws://127.0.0.1:{ws_proxy.port}/", rest_url=f"http://127.0.0.1:{rest_proxy.port}")
        with trio.fail_after(20):
            async with open_backpack_venue(settings) as venue:
                await venue.place(_req(venue, Side.BUY, "0.001", "99.6", post_only=True))
                ws_proxy.blackhole()
                rest_proxy.blackhole()
                await _wait_for(lambda: "could not be cancelled" in venue.book(SYM).invalid_reason, within_s=4)
                state = venue.feed_state(SYM)
                assert not state.connected and not venue.book(SYM).valid
                assert sim.engine_orders() != []  # REST is down: the order still rests...
                await trio.sleep(0.5)
                assert not venue.feed_state(SYM).connected  # ...and the mark holds while it does
                assert venue.feed_state(SYM).since_s == state.since_s
                ws_proxy.blackhole(False)
                rest_proxy.blackhole(False)
                ws_proxy.reset_all()
                rest_proxy.reset_all()
                await _wait_for(lambda: sim.engine_orders() == [], within_s=4)  # the retry cancels it
                await _wait_for(lambda: venue.feed_state(SYM).connected, within_s=3)
                await _book_matches_venue(venue, sim.exchange, within_s=2)
        errors = [line for line in log_lines if line.startswith("ERROR")]
        assert any("marking the feed down" in line for line in errors)
        _no_secret_in(sim, log_lines)


# ============================================================================================== limits, auth, secrets


async def test_rate_limit_is_a_typed_error_and_an_unsent_order_may_be_retried(tmp_path: Path) -> None:
    async with running_sim(tmp_path, fill_start_s=30, rate_limit_per_s=4.0) as sim:
        with trio.fail_after(10):
            await trio.sleep(1.0)  # let the bucket fill
            async with open_backpack_venue(sim.settings()) as venue:
                limited = 0
                for _ in range(8):
                    try:
                        await venue.open_orders(SYM)
                    except RateLimited as exc:
                        assert exc.code == "TOO_MANY_REQUESTS"
                        limited += 1
                assert limited >= 2
                req = _req(venue, Side.BUY, "0.001", "99.6", post_only=True)
                with pytest.raises(RateLimited):
                    await venue.place(req)
                assert sim.engine_orders() == []
                await trio.sleep(0.6)
                report = await venue.place(req)  # the refused send left nothing behind: send it again
                assert report.status is OrderStatus.OPEN and len(sim.engine_orders()) == 1


async def test_refused_signature_is_an_auth_error_without_secrets(tmp_path: Path, log_lines: list[str]) -> None:
    other = "A" * 43 + "="  # another account's seed: a valid key pair the server does not know
    async with running_sim(tmp_path, fill_start_s=30) as sim:
        from trio_hedge.protocols.backpack import BackpackSigner

        settings = sim.settings(api_key=BackpackSigner(other).api_key, api_secret=other)
        with trio.fail_after(10):
            with pytest.raises(BaseException) as excinfo:  # the private subscription is refused (4001)
                async with open_backpack_venue(settings) as venue:
                    await venue.open_orders(SYM)
        auth = excinfo.value
        while isinstance(auth, BaseExceptionGroup):
            auth = auth.exceptions[0]
        assert isinstance(auth, AuthError)
        text = f"{excinfo.value!r} {auth} {log_lines}"
        assert other not in text and settings.api_key not in text
        _no_secret_in(sim, log_lines)


def _no_secret_in(sim: Sim, lines: list[str]) -> None:
    blob = "\n".join(lines)
    assert sim.info.api_secret not in blob
    assert sim.info.api_key not in blob


async def test_book_ticker_stream_is_subscribed_and_parsed() -> None:
    """The public stream also carries bookTicker; the adapter keeps the last one per symbol."""
    from trio_hedge.app import load_config
    from trio_hedge.app._run import sim_markets
    from trio_hedge.venues.backpack import BackpackSettings, open_backpack_venue

    config = load_config(None)
    # speed 5: the recording lasts over a minute, so a loaded machine's slow start cannot outlive the replay
    async with open_sim_exchange(SimSettings(speed=5.0), sim_markets(config)) as exchange:
        async with trio.open_nursery() as nursery:
            info = await nursery.start(
                lambda task_status: serve_backpack(exchange, "backpack", task_status=task_status))
            settings = BackpackSettings(rest_url=info.rest, ws_url=info.ws, api_key=info.api_key,
                                        api_secret=info.api_secret, symbols=("BTC_USDC_PERP",))
            async with open_backpack_venue(settings) as venue:
                with trio.fail_after(10):
                    while venue.ticker("BTC_USDC_PERP") is None:  # a ticker alone need not wake a book waiter
                        with trio.move_on_after(0.05):
                            await venue.wait_book_change("BTC_USDC_PERP")
                t = venue.ticker("BTC_USDC_PERP")
                assert t is not None and t.symbol == "BTC_USDC_PERP"
                book = venue.book("BTC_USDC_PERP")
                top_bid, top_ask = book.best_bid(), book.best_ask()
                assert top_bid is not None and top_ask is not None
                # same market: the ticker sits within a few ticks of the book's top
                assert t.bid is not None and t.ask is not None and t.bid[0] < t.ask[0]
                assert abs(t.bid[0] - top_bid[0]) < 50 and abs(t.ask[0] - top_ask[0]) < 50
            nursery.cancel_scope.cancel()


async def test_rehearse_fill_decodes_the_last_fill_frame_and_delivers_nothing(tmp_path: Path) -> None:
    """The hedge path's rehearsal (engine/_rehearse.py) decodes the last fill frame again: nothing reaches the
    event stream, and before any fill there is nothing to decode."""
    async with running_sim(tmp_path, fill_start_s=30) as sim:
        with trio.fail_after(10):
            async with open_backpack_venue(sim.settings()) as venue:
                rx = venue.events(SYM)
                venue.rehearse_fill(SYM)  # no fill yet: a no-op
                buy = _req(venue, Side.BUY, "0.001", "100.1", tif=TimeInForce.IOC)
                await venue.place(buy)
                seen: list[VenueEvent] = []
                await _until(rx, seen, lambda s: bool(_fills(s, buy.client_order_id)) and any(
                    u.status is OrderStatus.FILLED for u in _updates(s, buy.client_order_id)), within_s=3)
                for _ in range(3):
                    venue.rehearse_fill(SYM)
                late: list[VenueEvent] = []
                with trio.move_on_after(0.3):
                    late.append(await rx.receive())
                assert not [e for e in late if isinstance(e, Fill)]  # (a position update may follow the fill)
                assert (await venue.positions())[SYM].size == D("0.001")
