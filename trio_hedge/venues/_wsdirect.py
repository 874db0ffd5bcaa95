"""A thin client WebSocket on wsproto for the hot private streams: the message is read in the task that asks for it.

trio-websocket (``trio_websocket/_impl.py``) runs a reader task per connection: it reads the socket, feeds wsproto
and hands each message through a memory channel to the task calling ``get_message`` (a second task step, and
under load a second wait in the scheduler's queue). :class:`DirectWebSocket` has no reader task and no channel:
``get_message`` reads the socket itself (non-blocking ``recv``, ``trio.lowlevel.wait_readable`` only when nothing is
there), feeds wsproto (``wsproto/connection.py``) and returns the message; on the way it answers Pings with Pongs,
wakes a waiting :meth:`~DirectWebSocket.ping` on its Pong, reassembles fragmented messages (RFC 6455 section 5.4)
and closes with 1009 a message over ``max_message_size`` (RFC 6455 section 7.4.1). TLS is ``ssl.MemoryBIO`` over
the same socket (``SSLContext.wrap_bio``), so ``wss://`` takes the same path as ``ws://``.

It is a drop-in for what the adapters use of trio-websocket's ``WebSocketConnection``: ``get_message()``,
``send_message()``, ``ping()``, ``aclose()``, ``closed``, with trio-websocket's own exceptions
(``ConnectionClosed(CloseReason)``, ``ConnectionRejected``, ``HandshakeError``, ``ConnectionTimeout``), so
``venues/_ws.py``'s ``WS_ERRORS``, ``heartbeat`` and ``reconnect_forever`` hold unchanged.

What it does not do: no reader of its own, so Pongs (and Pings from the peer) are read only while a task is in
``get_message`` (every user here reads in a loop; a consumer stalled past the heartbeat deadline then counts as a
dead connection); one reader at a time (a second concurrent ``get_message`` raises ``trio.BusyResourceError``);
no extensions (permessage-deflate), no subprotocols, no server side. ``get_message`` yields to the scheduler
only when it waits for the socket, and at least once every :data:`YIELD_EVERY` messages returned without waiting
(a flood cannot starve the other tasks); ``send_message`` writes at once when the send lock is free and the
socket takes the bytes (trio's ``Lock.acquire`` would yield before the write even when uncontended).
"""

from __future__ import annotations

import random
import socket
import ssl
import struct
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from typing import cast

import trio
from trio_websocket import CloseReason, ConnectionClosed, ConnectionRejected, ConnectionTimeout, HandshakeError
from wsproto import WSConnection
from wsproto.connection import ConnectionState, ConnectionType
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    Ping,
    Pong,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

from ._ws import WsConnection, _ws_target, open_ws

RECV_BYTES = 65536
"""Bytes asked of one ``recv`` (the buffer is allocated once per connection)."""

YIELD_EVERY = 16
"""``get_message`` yields to the scheduler at least once every this many messages returned without a wait."""

REJECT_BODY_MAX = 65536
"""A refused upgrade's body is kept up to this many bytes (``ConnectionRejected.body``)."""

_ABNORMAL = 1006  # RFC 6455 section 7.4.1: closed without a Close frame
_TOO_BIG = 1009


class _Transport:
    """A connected non-blocking socket, with TLS over ``ssl.MemoryBIO`` when ``tls`` is an ``SSLObject``.

    ``receive()`` returns a view of the connection's buffer (valid until the next call; empty at EOF);
    ``write(data)`` writes all of ``data`` (the caller holds the connection's send lock). Socket and TLS errors
    are ``OSError`` (``ssl.SSLError`` is one); a socket closed under a waiting call raises
    ``trio.ClosedResourceError``.
    """

    __slots__ = ("_sock", "_tls", "_in", "_out", "_buf", "_view", "closed", "waited")

    def __init__(self, sock: socket.socket, tls: ssl.SSLObject | None = None,
                 bios: tuple[ssl.MemoryBIO, ssl.MemoryBIO] | None = None) -> None:
        self._sock = sock
        self._tls = tls
        self._in: ssl.MemoryBIO | None = bios[0] if bios else None
        self._out: ssl.MemoryBIO | None = bios[1] if bios else None
        self._buf = bytearray(RECV_BYTES)
        self._view = memoryview(self._buf)
        self.closed = False
        self.waited = False  # the last receive() waited for the socket (a schedule point)

    def _recv_now(self) -> int:
        """One non-blocking ``recv`` into the buffer (raises BlockingIOError when nothing is there)."""
        return self._sock.recv_into(self._buf)

    def _send_now(self, view: memoryview) -> int:
        """One non-blocking ``send``: how many bytes the kernel took."""
        return self._sock.send(view)

    async def _recv_raw(self) -> int:
        while True:
            try:
                return self._recv_now()
            except BlockingIOError:
                self.waited = True
                await trio.lowlevel.wait_readable(self._sock)

    async def _send_raw(self, data: bytes) -> None:
        view = memoryview(data)
        total = 0
        while total < len(view):
            try:
                total += self._send_now(view[total:])
            except BlockingIOError:
                await trio.lowlevel.wait_writable(self._sock)

    async def receive(self) -> memoryview:
        self.waited = False
        tls = self._tls
        if tls is None:
            return self._view[: await self._recv_raw()]
        assert self._in is not None and self._out is not None
        while True:
            try:
                return self._view[: cast(int, tls.read(RECV_BYTES, self._buf))]  # with a buffer: a count
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLZeroReturnError:  # the peer's close_notify
                return self._view[:0]
            n = await self._recv_raw()
            if n == 0:
                return self._view[:0]  # EOF without close_notify: an end all the same (as https_compatible)
            self._in.write(self._view[:n])

    @property
    def pending_out(self) -> bool:
        """TLS bytes produced by a read (a TLS 1.3 KeyUpdate answer) wait to be written."""
        return self._out is not None and self._out.pending > 0

    async def write(self, data: bytes) -> None:
        if self._tls is None:
            await self._send_raw(data)
            return
        assert self._out is not None
        if data:
            self._tls.write(data)
        await self._send_raw(self._out.read())

    async def tls_handshake(self) -> None:
        assert self._tls is not None and self._in is not None and self._out is not None
        while True:
            try:
                self._tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                pass
            await self._send_raw(self._out.read())
            n = await self._recv_raw()
            if n == 0:
                raise HandshakeError("connection closed during the TLS handshake")
            self._in.write(self._view[:n])
        await self._send_raw(self._out.read())

    def close(self) -> None:
        """Close the socket (idempotent); a task waiting on it gets ``trio.ClosedResourceError``."""
        if not self.closed:
            self.closed = True
            trio.lowlevel.notify_closing(self._sock)
            self._sock.close()


async def _connect(host: str, port: int, ssl_context: ssl.SSLContext | None) -> _Transport:
    """TCP (trio's ``open_tcp_stream``: happy eyeballs, ``TCP_NODELAY``), the socket taken out of trio's stream;
    with ``ssl_context`` the TLS handshake (SNI and hostname check: ``server_hostname=host``)."""
    stream = await trio.open_tcp_stream(host, port)
    sock = socket.socket(fileno=stream.socket.detach())
    sock.setblocking(False)
    try:
        if ssl_context is None:
            return _Transport(sock)
        bios = (ssl.MemoryBIO(), ssl.MemoryBIO())
        transport = _Transport(sock, ssl_context.wrap_bio(*bios, server_hostname=host), bios)
        await transport.tls_handshake()
        return transport
    except BaseException:
        trio.lowlevel.notify_closing(sock)
        sock.close()
        raise


async def _handshake(transport: _Transport, host_header: str, resource: str,
                     headers: list[tuple[bytes, bytes]]) -> WSConnection:
    """The opening handshake (RFC 6455 section 4.1) over ``transport``; the connection once accepted.

    Raises:
        ConnectionRejected: the server answered with another HTTP status (its headers and body, capped at
            :data:`REJECT_BODY_MAX`, in the exception: log only ``status_code``).
        HandshakeError: a malformed answer, or the connection closed before one.
    """
    ws = WSConnection(ConnectionType.CLIENT)
    await transport.write(ws.send(Request(host=host_header, target=resource, extra_headers=headers)))
    status = 0
    reject_headers: tuple[tuple[bytes, bytes], ...] = ()
    body = bytearray()
    while True:
        data = await transport.receive()
        try:
            ws.receive_data(bytes(data) if data else None)
        except RemoteProtocolError as exc:
            raise HandshakeError(f"malformed WebSocket handshake answer: {exc}") from None
        for event in ws.events():
            if isinstance(event, AcceptConnection):
                return ws
            if isinstance(event, RejectConnection):
                status, reject_headers = event.status_code, tuple(event.headers)
                if not event.has_body:
                    raise ConnectionRejected(status, reject_headers, None)
            elif isinstance(event, RejectData):
                body += event.data[: REJECT_BODY_MAX - len(body)]
                if event.body_finished or len(body) >= REJECT_BODY_MAX:
                    raise ConnectionRejected(status, reject_headers, bytes(body))
        if not data:
            if status:
                raise ConnectionRejected(status, reject_headers, bytes(body))
            raise HandshakeError("connection closed during the WebSocket handshake")


class DirectWebSocket:
    """One open client WebSocket read by the task calling :meth:`get_message` (module docstring).

    Attributes:
        closed (trio_websocket.CloseReason | None): why the connection was or is being closed; None while open.
    """

    __slots__ = ("_t", "_ws", "_max", "_ready", "_parts", "_size", "_pings", "_control", "_reason", "_ended",
                 "_local", "_lock", "_reading", "_unyielded")

    def __init__(self, transport: _Transport, ws: WSConnection, *, max_message_size: int) -> None:
        self._t = transport
        self._ws = ws
        self._max = max_message_size
        self._ready: deque[str | bytes] = deque()
        self._parts: list[str | bytes] = []
        self._size = 0
        self._pings: OrderedDict[bytes, trio.Event] = OrderedDict()
        self._control: list[Event] = []  # Pongs and Close replies still to write
        self._reason: CloseReason | None = None
        self._ended = False  # nothing more will be read (a Close frame, EOF, an error)
        self._local = False  # closed by us: pending messages are dropped
        self._lock = trio.Lock()
        self._reading = False
        self._unyielded = 0
        self._drain()  # frames that came in the same read as the handshake's answer

    @property
    def closed(self) -> CloseReason | None:
        return self._reason

    def received(self) -> Sequence[str | bytes]:
        """The messages already received (read from the socket and complete) and not yet returned by
        :meth:`get_message`, oldest first, without taking them (a read-only view: do not keep it across a
        checkpoint). A reader uses it to decide whether to yield before reading on (the Backpack private stream:
        while another fill of a burst is among them it reads on, otherwise it lets the fill's hedge go first)."""
        return self._ready if not self._local else ()

    # ------------------------------------------------------------------ receiving
    async def get_message(self) -> str | bytes:
        """The next message (``str`` for a text message, ``bytes`` for a binary one), read in this task.

        Messages received before the peer's Close are returned first; after a local close none are.

        Raises:
            ConnectionClosed: the connection is closed (its ``reason``: the peer's close code, 1006 for a lost
                connection, 1009 for a message over ``max_message_size``).
            trio.BusyResourceError: another task is in ``get_message``.
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        if self._reading:
            raise trio.BusyResourceError("another task is reading this WebSocket")
        self._reading = True
        try:
            while True:
                if self._ready and not self._local:
                    self._unyielded += 1
                    if self._unyielded >= YIELD_EVERY:
                        self._unyielded = 0
                        await trio.lowlevel.cancel_shielded_checkpoint()
                    return self._ready.popleft()
                if self._control or self._t.pending_out:
                    await self._send_events(())
                if self._ended or self._local:
                    raise ConnectionClosed(self._reason)
                try:
                    data = await self._t.receive()
                except (OSError, trio.ClosedResourceError):
                    self._lost()
                    continue
                if self._t.waited:
                    self._unyielded = 0
                self._feed(data)
        finally:
            self._reading = False

    def _feed(self, data: memoryview) -> None:
        """Feed received bytes (empty: EOF) to wsproto and handle its events (RFC 6455 sections 5.4-5.5)."""
        ws = self._ws
        if ws.state is ConnectionState.CLOSED:
            self._ended = True
            return
        ws.receive_data(cast(bytes, data) if data else None)  # wsproto copies it into its buffer (bytearray +=)
        self._drain()

    def _drain(self) -> None:
        """Handle every event wsproto has for the bytes fed so far."""
        for event in self._ws.events():
            kind = type(event)
            if kind is TextMessage or kind is BytesMessage:
                assert isinstance(event, TextMessage | BytesMessage)
                if not self._on_data(event.data, event.message_finished):
                    return
            elif kind is Ping:
                assert isinstance(event, Ping)
                self._control.append(event.response())
            elif kind is Pong:
                assert isinstance(event, Pong)
                self._on_pong(bytes(event.payload))
            elif kind is CloseConnection:
                assert isinstance(event, CloseConnection)
                self._on_close(event)
                return

    def _on_data(self, data: str | bytes | bytearray, finished: bool) -> bool:
        """A (part of a) message: reassembled, checked against the size limit. False: the connection closed."""
        if self._local:
            return True  # closed by us (aclose reading to the peer's Close): dropped
        size = self._size + len(data)
        if size > self._max:
            self._fail(_TOO_BIG, f"Exceeded maximum message size: {self._max} bytes")
            return False
        part: str | bytes = bytes(data) if type(data) is bytearray else data  # type: ignore[assignment]
        if not finished:
            self._parts.append(part)
            self._size = size
        elif not self._parts:
            self._ready.append(part)
        else:
            self._parts.append(part)
            message = "".join(self._parts) if type(part) is str else b"".join(self._parts)  # type: ignore[arg-type]
            self._parts.clear()
            self._size = 0
            self._ready.append(message)
        return True

    def _on_pong(self, payload: bytes) -> None:
        """Wake the ping of this payload and every earlier one still waiting (a peer may answer several pings
        with one pong: RFC 6455 section 5.5.3; trio-websocket's ``_handle_pong_event`` does the same)."""
        if payload not in self._pings:
            return
        while self._pings:
            key, event = self._pings.popitem(last=False)
            event.set()
            if key == payload:
                break

    def _on_close(self, event: CloseConnection) -> None:
        state = self._ws.state
        if state is ConnectionState.REMOTE_CLOSING:  # the peer's Close: answer it (RFC 6455 section 5.5.1)
            self._control.append(event.response())
        elif state is ConnectionState.OPEN:  # wsproto failed to parse a frame: fail the connection (section 7.1.7)
            self._control.append(CloseConnection(code=event.code, reason=event.reason))
        if self._reason is None:
            self._reason = CloseReason(event.code, event.reason or None)
        self._end()

    def _fail(self, code: int, reason: str) -> None:
        """Close from our side at once (pending messages dropped), the Close frame written at the next chance."""
        if self._ws.state is ConnectionState.OPEN:
            self._control.append(CloseConnection(code=code, reason=reason))
        self._reason = CloseReason(code, reason)
        self._local = True
        self._end()

    def _lost(self) -> None:
        """The socket failed, was closed under us or a write was cut short (1006): the socket is closed, which
        wakes a task waiting in :meth:`get_message`."""
        if self._reason is None:
            self._reason = CloseReason(_ABNORMAL, None)
        self._control.clear()
        self._end()
        self._t.close()

    def _end(self) -> None:
        self._ended = True
        self._ready_drop_parts()
        for event in self._pings.values():
            event.set()  # the ping sees the close and raises
        self._pings.clear()

    def _ready_drop_parts(self) -> None:
        self._parts.clear()
        self._size = 0
        if self._local:
            self._ready.clear()

    # ------------------------------------------------------------------ sending
    async def _send_events(self, events: tuple[Event, ...]) -> None:
        """Write the pending control frames, then ``events``, under the send lock (taken without a yield when
        free). An interrupted write leaves a partial frame on the wire: the connection is then lost (1006).
        Raises ConnectionClosed if the socket fails."""
        await trio.lowlevel.checkpoint_if_cancelled()
        lock = self._lock
        try:
            lock.acquire_nowait()
        except trio.WouldBlock:
            await lock.acquire()
        try:
            if self._t.closed:
                raise ConnectionClosed(self._reason or CloseReason(_ABNORMAL, None))
            control, self._control = self._control, []
            chunks: list[bytes] = []
            for event in control:
                with suppress(LocalProtocolError):  # a Pong after the peer's Close is not sent any more
                    chunks.append(self._ws.send(event))
            refused = False
            for event in events:
                try:
                    chunks.append(self._ws.send(event))
                except LocalProtocolError:  # the connection is closing
                    refused = True
                    break
            try:
                await self._t.write(b"".join(chunks) if len(chunks) != 1 else chunks[0])
            except (OSError, trio.ClosedResourceError):
                self._lost()
                raise ConnectionClosed(self._reason) from None
            except BaseException:
                self._lost()
                raise
            if refused:
                raise ConnectionClosed(self._reason or CloseReason(_ABNORMAL, None))
        finally:
            lock.release()

    async def send_message(self, message: str | bytes) -> None:
        """Send one text (``str``) or binary (``bytes``) message as one frame.

        Raises:
            ConnectionClosed: the connection is closed or closing.
            ValueError: ``message`` is neither ``str`` nor ``bytes``.
        """
        if self._reason is not None:
            raise ConnectionClosed(self._reason)
        if isinstance(message, str):
            await self._send_events((TextMessage(data=message),))
        elif isinstance(message, bytes):
            await self._send_events((BytesMessage(data=message),))
        else:
            raise ValueError("message must be str or bytes")

    async def ping(self, payload: bytes | None = None) -> None:
        """Send a Ping and wait for its Pong (read by the task in :meth:`get_message`).

        Raises:
            ConnectionClosed: the connection is closed, or closed before the Pong came.
            ValueError: a ping with this payload is already waiting.
        """
        if self._reason is not None:
            raise ConnectionClosed(self._reason)
        if payload is None:
            payload = struct.pack("!I", random.getrandbits(32))
        if payload in self._pings:
            raise ValueError(f"a ping with payload {payload!r} is already waiting")
        event = trio.Event()
        self._pings[payload] = event
        try:
            await self._send_events((Ping(payload=payload),))
            await event.wait()
        finally:
            self._pings.pop(payload, None)
        if self._ended:
            raise ConnectionClosed(self._reason)

    async def aclose(self, code: int = 1000, reason: str | None = None) -> None:
        """Close: send a Close frame (when open), read until the peer's Close or EOF (when no task is reading),
        then close the socket. Idempotent; bound it with a (shielded) deadline: a blackholed peer never
        answers. Any other task's ``get_message`` then raises ConnectionClosed."""
        try:
            if self._ws.state is ConnectionState.OPEN and not self._ended:
                self._reason = CloseReason(1000, None)  # as trio-websocket's aclose records it
                self._local = True
                self._ready_drop_parts()
                await self._send_events((CloseConnection(code=code, reason=reason),))
                if not self._reading:
                    self._reading = True
                    try:
                        while not self._ended and not self._t.closed:
                            self._feed(await self._t.receive())
                    finally:
                        self._reading = False
            elif self._control and not self._t.closed:
                await self._send_events(())  # the answer to the peer's Close, or our 1009
        except (ConnectionClosed, OSError, trio.ClosedResourceError):
            pass
        finally:
            self._local = True
            if self._reason is None:
                self._reason = CloseReason(1000, None)
            self._end()
            self._t.close()


@asynccontextmanager
async def open_ws_direct(
    url: str,
    *,
    headers: list[tuple[str, str]] | None = None,
    max_message_size: int = 4 * 2**20,
    connect_timeout_s: float = 5.0,
    disconnect_timeout_s: float = 1.0,
    ssl_context: ssl.SSLContext | None = None,
) -> AsyncIterator[DirectWebSocket]:
    """Open a :class:`DirectWebSocket` to a ``ws://`` or ``wss://`` URL; close it (bounded by
    ``disconnect_timeout_s``, shielded) and its socket on every way out.

    ``ssl_context`` (``wss://`` only) defaults to ``ssl.create_default_context()`` (system CAs, hostname check).
    The arguments mean what they mean for :func:`~trio_hedge.venues._ws.open_ws`.

    Raises:
        ConnectionTimeout: TCP, TLS and the WebSocket handshake took longer than ``connect_timeout_s``.
        ConnectionRejected: the upgrade was refused with an HTTP status (log only its ``status_code``).
        HandshakeError, OSError: the connection could not be opened (``ssl.SSLError``, e.g. a certificate
            refused, is an ``OSError``).
        ValueError: ``url`` is not a ``ws://`` / ``wss://`` URL.
    """
    host, port, host_header, resource, tls = _ws_target(url)
    extra = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers or ()]
    context = (ssl_context or ssl.create_default_context()) if tls else None
    transport: _Transport | None = None
    with trio.move_on_after(connect_timeout_s) as scope:
        transport = await _connect(host, port, context)
        try:
            ws = await _handshake(transport, host_header, resource, extra)
        except BaseException:
            transport.close()
            raise
    if scope.cancelled_caught:
        if transport is not None:
            transport.close()
        raise ConnectionTimeout(f"WebSocket handshake with {url[:80]} took over {connect_timeout_s}s")
    assert transport is not None
    conn = DirectWebSocket(transport, ws, max_message_size=max_message_size)
    try:
        yield conn
    finally:
        with trio.move_on_after(disconnect_timeout_s, shield=True):
            await conn.aclose()
        transport.close()


PRIVATE_WS_CLIENTS: tuple[str, ...] = ("wsproto", "trio-websocket")
"""Values of a venue's ``private_ws`` setting (``venues.<name>.private_ws``): which client opens its hot private
connections (Backpack's private account stream; GRVT's trades socket: private stream and order RPCs)."""

DEFAULT_PRIVATE_WS = "wsproto"
"""The default: :func:`open_ws_direct` (``scripts/bench_ws_recv.py`` and ``scripts/bench_tick_to_trade.py``
measured it faster; docs/performance.md)."""


def open_private_ws(
    client: str,
    url: str,
    *,
    headers: list[tuple[str, str]] | None = None,
    connect_timeout_s: float = 5.0,
    disconnect_timeout_s: float = 1.0,
) -> AbstractAsyncContextManager[WsConnection]:
    """:func:`open_ws_direct` for ``client == "wsproto"``, trio-websocket's :func:`~trio_hedge.venues._ws.open_ws`
    for ``"trio-websocket"`` (same arguments, same exceptions). Raises ValueError for another ``client``."""
    if client == "wsproto":
        return open_ws_direct(url, headers=headers, connect_timeout_s=connect_timeout_s,
                              disconnect_timeout_s=disconnect_timeout_s)
    if client == "trio-websocket":
        return open_ws(url, headers=headers, connect_timeout_s=connect_timeout_s,
                       disconnect_timeout_s=disconnect_timeout_s)
    raise ValueError(f"private_ws must be one of {', '.join(PRIVATE_WS_CLIENTS)}, not {client[:40]!r}")
