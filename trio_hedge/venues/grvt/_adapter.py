"""The GRVT venue adapter: native Trio, over httpx (REST), trio-websocket (the market-data ``/ws/full``) and the direct
wsproto client (:mod:`trio_hedge.venues._wsdirect`: the trades ``/ws/full``, ``GrvtSettings.private_ws``).

Implements :class:`~trio_hedge.venues.Venue`. grvt-pysdk is not called (its clients are sync ``requests``,
``pysdk/grvt_raw_sync.py``, or asyncio, ``pysdk/grvt_ccxt_ws.py``); only our pure pieces are reused:
the protocol package :mod:`trio_hedge.protocols.grvt` (EIP-712 order signatures, every REST/WS shape, the error
mapping, the cookie, client order ids).

Sources: GRVT's API docs (https://api-docs.grvt.io/: authentication, hosts and the full/lite encodings;
https://api-docs.grvt.io/market_data_api/ and https://api-docs.grvt.io/trading_api/ for REST, including
``cancel_on_disconnect`` and the error codes; https://api-docs.grvt.io/market_data_streams/ and
https://api-docs.grvt.io/trading_streams/ for the WebSocket feeds and JSON-RPC), captured payloads under
``tests/fixtures/grvt/`` (origins in ``tests/fixtures/SOURCES.md``), and grvt-pysdk 0.2.1's source (PyPI
``grvt-pysdk``: ``pysdk/grvt_raw_*.py``, ``pysdk/grvt_ccxt_ws.py``).

Task tree (inside :func:`open_grvt_venue`'s nursery)::

    auth              refresh the ``gravity`` session cookie before it expires (API docs: Authentication)
    cancel-on-disc.   POST cancel_on_disconnect every ``cod_refresh_s`` while the session is open; 0 on close
    feed × symbol     market-data ``/ws/full``: subscribe ``v1.book.d`` (a snapshot, then deltas),
                      apply in-task to the local OrderBook with sequence checks (levels handed to the
                      book as decoded: ``OrderBook.apply_raw_*`` parses them); heartbeat; on a gap, a
                      malformed frame or a dead socket: book invalid, reconnect (market_data_streams:
                      deltas carry ``sequence_number``/``prev_sequence_number``; a gap needs a new snapshot)
    private stream    trades ``/ws/full`` (cookie + X-Grvt-Account-Id on the upgrade, as REST): subscribe
                      ``v1.order``/``v1.state``/``v1.fill``/``v1.position``, route events to bounded
                      per-symbol channels, carry JSON-RPC ``v1/create_order`` requests and their answers, all
                      read by one task (no reader task under ``private_ws = "wsproto"``, the default);
                      heartbeat; after a reconnect (or a private sequence gap) reconcile by REST

Order path: :meth:`GrvtVenue.place` signs the order (random nonce, expiration ``now + order_expiry_s``),
sends it as JSON-RPC over the trades WebSocket and waits ``order_ack_timeout_s`` for the answer; when that
socket is down it POSTs ``create_order`` instead. No answer, a broken connection after sending, a 5xx or a
garbled success body raise :class:`UnknownOutcome`; the order stays resolvable by client order id
(:meth:`order_status`), and a repeated ``place`` with the same id never sends a second order.

Cancel-on-disconnect policy: armed for the whole session (not only while orders rest), so an order placed
just before the process dies is covered too; refreshed every ``cod_refresh_s``, disabled (countdown 0) on
a clean close. Cost: one request per refresh (rate-limit cost 100 in ccxt's ``ccxt/grvt.py``).

Secrets: the API key, the private key and the session cookie never reach a log line, a repr or an
exception text. :meth:`GrvtSettings.secrets` and :meth:`GrvtVenue.secrets` list them for the app's
redaction; every new cookie is also registered with :func:`trio_hedge._redact.register_secret`.
"""

from __future__ import annotations

import http.cookiejar
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import trio

from ..._redact import register_secret
from ...protocols.grvt import GrvtSigner
from .._errors import VenueError, VenueUnavailable
from .._kernel import Reconciler
from .._ws import Backoff
from ._routes import _Routes
from ._session import _NoCookies
from ._settings import GrvtAccountSummary, GrvtSettings, parse_account_summary
from ._subscriptions import _Subscriptions


class GrvtVenue(_Routes, _Subscriptions):
    """A GRVT session implementing :class:`~trio_hedge.venues.Venue`. Create it with :func:`open_grvt_venue`.

    Made of :class:`~trio_hedge.venues.grvt._session._GrvtSession` (state, Venue accessors), its auth
    (``_auth.py``), REST routes and order path (``_routes.py``) and subscriptions (``_subscriptions.py``).
    """

    def __init__(self, settings: GrvtSettings, client: httpx.AsyncClient, signer: GrvtSigner) -> None:
        super().__init__(settings, client, signer)
        self._reconciler = Reconciler(
            self, self._gate, settings.symbols, live=lambda sym: [c for c, s in self._live.items() if s == sym],
            ours=self._order_symbols.__contains__, venue_time_ns=lambda: self._venue_clock_ns,
            backoff=Backoff(settings.backoff_min_s, settings.backoff_max_s), log=self._log,
        )  # fmt: skip

    # ------------------------------------------------------------------ close
    async def _close(self) -> None:
        """Disable cancel-on-disconnect (a clean close), then close the event channels. Shielded, bounded."""
        with trio.CancelScope(shield=True):
            with trio.move_on_after(self._s.close_timeout_s) as scope:
                if self._s.cod_countdown_ms and self._cookie is not None:
                    try:
                        await self._set_cancel_on_disconnect(0)
                    except VenueError as exc:
                        self._log.warning("could not disable cancel-on-disconnect: {}", exc)
            if scope.cancelled_caught:
                self._log.warning("cancel-on-disconnect not disabled within {}s", self._s.close_timeout_s)
        self._streams.close()

@asynccontextmanager
async def open_grvt_venue(settings: GrvtSettings) -> AsyncIterator[GrvtVenue]:
    """Open a GRVT session: log in, load the instruments, arm cancel-on-disconnect, start the private
    stream and one market-data feed per symbol; return once every book is synced and the private stream
    is subscribed (bounded by ``settings.open_timeout_s``). On exit: stop the tasks, disable
    cancel-on-disconnect, close the HTTP client (shielded, bounded by ``close_timeout_s``). Resting
    orders are not cancelled here (the engine flattens; COD covers a crash).

    Raises:
        BadValue: the private key is malformed (the text never contains it).
        AuthError: the API key is refused.
        VenueUnavailable: the venue could not be reached or the start did not finish in time.
        VenueError: a configured symbol is unknown (3000) or an answer is malformed.
    """
    for secret in settings.secrets():
        register_secret(secret)
    signer = GrvtSigner(settings.private_key)
    timeout = httpx.Timeout(settings.rest_timeout_s, connect=settings.connect_timeout_s)
    client = httpx.AsyncClient(
        timeout=timeout,
        headers={"Content-Type": "application/json"},
        cookies=http.cookiejar.CookieJar(policy=_NoCookies()),
        follow_redirects=False,
        trust_env=False,
    )
    venue = GrvtVenue(settings, client, signer)
    deadline = trio.current_time() + settings.open_timeout_s
    too_slow = VenueUnavailable(settings.name, f"session did not start within {settings.open_timeout_s}s", code="open")
    try:
        # Before the nursery, so that a refused key or an unknown symbol surfaces as itself, not in a group.
        with trio.move_on_at(deadline) as scope:
            await venue._login()
            await venue._load_instruments()
        if scope.cancelled_caught:
            raise too_slow
        async with trio.open_nursery() as nursery:
            with trio.move_on_at(deadline) as scope:
                await nursery.start(venue._run_auth)
                if settings.cod_countdown_ms:
                    await nursery.start(venue._run_cod)
                await nursery.start(venue._run_private)
                await nursery.start(venue._run_feeds)
            if scope.cancelled_caught:
                raise too_slow
            try:
                yield venue
            finally:
                nursery.cancel_scope.cancel()
    finally:
        try:
            await venue._close()
        finally:
            with trio.CancelScope(shield=True), trio.move_on_after(settings.close_timeout_s):
                await client.aclose()


__all__ = [
    "GrvtAccountSummary",
    "GrvtSettings",
    "GrvtVenue",
    "open_grvt_venue",
    "parse_account_summary",
]
