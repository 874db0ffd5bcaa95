"""The simulator's shared wire machinery (``trio_hedge/sim/_wire/``) on its own, over real loopback WebSocket.

* the connection's bounded outbox: frames within its capacity arrive in order; one frame beyond it closes the
  connection with 1008 ("slow consumer"), never queues without bound and never drops a frame silently; a
  message over the size limit closes with 1009.
* the request gate middleware: over the rate limit a request gets the venue's own answer; every request waits
  the latency in and out; WebSocket upgrades pass through.
* the book mirror: a snapshot of its book taken at any point plus every later diff equals its book and the
  exchange's book (a replacement snapshot in the recording included), with update ids that never skip.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from decimal import Decimal
from functools import partial
from pathlib import Path

import httpx
import pytest
import trio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from trio_websocket import ConnectionClosed

from tests.synth import Recording
from trio_hedge.domain import BookSide, Instrument, OrderBook
from trio_hedge.sim import ContractSpec, SimMarket, SimSettings, open_sim_exchange
from trio_hedge.sim._asgi import serve_asgi
from trio_hedge.sim._wire import BookDiff, BookMirror, GateMiddleware, RequestGate, SimApiError, WsConnection
from trio_hedge.venues._ws import open_ws

pytestmark = pytest.mark.timeout(60)  # waits on sockets: a hang fails the test, not the run

CAPACITY = 8


@asynccontextmanager
async def echo_server(
    on_message: Callable[[WsConnection, str | bytes], Awaitable[None]], *, max_message_bytes: int | None = None
) -> AsyncIterator[tuple[str, list[WsConnection]]]:
    """A Starlette app whose ``/`` WebSocket runs a :class:`WsConnection` of capacity ``CAPACITY`` with
    ``on_message``; yields (ws url, the connections made)."""
    conns: list[WsConnection] = []

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        conn = WsConnection(websocket, capacity=CAPACITY)
        conns.append(conn)
        await conn.serve(partial(on_message, conn), max_message_bytes=max_message_bytes)

    app = Starlette(routes=[WebSocketRoute("/", endpoint)])
    async with trio.open_nursery() as nursery:
        bound = await nursery.start(serve_asgi, app)
        yield bound.ws_url + "/", conns
        nursery.cancel_scope.cancel()


async def test_frames_within_capacity_arrive_in_order() -> None:
    async def burst(conn: WsConnection, data: str | bytes) -> None:
        for i in range(int(data)):
            conn.send_text(f"frame {i}")

    async with echo_server(burst) as (url, conns):
        with trio.fail_after(10):
            async with open_ws(url) as ws:
                for _ in range(3):  # three bursts of a full outbox each, read between them
                    await ws.send_message(str(CAPACITY))
                    got = [await ws.get_message() for _ in range(CAPACITY)]
                    assert got == [f"frame {i}" for i in range(CAPACITY)]
        assert conns[0].close_code == 1000 and conns[0].queued() == 0


async def test_outbox_overflow_closes_the_connection_1008() -> None:
    async def flood(conn: WsConnection, data: str | bytes) -> None:
        for i in range(CAPACITY + 5):  # no await between: the writer cannot drain, the outbox overflows
            conn.send_text(f"frame {i}")
            assert conn.queued() <= CAPACITY  # bounded: the frame beyond the capacity is never queued

    async with echo_server(flood) as (url, conns):
        with trio.fail_after(10):
            async with open_ws(url) as ws:
                await ws.send_message("go")
                with pytest.raises(ConnectionClosed) as closed:
                    while True:
                        await ws.get_message()
        reason = closed.value.reason
        assert reason is not None and reason.code == 1008 and reason.reason == "slow consumer"
        conn = conns[0]
        assert conn.closed and conn.close_code == 1008
        conn.send_text("after the close")  # discarded, not queued: the client has been told by the Close
        assert conn.queued() <= CAPACITY


async def test_a_frame_after_close_is_not_sent_and_close_code_is_the_first() -> None:
    async def close_twice(conn: WsConnection, data: str | bytes) -> None:
        conn.send_text("before")
        conn.close(1011, "market data unavailable")
        conn.close(1000)  # the first reason wins
        conn.send_text("after")

    async with echo_server(close_twice) as (url, _):
        with trio.fail_after(10):
            async with open_ws(url) as ws:
                await ws.send_message("go")
                received: list[str | bytes] = []
                with pytest.raises(ConnectionClosed) as closed:
                    while True:
                        received.append(await ws.get_message())
        assert "after" not in received
        reason = closed.value.reason
        assert reason is not None and reason.code == 1011 and reason.reason == "market data unavailable"


async def test_a_message_over_the_limit_closes_1009() -> None:
    seen: list[int] = []

    async def record(conn: WsConnection, data: str | bytes) -> None:
        seen.append(len(data))

    async with echo_server(record, max_message_bytes=100) as (url, _):
        with trio.fail_after(10):
            async with open_ws(url) as ws:
                await ws.send_message("x" * 100)
                await ws.send_message("x" * 101)
                with pytest.raises(ConnectionClosed) as closed:
                    await ws.get_message()
        reason = closed.value.reason
        assert reason is not None and reason.code == 1009
        assert seen == [100]


# ---------------------------------------------------------------------------------------------- request gate


class _Limited(SimApiError):
    def response(self) -> Response:
        return JSONResponse({"code": "TOO_MANY", "message": "slow down"}, status_code=429, headers={"X-Venue": "v"})


async def test_gate_answers_over_the_limit_in_the_venue_format_and_waits_the_latency() -> None:
    handled: list[float] = []

    async def hello(request: Request) -> Response:
        handled.append(trio.current_time())
        return JSONResponse({"ok": True})

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        conn = WsConnection(websocket, capacity=CAPACITY)

        async def echo(data: str | bytes) -> None:
            conn.send_text(f"echo {data!s}")

        await conn.serve(echo)

    gate = RequestGate(rate_limit_per_s=2, rate_limited=_Limited, latency_in_s=0.05, latency_out_s=0.05)
    app = GateMiddleware(Starlette(routes=[Route("/hello", hello), WebSocketRoute("/ws", endpoint)]), gate)
    async with trio.open_nursery() as nursery:
        bound = await nursery.start(serve_asgi, app)
        with trio.fail_after(20):
            async with httpx.AsyncClient(base_url=bound.http_url) as http:
                started = trio.current_time()
                answers = [await http.get("/hello") for _ in range(3)]  # burst of 2, then limited
                assert [a.status_code for a in answers] == [200, 200, 429]
                assert answers[2].json() == {"code": "TOO_MANY", "message": "slow down"}
                assert answers[2].headers["X-Venue"] == "v"
                assert len(handled) == 2  # the limited request never reached the app
                assert handled[0] - started >= 0.05  # the latency in
                assert trio.current_time() - started >= 2 * 0.1 + 0.05  # in + out twice, out once when limited
            async with open_ws(bound.ws_url + "/ws") as ws:  # not counted, not delayed: the bucket is empty
                await ws.send_message("x")
                assert await ws.get_message() == "echo x"
        nursery.cancel_scope.cancel()


# ---------------------------------------------------------------------------------------------- book mirror

SYMBOL = "BTC_USDT_Perp"
INSTRUMENT = Instrument(
    venue="v",
    symbol=SYMBOL,
    base="BTC",
    quote="USDT",
    tick_size=Decimal("0.1"),
    lot_size=Decimal("0.001"),
    min_size=Decimal("0.001"),
    min_notional=Decimal("0"),
)


def _moving_recording(path: Path) -> Path:
    """A book whose deeper levels change every 10 ms for 1 s, with a replacement snapshot (two levels gone,
    one new, one resized) at 0.5 s, then quiet until 600 s."""
    r = Recording()
    bids = [(f"{Decimal('60000.0') - Decimal(i) / 10}", "1.0") for i in range(20)]
    asks = [(f"{Decimal('60000.1') + Decimal(i) / 10}", "1.0") for i in range(20)]
    r.snapshot(0, bids, asks)
    for k in range(1, 100):
        if k == 50:
            r.snapshot(0.5, bids[:-2] + [("59990.0", "3.0")], [(asks[0][0], "7.0"), *asks[1:]])
            continue
        level = Decimal(1 + k % 5) / 10
        deep = "0" if k % 4 == 0 else f"{1 + k % 3}.5"
        r.delta(
            k * 0.01,
            bids=[(f"{Decimal('60000.0') - level}", f"{1 + k % 7}.{k % 10}"), ("59998.0", deep)],
            asks=[(f"{Decimal('60000.1') + level}", f"{1 + k % 3}.{k % 9}")],
        )
    r.delta(600, bids=[("59000.0", "2.0")])  # keeps the replay running
    return r.write(path)


class _Recorder(BookMirror):
    def __init__(self, *args: object, **kw: object) -> None:
        super().__init__(*args, **kw)  # type: ignore[arg-type]
        self.diffs: list[BookDiff] = []
        self.valid_calls = 0
        self.ended: list[bool] = []
        self.event = trio.Event()

    def _tick(self) -> None:
        self.event.set()
        self.event = trio.Event()

    def on_valid(self) -> None:
        self.valid_calls += 1

    def on_diff(self, diff: BookDiff) -> None:
        self.diffs.append(diff)
        self._tick()

    def on_end(self, *, feed_down: bool) -> None:
        self.ended.append(feed_down)
        self._tick()


def _running(mirror: BookMirror) -> bool:
    return mirror.running


def _levels(book: OrderBook) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
    return list(book.iter_levels(BookSide.BID)), list(book.iter_levels(BookSide.ASK))


async def test_mirror_snapshot_then_diffs_equals_the_book(tmp_path: Path) -> None:
    from loguru import logger

    market = SimMarket("v", INSTRUMENT, _moving_recording(tmp_path / "r.gz"), ContractSpec(lot_size=Decimal("0.001")),
                       Decimal("0"), Decimal("0"))  # fmt: skip
    async with open_sim_exchange(SimSettings(speed=4.0, latency_s=0.001), [market]) as exchange:
        async with trio.open_nursery() as nursery:
            mirror = _Recorder(exchange, "v", SYMBOL, log=logger, first_update_id=500)
            await mirror.start(nursery)
            assert mirror.book.valid and mirror.valid_calls == 1 and mirror.book.seq == 501
            with trio.fail_after(10):
                while len(mirror.diffs) < 10:  # a subscriber joins mid-stream: snapshot now, diffs from here
                    await mirror.event.wait()
            joined_at = len(mirror.diffs)
            copy = OrderBook(SYMBOL)
            bids, asks = mirror.book.snapshot()
            copy.apply_snapshot(bids, asks, seq=mirror.book.seq)
            await trio.sleep(1.0 / 4 + 0.2)  # the rest of the moving second at 4x, and the replacement snapshot
            assert mirror.valid_calls == 1  # the replacement snapshot came as a diff
            later = mirror.diffs[joined_at:]
            assert len(later) >= 20
            for diff in later:  # seq checks: each diff continues the previous one (first_id = last u + 1)
                assert copy.apply_delta(list(diff.bids.items()), list(diff.asks.items()), seq=diff.last_id,
                                        first_seq=diff.first_id)  # fmt: skip
            assert _levels(copy) == _levels(mirror.book) == _levels(exchange.market_book("v", SYMBOL))
            assert (Decimal("59990.0"), Decimal("3.0")) in _levels(copy)[0]  # from the replacement snapshot
            assert copy.seq == mirror.book.seq
            assert all(b.first_id == a.last_id + 1 for a, b in zip(mirror.diffs, mirror.diffs[1:], strict=False))
            nursery.cancel_scope.cancel()


async def test_mirror_ends_when_the_feed_is_killed_and_starts_again(tmp_path: Path) -> None:
    from loguru import logger

    from trio_hedge.sim import SimUnavailable

    market = SimMarket("v", INSTRUMENT, _moving_recording(tmp_path / "r.gz"), ContractSpec(lot_size=Decimal("0.001")),
                       Decimal("0"), Decimal("0"))  # fmt: skip
    async with open_sim_exchange(SimSettings(speed=1.0, latency_s=0.001), [market]) as exchange:
        async with trio.open_nursery() as nursery:
            mirror = _Recorder(exchange, "v", SYMBOL, log=logger)
            await mirror.start(nursery)
            exchange.kill_feed("v")
            with trio.fail_after(5):
                while _running(mirror):
                    await mirror.event.wait()
            assert mirror.ended == [True]
            with pytest.raises(SimUnavailable):
                await mirror.start(nursery)
            exchange.restore_feed("v")
            await mirror.start(nursery)
            assert _running(mirror) and mirror.book.valid
            assert _levels(mirror.book) == _levels(exchange.market_book("v", SYMBOL))
            nursery.cancel_scope.cancel()
