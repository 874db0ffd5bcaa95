"""The ``ccxt`` venue kind: the whole :class:`~trio_hedge.venues.Venue` interface on ccxt's unified async API
(``ccxt.pro``, https://docs.ccxt.com/#/ccxt.pro.manual), run on the asyncio bridge (:mod:`._bridge`).

Task tree (inside :func:`open_ccxt_venue`'s nursery)::

    feed × symbol       watch_order_book through a conflated bridge stream (the latest book wins) -> FeedBook;
                        a watch that fails (ccxt.pro reconnects by itself on the next call): book invalid.
                        Polled (no ``book_stream``): fetch_order_book every ``poll_interval_s``
    staleness × symbol  our own clock: no book within ``stale_s`` -> book invalid until the next one
    orders stream       watch_orders through a lossless bridge stream -> EventGate (order updates by rank).
                        Polled (no ``order_stream``): while an order of the session is live, one reconciliation
                        pass (statuses, then fills, then positions) every ``poll_interval_s``
    trades stream       watch_my_trades -> EventGate (each fill once by trade id). Without it (no ``fill_stream``)
                        the fills of an order are read over REST (fetch_my_trades) before the update that shows
                        it filled more, or by the order polls, and before every position read (``positions``)
    reconciler          the kernel's Reconciler after a private watch failed and came back
    watchdog            the kernel's PrivateWatchdog (ccxt has no cancel-on-disconnect); its sign of life: each
                        private batch, a probe of the connection that holds each private watch's subscription
                        (open, subscribed, a frame or pong within 2 x keepAlive: ccxt.pro pings every
                        keepAlive, set to a third of private_stream_budget_ms), each successful order poll

REST polling replaces a stream the exchange lacks (``has["watchOrderBook"]``, ``has["watchOrders"]``,
``has["watchMyTrades"]`` false) or one named in ``CcxtSettings.poll`` (``ccxt_poll`` in the config: a stream known
not to deliver). The venue then lacks that stream's capability (``book_stream``, ``order_stream``, ``fill_stream``:
``domain/_venue.py``) and the Venue contract suite checks the fallback. The rate budget: every polled REST call
waits its turn on one pacer per session, spaced at least ``1 / poll_rate_per_s`` apart (default
:data:`POLL_SHARE` of the exchange's published rate, ``1000 / rateLimit`` per second, ccxt's ``rateLimit`` in ms);
the rest of the venue's rate is left to the orders (``engine/_ratelimit.py``). A pass that finds its budget spent
waits for it, so the interval stretches rather than the rate; a polled book older than ``stale_s`` is invalid as a
streamed one is. Without ``cancelAllOrders``, cancel all is one ``cancel_order`` per open order
(``python -m trio_hedge venues`` lists each exchange's fallbacks).

Numbers: ccxt's string number mode (see :mod:`._convert`). Orders carry our client order id in ccxt's unified
``clientOrderId`` param; post-only as ``postOnly``, IOC as ``timeInForce = "IOC"``, reduce-only as ``reduceOnly``.
Errors: :mod:`._errors` (one table).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import ccxt
import ccxt.pro
import trio

from ...domain import VenueUnavailable
from .._kernel import PrivateWatchdog, Reconciler
from .._ws import Backoff
from ._bridge import AsyncioBridge, open_asyncio_bridge
from ._errors import Call, map_ccxt_error
from ._session import capture_response_headers
from ._settings import CcxtSettings, simulator_urls
from ._subscriptions import _keep_wakeups, _Subscriptions, _track_private, private_keepalive_ms


class CcxtVenue(_Subscriptions):
    """A venue session over one ccxt.pro client. Create it with :func:`open_ccxt_venue`.

    Capabilities: ``feed_heartbeat`` (staleness from our own clock invalidates a silent book), ``private_reconcile``
    and ``unknown_outcome``; ``post_only_reject_sync`` for the exchanges in :data:`SYNC_POST_ONLY_REJECT` (elsewhere
    a crossing post-only may be acked then rejected; a repeated ``place`` of it raises PostOnlyWouldCross);
    ``book_stream``, ``order_stream``, ``fill_stream`` for each stream it watches (the others are polled).

    Attributes:
        poll_interval_s (float): period of the REST polls that replace a missing stream, seconds.
        poll_rate_per_s (float): the most REST calls per second those polls spend.
        poll_calls (int): REST calls the polls made so far.
    """

    def __init__(self, settings: CcxtSettings, bridge: AsyncioBridge, client: Any) -> None:
        super().__init__(settings, bridge, client)
        self._watchdog = PrivateWatchdog(settings.name, self._feeds, budget_s=settings.timeouts.private_stream_budget_s,
                                         cancel_all=self.cancel_all, open_orders=self.open_orders, log=self._log)
        self._reconciler = Reconciler(self, self._gate, settings.symbols, live=lambda s: tuple(self._live[s]),
                                      ours=lambda cid: cid in self._sent, venue_time_ns=lambda: self._venue_time_ms *
                                      1_000_000, backoff=Backoff(0.1, 2.0), log=self._log)  # fmt: skip


def make_client(settings: CcxtSettings) -> Any:
    """The ccxt.pro client for ``settings`` (not connected: construction is offline), in string number mode."""
    cls = getattr(ccxt.pro, settings.ccxt_id, None)
    if cls is None:
        raise VenueUnavailable(settings.name, f"ccxt.pro has no exchange {settings.ccxt_id!r}")
    # ccxt's own throttle spaces every call by the exchange's rateLimit (100+ ms on some): off, the bot's limiter
    # (engine/_ratelimit.py, rate_limit_per_s) applies instead; a config may turn it back on
    client = cls({"enableRateLimit": False, **settings.config})
    client.number = str
    client.streaming = {**(client.streaming or {}),
                        "keepAlive": private_keepalive_ms(client, settings.timeouts.private_stream_budget_s)}
    _keep_wakeups(client)
    _track_private(client)
    capture_response_headers(client)
    if settings.urls:
        api = dict(client.urls.get("api") or {})
        api.update(settings.urls)
        client.urls["api"] = api
    return client


@asynccontextmanager
async def open_ccxt_venue(settings: CcxtSettings) -> AsyncIterator[CcxtVenue]:
    """Open a ccxt venue session: the bridge (shared), the client, its markets, one book per symbol (returns once
    every book is valid) and the private streams; on exit cancel them and close the client (bounded).

    Raises:
        VenueError (and subclasses): the markets or the positions (the credentials' check: one private read
        before the streams start) could not be loaded (through the error table; AuthError for refused
        credentials). KeyError: a configured symbol is not among the exchange's markets.
    """
    t = settings.timeouts
    async with open_asyncio_bridge(close_s=t.close_s) as bridge:
        client = make_client(settings)
        bridge.add_closer(client.close)
        try:
            with trio.fail_after(t.connect_s + t.request_s):
                await bridge.call(client.load_markets)
        except ccxt.BaseError as exc:
            raise map_ccxt_error(settings.name, exc, Call()) from None
        except trio.TooSlowError:
            raise VenueUnavailable(settings.name, "load_markets: no answer in time") from None
        for sym in settings.symbols:
            try:
                client.market(sym)
            except ccxt.BadSymbol:
                raise KeyError(f"{settings.ccxt_id} has no market {sym!r}") from None
        venue = CcxtVenue(settings, bridge, client)
        # the credentials, checked before any stream starts: one private read (loading the markets is public on
        # most exchanges, and a refused WebSocket subscription comes back as a plain ExchangeError)
        with trio.fail_after(t.connect_s + t.request_s):
            await venue._read_positions()
        async with trio.open_nursery() as nursery:
            with trio.fail_after(t.connect_s + t.request_s):
                if "order_stream" in venue.capabilities:
                    await nursery.start(venue._run_private, "watch_orders", venue._on_orders)
                else:
                    await nursery.start(venue._poll_orders)
                if venue.has_trade_stream:
                    await nursery.start(venue._run_private, "watch_my_trades", venue._on_trades)
                feed = venue._run_feed if "book_stream" in venue.capabilities else venue._poll_feed
                for sym in settings.symbols:
                    await nursery.start(feed, sym)
            for sym in settings.symbols:
                nursery.start_soon(venue._watch_stale, sym)
            nursery.start_soon(venue._reconciler.run)
            nursery.start_soon(venue._watchdog.run)
            if venue._private_up:
                nursery.start_soon(venue._probe_private)
            nursery.start_soon(venue._emit_positions)
            nursery.start_soon(venue._release_held)
            try:
                yield venue
            finally:
                nursery.cancel_scope.cancel()
                venue._streams.close()


__all__ = ["CcxtSettings", "CcxtVenue", "open_ccxt_venue", "simulator_urls"]
