"""A loopback TCP fault proxy for chaos tests: sits between a client (a venue adapter) and a server (a wire
simulator) and injects the network faults a real venue connection sees.

Faults, on every connection or on one :class:`ProxyConnection`:

- **reset**: ``SO_LINGER`` 0 then close, so the kernel sends RST (the peer reads ``ECONNRESET``);
- **blackhole**: stop forwarding in both directions but keep both sockets open. Data is held, not lost (as a
  dropped route that TCP retransmits through): bytes read while blackholed wait in a bounded buffer, then
  back-pressure stops reading, and everything flows again when the blackhole is lifted;
- **half-open**: the same, in one :class:`Direction` only;
- **latency**: a delay added to every chunk, per direction (chunks keep their order);
- **refuse**: new connections are accepted and reset at once (the client's handshake fails);
- **HTTP faults** (client-to-target HTTP/1.1): answer the next N requests with a canned status (``503``) and
  close, or swallow them (never forwarded, never answered: the client's read deadline decides);
- **WebSocket frame drops** (target-to-client): drop the next N frames whose bytes match a predicate (a lost
  order ack, a lost book delta). Frames are delimited per RFC 6455 §5.2 after a ``101`` upgrade answer.

Measured with this proxy (tests/test_faultproxy.py, tests/test_chaos.py): a reset makes
trio-websocket raise ``ConnectionClosed`` (1006) at once; a blackhole is only noticed by an application
heartbeat. A WebSocket handshake sent into a blackhole is NOT bounded by trio-websocket 0.12.2's
``connect_timeout`` (its reader task keeps ``open_websocket``'s nursery open): see the xfail test in
tests/test_chaos.py.

Usage::

    async with open_fault_proxy("127.0.0.1", server_port) as proxy:
        url = f"ws://127.0.0.1:{proxy.port}/"
        ...
        proxy.reset_all()
"""

from __future__ import annotations

import enum
import itertools
import re
import socket
import struct
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import trio

__all__ = [
    "Direction",
    "FaultProxy",
    "FaultProxyStatistics",
    "ProxyConnection",
    "open_fault_proxy",
]

_CHUNK_BYTES = 65536
_HEAD_BYTES = 16384
_REQUEST_LINE = re.compile(rb"^(GET|POST|PUT|DELETE|PATCH|HEAD|OPTIONS) \S+ HTTP/1\.[01]\r\n")
_REASONS = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout",
            429: "Too Many Requests"}  # fmt: skip


class Direction(enum.Enum):
    """A direction of a proxied connection: ``UP`` client to target, ``DOWN`` target to client."""

    UP = "up"
    DOWN = "down"


@dataclass(frozen=True, slots=True)
class FaultProxyStatistics:
    """Counters of a :class:`FaultProxy` since it started.

    Attributes:
        accepted (int): connections accepted (including refused ones).
        refused (int): connections reset at once because refusing was on (or the target was unreachable).
        active (int): connections open now.
        resets (int): connections cut with RST by :meth:`ProxyConnection.reset`.
        bytes_up (int), bytes_down (int): bytes forwarded client-to-target and target-to-client.
        http_requests (int): HTTP requests seen from clients (request heads at the start of a chunk, as
            :meth:`FaultProxy.fail_http` recognises them; WebSocket upgrades included), failed and stalled ones
            included.
        http_failed (int): HTTP requests answered with a canned status.
        http_stalled (int): HTTP requests swallowed.
        ws_frames_dropped (int): WebSocket frames dropped.
    """

    accepted: int
    refused: int
    active: int
    resets: int
    bytes_up: int
    bytes_down: int
    http_requests: int
    http_failed: int
    http_stalled: int
    ws_frames_dropped: int


def _set_linger0(stream: trio.SocketStream) -> None:
    """Make the next close of ``stream`` send RST instead of FIN."""
    try:
        stream.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:  # already closed
        pass


def _ws_frame_len(buf: bytearray) -> int | None:
    """Length in bytes of the first complete WebSocket frame in ``buf`` (RFC 6455 §5.2), or None if
    ``buf`` does not hold a whole frame yet."""
    if len(buf) < 2:
        return None
    n, pos = buf[1] & 0x7F, 2
    if n == 126:
        if len(buf) < 4:
            return None
        n, pos = int.from_bytes(buf[2:4], "big"), 4
    elif n == 127:
        if len(buf) < 10:
            return None
        n, pos = int.from_bytes(buf[2:10], "big"), 10
    if buf[1] & 0x80:
        pos += 4
    return pos + n if len(buf) >= pos + n else None


class _Gate:
    """Open/closed switch a task can wait on."""

    def __init__(self) -> None:
        self._open = True
        self._lot = trio.lowlevel.ParkingLot()

    @property
    def is_open(self) -> bool:
        return self._open

    def set(self, is_open: bool) -> None:
        self._open = is_open
        if is_open:
            self._lot.unpark_all()

    async def wait_open(self) -> None:
        while not self._open:
            await self._lot.park()


class ProxyConnection:
    """One proxied connection (client ↔ target) and its fault switches. Made by :class:`FaultProxy`.

    Attributes:
        id (int): 1, 2, ... in accept order.
        opened_at_ns (int): ``time.monotonic_ns``-like trio clock at accept, nanoseconds.
        bytes_up (int), bytes_down (int): bytes forwarded so far per direction.
        is_websocket (bool): the target answered ``101 Switching Protocols``.
        closed (bool): the connection has ended.
    """

    def __init__(self, proxy: FaultProxy, conn_id: int, client: trio.SocketStream) -> None:
        self._proxy = proxy
        self.id = conn_id
        self.opened_at_ns = int(trio.current_time() * 1e9)
        self.client = client
        self.target: trio.SocketStream | None = None
        self.bytes_up = 0
        self.bytes_down = 0
        self.is_websocket = False
        self.closed = False
        self.scope = trio.CancelScope()
        self._gates = {Direction.UP: _Gate(), Direction.DOWN: _Gate()}
        self._latency_s = dict(proxy._latency_s)
        self._canned: bytes | None = None
        self._swallow_up = False
        self._heads = {Direction.UP: bytearray(), Direction.DOWN: bytearray()}
        for d in Direction:
            self._gates[d].set(not proxy._paused[d])

    def __repr__(self) -> str:
        return (f"ProxyConnection(id={self.id}, up={self.bytes_up}, down={self.bytes_down}, "
                f"ws={self.is_websocket}, closed={self.closed})")  # fmt: skip

    # ------------------------------------------------------------------------------------------- switches
    def reset(self) -> None:
        """Cut the connection with RST on both sides (client and target read ``ECONNRESET``)."""
        if self.closed:
            return
        _set_linger0(self.client)
        if self.target is not None:
            _set_linger0(self.target)
        self._proxy._resets += 1
        self.scope.cancel()

    def blackhole(self, on: bool = True) -> None:
        """Stop (``on``) or resume forwarding in both directions; sockets stay open, data is held."""
        for d in Direction:
            self._gates[d].set(not on)

    def half_open(self, direction: Direction, on: bool = True) -> None:
        """Stop (``on``) or resume forwarding in ``direction`` only."""
        self._gates[direction].set(not on)

    def set_latency(self, direction: Direction, latency_s: float) -> None:
        """Delay every chunk read from now on in ``direction`` by ``latency_s`` seconds (>= 0)."""
        if latency_s < 0:
            raise ValueError(f"latency_s must be >= 0, got {latency_s}")
        self._latency_s[direction] = latency_s

    def head(self, direction: Direction) -> bytes:
        """The first bytes (up to 16 KiB) read in ``direction``, as they came from the socket (before any
        fault): for telling connections apart, e.g. a WebSocket's public stream from its private one."""
        return bytes(self._heads[direction])

    def is_paused(self, direction: Direction) -> bool:
        """Whether ``direction`` is blackholed now."""
        return not self._gates[direction].is_open

    # ------------------------------------------------------------------------------------------- pumps
    async def _run(self, target: trio.SocketStream) -> None:
        self.target = target
        with self.scope:
            async with trio.open_nursery() as nursery:
                for d, src, dst in ((Direction.UP, self.client, target), (Direction.DOWN, target, self.client)):
                    tx, rx = trio.open_memory_channel[tuple[float, bytes]](self._proxy._buffer_chunks)
                    nursery.start_soon(self._reader, d, src, tx)
                    nursery.start_soon(self._writer, d, dst, rx)
        if self._canned is not None:  # an injected HTTP answer: send it, then close normally (FIN)
            with trio.move_on_after(1.0):
                try:
                    await self.client.send_all(self._canned)
                except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                    pass

    async def _reader(
        self, d: Direction, src: trio.SocketStream, tx: trio.MemorySendChannel[tuple[float, bytes]]
    ) -> None:
        ws_buf = bytearray()
        head = bytearray()  # DOWN: the target's first answer head, until its blank line
        in_frames = head_done = False
        async with tx:
            try:
                while data := await src.receive_some(_CHUNK_BYTES):
                    if len(self._heads[d]) < _HEAD_BYTES:
                        self._heads[d] += data[: _HEAD_BYTES - len(self._heads[d])]
                    if d is Direction.UP:
                        data = self._filter_up(data)
                    elif in_frames:
                        data = self._filter_frames(ws_buf, data)
                    elif not head_done:
                        head += data
                        end = head.find(b"\r\n\r\n")
                        head_done = end >= 0 or len(head) > 16384
                        if end >= 0 and head.startswith(b"HTTP/1.1 101"):
                            self.is_websocket = in_frames = True
                            extra = bytes(head[end + 4 :])
                            data = data[: len(data) - len(extra)] + self._filter_frames(ws_buf, extra)
                    if data:
                        await tx.send((trio.current_time() + self._latency_s[d], data))
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                pass
        # EOF or error on src: let the writer flush what was read, then end the connection.

    def _filter_up(self, data: bytes) -> bytes:
        if self._swallow_up:
            return b""
        p = self._proxy
        if _REQUEST_LINE.match(data):
            p._http_requests += 1
            if p._http_fail and (p._http_fail[0][2] is None or data.startswith(p._http_fail[0][2] + b" ")):
                status, left, method = p._http_fail[0]
                left -= 1
                p._http_fail[0] = (status, left, method)
                if left <= 0:
                    p._http_fail.pop(0)
                p._http_failed += 1
                reason = _REASONS.get(status, "Error")
                body = f"{status} {reason} (fault proxy)\n".encode()
                self._canned = (
                    f"HTTP/1.1 {status} {reason}\r\ncontent-type: text/plain\r\n"
                    f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
                ).encode() + body
                self.scope.cancel()
                return b""
            if p._http_stall > 0:
                p._http_stall -= 1
                p._http_stalled += 1
                self._swallow_up = True
                return b""
        return data

    def _filter_frames(self, buf: bytearray, data: bytes) -> bytes:
        p = self._proxy
        buf += data
        out = bytearray()
        while (n := _ws_frame_len(buf)) is not None:
            frame = bytes(buf[:n])
            del buf[:n]
            if not p._should_drop(frame):
                out += frame
        return bytes(out)

    async def _writer(
        self, d: Direction, dst: trio.SocketStream, rx: trio.MemoryReceiveChannel[tuple[float, bytes]]
    ) -> None:
        async with rx:
            try:
                async for due, data in rx:
                    await trio.sleep_until(due)
                    await self._gates[d].wait_open()
                    if d is Direction.UP:  # counted when handed to the socket
                        self.bytes_up += len(data)
                        self._proxy._bytes_up += len(data)
                    else:
                        self.bytes_down += len(data)
                        self._proxy._bytes_down += len(data)
                    await dst.send_all(data)
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                pass
        self.scope.cancel()  # one side ended: the connection ends (half-closed TCP is not modelled)


class FaultProxy:
    """The proxy's state and switches; made and run by :func:`open_fault_proxy`.

    Attributes:
        host (str), port (int): where the proxy listens.
        target_host (str), target_port (int): where it forwards to.
    """

    def __init__(self, target_host: str, target_port: int, *, host: str, port: int, buffer_chunks: int) -> None:
        self.host = host
        self.port = port
        self.target_host = target_host
        self.target_port = target_port
        self.refusing = False
        self._buffer_chunks = buffer_chunks
        self._conns: dict[int, ProxyConnection] = {}
        self._ids = itertools.count(1)
        self._latency_s = {Direction.UP: 0.0, Direction.DOWN: 0.0}
        self._paused = {Direction.UP: False, Direction.DOWN: False}
        self._http_fail: list[tuple[int, int, bytes | None]] = []
        self._http_stall = 0
        self._drops: list[tuple[Callable[[bytes], bool], list[int]]] = []
        self._accepted = self._refused = self._resets = 0
        self._bytes_up = self._bytes_down = 0
        self._http_failed = self._http_stalled = self._ws_dropped = self._http_requests = 0

    def __repr__(self) -> str:
        return f"FaultProxy({self.host}:{self.port} -> {self.target_host}:{self.target_port})"

    # ------------------------------------------------------------------------------------------- queries
    def connections(self, predicate: Callable[[ProxyConnection], bool] | None = None) -> list[ProxyConnection]:
        """The open connections (accept order), optionally those satisfying ``predicate``."""
        return [c for c in self._conns.values() if not c.closed and (predicate is None or predicate(c))]

    def statistics(self) -> FaultProxyStatistics:
        """A snapshot of the counters."""
        return FaultProxyStatistics(
            accepted=self._accepted, refused=self._refused, active=len(self.connections()), resets=self._resets,
            bytes_up=self._bytes_up, bytes_down=self._bytes_down, http_requests=self._http_requests,
            http_failed=self._http_failed,
            http_stalled=self._http_stalled, ws_frames_dropped=self._ws_dropped,
        )  # fmt: skip

    # ------------------------------------------------------------------------------------------- switches
    def reset_all(self) -> int:
        """Cut every open connection with RST; return how many."""
        conns = self.connections()
        for c in conns:
            c.reset()
        return len(conns)

    def refuse(self, on: bool = True) -> None:
        """Reset (``on``) every new connection right after accepting it, or accept normally again."""
        self.refusing = on

    def blackhole(self, on: bool = True) -> None:
        """Blackhole (or release) both directions of every open connection and of new ones."""
        self.half_open(Direction.UP, on)
        self.half_open(Direction.DOWN, on)

    def half_open(self, direction: Direction, on: bool = True) -> None:
        """Stop (or resume) forwarding in ``direction`` on every open connection and on new ones."""
        self._paused[direction] = on
        for c in self.connections():
            c.half_open(direction, on)

    def set_latency(self, *, up_s: float | None = None, down_s: float | None = None) -> None:
        """Added one-way delay in seconds per direction, for open and new connections (None: unchanged)."""
        for d, v in ((Direction.UP, up_s), (Direction.DOWN, down_s)):
            if v is None:
                continue
            if v < 0:
                raise ValueError(f"latency must be >= 0 s, got {v}")
            self._latency_s[d] = v
            for c in self.connections():
                c.set_latency(d, v)

    def fail_http(self, status: int = 503, count: int = 1, method: str | None = None) -> None:
        """Answer the next ``count`` HTTP requests (on any connection) with ``status`` and close that
        connection instead of forwarding them. The body is plain text (``503 Service Unavailable (fault
        proxy)``), as a load balancer in front of a venue answers, not the venue's JSON error shape.
        A request is recognised by its request line at the start of a chunk read from the client (how
        HTTP/1.1 clients write a request head); pipelined requests inside one chunk are not told apart.
        ``method`` (``"POST"``...): only requests with that method count and fail; others pass."""
        if not 100 <= status <= 599 or count < 1:
            raise ValueError(f"bad status {status} or count {count}")
        self._http_fail.append((status, count, None if method is None else method.encode("ascii")))

    def stall_http(self, count: int = 1) -> None:
        """Swallow the next ``count`` HTTP requests: never forwarded, never answered (the connection stays
        open and discards what the client sends after)."""
        if count < 1:
            raise ValueError(f"count must be >= 1, got {count}")
        self._http_stall += count

    def drop_ws_frames(self, predicate: Callable[[bytes], bool], count: int = 1) -> None:
        """Drop the next ``count`` target-to-client WebSocket frames whose raw bytes satisfy ``predicate``."""
        if count < 1:
            raise ValueError(f"count must be >= 1, got {count}")
        self._drops.append((predicate, [count]))

    def clear_faults(self) -> None:
        """Lift every switch: no refusing, blackhole, latency or pending HTTP/WebSocket fault."""
        self.refusing = False
        self.blackhole(False)
        self.set_latency(up_s=0.0, down_s=0.0)
        self._http_fail.clear()
        self._http_stall = 0
        self._drops.clear()

    def _should_drop(self, frame: bytes) -> bool:
        for predicate, left in self._drops:
            if left[0] > 0 and predicate(frame):
                left[0] -= 1
                self._ws_dropped += 1
                self._drops = [x for x in self._drops if x[1][0] > 0]
                return True
        return False

    # ------------------------------------------------------------------------------------------- serving
    async def _handle(self, client: trio.SocketStream) -> None:
        self._accepted += 1
        conn = ProxyConnection(self, next(self._ids), client)
        self._conns[conn.id] = conn  # switches reach it from now on (also while it connects to the target)
        try:
            if self.refusing:
                self._refused += 1
                _set_linger0(client)
                return
            try:
                with trio.fail_after(5):
                    target = await trio.open_tcp_stream(self.target_host, self.target_port)
            except (OSError, trio.TooSlowError):
                self._refused += 1
                _set_linger0(client)
                return
            try:
                await conn._run(target)
            finally:
                with trio.CancelScope(shield=True):
                    await target.aclose()
        finally:
            conn.closed = True
            self._conns.pop(conn.id, None)
            with trio.CancelScope(shield=True):
                await client.aclose()


@asynccontextmanager
async def open_fault_proxy(
    target_host: str, target_port: int, *, host: str = "127.0.0.1", port: int = 0, buffer_chunks: int = 64
) -> AsyncIterator[FaultProxy]:
    """Listen on ``host:port`` (port 0: an ephemeral one, see ``proxy.port``) and forward every connection
    to ``target_host:target_port`` until the block exits (then every connection is closed).

    Args:
        target_host, target_port: the server behind the proxy (loopback only).
        host: listen address; loopback only.
        port: listen port, 0 for an ephemeral one.
        buffer_chunks: per-direction buffer of each connection, in chunks of up to 64 KiB (held while
            blackholed or delayed; reading stops when it is full).

    Raises:
        ValueError: a non-loopback address or ``buffer_chunks`` < 1.
        OSError: the port cannot be bound.
    """
    for h in (host, target_host):
        if h not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError(f"the fault proxy is loopback-only, got {h!r}")
    if buffer_chunks < 1:
        raise ValueError(f"buffer_chunks must be >= 1, got {buffer_chunks}")
    listeners = await trio.open_tcp_listeners(port, host=host)
    bound_port = listeners[0].socket.getsockname()[1]
    proxy = FaultProxy(target_host, target_port, host=host, port=bound_port, buffer_chunks=buffer_chunks)
    async with trio.open_nursery() as nursery:
        await nursery.start(trio.serve_listeners, proxy._handle, listeners)
        try:
            yield proxy
        finally:
            nursery.cancel_scope.cancel()
