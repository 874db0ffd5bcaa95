"""The state of one ccxt venue session (:class:`_CcxtSession`): the client, the id maps, the event gate and the
feeds, and the one ccxt call helper (``_call``: the bridge, the request budget, the error table, the poll pacer)."""

from __future__ import annotations

import contextvars
import itertools
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import ccxt
import trio
from loguru import logger

from ..._streams import SymbolEventStreams
from ...domain import Capability, OrderUpdate, UnknownOutcome, VenueUnavailable
from .._kernel import EventGate, FeedBook, PrivateWatchdog, Reconciler, VenueAccessors, retry_after_s
from . import _convert as cv
from ._bridge import AsyncioBridge, AsyncioCancelled
from ._errors import Call, map_ccxt_error
from ._settings import POLL_SHARE, POLLABLE, SYNC_POST_ONLY_REJECT, CcxtSettings

_POLLING: contextvars.ContextVar[bool] = contextvars.ContextVar("ccxt_polling", default=False)
"""Set in the tasks that poll: their REST calls wait on the session's poll pacer (the rate budget)."""

_RESPONSE_HEADERS: contextvars.ContextVar[Mapping[str, Any] | None] = contextvars.ContextVar(
    "ccxt_response_headers", default=None)
"""The headers of the latest REST response of the asyncio task that reads it (set by
:func:`capture_response_headers`)."""


def capture_response_headers(client: Any) -> None:
    """Keep each REST response's headers in the context of the asyncio task that made the request: ccxt calls
    ``on_rest_response`` in that task, before it raises the response's error (``fetch`` in
    ``ccxt/async_support/base/exchange.py``). ccxt's own ``last_response_headers`` is one per client, overwritten
    by whichever concurrent request answers last, so a call's ``Retry-After`` is read from its own response."""
    on_rest_response = client.on_rest_response

    def capturing(code: Any, reason: Any, url: Any, method: Any, response_headers: Any, response_body: Any,
                  request_headers: Any, request_body: Any) -> Any:
        _RESPONSE_HEADERS.set(response_headers)
        return on_rest_response(code, reason, url, method, response_headers, response_body, request_headers,
                                request_body)  # fmt: skip

    client.on_rest_response = capturing


def _retry_after_of(headers: Mapping[str, Any] | None) -> float | None:
    """The ``Retry-After`` of a response's ``headers`` (the name in any case) in seconds, as every adapter reads it
    (the kernel's :func:`~trio_hedge.venues._kernel.retry_after_s`), or None."""
    value = next((v for k, v in (headers or {}).items() if str(k).lower() == "retry-after"), None)
    return retry_after_s(str(value)) if value is not None else None


@dataclass(frozen=True, slots=True)
class _Refused:
    """A ccxt call's error, with the ``Retry-After`` of its own response (seconds or None)."""

    error: ccxt.BaseError
    retry_after_s: float | None


async def _answer(fn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
    """Run on the asyncio side: ``await fn(*args)``, or the ccxt error it raised as a :class:`_Refused` carrying the
    ``Retry-After`` its own response gave (read in its own task, before another call can answer)."""
    _RESPONSE_HEADERS.set(None)
    try:
        return await fn(*args)
    except ccxt.BaseError as exc:
        return _Refused(exc, _retry_after_of(_RESPONSE_HEADERS.get()))


class _CcxtSession(VenueAccessors):
    """The state and helpers of a ccxt venue session, shared by its routes (``_routes.py``) and its streams and
    polls (``_subscriptions.py``); :class:`~trio_hedge.venues.ccxt._adapter.CcxtVenue` adds the watchdog and the
    reconciler, which call back into both."""

    _watchdog: PrivateWatchdog
    _reconciler: Reconciler

    def __init__(self, settings: CcxtSettings, bridge: AsyncioBridge, client: Any) -> None:
        self.name = settings.name
        caps: set[Capability] = {"feed_heartbeat", "private_reconcile", "unknown_outcome"}
        if settings.ccxt_id in SYNC_POST_ONLY_REJECT:
            caps.add("post_only_reject_sync")
        for watch, cap in POLLABLE.items():
            if client.has.get(watch) and watch not in settings.poll:
                caps.add(cap)  # type: ignore[arg-type]
        self.capabilities: frozenset[Capability] = frozenset(caps)
        self.poll_interval_s = settings.poll_interval_s or settings.timeouts.heartbeat_s
        published_per_s = 1000.0 / max(float(client.rateLimit or 1000), 1.0)
        self.poll_rate_per_s = settings.poll_rate_per_s or POLL_SHARE * published_per_s
        self.poll_calls = 0
        self._poll_next_s = 0.0
        self._settings = settings
        self._bridge = bridge
        self._x = client
        self._log = logger.bind(tag=settings.name.upper())
        self._instruments = {}
        self._unified: dict[str, str] = {}
        self._ours_by_unified: dict[str, str] = {}
        self._contract: dict[str, Decimal] = {}
        for sym in settings.symbols:
            market = client.market(sym)
            self._unified[sym] = market["symbol"]
            self._ours_by_unified[market["symbol"]] = sym
            self._contract[sym] = cv.dec(market.get("contractSize") or 1, "contractSize")
            self._instruments[sym] = cv.instrument(settings.name, sym, market, client.precisionMode)
        self._feeds = {s: FeedBook(s) for s in settings.symbols}
        self._streams = SymbolEventStreams(settings.name, settings.symbols, settings.event_capacity)
        self._gate = EventGate(self._streams, on_terminal=self._terminal)
        self._cid_by_vid: dict[str, str] = {}
        self._vid_by_cid: dict[str, str] = {}
        self._live: dict[str, set[str]] = {s: set() for s in settings.symbols}
        self._sent: set[str] = set()
        self._post_only: set[str] = set()
        self._pending_trades: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        self._filled: dict[str, Decimal] = {}  # cid -> size of the fills emitted for it
        self._position_kick = trio.Event()
        self._held: dict[str, tuple[OrderUpdate, float]] = {}  # cid -> (update waiting for its fills, since)
        self._held_kick = trio.Event()
        self._venue_time_ms = 0
        self._ids = itertools.count(1)
        self._id_base = random.randrange(1, 2**31 - 2**24)
        self.has_trade_stream = "fill_stream" in caps
        self._live_kick = trio.Event()
        self._private_up: dict[str, bool] = {}  # watched private stream -> subscribed and not failed since

    # ------------------------------------------------------------------ helpers
    def secrets(self) -> list[str]:
        return self._settings.secrets()

    def _terminal(self, symbol: str, cid: str) -> None:
        self._live[symbol].discard(cid)

    async def _call(self, method: str, *args: Any, write: bool = False, post_only: bool = False) -> Any:
        """``client.<method>(*args)`` on the bridge within ``request_s``; ccxt errors through the table, with the
        ``Retry-After`` of the call's own response (:func:`capture_response_headers`). A write past the budget is
        UnknownOutcome (it may have reached the venue), a read VenueUnavailable."""
        fn: Callable[..., Awaitable[Any]] = getattr(self._x, method)
        if _POLLING.get():
            await self._poll_turn()
        with trio.move_on_after(self._settings.timeouts.request_s) as scope:
            try:
                answer = await self._bridge.call(_answer, fn, *args)
            except AsyncioCancelled as exc:
                raise VenueUnavailable(self.name, f"{method}: {exc}") from None
            if isinstance(answer, _Refused):
                call = Call(write, post_only, answer.retry_after_s, cancel=method.startswith("cancel"))
                raise map_ccxt_error(self.name, answer.error, call) from None
            return answer
        assert scope.cancelled_caught
        msg = f"{method}: no answer within {self._settings.timeouts.request_s}s"
        raise (UnknownOutcome if write else VenueUnavailable)(self.name, msg, code="timeout")

    async def _poll_turn(self) -> None:
        """Wait for a polled call's turn: polled calls are spaced ``1 / poll_rate_per_s`` apart (the budget)."""
        now = trio.current_time()
        at = max(now, self._poll_next_s)
        self._poll_next_s = at + 1.0 / self.poll_rate_per_s
        self.poll_calls += 1
        await trio.sleep_until(at)

    def _cid_of(self, order: dict[str, Any]) -> str:
        cid = order.get("clientOrderId")
        vid = order.get("id")
        if cid is not None and str(cid) != "":
            cid = str(cid)
            if vid is not None:
                self._remember(cid, str(vid))
            return cid
        return self._cid_by_vid.get(str(vid), "") if vid is not None else ""

    def _remember(self, cid: str, vid: str) -> None:
        # the latest id wins; a placeholder id is not an id (GRVT acks "0x00" while the order is pending)
        if vid.strip("0x") == "":
            return
        self._vid_by_cid[cid] = vid
        self._cid_by_vid[vid] = cid

    def _ours(self, unified: str | None) -> str | None:
        return self._ours_by_unified.get(unified or "")

    @property
    def session_down(self) -> str | None:
        """Why the session is down as a whole (the private streams silent past their budget), or None
        (``engine/_portfolio.py``)."""
        return self._watchdog.down_reason
