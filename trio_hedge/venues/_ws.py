"""Shared WebSocket plumbing for the wire adapters (trio-websocket): connect with bounded handshake and
close, heartbeat under a deadline, and a reconnect loop with exponential backoff and jitter.

Why a heartbeat: a blackholed TCP connection is never noticed by the kernel in useful time (tcp_retries2
is minutes); with a ping every interval under ``fail_after`` it is detected within interval + deadline (the
chaos test ``test_hedge_venue_blackholed_while_hedging`` in tests/test_chaos.py blackholes both venues through
``sim/_faultproxy.py``). Why a short ``disconnect_timeout``: trio-websocket's default
of 60 s makes closing a blackholed socket block for a minute.
"""

from __future__ import annotations

import math
import random
import ssl
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Protocol

import trio
from loguru import logger
from trio_websocket import (
    CloseReason,
    ConnectionClosed,
    ConnectionRejected,
    ConnectionTimeout,
    HandshakeError,
    WebSocketConnection,
    wrap_client_stream,
)

from ..domain import leaves, sole_failure
from ._errors import VenueError, VenueUnavailable

WS_ERRORS: tuple[type[BaseException], ...] = (
    ConnectionClosed,
    HandshakeError,
    ConnectionRejected,
    OSError,
    trio.BrokenResourceError,
    trio.ClosedResourceError,
)
"""What a broken or refused connection raises (the reconnect loop catches these)."""


class WsConnection(Protocol):
    """What the adapters use of a client WebSocket: trio-websocket's ``WebSocketConnection`` (:func:`open_ws`)
    and :class:`~trio_hedge.venues._wsdirect.DirectWebSocket` (:func:`~trio_hedge.venues._wsdirect.open_ws_direct`)
    both are one."""

    @property
    def closed(self) -> CloseReason | None: ...

    async def get_message(self) -> str | bytes: ...

    async def send_message(self, message: str | bytes) -> None: ...

    async def ping(self, payload: bytes | None = None) -> None: ...

    async def aclose(self, code: int = 1000, reason: str | None = None) -> None: ...


class HeartbeatTimeout(VenueUnavailable):
    """No pong within the heartbeat deadline: the connection is dead (blackholed or half open)."""


@dataclass(slots=True)
class Backoff:
    """Exponential backoff with full jitter: delay_n = uniform(0.5, 1.5) * min(max_s, min_s * 2**n).

    Call :meth:`next_delay_s` after each failure and :meth:`reset` after a success.
    """

    min_s: float = 0.1
    max_s: float = 5.0
    _n: int = field(default=0, init=False)

    def next_delay_s(self) -> float:
        base: float = min(self.max_s, self.min_s * 2.0**self._n)
        self._n = min(self._n + 1, 30)
        return base * (0.5 + random.random())

    def reset(self) -> None:
        self._n = 0


def _ws_target(url: str) -> tuple[str, int, str, str, bool]:
    """``(host, port, Host header, resource, tls)`` of a ``ws://`` or ``wss://`` URL (the defaults and the
    Host header as trio-websocket's ``open_websocket_url`` derives them). Raises ValueError for other URLs."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("ws", "wss") or parts.hostname is None:
        raise ValueError(f"not a WebSocket URL: {url[:80]!r}")
    tls = parts.scheme == "wss"
    port = parts.port if parts.port is not None else (443 if tls else 80)
    resource = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host_header = parts.hostname if port in (80, 443) else f"{parts.hostname}:{port}"
    return parts.hostname, port, host_header, resource, tls


@asynccontextmanager
async def open_ws(
    url: str,
    *,
    headers: list[tuple[str, str]] | None = None,
    message_queue_size: int = 64,
    max_message_size: int = 4 * 2**20,
    connect_timeout_s: float = 5.0,
    disconnect_timeout_s: float = 1.0,
    ssl_context: ssl.SSLContext | None = None,
) -> AsyncIterator[WebSocketConnection]:
    """Open a client WebSocket with bounded handshake and close times, and close its socket on every way out.

    The TCP (or TLS) stream is ours and trio-websocket speaks the protocol over it
    (``trio_websocket.wrap_client_stream``): trio-websocket 0.12.2's ``open_websocket_url`` leaves the socket
    open when the handshake fails or the connection was aborted (a reset: ``aclose`` returns early once
    ``_abort_web_socket`` has set a close reason; trio_websocket/_impl.py), one leaked socket per dropped
    connection of a bot that reconnects forever. The handshake deadline is ours as well: trio-websocket's own
    ``connect_timeout`` did not fire when the handshake met a blackhole (the chaos suite's finding).
    Failures of the connection's tasks follow :func:`~trio_hedge.domain.sole_failure` (one is raised as
    itself, as ``open_websocket_url`` does). ``ssl_context`` (``wss://`` only) defaults to
    ``ssl.create_default_context()``.

    Raises:
        ConnectionTimeout: the connection and handshake took longer than ``connect_timeout_s``.
        HandshakeError, ConnectionRejected, OSError: the connection could not be opened.
        ValueError: ``url`` is not a ``ws://`` / ``wss://`` URL.
    """
    host, port, host_header, resource, tls = _ws_target(url)
    extra = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers or ()]
    # One scope around the connection's whole life (the nursery below must not sit inside a shorter scope);
    # its deadline is lifted once the handshake is done.
    with trio.CancelScope(deadline=trio.current_time() + connect_timeout_s) as scope:
        stream: trio.SocketStream | trio.SSLStream[trio.SocketStream]
        if tls:
            context = ssl_context or ssl.create_default_context()
            stream = await trio.open_ssl_over_tcp_stream(host, port, ssl_context=context, https_compatible=True)
        else:
            stream = await trio.open_tcp_stream(host, port)
        try:
            try:
                async with trio.open_nursery() as nursery:
                    ws = await wrap_client_stream(nursery, stream, host_header, resource, extra_headers=extra,
                                                  message_queue_size=message_queue_size,
                                                  max_message_size=max_message_size)
                    scope.deadline = math.inf
                    try:
                        yield ws
                    finally:
                        with trio.move_on_after(disconnect_timeout_s, shield=True):
                            await ws.aclose()
                        nursery.cancel_scope.cancel()  # the reader task
            except BaseExceptionGroup as eg:
                leaf = sole_failure(eg)
                if leaf is eg:
                    raise
                raise leaf from None
        finally:
            with trio.CancelScope(shield=True), suppress(trio.BrokenResourceError, OSError):
                await stream.aclose()  # idempotent; trio-websocket may have closed it already
    if scope.cancelled_caught:
        raise ConnectionTimeout(f"WebSocket handshake with {url} took over {connect_timeout_s}s")


async def heartbeat(
    ws: WsConnection,
    *,
    interval_s: float,
    timeout_s: float,
    venue: str = "ws",
    on_pong: Callable[[], None] | None = None,
) -> None:
    """Ping every ``interval_s``; raise :class:`HeartbeatTimeout` (named ``venue``) when a pong takes over
    ``timeout_s``; call ``on_pong()`` after each pong (a sign of life, for a private-stream watchdog).
    Runs until cancelled or the connection fails."""
    while True:
        await trio.sleep(interval_s)
        with trio.move_on_after(timeout_s) as scope:
            await ws.ping()
        if scope.cancelled_caught:
            raise HeartbeatTimeout(venue, f"no pong within {timeout_s}s", code="heartbeat")
        if on_pong is not None:
            on_pong()


RECONNECT_ERRORS: tuple[type[BaseException], ...] = (*WS_ERRORS, VenueUnavailable)
"""What :func:`reconnect_forever` treats as "the connection is down" by default."""


def connection_reason(exc: BaseException) -> str:
    """A log-safe one-line description of a connection error.

    A rejected WebSocket upgrade is reduced to its HTTP status: ``str(ConnectionRejected)`` holds the
    response's headers and body, which can carry cookies or other credentials. A :class:`VenueError` is its
    own (already safe) text; anything else is ``"<type>: <text>"`` (socket and protocol errors carry no
    request or response content).
    """
    if isinstance(exc, ConnectionRejected):
        return f"upgrade rejected with HTTP {exc.status_code}"
    if isinstance(exc, VenueError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


async def reconnect_forever(
    session: Callable[[], Awaitable[None]],
    *,
    name: str,
    backoff: Backoff,
    on_down: Callable[[str], None] | None = None,
    on_error: Callable[[BaseException], None] | None = None,
    errors: tuple[type[BaseException], ...] = RECONNECT_ERRORS,
    what: str = "connection",
) -> None:
    """Run ``session()`` again and again: it connects, subscribes and processes messages, and returns or
    raises when the connection ends. A connection error (one of ``errors``, default
    :data:`RECONNECT_ERRORS`) is passed to ``on_error(exc)`` (e.g. to mark credentials stale), then
    ``on_down(reason)`` is called with its log-safe description (:func:`connection_reason`; "session
    ended" after a clean return), and the next attempt waits ``backoff``. Any other error propagates (a bug
    must not be retried silently). The session resets the backoff once it is healthy. Logged under tag
    ``name`` as "``what`` down (reason); reconnecting in N s".
    """
    log = logger.bind(tag=name)
    while True:
        reason = "session ended"
        try:
            await session()
        except* errors as eg:
            found = leaves(eg)  # every leaf counts (sole_failure's rule: several are never collapsed to one)
            reason = "; ".join(connection_reason(exc) for exc in found)
            if on_error is not None:
                for exc in found:
                    on_error(exc)
        if on_down is not None:
            on_down(reason)
        delay = backoff.next_delay_s()
        log.warning("{} down ({}); reconnecting in {:.2f}s", what, reason[:200], delay)
        await trio.sleep(delay)
