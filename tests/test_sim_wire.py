"""The simulator's shared wire machinery (``trio_hedge/sim/_wire/``) on its own, over real loopback WebSocket.

* the connection's bounded outbox: frames within its capacity arrive in order; one frame beyond it closes the
  connection with 1008 ("slow consumer"), never queues without bound and never drops a frame silently; a
  message over the size limit closes with 1009.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial

import pytest
import trio
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket
from trio_websocket import ConnectionClosed

from trio_hedge.sim._asgi import serve_asgi
from trio_hedge.sim._wire import WsConnection
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
