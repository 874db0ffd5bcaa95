"""The state of one Backpack session (:class:`_BackpackSession`): the Venue accessors, what this session knows
of its orders, event delivery through the kernel's event gate, and the signed REST call (through the kernel's
:class:`~trio_hedge.venues._kernel.RestCaller`); the adapter's constants."""

from __future__ import annotations

import itertools
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import Final

import httpx
from loguru import logger

from ..._streams import SymbolEventStreams
from ...domain import ZERO, BadValue, Fill, Instrument, OrderRequest, OrderStatus, PositionUpdate, VenueEvent
from ...protocols.backpack import (
    BackpackProtocolError,
    BackpackSigner,
    BookTicker,
    ClientIdAllocator,
    decode_json,
    encode_json,
    error_from_order_report,
    error_from_response,
    instruction_for,
)
from .._base import OrderReport
from .._errors import InsufficientMargin, InvalidOrder, OrderRejected
from .._kernel import EventGate, FeedBook, PrivateWatchdog, Reconciler, RestCaller, VenueAccessors, retry_after_s
from ._settings import BackpackSettings

FILL_PAGE_LIMIT: Final = 1000
"""``limit`` of one ``GET /wapi/v1/history/fills`` page (the venue's maximum: ``fillHistoryQueryAll``,
https://docs.backpack.exchange/)."""

FILL_MAX_PAGES: Final = 20
"""Pages :meth:`BackpackVenue.fills_since` reads at most (20 000 fills)."""

RECONCILE_MARGIN_NS: Final = 2_000_000_000
"""Reconciliation asks for fills from this long (venue clock, ns) before the last event seen before a drop."""

DELTA_BUFFER_MAX: Final = 10_000
"""Depth deltas buffered while a snapshot is fetched, at most (oldest dropped; continuity checks catch it)."""

SYNC_ATTEMPTS: Final = 5
"""Snapshot + buffered-delta joins tried on one connection before it is dropped and opened again."""

ORDER_MEMORY: Final = 20_000
"""Order records kept for idempotent ``place`` and deduplication (oldest terminal ones forgotten first)."""


# Expiry reasons (OpenAPI ``OrderExpiryReason``, https://docs.backpack.exchange/) that mean "refused", for an
# unfilled EXPIRED order answer.
_REFUSAL_REASONS: Final[Mapping[str, type[OrderRejected]]] = {
    "ReduceOnlyNotReduced": InvalidOrder,
    "InsufficientMargin": InsufficientMargin,
    "InsufficientFunds": InsufficientMargin,
    "PriceOutOfBounds": InvalidOrder,
    "InvalidPrice": InvalidOrder,
    "InvalidQuantity": InvalidOrder,
}

@dataclass(slots=True)
class _OrderState:
    """What this session knows about one order (ours, or seen on the stream)."""

    symbol: str
    request: OrderRequest | None = None
    venue_order_id: str | None = None
    send: str = "none"  # none | sending | acked | unknown | refused
    last_report: OrderReport | None = None

class _BackpackSession(VenueAccessors):
    """The state of a Backpack session and what every part of the adapter uses: the Venue accessors, the orders
    this session holds, event delivery through the kernel's gate, the signed REST call.
    :class:`~trio_hedge.venues.backpack.BackpackVenue` is made of it, its routes and its subscriptions."""

    def __init__(self, settings: BackpackSettings, signer: BackpackSigner, http: httpx.AsyncClient) -> None:
        self.name = settings.name
        self._settings = settings
        self._signer = signer
        self._http = http
        self._secrets = tuple(s for s in settings.secrets() if s)
        self._log = logger.bind(tag=settings.name.upper())
        self._rest = RestCaller(
            settings.name, budget_s=settings.request_budget_s, read_attempts=settings.read_attempts,
            backoff_min_s=settings.reconnect_min_s, backoff_max_s=settings.reconnect_max_s,
            protocol_errors=(BackpackProtocolError, BadValue), log=self._log,
        )  # fmt: skip
        self._instruments: dict[str, Instrument] = {}
        symbols = settings.symbols
        self._feeds = {s: FeedBook(s) for s in symbols}
        self._tickers: dict[str, BookTicker] = {}
        self._streams = SymbolEventStreams(settings.name, symbols, settings.event_capacity)
        self._ids = ClientIdAllocator()
        self._orders: OrderedDict[tuple[str, str], _OrderState] = OrderedDict()
        self._gate = EventGate(self._streams, on_terminal=lambda _symbol, cid: self._release(cid))
        self._venue_ts_ns = 0  # latest venue timestamp seen (private events, depth), ns
        self._fill_frame: str | bytes | None = None  # the last orderFill frame (rehearse_fill decodes it)
        # private stream health
        self._private_connected = False
        self._watchdog: PrivateWatchdog  # made by BackpackVenue, whose REST calls it uses
        self._reconciler: Reconciler  # likewise
        # Bound of a WebSocket close handshake: a socket that missed its pong will not answer a close either.
        self._close_ws_s = min(1.0, settings.heartbeat_timeout_s)

    def secrets(self) -> tuple[str, ...]:
        """The values to redact from logs (the settings' API key and secret)."""
        return self._settings.secrets()

    def __repr__(self) -> str:
        symbols = list(self._settings.symbols)
        return f"BackpackVenue(name={self.name!r}, symbols={symbols!r}, key_id={self._signer.key_id!r})"

    def ticker(self, symbol: str) -> BookTicker | None:
        """The last ``bookTicker`` (best bid/ask) the public stream sent for ``symbol``, or None. It is a
        separately sequenced stream: the book (``book(symbol)``) stays the source of truth for trading."""
        return self._tickers.get(symbol)

    def _state(self, symbol: str, client_order_id: str) -> _OrderState:
        key = (symbol, client_order_id)
        st = self._orders.get(key)
        if st is None:
            st = _OrderState(symbol)
            self._orders[key] = st
            self._forget_old_orders()
        return st

    def _forget_old_orders(self) -> None:
        excess = len(self._orders) - ORDER_MEMORY
        if excess <= 0:
            return
        for key in list(itertools.islice(self._orders, excess * 2)):
            st = self._orders[key]
            if self._gate.is_terminal(*key) or st.send == "refused":
                self._orders.pop(key, None)
                excess -= 1
                if excess <= 0:
                    return

    async def _deliver(self, event: VenueEvent) -> None:
        """Route one stream event to its symbol's channel through the kernel's event gate (each fill once,
        order updates only when they advance, positions only when they changed)."""
        if event.ts_ns > self._venue_ts_ns:
            self._venue_ts_ns = event.ts_ns
        if isinstance(event, PositionUpdate):
            await self._gate.position(event)
        elif isinstance(event, Fill):
            await self._gate.fill(event)
        else:
            if event.client_order_id and event.venue_order_id:
                st = self._state(event.symbol, event.client_order_id)
                if st.venue_order_id is None:
                    st.venue_order_id = event.venue_order_id
            await self._gate.update(event)

    def _release(self, client_order_id: str) -> None:
        try:
            self._ids.release(client_order_id)
        except BadValue:
            pass

    def _live(self, symbol: str) -> list[str]:
        """Client order ids this session holds live in ``symbol`` (their statuses are reconciled)."""
        return [cid for (sym, cid), st in list(self._orders.items())
                if sym == symbol and cid and st.send in ("acked", "unknown", "none")
                and not self._gate.is_terminal(sym, cid)]  # fmt: skip

    # ------------------------------------------------------------------ REST call
    def _scrub(self, text: str) -> str:
        for s in self._secrets:
            if len(s) >= 6 and s in text:
                text = text.replace(s, "***")
        return text

    async def _call(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, str] | None = None,
        body: dict[str, object] | None = None,
        signed: bool = True,
        write: bool = False,
    ) -> tuple[int, object | None]:
        """One HTTP exchange through the kernel's :class:`RestCaller` (its read/write semantics, the module
        docstring): under ``request_budget_s``, a read tried ``read_attempts`` times. Returns ``(status, decoded
        JSON or None)`` for a 2xx.

        Raises:
            The mapped VenueError (module docstring); for reads, UnknownOutcome becomes VenueUnavailable.
        """
        headers: dict[str, str] = {}
        content: bytes | None = None
        if body is not None:
            content = encode_json(body)
            headers["Content-Type"] = "application/json; charset=utf-8"
        if signed:
            headers.update(
                self._signer.headers(
                    instruction_for(method, path),
                    body if body is not None else query,
                    timestamp_ms=time.time_ns() // 1_000_000,
                    window_ms=self._settings.window_ms,
                )
            )
        send = partial(self._http.request, method, path, params=query, content=content, headers=headers)
        return await self._rest.call(f"{method} {path}", send, self._decode, write=write)

    def _decode(self, response: httpx.Response) -> tuple[int, object | None]:
        """A 2xx answer -> ``(status, decoded JSON or None)`` (a 202 or an empty body: None); any other status
        -> raise its mapped error (:func:`error_from_response`; the body scrubbed of our secrets)."""
        status = response.status_code
        raw = response.content
        if 200 <= status < 300:
            if status == 202 or not raw.strip():
                try:
                    return status, decode_json(raw, venue=self.name) if raw.strip() else None
                except BackpackProtocolError:
                    return status, None
            return status, decode_json(raw, venue=self.name)
        body_text = self._scrub(raw[:2000].decode("utf-8", "replace"))
        raise error_from_response(
            status, body_text, venue=self.name, retry_after_s=retry_after_s(response.headers.get("Retry-After"))
        )


def _refusal(venue: str, report: OrderReport) -> OrderRejected | None:
    """The rejection an ``Expired``, unfilled order answer stands for (post-only taker, reduce-only...), else None."""
    rejection = error_from_order_report(report, venue=venue)
    if rejection is not None:
        return rejection
    if report.status is OrderStatus.EXPIRED and report.filled_size == ZERO:
        cls = _REFUSAL_REASONS.get(report.reason)
        if cls is not None:
            return cls(venue, f"order {report.client_order_id or report.venue_order_id} expired: {report.reason}",
                       code=report.reason)
    return None
