"""Request middleware of the wire simulators: the venue-side rate limit and the exchange's one-way latency, and
the error answer every venue server raises.

:class:`RequestGate` is the one place a server's requests meet the rate limit (a token bucket in trio time) and
the latency (``SimSettings.latency_s``): :class:`GateMiddleware` applies it to every HTTP request of the server's
ASGI app (over the limit: the venue's own "rate limited" answer; then the latency in, and out when the venue
models it), and a server calls :meth:`RequestGate.admit` / :meth:`RequestGate.delay_in` /
:meth:`RequestGate.delay_out` itself for requests that arrive over WebSocket (GRVT's JSON-RPC ``v1/...``).

:class:`SimApiError` is the base of each server's error: the handler raises it, the server turns it into the
venue's answer (:meth:`SimApiError.response`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import trio
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["GateMiddleware", "RequestGate", "SimApiError", "TokenBucket"]

JSON_TYPE: Final = "application/json"


class SimApiError(Exception):
    """A venue's error answer to a request; each server's subclass holds its venue's fields and formats them."""

    def response(self) -> Response:
        """The HTTP answer in the venue's format."""
        raise NotImplementedError


class TokenBucket:
    """A venue-side request limit: ``rate_per_s`` tokens per second with a burst of ``max(1, rate_per_s)``, in trio
    time. :meth:`take` is non-blocking: a server answers "rate limited" when it returns False (the client is the
    one that waits)."""

    __slots__ = ("_rate", "_capacity", "_tokens", "_at")

    def __init__(self, rate_per_s: float) -> None:
        self._rate = float(rate_per_s)
        self._capacity = max(1.0, self._rate)
        self._tokens = self._capacity
        self._at = trio.current_time()

    def take(self) -> bool:
        now = trio.current_time()
        self._tokens = min(self._capacity, self._tokens + (now - self._at) * self._rate)
        self._at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


class RequestGate:
    """One server's rate limit and latency.

    Args:
        rate_limit_per_s: requests per second (:class:`TokenBucket`, burst of one second), None for no limit.
        rate_limited: builds the venue's "rate limited" error (raised by :meth:`admit`).
        latency_in_s: sleep before a request is handled, seconds (the exchange's one-way latency).
        latency_out_s: sleep before its answer leaves, seconds (0 for a venue modelled with latency one way).
    """

    __slots__ = ("_bucket", "_rate_limited", "latency_in_s", "latency_out_s")

    def __init__(
        self,
        *,
        rate_limit_per_s: float | None,
        rate_limited: Callable[[], SimApiError],
        latency_in_s: float,
        latency_out_s: float = 0.0,
    ) -> None:
        self._bucket = None if rate_limit_per_s is None else TokenBucket(rate_limit_per_s)
        self._rate_limited = rate_limited
        self.latency_in_s = latency_in_s
        self.latency_out_s = latency_out_s

    def admit(self) -> None:
        """Take a token for one request.

        Raises:
            SimApiError: the venue's "rate limited" answer (the limit is spent).
        """
        if self._bucket is not None and not self._bucket.take():
            raise self._rate_limited()

    async def delay_in(self) -> None:
        if self.latency_in_s > 0:
            await trio.sleep(self.latency_in_s)

    async def delay_out(self) -> None:
        if self.latency_out_s > 0:
            await trio.sleep(self.latency_out_s)


class GateMiddleware:
    """ASGI middleware applying a :class:`RequestGate` to every HTTP request of ``app`` (WebSocket and lifespan
    pass through): over the limit, the venue's answer (after the out latency); else the in latency, the app, and
    the out latency before the answer starts."""

    def __init__(self, app: ASGIApp, gate: RequestGate) -> None:
        self.app = app
        self.gate = gate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        gate = self.gate
        try:
            gate.admit()
        except SimApiError as exc:
            await gate.delay_out()
            await exc.response()(scope, receive, send)
            return
        await gate.delay_in()
        if gate.latency_out_s <= 0:
            await self.app(scope, receive, send)
            return

        async def delayed_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                await gate.delay_out()
            await send(message)

        await self.app(scope, receive, delayed_send)
