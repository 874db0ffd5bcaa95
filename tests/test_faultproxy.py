"""The fault proxy (trio_hedge/sim/_faultproxy.py) against tiny loopback servers: every fault switch, measured
from the client's side."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial

import pytest
import trio
from trio_websocket import ConnectionClosed, WebSocketRequest, serve_websocket

from trio_hedge.sim._faultproxy import Direction, FaultProxy, open_fault_proxy
from trio_hedge.venues._ws import open_ws

pytestmark = pytest.mark.timeout(120)  # waits on sockets or subprocesses: a hang fails the test, not the run


@asynccontextmanager
async def echo_server() -> AsyncIterator[tuple[int, list[bytes]]]:
    """A TCP echo server; also records what it received."""
    received: list[bytes] = []

    async def handle(stream: trio.SocketStream) -> None:
        try:
            while data := await stream.receive_some(65536):
                received.append(data)
                await stream.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, handle, 0, host="127.0.0.1"))
        yield listeners[0].socket.getsockname()[1], received
        nursery.cancel_scope.cancel()


@asynccontextmanager
async def proxied_echo() -> AsyncIterator[tuple[FaultProxy, list[bytes]]]:
    async with echo_server() as (port, received), open_fault_proxy("127.0.0.1", port) as proxy:
        yield proxy, received


async def until(predicate: Callable[[], bool], *, within_s: float = 2.0) -> None:
    """Poll ``predicate`` (state of the proxy or a server: nothing to wait on) until true."""
    with trio.fail_after(within_s):
        while not predicate():  # noqa: ASYNC110
            await trio.sleep(0.01)


async def roundtrip(stream: trio.SocketStream, data: bytes) -> bytes:
    await stream.send_all(data)
    got = b""
    while len(got) < len(data):
        chunk = await stream.receive_some(65536)
        if not chunk:
            break
        got += chunk
    return got


async def test_forwards_both_ways_and_counts() -> None:
    async with proxied_echo() as (proxy, received):
        async with await trio.open_tcp_stream("127.0.0.1", proxy.port) as s:
            assert await roundtrip(s, b"hello" * 1000) == b"hello" * 1000
            assert b"".join(received) == b"hello" * 1000
            assert [c.id for c in proxy.connections()] == [1]
            assert proxy.connections()[0].head(Direction.UP) == (b"hello" * 1000)[:5000]
            assert not proxy.connections()[0].is_websocket
            st = proxy.statistics()
            assert (st.accepted, st.active, st.bytes_up, st.bytes_down) == (1, 1, 5000, 5000)
        await until(lambda: not proxy.connections())
        assert proxy.statistics().active == 0


async def test_reset_sends_rst_to_the_client() -> None:
    async with proxied_echo() as (proxy, _):
        async with await trio.open_tcp_stream("127.0.0.1", proxy.port) as s:
            assert await roundtrip(s, b"x") == b"x"
            assert proxy.reset_all() == 1
            with trio.fail_after(2), pytest.raises(trio.BrokenResourceError) as info:
                await s.receive_some(10)
            assert isinstance(info.value.__cause__, ConnectionResetError)
        assert proxy.statistics().resets == 1


async def test_one_connection_is_cut_and_the_other_lives() -> None:
    async with proxied_echo() as (proxy, _):
        async with await trio.open_tcp_stream("127.0.0.1", proxy.port) as a, \
                await trio.open_tcp_stream("127.0.0.1", proxy.port) as b:  # fmt: skip
            assert await roundtrip(a, b"a") == b"a" and await roundtrip(b, b"b") == b"b"
            first, second = proxy.connections()
            first.reset()
            with trio.fail_after(2), pytest.raises(trio.BrokenResourceError):
                await a.receive_some(10)
            assert await roundtrip(b, b"still") == b"still"
            assert proxy.connections() == [second]


async def test_blackhole_holds_data_and_releases_it() -> None:
    async with proxied_echo() as (proxy, received):
        async with await trio.open_tcp_stream("127.0.0.1", proxy.port) as s:
            proxy.blackhole()
            await s.send_all(b"held")
            with trio.move_on_after(0.3) as quiet:
                await s.receive_some(10)
            assert quiet.cancelled_caught and received == []
            assert proxy.connections()[0].is_paused(Direction.UP)
            proxy.blackhole(False)
            with trio.fail_after(2):
                assert await s.receive_some(10) == b"held"


async def test_half_open_down_delivers_to_the_server_only() -> None:
    async with proxied_echo() as (proxy, received):
        async with await trio.open_tcp_stream("127.0.0.1", proxy.port) as s:
            assert await roundtrip(s, b"1") == b"1"
            proxy.connections()[0].half_open(Direction.DOWN)
            await s.send_all(b"2")
            await until(lambda: b"".join(received) == b"12")
            with trio.move_on_after(0.2) as quiet:
                await s.receive_some(10)
            assert quiet.cancelled_caught


async def test_latency_is_added_per_direction() -> None:
    async with proxied_echo() as (proxy, _):
        async with await trio.open_tcp_stream("127.0.0.1", proxy.port) as s:
            proxy.set_latency(up_s=0.05, down_s=0.1)
            t0 = trio.current_time()
            assert await roundtrip(s, b"ping") == b"ping"
            rtt_s = trio.current_time() - t0
            assert 0.15 <= rtt_s < 0.6
            proxy.set_latency(up_s=0.0, down_s=0.0)
            t0 = trio.current_time()
            assert await roundtrip(s, b"ping") == b"ping"
            assert trio.current_time() - t0 < 0.1
        with pytest.raises(ValueError):
            proxy.set_latency(up_s=-1)


async def test_refusing_resets_new_connections_only() -> None:
    async with proxied_echo() as (proxy, _):
        async with await trio.open_tcp_stream("127.0.0.1", proxy.port) as old:
            assert await roundtrip(old, b"o") == b"o"
            proxy.refuse()
            async with await trio.open_tcp_stream("127.0.0.1", proxy.port) as new:
                with trio.fail_after(2), pytest.raises(trio.BrokenResourceError):
                    await roundtrip(new, b"n")
            assert await roundtrip(old, b"o") == b"o"
            proxy.refuse(False)
            async with await trio.open_tcp_stream("127.0.0.1", proxy.port) as again:
                assert await roundtrip(again, b"a") == b"a"
        st = proxy.statistics()
        assert (st.accepted, st.refused) == (3, 1)


async def test_unreachable_target_is_reset() -> None:
    async with echo_server() as (port, _):
        pass  # now closed: nothing listens on port
    async with open_fault_proxy("127.0.0.1", port) as proxy:
        async with await trio.open_tcp_stream("127.0.0.1", proxy.port) as s:
            with trio.fail_after(6), pytest.raises(trio.BrokenResourceError):
                await roundtrip(s, b"x")
        assert proxy.statistics().refused == 1


REQUEST = b"GET /api/v1/depth HTTP/1.1\r\nhost: x\r\n\r\n"


async def test_http_failure_is_answered_once_then_requests_pass() -> None:
    async with proxied_echo() as (proxy, received):
        proxy.fail_http(503, count=1)
        async with await trio.open_tcp_stream("127.0.0.1", proxy.port) as s:
            await s.send_all(REQUEST)
            answer = b""
            with trio.fail_after(2):
                while chunk := await s.receive_some(4096):
                    answer += chunk
            assert answer.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
            assert answer.endswith(b"(fault proxy)\n") and received == []
        async with await trio.open_tcp_stream("127.0.0.1", proxy.port) as s:
            assert await roundtrip(s, REQUEST) == REQUEST  # the echo server "answers" with the request
        assert proxy.statistics().http_failed == 1
    with pytest.raises(ValueError):
        proxy.fail_http(99)


async def test_stalled_http_request_is_never_answered() -> None:
    async with proxied_echo() as (proxy, received):
        proxy.stall_http()
        async with await trio.open_tcp_stream("127.0.0.1", proxy.port) as s:
            await s.send_all(REQUEST)
            with trio.move_on_after(0.3) as quiet:
                await s.receive_some(10)
            assert quiet.cancelled_caught and received == []
            assert proxy.statistics().http_stalled == 1 and proxy.statistics().active == 1
        async with await trio.open_tcp_stream("127.0.0.1", proxy.port) as s:
            assert await roundtrip(s, REQUEST) == REQUEST


async def test_websocket_frames_matching_are_dropped() -> None:
    async def handler(request: WebSocketRequest) -> None:
        ws = await request.accept()
        for msg in ("first", "ack:order-1", "second" * 100, "ack:order-2", "x" * 70000):
            await ws.send_message(msg)
        await trio.sleep(10)

    async with trio.open_nursery() as nursery:
        server = await nursery.start(partial(serve_websocket, handler, "127.0.0.1", 0, ssl_context=None))
        async with open_fault_proxy("127.0.0.1", server.port) as proxy:
            proxy.drop_ws_frames(lambda f: b"ack:" in f, count=1)
            # open_ws: trio-websocket alone leaks the client socket of a reset connection (venues/_ws.py)
            async with open_ws(f"ws://127.0.0.1:{proxy.port}/", disconnect_timeout_s=1) as ws:
                with trio.fail_after(3):
                    got = [await ws.get_message() for _ in range(4)]
                assert got == ["first", "second" * 100, "ack:order-2", "x" * 70000]
                assert proxy.connections()[0].is_websocket
                assert proxy.statistics().ws_frames_dropped == 1
                proxy.reset_all()
                with trio.fail_after(2), pytest.raises(ConnectionClosed):
                    await ws.get_message()
        nursery.cancel_scope.cancel()


async def test_loopback_only_and_bad_arguments() -> None:
    with pytest.raises(ValueError, match="loopback"):
        async with open_fault_proxy("10.0.0.1", 80):
            pass
    with pytest.raises(ValueError):
        async with open_fault_proxy("127.0.0.1", 80, buffer_chunks=0):
            pass
    async with open_fault_proxy("127.0.0.1", 1) as proxy:
        assert repr(proxy) == f"FaultProxy(127.0.0.1:{proxy.port} -> 127.0.0.1:1)"
        with pytest.raises(ValueError):
            proxy.stall_http(0)
        with pytest.raises(ValueError):
            proxy.drop_ws_frames(lambda f: True, 0)
