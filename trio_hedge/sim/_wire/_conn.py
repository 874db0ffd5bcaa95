"""One server-side WebSocket connection of a wire simulator: a bounded outbox with a kill-on-overflow policy.

Both wire servers (``sim/_backpack_server.py``, ``sim/_grvt_server.py``) speak WebSocket through Starlette's
:class:`~starlette.websockets.WebSocket` (one idiom for both): it hands them the upgrade request's path, headers
and cookies (GRVT authenticates the upgrade by its ``gravity`` cookie and refuses it with an HTTP 401 denial
response), routes WebSocket paths in the same app as the REST routes, and checks the ASGI message order (a send
after the close raises instead of breaking the protocol). Pings are Hypercorn's own
(``websocket_ping_interval``, set by :func:`~trio_hedge.sim._asgi.serve_asgi`), not sent from here.

Outgoing frames never block their producer (the book mirrors and the private-stream fan-out write to many
connections from one task): :meth:`WsConnection.send_text` queues a frame in a bounded outbox that a writer task
drains into the socket. A client so slow that ``capacity`` frames wait is disconnected with close code 1008
("slow consumer"), as venues drop slow consumers: memory stays bounded and no frame is dropped silently (the
client sees the close and must resubscribe, which is what a real venue makes it do).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Final

import trio
from loguru import logger
from starlette.websockets import WebSocket, WebSocketDisconnect

if TYPE_CHECKING:
    from loguru import Logger

__all__ = [
    "CLOSE_GOING_AWAY",
    "CLOSE_INTERNAL",
    "CLOSE_NORMAL",
    "CLOSE_POLICY",
    "CLOSE_TOO_BIG",
    "CLOSE_TRANSPORT_GONE",
    "WsConnection",
]

CLOSE_NORMAL: Final = 1000
CLOSE_GOING_AWAY: Final = 1001
CLOSE_TRANSPORT_GONE: Final = 1006
"""Not a code sent on the wire (RFC 6455 section 7.4.1): the transport is gone and no Close frame can be sent."""
CLOSE_POLICY: Final = 1008
CLOSE_TOO_BIG: Final = 1009
CLOSE_INTERNAL: Final = 1011

CLOSE_BUDGET_S: Final = 1.0
"""Bound on sending the Close frame during a connection's cleanup, seconds."""

MessageHandler = Callable[[str | bytes], Awaitable[None]]


class WsConnection:
    """One accepted WebSocket connection: its bounded outbox, lifetime scope and nursery for per-connection tasks.

    Venue servers subclass it to hold their subscriptions. Only :meth:`serve` awaits; every other method is
    synchronous and safe to call from any task of the server (the fan-outs call :meth:`send_text`).

    Args:
        websocket: the accepted Starlette WebSocket.
        capacity: frames the outbox holds; the one beyond it closes the connection with 1008.
        log: the server's logger (a slow consumer is logged once, at warning).
    """

    __slots__ = ("websocket", "close_code", "close_reason", "nursery", "_tx", "_rx", "_scope", "_log")

    def __init__(self, websocket: WebSocket, *, capacity: int, log: Logger | None = None) -> None:
        if capacity < 1:
            raise ValueError(f"outbox capacity must be >= 1, got {capacity}")
        self.websocket = websocket
        self.close_code = CLOSE_NORMAL
        self.close_reason = ""
        self.nursery: trio.Nursery | None = None
        self._tx, self._rx = trio.open_memory_channel[str](capacity)
        self._scope = trio.CancelScope()
        self._log = log if log is not None else logger

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called (frames sent after it are discarded: the client is told by the
        Close frame)."""
        return self._scope.cancel_called

    def queued(self) -> int:
        """Frames waiting in the outbox."""
        return self._tx.statistics().current_buffer_used

    def send_text(self, text: str) -> None:
        """Queue one text frame without blocking. A full outbox closes the connection (1008, "slow consumer")."""
        if self._scope.cancel_called:
            return
        try:
            self._tx.send_nowait(text)
        except trio.WouldBlock:
            self._log.warning("websocket client too slow ({} frames queued): disconnected (1008)", self.queued())
            self.close(CLOSE_POLICY, "slow consumer")
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self.close(CLOSE_TRANSPORT_GONE)

    def close(self, code: int, reason: str = "") -> None:
        """End the connection with a Close frame ``code`` (``CLOSE_TRANSPORT_GONE``: none can be sent). The first
        call wins; :meth:`serve` returns soon after."""
        if not self._scope.cancel_called:
            self.close_code, self.close_reason = code, reason
            self._scope.cancel()

    async def serve(self, on_message: MessageHandler, *, max_message_bytes: int | None = None) -> None:
        """Run the connection until the client leaves or :meth:`close` is called: a writer task drains the outbox
        while this task awaits ``on_message`` for every text or binary message, in order. A message longer than
        ``max_message_bytes`` closes the connection with 1009. Then a Close frame is sent (bounded by
        ``CLOSE_BUDGET_S``, shielded) unless the transport is gone.

        ``on_message`` handles its own errors (a venue answers a bad request with an error frame); an exception
        it lets out propagates after the cleanup.
        """
        try:
            with self._scope:
                async with trio.open_nursery() as nursery:
                    self.nursery = nursery
                    nursery.start_soon(self._writer)
                    await self._reader(on_message, max_message_bytes)
                    self.close(CLOSE_NORMAL)  # the client left: stop the writer and the connection's tasks
        finally:
            self._tx.close()
            if self.close_code != CLOSE_TRANSPORT_GONE:
                with trio.move_on_after(CLOSE_BUDGET_S, shield=True):
                    try:
                        await self.websocket.close(self.close_code, self.close_reason)
                    except Exception as exc:  # the peer is gone already; nothing left to tell it
                        self._log.debug("websocket close not sent: {}", type(exc).__name__)

    async def _writer(self) -> None:
        send = self.websocket.send
        try:
            async with self._rx:
                async for text in self._rx:
                    await send({"type": "websocket.send", "text": text})
        except (WebSocketDisconnect, OSError, RuntimeError):
            self.close(CLOSE_TRANSPORT_GONE)

    async def _reader(self, on_message: MessageHandler, max_message_bytes: int | None) -> None:
        receive = self.websocket.receive
        while True:
            try:
                message = await receive()
            except (WebSocketDisconnect, RuntimeError):
                return
            kind = message.get("type")
            if kind == "websocket.disconnect":
                return
            if kind != "websocket.receive":
                continue
            data = message.get("text")
            if data is None:
                data = message.get("bytes")
            if data is None:
                continue
            if max_message_bytes is not None and len(data) > max_message_bytes:
                self.close(CLOSE_TOO_BIG, "message too big")
                return
            await on_message(data)
