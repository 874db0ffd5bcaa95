"""The journal at the venue boundary: a :class:`Venue` decorator that commits an order intent before every
order is sent and reports every answer and private-stream event to a :class:`Recorder`.

Why here (persistence before send: an order's intent is durable before the order can exist): every order the engine
sends (hedger quotes, hedge and unwind slices of the router, the cleanup's flatten, reconciliation's flatten)
goes through ``Venue.place``; wrapping the venue once covers all of them without the engine's order paths
knowing about the journal. :meth:`JournaledVenue.place` awaits :meth:`Recorder.record_intent` (committed:
in the OS, it survives a crash of the process) and only then calls the venue; a retry of the same client order
id (``submit_order`` reuses it) does not record it twice. With a :class:`ClientIdSource` the venue's client order
ids come from blocks the journal reserved durably (fsynced), which cover an OS crash or power loss (the app's
``app/_idblocks.py``).

Hedge intents: a hedge order (``reason == "hedge"``, the router's IOC slices on the fill-to-hedge path) whose
client order id comes from a durable block may have its intent queued instead (the recorder's optional
``post_intent``; the app's ``journal.queue_hedge_intents``): queued ahead of every report of that order, so
the recorder's writer commits it a few milliseconds later, after the order's frame is out, and before anything
it reports about the order. The journal never holds a hedge back anyway (a journal that is down lets hedges go,
logged with every field); what the queue changes is a crash of the process in those milliseconds: the order
then has no intent, and the next start's reconciliation finds it by its reserved id (``recon.lost_intent``),
cancels it or flattens its fill, as after a power loss. Quotes, unwinds, flattens and every order without a
reserved id still commit their intent before the send.

Reports are posted without blocking (:meth:`Recorder.post_report`, :meth:`Recorder.post_event`,
:meth:`Recorder.post_fills`): the place acknowledgement, every status query answer, open-order lists, fill
histories, and every event of the private stream (the tracker reads the stream through a thin proxy, no
extra channel hop). The recorder writes them in order on its own task.

Layering: the engine defines the :class:`Recorder` protocol; the app implements it over the SQLite journal
(``app/_reconcile.py`` ``JournalRecorder``).
"""

from __future__ import annotations

from typing import Any, Protocol

import trio

from ..domain import ZERO, Fill, OrderRequest, OrderStatus, Side, VenueEvent
from ..venues import OrderRejected, OrderReport, Venue


class Recorder(Protocol):
    """Where the engine reports orders, fills and cycles (the app's journal).

    ``record_intent``, ``cycle_started`` and ``cycle_ended`` are awaited (committed before they return);
    the ``post_*`` methods must not block or raise (they queue). Optional: ``rehearse_intent(venue_key,
    request, market) -> None``, ``record_intent``'s write rolled back, never waiting, nothing recorded
    (:meth:`JournaledVenue.rehearse_place` calls it where it exists; ``engine/_rehearse.py``); and
    ``queue_hedge_intents`` (bool attribute) with ``post_intent(venue_key, request, market) -> None``: while
    True, a hedge order whose client order id comes from a durable block is handed to ``post_intent``, which
    queues its intent ahead of its reports instead of :meth:`record_intent` being awaited before the send (the
    module docstring, "Hedge intents"); it must not block or raise.
    """

    async def record_intent(self, venue_key: str, request: OrderRequest, market: str | None) -> None:
        """Commit the intent for ``request`` on ``venue_key`` before it is sent."""

    def post_report(self, venue_key: str, report: OrderReport) -> None:
        """Queue a venue answer about one order (place ack, status query, open-order list)."""

    def post_event(self, venue_key: str, event: VenueEvent) -> None:
        """Queue a private-stream event (order update, fill, position update)."""

    def post_fills(self, venue_key: str, fills: list[Fill]) -> None:
        """Queue fills read from the venue's fill history."""

    def post_note(self, kind: str, detail: str) -> None:
        """Queue a journal event of ``kind`` (``hedge``, ``state``, ``pause``...) with ``detail`` (JSON text for
        the engine's own kinds): what the operator tools (``status``, ``report``) read back."""

    async def cycle_started(self, market: str, index: int, side: Side) -> None:
        """Record the start of cycle ``index`` of ``market``; intents of that market belong to it until it ends."""

    async def cycle_ended(self, market: str, index: int, outcome: str, detail: str = "") -> None:
        """Record how the market's open cycle ``index`` ended; a no-op when it is not open (already ended:
        ``run_market`` calls it again after its cleanup for a cycle cut short)."""


class ClientIdSource(Protocol):
    """Client order ids from blocks the journal reserved durably (the app's ``app/_idblocks.py``
    ``ReservedIds``): ``next_id`` on the order path, ``ready`` before an id's intent (its block is durable),
    ``refill`` after a send (reserves the next block off the send path)."""

    def next_id(self) -> str:
        """The next client order id in the venue's format."""

    async def ready(self, client_order_id: str) -> None:
        """Return once the block holding ``client_order_id`` is durably reserved."""

    async def refill(self) -> None:
        """Reserve the next block if one is due."""


class _RecordingReceiveChannel(trio.abc.ReceiveChannel[VenueEvent]):
    """A pass-through view of a venue's event channel that posts each event to the recorder as it is read."""

    def __init__(self, inner: trio.abc.ReceiveChannel[VenueEvent], recorder: Recorder, key: str) -> None:
        self._inner = inner
        self._recorder = recorder
        self._key = key

    async def receive(self) -> VenueEvent:
        event = await self._inner.receive()
        self._recorder.post_event(self._key, event)
        return event

    def receive_nowait(self) -> VenueEvent:
        """What is queued, without waiting (the tracker drains a burst this way). Raises trio.WouldBlock (also
        always when the inner channel cannot be read without waiting: a wrapper's view), trio.EndOfChannel."""
        take_now = getattr(self._inner, "receive_nowait", None)
        if take_now is None:
            raise trio.WouldBlock
        event: VenueEvent = take_now()
        self._recorder.post_event(self._key, event)
        return event

    def clone(self) -> _RecordingReceiveChannel:  # pragma: no cover - the tracker never clones
        return _RecordingReceiveChannel(self._inner.clone(), self._recorder, self._key)  # type: ignore[attr-defined]

    async def aclose(self) -> None:
        await self._inner.aclose()


class JournaledVenue:
    """``inner`` with every order intent committed to ``recorder`` before it is sent (a hedge's, with a reserved id,
    possibly queued instead: the module docstring, "Hedge intents").

    Args:
        inner: the venue session.
        recorder: the journal.
        key: the venue's name in the journal (the account: the venue name for a live venue; a per-process
            name for an embedded simulator, which lives only as long as the process).
        market: the market whose current cycle owns this venue's intents (None: no cycle).
        ids: where client order ids come from (blocks reserved durably in the journal); None: the inner
            venue's own ``new_client_order_id``.

    Every other attribute is the inner venue's. Errors are the inner venue's, plus whatever
    ``recorder.record_intent`` raises (then nothing was sent).
    """

    def __init__(self, inner: Venue, recorder: Recorder, key: str, market: str | None = None,
                 ids: ClientIdSource | None = None) -> None:
        self.inner = inner
        self.ids = ids
        self.recorder = recorder
        self.key = key
        self.market = market
        self.name = inner.name
        self._recorded: set[str] = set()

    def __getattr__(self, item: str) -> Any:
        if item == "inner":
            raise AttributeError(item)
        return getattr(self.inner, item)

    def new_client_order_id(self) -> str:
        return self.ids.next_id() if self.ids is not None else self.inner.new_client_order_id()

    def events(self, symbol: str) -> Any:
        return _RecordingReceiveChannel(self.inner.events(symbol), self.recorder, self.key)

    async def place(self, request: OrderRequest) -> OrderReport:
        coid = request.client_order_id
        ids = self.ids
        if coid not in self._recorded:
            if ids is not None:
                await ids.ready(coid)
            # A hedge's intent may be queued ahead of its reports instead of committed before its send: its id
            # comes from a durable block, which marks the order as ours if the process dies before the writer
            # commits it (the module docstring, "Hedge intents")
            if self._queues_intent(request):
                self.recorder.post_intent(self.key, request, self.market)  # type: ignore[attr-defined]
            else:
                await self.recorder.record_intent(self.key, request, self.market)
            self._recorded.add(coid)
        try:
            report = await self.inner.place(request)
        except OrderRejected as exc:
            # the venue definitively refused it: journal that, or the intent stays in flight until a status
            # query at exit (which a venue such as Backpack cannot answer for an order it never accepted)
            self.recorder.post_report(self.key, _rejected(request, exc))
            raise
        self.recorder.post_report(self.key, report)
        if ids is not None:
            await ids.refill()  # the order's frame is out: the next id block's fsync waits only for its ack
        return report

    def _queues_intent(self, request: OrderRequest) -> bool:
        """Whether ``request``'s intent is queued rather than committed before its send ("Hedge intents")."""
        return (self.ids is not None and request.reason == "hedge"
                and getattr(self.recorder, "queue_hedge_intents", False) is True)

    def rehearse_place(self, request: OrderRequest) -> None:
        """Everything :meth:`place` does before the send but durably nothing (``engine/_rehearse.py``): the
        intent's transaction rolled back (the recorder's ``rehearse_intent``, where it has one, unless the intent
        would be queued: then it is not on the send path), then the inner venue's ``rehearse_place`` (where it
        has one). Raises what those raise."""
        rehearse_intent = getattr(self.recorder, "rehearse_intent", None)
        if rehearse_intent is not None and not self._queues_intent(request):
            rehearse_intent(self.key, request, self.market)
        rehearse = getattr(self.inner, "rehearse_place", None)
        if rehearse is not None:
            rehearse(request)

    async def order_status(self, symbol: str, client_order_id: str) -> OrderReport | None:
        report = await self.inner.order_status(symbol, client_order_id)
        if report is not None:
            self.recorder.post_report(self.key, report)
        return report

    async def open_orders(self, symbol: str) -> list[OrderReport]:
        reports = await self.inner.open_orders(symbol)
        for r in reports:
            self.recorder.post_report(self.key, r)
        return reports

    async def fills_since(self, symbol: str, since_ns: int) -> list[Fill]:
        fills = await self.inner.fills_since(symbol, since_ns)
        self.recorder.post_fills(self.key, fills)
        return fills


def _rejected(request: OrderRequest, exc: OrderRejected) -> OrderReport:
    """The report journaled for an order the venue refused (its error class and text as the reason; venue
    error texts carry no credentials: the adapters build them from the venue's error body)."""
    return OrderReport(
        client_order_id=request.client_order_id,
        venue_order_id=None,
        symbol=request.symbol,
        side=request.side,
        size=request.size,
        price=request.price,
        status=OrderStatus.REJECTED,
        filled_size=ZERO,
        reduce_only=request.reduce_only,
        post_only=request.post_only,
        reason=f"{type(exc).__name__}: {exc}"[:200],
    )
