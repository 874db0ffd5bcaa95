"""The Backpack Exchange venue adapter, native Trio: REST over ``httpx.AsyncClient``, the public WebSocket
over trio-websocket (:mod:`trio_hedge.venues._ws`), the private stream over the direct wsproto client
(:mod:`trio_hedge.venues._wsdirect`; ``BackpackSettings.private_ws``), ED25519 request signing and the wire codec
(the protocol package :mod:`trio_hedge.protocols.backpack`). Implements :class:`~trio_hedge.venues.Venue`.

Wire formats: the Backpack API reference (https://docs.backpack.exchange/, the OpenAPI document: "Authentication"
for signing, the REST operations, "Streams" for the WebSocket), the official Rust client
(https://github.com/backpack-exchange/bpx-api-client) and ccxt 4.5.90 (``ccxt/backpack.py``,
``ccxt/pro/backpack.py``); captured payloads under ``tests/fixtures/backpack/`` (origins in
``tests/fixtures/SOURCES.md``).

Task tree (inside :func:`open_backpack_venue`'s nursery)::

    feed × symbol   one public WS per symbol, subscribed to ``depth.<symbol>``; REST depth snapshot fetched while
                    the deltas that arrive meanwhile are buffered; deltas applied IN the task with U/u continuity
                    (levels handed to the book as decoded: ``OrderBook.apply_raw_delta`` parses them);
                    a gap, a crossed book or a malformed frame invalidates the book and resyncs; heartbeat under a
                    deadline; reconnect with backoff and jitter (:func:`~trio_hedge.venues._ws.reconnect_forever`)
    private stream  one WS with a signed SUBSCRIBE to ``account.orderUpdate`` and ``account.positionUpdate``,
                    read in this task (no reader task: ``private_ws = "wsproto"``, the default)
                    -> domain events -> one bounded channel per symbol (never dropped while a consumer listens);
                    heartbeat; reconnect; after every reconnect (and after a malformed private frame) a
                    reconciliation over REST (status of every order we hold live, fills since the drop by the
                    venue clock, positions) emits what the stream may have missed, deduplicated (fills by trade
                    id, order updates only when they advance the order, positions only when they changed)
    watchdog        Backpack has no cancel-on-disconnect (none in its API reference, nor in ccxt's Backpack
                    endpoint map): see below

**No cancel-on-disconnect: the private-stream watchdog.** When the private stream (its connection or its
heartbeat) has given no sign of life (a subscription, a frame, a pong) for longer than
``private_stream_budget_s``, the adapter is blind to its own orders, so it cancels its resting orders itself over
REST (``DELETE /api/v1/orders`` per symbol) and confirms with ``GET /api/v1/orders`` that none is left. Until the
stream shows life again it refuses new *resting* orders (GTT limit orders) with :class:`VenueUnavailable`
(nothing is sent); IOC/FOK and market orders still go out (the engine's flatten path needs them). If the cancel
cannot be confirmed (REST fails too), the venue is marked failed in a way the engine sees: every unconfirmed
symbol's :class:`FeedState` turns disconnected and its book invalid with the reason
(``book(symbol).invalid_reason``), so the engine's risk guard fails the market once the feed has been down past
its budget; an error is logged. The watchdog keeps retrying the cancel every
``private_stream_budget_s``; a confirmed cancel lifts the mark.

Error classification (like the GRVT adapter): HTTP 429 / ``TOO_MANY_REQUESTS`` -> :class:`RateLimited`;
insufficient margin / invalid order -> :class:`OrderRejected` subclasses (a post-only order that would take ->
:class:`PostOnlyWouldCross`, whether the venue answers 400 or returns the order ``Expired`` with reason
``PostOnlyTaker``); a venue "Duplicate client id" -> :class:`DuplicateClientOrderId`; ``RESOURCE_NOT_FOUND`` on
an order query -> None (after a look in the order history for an order whose venue id we know); for requests
that change state (order, cancel, cancel all) our own deadline (``request_budget_s``), a transport error after the
connection was made, a 5xx and an unreadable 2xx body -> :class:`UnknownOutcome`; a connection that cannot be
made -> :class:`VenueUnavailable`. For read-only requests every such failure is :class:`VenueUnavailable`.

A refused private subscription (an ``AuthError`` frame) ends the session with :class:`AuthError`: a key or clock
problem is a configuration problem, not retried blindly.

Secrets: the API key and secret never reach a log line, a repr or an exception text (the secret lives only in
:class:`BackpackSigner`; venue error messages are scrubbed of both before they are kept).
:meth:`BackpackSettings.secrets` lists them so the app can register them for log redaction (the session also
registers them with :func:`trio_hedge._redact.register_secret`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Final

import httpx
import trio

from ..._redact import register_secret
from ...protocols.backpack import BackpackSigner
from .._base import Capability
from .._errors import AuthError
from .._kernel import PrivateWatchdog, Reconciler
from .._ws import Backoff
from ._routes import _Routes
from ._settings import BackpackSettings
from ._subscriptions import _Subscriptions


class BackpackVenue(_Routes, _Subscriptions):
    """A session on Backpack. Create it with :func:`open_backpack_venue`; see the module docstring.

    Made of :class:`~trio_hedge.venues.backpack._session._BackpackSession` (state, Venue accessors, the REST
    call), its routes (``_routes.py``) and subscriptions (``_subscriptions.py``).
    """

    capabilities: Final[frozenset[Capability]] = frozenset(
        {"feed_heartbeat", "private_reconcile", "unknown_outcome", "post_only_reject_sync", "book_stream",
         "order_stream", "fill_stream"}
    )

    def __init__(self, settings: BackpackSettings, signer: BackpackSigner, http: httpx.AsyncClient) -> None:
        super().__init__(settings, signer, http)
        self._watchdog = PrivateWatchdog(
            settings.name, self._feeds, budget_s=settings.private_stream_budget_s, cancel_all=self.cancel_all,
            open_orders=self.open_orders, log=self._log,
        )  # fmt: skip
        self._reconciler = Reconciler(
            self, self._gate, settings.symbols, live=self._live, ours=lambda _cid: True,
            venue_time_ns=lambda: self._venue_ts_ns,
            backoff=Backoff(settings.reconnect_min_s, settings.reconnect_max_s), log=self._log,
        )  # fmt: skip


    @property
    def session_down(self) -> str | None:
        """Why the session is down as a whole (the private stream silent past its budget: the watchdog is
        blind), or None. ``engine/_portfolio.py`` halts every market on a venue down past its budget."""
        return self._watchdog.down_reason


@asynccontextmanager
async def open_backpack_venue(settings: BackpackSettings) -> AsyncIterator[BackpackVenue]:
    """Open a Backpack session: load the instruments, start the private stream (returns once its signed
    SUBSCRIBE is sent), one depth feed per symbol (returns once every book is synced) and the watchdog; cancel
    them and close the HTTP client (shielded, bounded) on exit. Blocks until ready: bound it with a deadline.

    Raises:
        AuthError: ``api_key`` is not the key of ``api_secret``, or the venue refused the signature.
        BadValue: a malformed secret, or a configured symbol the venue does not list.
        VenueUnavailable, RateLimited, BackpackProtocolError: loading the markets failed.
    """
    for secret in settings.secrets():
        register_secret(secret)
    signer = BackpackSigner(settings.api_secret)
    if signer.api_key != settings.api_key.strip():
        raise AuthError(settings.name, "api_key is not the public key of api_secret (values withheld)", code="config")
    http = httpx.AsyncClient(
        base_url=settings.rest_url,
        timeout=httpx.Timeout(None, connect=settings.connect_s / 2),
        trust_env=False,
        follow_redirects=False,
    )
    try:
        venue = BackpackVenue(settings, signer, http)
        venue._instruments = await venue._load_markets()
        async with trio.open_nursery() as nursery:
            await nursery.start(venue._run_private)
            await nursery.start(venue._run_feeds)
            await nursery.start(venue._watchdog.run)
            try:
                yield venue
            finally:
                nursery.cancel_scope.cancel()
                venue._streams.close()
    finally:
        with trio.move_on_after(settings.close_budget_s, shield=True):
            await http.aclose()


__all__ = ["BackpackSettings", "BackpackVenue", "open_backpack_venue"]
