"""``venues/_wsdirect.py``: the direct wsproto client against loopback servers: trio-websocket's server (an
independent implementation of RFC 6455), a raw wsproto server for what trio-websocket's server cannot send
(fragments, bare frames), the fault proxy for a blackholed peer, a TLS server with a trustme CA for ``wss://``."""

from __future__ import annotations

import os
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial

import pytest
import trio
import trustme
from trio_websocket import (
    ConnectionClosed,
    ConnectionRejected,
    ConnectionTimeout,
    HandshakeError,
    WebSocketConnection,
    WebSocketRequest,
    serve_websocket,
)
from wsproto import WSConnection
from wsproto.connection import ConnectionType
from wsproto.events import AcceptConnection, BytesMessage, CloseConnection, Ping, Pong, Request, TextMessage

from trio_hedge.sim._faultproxy import open_fault_proxy
from trio_hedge.venues._ws import HeartbeatTimeout, connection_reason, heartbeat
from trio_hedge.venues._wsdirect import DirectWebSocket, open_ws_direct

pytestmark = pytest.mark.timeout(60)  # waits on sockets: a hang fails the test, not the run

Handler = Callable[[WebSocketRequest], Awaitable[None]]


@asynccontextmanager
async def tws_server(handler: Handler, ssl_context: ssl.SSLContext | None = None) -> AsyncIterator[int]:
    """trio-websocket's server on an ephemeral loopback port."""
    async with trio.open_nursery() as nursery:
        server = await nursery.start(partial(serve_websocket, handler, "127.0.0.1", 0, ssl_context=ssl_context))
        yield server.port
        nursery.cancel_scope.cancel()


async def echo(request: WebSocketRequest) -> None:
    ws = await request.accept()
    try:
        while True:
            await ws.send_message(await ws.get_message())
    except ConnectionClosed:
        pass


@asynccontextmanager
async def raw_server(script: Callable[[trio.SocketStream, WSConnection], Awaitable[None]],
                     with_accept: Callable[[WSConnection], bytes] = lambda ws: b"") -> AsyncIterator[int]:
    """A wsproto server: accepts the upgrade (``with_accept(ws)``: frames written in the same send as the 101
    answer), then runs ``script(stream, ws)`` (frames it writes itself)."""

    async def handle(stream: trio.SocketStream) -> None:
        ws = WSConnection(ConnectionType.SERVER)
        with trio.move_on_after(5):
            while True:
                data = await stream.receive_some(65536)
                if not data:
                    return
                ws.receive_data(data)
                if any(isinstance(e, Request) for e in ws.events()):
                    break
            accept = ws.send(AcceptConnection())
            await stream.send_all(accept + with_accept(ws))
            await script(stream, ws)
        await stream.aclose()

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, handle, 0, host="127.0.0.1"))
        yield listeners[0].socket.getsockname()[1]
        nursery.cancel_scope.cancel()


async def read_events(stream: trio.SocketStream, ws: WSConnection) -> list[object]:
    data = await stream.receive_some(65536)
    ws.receive_data(data or None)
    return list(ws.events())


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def test_messages_both_ways_text_and_binary() -> None:
    async with tws_server(echo) as port, open_ws_direct(f"ws://127.0.0.1:{port}/x?a=1") as ws:
        assert ws.closed is None
        for message in ("hello", b"\x00\x01bin", "é" * 1000, ""):
            await ws.send_message(message)
            got = await ws.get_message()
            assert got == message and type(got) is type(message)
        with pytest.raises(ValueError):
            await ws.send_message(42)  # type: ignore[arg-type]


async def test_a_large_message_over_many_reads_and_a_fragmented_one() -> None:
    big = "x" * 3_000_000  # many recv calls (64 KiB each)

    async def script(stream: trio.SocketStream, ws: WSConnection) -> None:
        await stream.send_all(ws.send(TextMessage(data="ab", message_finished=False)))
        await trio.sleep(0.05)  # the client has read the first fragment alone
        await stream.send_all(ws.send(TextMessage(data="cd", message_finished=False)))
        await stream.send_all(ws.send(TextMessage(data="ef", message_finished=True)))
        await stream.send_all(ws.send(BytesMessage(data=b"\x01", message_finished=False))
                              + ws.send(BytesMessage(data=b"\x02", message_finished=True))
                              + ws.send(TextMessage(data=big)))
        await read_events(stream, ws)  # until the client closes

    async with raw_server(script) as port, open_ws_direct(f"ws://127.0.0.1:{port}/") as ws:
        assert await ws.get_message() == "abcdef"
        assert await ws.get_message() == b"\x01\x02"
        assert await ws.get_message() == big


async def test_frames_in_the_same_read_as_the_upgrade_answer_are_not_left_behind() -> None:
    """A server may write its first frames right behind the 101 (one TCP segment): they are in wsproto's buffer
    when the handshake ends, and no more bytes may come; a Ping among them is answered."""
    got: list[object] = []

    def early(ws: WSConnection) -> bytes:
        return ws.send(TextMessage(data="early")) + ws.send(Ping(payload=b"e")) + ws.send(BytesMessage(data=b"2"))

    async def script(stream: trio.SocketStream, ws: WSConnection) -> None:
        while not any(isinstance(e, Pong) for e in got):
            got.extend(await read_events(stream, ws))
        await read_events(stream, ws)

    async with raw_server(script, early) as port, open_ws_direct(f"ws://127.0.0.1:{port}/") as ws:
        with trio.fail_after(5):
            assert await ws.get_message() == "early"
            assert await ws.get_message() == b"2"
            async with trio.open_nursery() as nursery:
                nursery.start_soon(ws_drain, ws)
                while not any(isinstance(e, Pong) for e in got):  # noqa: ASYNC110 (the server's list: no event)
                    await trio.sleep(0.01)
                nursery.cancel_scope.cancel()
    assert [e.payload for e in got if isinstance(e, Pong)] == [b"e"]


async def test_a_message_over_the_limit_closes_with_1009() -> None:
    seen: list[object] = []
    told = trio.Event()

    async def script(stream: trio.SocketStream, ws: WSConnection) -> None:
        await stream.send_all(ws.send(TextMessage(data="small")))
        await stream.send_all(ws.send(TextMessage(data="y" * 2000, message_finished=False)))
        await stream.send_all(ws.send(TextMessage(data="y" * 2000)))
        with trio.move_on_after(2):
            while not any(isinstance(e, CloseConnection) for e in seen):
                seen.extend(await read_events(stream, ws))
        told.set()

    async with raw_server(script) as port, open_ws_direct(f"ws://127.0.0.1:{port}/", max_message_size=3000) as ws:
        assert await ws.get_message() == "small"
        with pytest.raises(ConnectionClosed) as caught:
            await ws.get_message()
        assert caught.value.reason is not None and caught.value.reason.code == 1009
        assert ws.closed is not None and ws.closed.code == 1009
        with pytest.raises(ConnectionClosed):
            await ws.send_message("after")
        with trio.fail_after(5):
            await told.wait()  # sent by get_message, before the context's close
    closes = [e for e in seen if isinstance(e, CloseConnection)]
    assert closes and closes[0].code == 1009  # the server was told why


async def test_ping_pong_both_ways_and_the_heartbeat() -> None:
    server_pinged = trio.Event()

    async def handler(request: WebSocketRequest) -> None:
        ws = await request.accept()
        await ws.ping(b"from-server")  # answered by the client's reader
        server_pinged.set()
        await echo_rest(ws)

    pongs = 0

    def on_pong() -> None:
        nonlocal pongs
        pongs += 1

    async with tws_server(handler) as port, open_ws_direct(f"ws://127.0.0.1:{port}/") as ws:
        async with trio.open_nursery() as nursery:

            async def reader() -> None:
                with pytest.raises(ConnectionClosed):
                    while True:
                        await ws.get_message()

            nursery.start_soon(reader)
            with trio.fail_after(5):
                await server_pinged.wait()
                await ws.ping()
                await ws.ping(b"mine")
            with trio.move_on_after(0.5):
                await heartbeat(ws, interval_s=0.05, timeout_s=1.0, venue="t", on_pong=on_pong)  # type: ignore[arg-type]
            assert pongs >= 5
            await ws.aclose()
        assert ws.closed is not None and ws.closed.code == 1000
        with pytest.raises(ConnectionClosed):
            await ws.ping()


async def echo_rest(ws: WebSocketConnection) -> None:
    try:
        while True:
            await ws.send_message(await ws.get_message())
    except ConnectionClosed:
        pass


async def test_server_close_gives_its_code_after_the_messages_before_it() -> None:
    async def handler(request: WebSocketRequest) -> None:
        ws = await request.accept()
        await ws.send_message("one")
        await ws.send_message("two")
        await ws.aclose(4001, "going away for a test")

    async with tws_server(handler) as port, open_ws_direct(f"ws://127.0.0.1:{port}/") as ws:
        assert await ws.get_message() == "one"
        assert await ws.get_message() == "two"
        with pytest.raises(ConnectionClosed) as caught:
            await ws.get_message()
        reason = caught.value.reason
        assert reason is not None and (reason.code, reason.reason) == (4001, "going away for a test")
        with pytest.raises(ConnectionClosed):
            await ws.send_message("late")


async def test_a_lost_connection_is_1006_and_a_ping_waiting_raises() -> None:
    async def script(stream: trio.SocketStream, ws: WSConnection) -> None:
        await read_events(stream, ws)  # the client's ping: not answered
        await stream.aclose()  # no Close frame

    async with raw_server(script) as port, open_ws_direct(f"ws://127.0.0.1:{port}/") as ws:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(ws_drain, ws)
            with trio.fail_after(5), pytest.raises(ConnectionClosed) as caught:
                await ws.ping()
        assert caught.value.reason is not None and caught.value.reason.code == 1006


async def ws_drain(ws: DirectWebSocket) -> None:
    with pytest.raises(ConnectionClosed):
        while True:
            await ws.get_message()


async def test_peer_ping_is_answered_and_a_second_reader_is_refused() -> None:
    got: list[object] = []
    ponged, proceed = trio.Event(), trio.Event()

    async def script(stream: trio.SocketStream, ws: WSConnection) -> None:
        await stream.send_all(ws.send(Ping(payload=b"p1")))
        while not any(isinstance(e, Pong) for e in got):
            got.extend(await read_events(stream, ws))
        ponged.set()
        await proceed.wait()
        await stream.send_all(ws.send(TextMessage(data="done")))
        await read_events(stream, ws)

    first: list[str | bytes] = []

    async with raw_server(script) as port, open_ws_direct(f"ws://127.0.0.1:{port}/") as ws:
        async with trio.open_nursery() as nursery:

            async def reader() -> None:
                first.append(await ws.get_message())

            nursery.start_soon(reader)
            with trio.fail_after(5):
                await ponged.wait()  # the reader answered the ping while it waited for a message
            with pytest.raises(trio.BusyResourceError):
                await ws.get_message()
            proceed.set()
    assert [e.payload for e in got if isinstance(e, Pong)] == [b"p1"]
    assert first == ["done"]


async def test_a_refused_upgrade_is_connection_rejected_and_logged_by_status_only() -> None:
    async def handler(request: WebSocketRequest) -> None:
        await request.reject(401, extra_headers=[(b"Set-Cookie", b"gravity=SESSION-SECRET")],
                             body=b'{"key":"API-KEY-SECRET"}')

    before = open_fds()
    async with tws_server(handler) as port:
        with pytest.raises(ConnectionRejected) as caught:
            async with open_ws_direct(f"ws://127.0.0.1:{port}/", headers=[("Cookie", "gravity=x")]):
                pytest.fail("the upgrade was refused")
        assert caught.value.status_code == 401
        assert caught.value.body == b'{"key":"API-KEY-SECRET"}'
        assert connection_reason(caught.value) == "upgrade rejected with HTTP 401"
        await trio.sleep(0.05)
        assert open_fds() == before + 1  # the server's listener only: the client's socket is closed


async def test_handshake_failures_leak_no_socket_and_time_out() -> None:
    async def no_answer(stream: trio.SocketStream) -> None:
        await trio.sleep_forever()

    async def garbage(stream: trio.SocketStream) -> None:
        await stream.receive_some(65536)
        await stream.send_all(b"NOT HTTP AT ALL\r\n\r\n")
        await stream.aclose()

    async def hang_up(stream: trio.SocketStream) -> None:
        await stream.aclose()

    async with trio.open_nursery() as nursery:
        ports = []
        for handler in (no_answer, garbage, hang_up):
            listeners = await nursery.start(partial(trio.serve_tcp, handler, 0, host="127.0.0.1"))
            ports.append(listeners[0].socket.getsockname()[1])
        before = open_fds()
        with trio.fail_after(5):
            with pytest.raises(ConnectionTimeout):
                async with open_ws_direct(f"ws://127.0.0.1:{ports[0]}/", connect_timeout_s=0.3):
                    pass
            for port in ports[1:]:
                with pytest.raises(HandshakeError):
                    async with open_ws_direct(f"ws://127.0.0.1:{port}/"):
                        pass
            with pytest.raises(OSError):  # nothing listens there any more
                closed = trio.socket.socket()
                await closed.bind(("127.0.0.1", 0))
                free_port = closed.getsockname()[1]
                closed.close()
                async with open_ws_direct(f"ws://127.0.0.1:{free_port}/"):
                    pass
        await trio.sleep(0.1)
        # the server side of the timed-out connection is still open (no_answer sleeps): one fd; the client's none
        assert open_fds() <= before + 1
        nursery.cancel_scope.cancel()


async def test_a_blackholed_peer_fails_the_heartbeat() -> None:
    async with tws_server(echo) as port, open_fault_proxy("127.0.0.1", port) as proxy:
        with trio.fail_after(10):
            async with open_ws_direct(f"ws://127.0.0.1:{proxy.port}/", disconnect_timeout_s=0.2) as ws:
                await ws.send_message("before")
                assert await ws.get_message() == "before"
                proxy.blackhole()
                t0 = trio.current_time()
                caught: list[BaseException] = []
                try:
                    async with trio.open_nursery() as nursery:
                        nursery.start_soon(ws_drain_forever, ws)
                        await heartbeat(ws, interval_s=0.1, timeout_s=0.3, venue="t")  # type: ignore[arg-type]
                except* HeartbeatTimeout as eg:
                    caught.extend(eg.exceptions)
                assert len(caught) == 1
                assert trio.current_time() - t0 < 1.5
            # the close into the blackhole was bounded by disconnect_timeout_s


async def ws_drain_forever(ws: DirectWebSocket) -> None:
    while True:
        await ws.get_message()


async def test_wss_round_trip_with_a_test_ca_and_a_refused_certificate() -> None:
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    async with tws_server(echo, server_ctx) as port:
        async with open_ws_direct(f"wss://127.0.0.1:{port}/", ssl_context=client_ctx) as ws:
            big = b"z" * 500_000
            for message in ("over tls", big):
                await ws.send_message(message)
                assert await ws.get_message() == message
            async with trio.open_nursery() as nursery:
                nursery.start_soon(ws_drain, ws)
                await ws.ping()
                await ws.aclose()
        before = open_fds()
        with pytest.raises(ssl.SSLCertVerificationError):  # the system CAs do not know the test CA
            async with open_ws_direct(f"wss://127.0.0.1:{port}/"):
                pass
        await trio.sleep(0.05)
        assert open_fds() <= before


async def test_concurrent_senders_keep_frames_whole() -> None:
    received: list[str] = []
    done = trio.Event()

    async def handler(request: WebSocketRequest) -> None:
        ws = await request.accept()
        while len(received) < 300:
            received.append(str(await ws.get_message()))
        done.set()
        await echo_rest(ws)

    async with tws_server(handler) as port, open_ws_direct(f"ws://127.0.0.1:{port}/") as ws:
        async def sender(tag: str) -> None:
            for i in range(100):
                await ws.send_message(f"{tag}{i}:" + tag * 5000)

        async with trio.open_nursery() as nursery:
            for tag in "abc":
                nursery.start_soon(sender, tag)
        with trio.fail_after(5):
            await done.wait()
    for tag in "abc":
        mine = [m for m in received if m.startswith(tag)]
        assert [m.split(":")[0] for m in mine] == [f"{tag}{i}" for i in range(100)]
        assert all(m.endswith(tag * 5000) for m in mine)


async def test_a_flood_of_ready_messages_still_lets_other_tasks_run() -> None:
    """``get_message`` yields at least every ``YIELD_EVERY`` messages returned without waiting: a consumer that
    only reads cannot starve the other tasks while frames keep being there."""
    from trio_hedge.venues._wsdirect import YIELD_EVERY

    async def script(stream: trio.SocketStream, ws: WSConnection) -> None:
        await stream.send_all(b"".join(ws.send(TextMessage(data=f"m{i}")) for i in range(320)))
        await read_events(stream, ws)

    steps = 0

    async def other() -> None:
        nonlocal steps
        while True:
            steps += 1
            await trio.lowlevel.checkpoint()

    async with raw_server(script) as port, open_ws_direct(f"ws://127.0.0.1:{port}/") as ws:
        await trio.sleep(0.3)  # every frame is in the socket's buffer: no read has to wait
        async with trio.open_nursery() as nursery:
            nursery.start_soon(other)
            await trio.lowlevel.checkpoint()
            start = steps
            got = [await ws.get_message() for _ in range(320)]
            ran = steps - start
            nursery.cancel_scope.cancel()
    assert got == [f"m{i}" for i in range(320)]
    assert 320 // YIELD_EVERY - 2 <= ran <= 320 // YIELD_EVERY + 5  # it ran, and (about) only at those points


async def test_received_shows_the_messages_of_the_same_read_without_taking_them() -> None:
    """``received()``: after ``get_message`` returns the first of three messages written in one send, the other
    two are there, oldest first, and are still returned by ``get_message`` in order; then nothing is."""
    done = trio.Event()

    async def script(stream: trio.SocketStream, ws: WSConnection) -> None:
        await stream.send_all(b"".join(ws.send(TextMessage(data=t)) for t in ("a", "b", "c")))
        await done.wait()

    async with raw_server(script) as port, open_ws_direct(f"ws://127.0.0.1:{port}/") as ws:
        with trio.fail_after(5):
            assert await ws.get_message() == "a"
            assert list(ws.received()) == ["b", "c"]
            assert await ws.get_message() == "b"
            assert list(ws.received()) == ["c"]
            assert await ws.get_message() == "c"
            assert list(ws.received()) == []
        done.set()
