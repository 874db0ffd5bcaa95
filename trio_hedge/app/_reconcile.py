"""The journal in the running bot (:class:`JournalRecorder`) and startup reconciliation (:func:`reconcile`).

``JournalRecorder`` implements the engine's :class:`~trio_hedge.engine.Recorder` over an
:class:`~trio_hedge.app.AsyncJournal` (its own thread: the event loop never waits on an fsync except for the
one write that must precede a send):

* intents: :meth:`JournalRecorder.record_intent` is awaited by ``JournaledVenue.place`` before every order
  is sent (committed in WAL mode with ``synchronous=NORMAL``: in the OS, so it survives ``kill -9``; a power
  loss is covered by the client-order-id blocks, ``app/_idblocks.py``), tagged with the market's open cycle;
* status changes and fills are queued without blocking (a bounded deque; when full, a report is spilled to
  the log with every field, never dropped silently and never blocking the producer: the private stream's order
  events must not wait on the disk) and written in arrival order by
  :meth:`JournalRecorder.run`, on a second connection (its own thread) when one is given, and held back
  while an intent is being committed: an intent then never waits behind a report's write. At exit the run
  also records each venue's fill history (``_run.py``), which catches fills still unread in the stream.
  Fills are keyed by the venue's trade id (idempotent); an intent's status
  follows the venue's reports and its fills (PARTIALLY_FILLED, FILLED); a report less advanced than the
  recorded status (an ack after the fill) is skipped, as the order tracker does;
* cycles: started and ended (awaited, one write each, off the hedge path).

``reconcile`` runs after the venue sessions are up and before any trading (a missing report never counts as flat;
tests/test_reconcile.py and scripts/chaos_kill9.py exercise it):

1. read, touching nothing: every in-flight intent of the journal, and for each leg the venue's open orders,
   positions, fills since the last checkpoint (kept :data:`FILL_CHECKPOINT_MARGIN_NS` behind the newest fill
   read: a venue's fill times are not in report order), and the status of each in-flight intent by client
   order id.
   A venue that cannot be read within the deadline is :class:`VenueUnreadable` (exit 75; 78 when it refused
   the credentials: a restart cannot fix that): a missing report is never "flat", and no order is sent;
2. record the fills the journal missed (by trade id) and resolve every in-flight intent from the venue's
   report (its status by client order id, else its entry among the open orders, else its fills). One the
   venue does not report is looked for again every second until a grace after its send ends
   (``journal.reconcile_grace_ms``, default 5 s: a venue's reads can lag an order sent just before a crash);
   only then is it recorded as never accepted: REJECTED, or EXPIRED once acknowledged;
3. cancel every open order (the journal's own and, logged as orphans, those it does not know) and, by its
   client order id, every in-flight intent the venue never reported (harmless if it never arrived; it stops
   one that arrives late). An open order or a fill whose client order id lies in a block the journal reserved
   (``app/_idblocks.py``) but that has no intent is ours, its intent lost (an OS crash or power loss after a
   ``synchronous=NORMAL`` commit): recorded as ``recon.lost_intent`` and counted in
   :attr:`ReconcileReport.lost_intent`; the order is cancelled and the position flattened as any other;
4. flatten any residual position with the engine's reduce-only flatten (its orders are journaled like any
   other), and read the position back: not flat is :class:`~trio_hedge.engine.NotFlat` (exit 3);
5. record each finding as a journal event (``recon.*``) and log it; set the fill checkpoint.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

import trio
from loguru import logger

from ..domain import ZERO, BadValue, Fill, IllegalTransition, OrderRequest, OrderStatus, OrderUpdate, Side, VenueEvent
from ..engine import (
    EXIT_CONFIG,
    EXIT_JOURNAL_DOWN,
    EXIT_VENUE_UNREACHABLE,
    EngineError,
    FlattenResult,
    JournalDown,
    JournaledVenue,
    LatencyHistogram,
    NotFlat,
    RateLimitedVenue,
    RetryPolicy,
    call_venue,
    credentials_fix,
)
from ..engine._flatten import flatten_position
from ..venues import AuthError, OrderReport, Venue, VenueError
from ._idblocks import in_blocks
from ._journal import (
    AsyncJournal,
    DuplicateIntent,
    IntentRow,
    JournalConflict,
    JournalError,
    JournalIOError,
    UnknownRecord,
)


class VenueUnreadable(EngineError):
    """A venue could not be read during reconciliation: do not trade (exit 75, restart later; 78 when the venue
    refused the credentials, ``credentials``: a restart cannot fix them)."""

    exit_code = EXIT_VENUE_UNREACHABLE

    def __init__(self, detail: str, *, credentials: bool = False) -> None:
        super().__init__(detail)
        if credentials:
            self.exit_code = EXIT_CONFIG


@dataclass(slots=True)
class _Intent:
    size: Decimal
    status: OrderStatus = OrderStatus.PENDING
    filled: Decimal = ZERO


_RISK_REDUCING: frozenset[str] = frozenset({"hedge", "unwind", "flatten", "reconcile"})
"""Order reasons that reduce risk: sent even when the journal is down (logged with every field instead)."""

REPORT_DEFER_S = 0.005
"""How long the recorder's writer waits, once reports arrive in an empty queue, before writing them, s: a
fill's status and fill reports reach the queue before the hedge's order intent reaches the journal (a few
hundred microseconds later), and a report write then holding the journal's thread would send the intent the
slow way round (through the thread, ~1 ms in the running bot, instead of inline on the loop, tens of us)."""

DEFAULT_REPORT_CAPACITY = 4096
"""Default bound of the recorder's report queue (``journal.report_queue_capacity``)."""


def _spill_text(item: tuple[str, str, Any]) -> str:
    """Every field of a queued report, for the log (a Fill's repr has them all)."""
    kind, key, payload = item
    if kind == "fill":
        return f"{kind} venue_key={key} {payload!r}"
    if kind == "note":  # an operator event (post_note): key is its kind, payload its detail
        return f"event {key}: {payload}"
    if kind == "intent":  # a queued hedge intent (post_intent): the request and its cycle
        request, cycle_id = payload
        return f"intent venue_key={key} cycle_id={cycle_id} {request!r}"
    coid, status, reason, venue_order_id = payload
    return (f"{kind} venue_key={key} client_order_id={coid} status={OrderStatus(status).value} reason={reason!r} "
            f"venue_order_id={venue_order_id}")


class JournalRecorder:
    """The engine's :class:`~trio_hedge.engine.Recorder` over ``journal`` (intents, cycles) and ``reports``
    (queued status changes and fills; default ``journal``: another AsyncJournal on the same file gives them a
    thread of their own). Run :meth:`run` as a task for the queued writes; call :meth:`drain` (shielded and
    bounded) at the end.

    Report queue: bounded by ``capacity``. Its overflow policy is to spill, never to block or drop: a report
    posted while the queue is full is written to the log at WARNING with every field, marked
    ``SPILLED (not journaled)``, and counted (``counts["spilled"]``); the private stream that posts it never
    waits on the disk. What a spilled report said is still on the venue: the exit step reads the venues' fill
    history and the status of every intent in flight, and the next start's reconciliation does the same.

    Hedge intents (``queue_hedge_intents``, ``journal.queue_hedge_intents``): :meth:`post_intent` queues a hedge
    order's intent in the same queue, ahead of every report of that order, instead of it being committed before
    the send (``engine/_journaled.py``, "Hedge intents"); the writer commits it as it comes (counted in
    ``counts["intents"]`` and ``counts["intents_queued"]``, not in :attr:`intent_latency`).

    Journal down: the first :class:`~trio_hedge.app.JournalIOError` (any ``sqlite3.Error`` the journal met)
    puts the recorder in the journal-down state for the rest of the run (:attr:`down`), logged once at ERROR.
    Then :meth:`record_intent` refuses a new quote with :class:`~trio_hedge.engine.JournalDown` (the market
    fails and its cleanup flattens: no new risk) but lets risk-reducing orders go (hedges of fills taken,
    unwinds, the cleanup's flatten, reconciliation's), logging each with every field, marked
    ``UNJOURNALED``; :meth:`cycle_started` refuses a new cycle the same way; queued reports are spilled to the
    log as above. A conflict (:class:`~trio_hedge.app.JournalConflict`: a replayed fill with other
    economics, a second venue order id) is recorded as a ``journal.conflict`` event with both versions.

    Attributes:
        intent_latency (LatencyHistogram): how long each intent commit took (the cost added before a send), ns.
        counts (dict[str, int]): writes by kind (``intents``, ``statuses``, ``fills``, ``skipped``,
            ``conflicts``, ``spilled``, ``unjournaled``...).
        down (JournalError | None): why the journal is down, or None.
    """

    def __init__(self, journal: AsyncJournal, reports: AsyncJournal | None = None, *,
                 capacity: int = DEFAULT_REPORT_CAPACITY, queue_hedge_intents: bool = True) -> None:
        self.journal = journal
        self.queue_hedge_intents = queue_hedge_intents
        self._reports = journal if reports is None else reports
        self._queue: deque[tuple[str, str, Any]] = deque()  # bounded by self.capacity in _post
        self.capacity = capacity
        self._lot = trio.lowlevel.ParkingLot()
        self._write_lock = trio.Lock()
        self._cycles: dict[str, tuple[int, int]] = {}
        self._intents: dict[tuple[str, str], _Intent] = {}
        self.intent_latency = LatencyHistogram()
        self.counts: dict[str, int] = {}
        self.max_queued = 0
        self.down: JournalError | None = None
        self._intents_waiting = 0
        self._intent_done = trio.lowlevel.ParkingLot()
        self._inline_off_logged = False
        self._log = logger.bind(tag="JOURNAL")

    def _count(self, key: str) -> None:
        self.counts[key] = self.counts.get(key, 0) + 1

    def went_down(self, exc: JournalError, where: str) -> None:
        """Enter the journal-down state (see the class docstring) because ``exc`` happened at ``where``
        (also called by the id blocks, ``app/_idblocks.py``, when a block cannot be reserved)."""
        self._went_down(exc, where)

    def _went_down(self, exc: JournalError, where: str) -> None:
        if self.down is not None:
            return
        self.down = exc
        self._log.error("JOURNAL DOWN ({}): {}. No new intent can be recorded, so no new quote and no new cycle; "
                        "fills already taken are still hedged and the cleanup still flattens (those orders are "
                        "logged with every field, marked UNJOURNALED); the run ends with exit {}", where, exc,
                        EXIT_JOURNAL_DOWN)

    def rehearse_intent(self, venue_key: str, request: OrderRequest, market: str | None) -> None:
        """The intent's transaction rolled back (``AsyncJournal.rehearse_intent``): keeps the intent path warm
        (``engine/_rehearse.py``); nothing is recorded or counted. A no-op while the journal is down."""
        if self.down is None:
            cycle = self._cycles.get(market) if market is not None else None
            self.journal.rehearse_intent(venue_key, request, cycle_id=None if cycle is None else cycle[1])

    # ---- Recorder: awaited
    async def record_intent(self, venue_key: str, request: OrderRequest, market: str | None) -> None:
        if self.down is None:
            cycle = self._cycles.get(market) if market is not None else None
            t0 = time.perf_counter_ns()
            self._intents_waiting += 1  # the writer holds back queued reports: an intent is on an order's path
            try:
                await self.journal.record_intent(venue_key, request, cycle_id=None if cycle is None else cycle[1])
            except JournalIOError as exc:
                self._went_down(exc, f"intent {request.client_order_id}")
            else:
                self.intent_latency.record(time.perf_counter_ns() - t0)
                self._intents[(venue_key, request.client_order_id)] = _Intent(request.size)
                self._count("intents")
                if self.journal.inline_off_reason and not self._inline_off_logged:
                    self._inline_off_logged = True
                    self._log.warning("{}", self.journal.inline_off_reason)
                return
            finally:
                self._intents_waiting -= 1
                if not self._intents_waiting:
                    self._intent_done.unpark_all()
        if not (request.reduce_only or request.reason in _RISK_REDUCING):
            raise JournalDown(f"journal down: {request.reason} order {request.client_order_id} on {venue_key} not "
                              f"sent (no new risk without a journal): {self.down}")
        self._unjournaled(venue_key, request)

    def _unjournaled(self, venue_key: str, request: OrderRequest) -> None:
        """A risk-reducing order sent while the journal is down: counted and logged with every field."""
        self._count("unjournaled")
        self._log.warning("UNJOURNALED order (journal down), sent to reduce risk: venue_key={} {!r}", venue_key,
                          request)

    def post_intent(self, venue_key: str, request: OrderRequest, market: str | None) -> None:
        """Queue the intent of hedge order ``request`` ahead of its reports (``JournaledVenue.place`` calls this
        for a hedge whose client order id comes from a durable block; ``engine/_journaled.py``, "Hedge
        intents"): the writer commits it (:meth:`run`, after :data:`REPORT_DEFER_S`; :meth:`drain` at the
        exit) before any report of the order. Never blocks or raises: a full queue spills it to the log with
        every field, a journal that is down logs the order ``UNJOURNALED`` (a hedge is never held back). Called
        only while :attr:`queue_hedge_intents` is set (``JournaledVenue`` reads it).
        """
        if self.down is not None:
            self._unjournaled(venue_key, request)
            return
        cycle = self._cycles.get(market) if market is not None else None
        self._intents[(venue_key, request.client_order_id)] = _Intent(request.size)
        self._post(("intent", venue_key, (request, None if cycle is None else cycle[1])))

    def track(self, venue_key: str, client_order_id: str, size: Decimal, status: OrderStatus,
              filled: Decimal = ZERO) -> None:
        """Follow an intent recorded by an earlier run (reconciliation resolves it)."""
        self._intents[(venue_key, client_order_id)] = _Intent(size, status, filled)

    async def cycle_started(self, market: str, index: int, side: Side) -> None:
        """Record a cycle's start. Raises :class:`~trio_hedge.engine.JournalDown` when the journal is down."""
        if self.down is None:
            try:
                cycle_id = await self.journal.start_cycle(market, index, side)
            except JournalIOError as exc:
                self._went_down(exc, f"cycle {index} of {market}")
            else:
                self._cycles[market] = (index, cycle_id)
                return
        raise JournalDown(f"journal down: no new cycle ({market} #{index}): {self.down}")

    async def cycle_ended(self, market: str, index: int, outcome: str, detail: str = "") -> None:
        """Record the end of the market's open cycle ``index``; a no-op when it has none (already ended), and
        only logged when the journal is down."""
        cur = self._cycles.get(market)
        if cur is None or cur[0] != index:
            return
        if self.down is None:
            # forgotten only once written: a cancel that arrives before the write is queued (the stop cancelling
            # the hedger as its leg ends) leaves the cycle open here, and the market's shielded end records it
            try:
                await self.journal.end_cycle(cur[1], outcome or "unknown", detail)
                self._cycles.pop(market, None)
                return
            except JournalIOError as exc:
                self._went_down(exc, f"end of cycle {index} of {market}")
        self._cycles.pop(market, None)
        self._log.warning("UNJOURNALED cycle end (journal down): market={} index={} cycle_id={} outcome={} {}",
                          market, index, cur[1], outcome, detail)

    # ---- Recorder: queued
    def _post(self, item: tuple[str, str, Any]) -> None:
        if len(self._queue) >= self.capacity:
            self._count("spilled")
            self._log.warning("journal queue full ({}): SPILLED (not journaled; the venue's history has it for the "
                              "exit step and the next reconciliation): {}", self.capacity, _spill_text(item))
            return
        self._queue.append(item)
        if len(self._queue) > self.max_queued:
            self.max_queued = len(self._queue)
        self._lot.unpark()

    def post_report(self, venue_key: str, report: OrderReport) -> None:
        self._post(("status", venue_key, (report.client_order_id, report.status, report.reason,
                                          report.venue_order_id)))

    def post_event(self, venue_key: str, event: VenueEvent) -> None:
        if isinstance(event, Fill):
            self._post(("fill", venue_key, event))
        elif isinstance(event, OrderUpdate):
            self._post(("status", venue_key, (event.client_order_id, event.status, event.reason,
                                              event.venue_order_id)))

    def post_fills(self, venue_key: str, fills: list[Fill]) -> None:
        for f in fills:
            self._post(("fill", venue_key, f))

    def post_note(self, kind: str, detail: str) -> None:
        self._post(("note", kind, detail))

    # ---- the writer
    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Write queued reports in order, until cancelled. An item leaves the queue only once written (every
        write is idempotent, so one interrupted by a cancel is simply written again by :meth:`drain`)."""
        task_status.started()
        while True:
            if not self._queue:
                while not self._queue:
                    await self._lot.park()
                # A fill's reports arrive just before the hedge's intent: give the hot path the journal first
                # (an idle journal thread lets the intent commit inline, on the loop: AsyncJournal.record_intent)
                await trio.sleep(REPORT_DEFER_S)
            while self._intents_waiting:
                await self._intent_done.park()
            await self._write_head()

    async def drain(self) -> None:
        """Write everything still queued (call shielded and bounded after cancelling :meth:`run`)."""
        while self._queue:
            await self._write_head()

    async def _write_head(self) -> None:
        # One consumer at a time: drain() starts while a cancelled run() may still be finishing its item;
        # without the lock both wrote the head item and both popped it (IndexError on an empty deque).
        async with self._write_lock:
            if self._queue:
                await self._apply(self._queue[0])
                self._queue.popleft()

    async def _apply(self, item: tuple[str, str, Any]) -> None:
        kind, key, payload = item
        if self.down is not None:
            self._count("spilled")
            self._log.warning("journal down: SPILLED (not journaled): {}", _spill_text(item))
            return
        try:
            if kind == "intent":
                await self._apply_intent(key, *payload)
            elif kind == "fill":
                await self._apply_fill(key, payload)
            elif kind == "note":  # key is the event's kind, payload its detail
                await self._reports.record_event(key, payload)
                self._count("events")
            else:
                coid, status, reason, venue_order_id = payload
                await self._apply_status(key, coid, status, reason, venue_order_id)
        except (IllegalTransition, UnknownRecord) as exc:
            self._count("skipped")
            self._log.debug("not recorded: {}", exc)
        except JournalConflict as exc:
            await self.conflict(key, exc, _spill_text(item))
        except JournalIOError as exc:
            self._went_down(exc, f"{kind} report")
            self._count("spilled")
            self._log.warning("journal down: SPILLED (not journaled): {}", _spill_text(item))

    async def conflict(self, key: str, exc: JournalConflict, report: str) -> None:
        """Record a conflict as data: a ``journal.conflict`` event with both versions (the journal's, in the
        error text, and the venue's report), logged at ERROR; never raised."""
        self._count("conflicts")
        await record_conflict(self._reports, key, exc, report, self)

    async def _apply_intent(self, key: str, request: OrderRequest, cycle_id: int | None) -> None:
        """Commit a queued hedge intent (:meth:`post_intent`). A duplicate (the intent is there already) or a
        request the journal refuses is logged and skipped; the order's reports still follow."""
        try:
            await self.journal.record_intent(key, request, cycle_id=cycle_id)
        except (DuplicateIntent, BadValue) as exc:
            self._count("skipped")
            self._log.error("queued intent not recorded: {}", exc)
            return
        self._count("intents")
        self._count("intents_queued")

    async def _apply_status(self, key: str, coid: str, status: OrderStatus, reason: str,
                            venue_order_id: str | None) -> None:
        intent = self._intents.get((key, coid))
        if intent is None or status is OrderStatus.PENDING:
            return  # not an order of ours this run (reconciliation reports those)
        if intent.status.is_terminal or (not status.is_terminal and status.rank < intent.status.rank):
            return  # a late, less advanced or repeated report
        if status is intent.status and status is not OrderStatus.PARTIALLY_FILLED:
            return
        await self._reports.record_status(key, coid, status, reason=reason or "venue",
                                          venue_order_id=venue_order_id or None)
        intent.status = status
        self._count("statuses")

    async def _apply_fill(self, key: str, fill: Fill) -> None:
        new = await self._reports.record_fill(replace(fill, venue=key))
        if not new:
            return
        self._count("fills")
        intent = self._intents.get((key, fill.client_order_id))
        if intent is None:
            return
        intent.filled += fill.size
        status = OrderStatus.FILLED if intent.filled >= intent.size else OrderStatus.PARTIALLY_FILLED
        await self._apply_status(key, fill.client_order_id, status, "fill", None)


async def record_conflict(journal: AsyncJournal, key: str, exc: JournalConflict, report: str,
                          recorder: JournalRecorder | None = None) -> None:
    """A fill or status that conflicts with the journal, recorded as a ``journal.conflict`` event holding both
    versions (the recorded one is in the error text, the venue's is ``report``) and logged at ERROR. Never
    raises: a journal that cannot take the event puts ``recorder`` in the journal-down state."""
    detail = f"{key}: {exc} | venue report: {report}"
    logger.bind(tag="JOURNAL").error("journal conflict (recorded as an event, both versions): {}", detail)
    try:
        await journal.record_event("journal.conflict", detail)
    except JournalIOError as io:
        if recorder is not None:
            recorder._went_down(io, "conflict event")
        else:
            logger.bind(tag="JOURNAL").error("conflict event not recorded: {}", io)


# ------------------------------------------------------------------------------------------- reconciliation


@dataclass(frozen=True, slots=True)
class ReconcileLeg:
    """One venue/symbol to reconcile. ``venue`` should be the journaled view (its flatten orders are then
    recorded); ``key`` is the venue's name in the journal."""

    venue: Venue
    key: str
    symbol: str


@dataclass(slots=True)
class ReconcileReport:
    """What reconciliation found and did.

    Attributes:
        resolved (dict[str, str]): in-flight intent ``venue_key/client_order_id`` -> the status recorded.
        cancelled_known (list[str]), cancelled_unknown (list[str]): open orders cancelled
            (``venue_key/client_order_id``), the journal's own and the orphans it did not know.
        missed_fills (int): fills the journal learned from the venues' histories.
        positions (dict[str, Decimal]): positions found, per ``venue_key/symbol``, base units.
        flatten (list[FlattenResult]): the flatten of each leg that held a position.
        lost_intent (list[str]): open orders (``venue_key/client_order_id``) and fills (``venue_key/trade
            <trade id> of <client order id>``) carrying an id from a reserved block with no intent in the
            journal: ours, their intent lost (``app/_idblocks.py``); cancelled / flattened like the others.
    """

    resolved: dict[str, str] = field(default_factory=dict)
    cancelled_known: list[str] = field(default_factory=list)
    cancelled_unknown: list[str] = field(default_factory=list)
    missed_fills: int = 0
    positions: dict[str, Decimal] = field(default_factory=dict)
    flatten: list[FlattenResult] = field(default_factory=list)
    lost_intent: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        """Nothing was found: no in-flight intent, no open order, no missed fill, no position."""
        return not (self.resolved or self.cancelled_known or self.cancelled_unknown or self.missed_fills
                    or self.lost_intent or any(self.positions.values()))


@dataclass(slots=True)
class _Seen:
    open_orders: list[OrderReport]
    position: Decimal
    fills: list[Fill]
    statuses: dict[str, OrderReport | None]


def reader(leg: ReconcileLeg) -> Venue:
    """The venue reconciliation reads from: the session itself, not its journaled view (reconciliation
    records what it learns, and counts it). A rate-limited journaled venue (several markets share a venue's
    budget) is read through the same token bucket, with the journaling left out."""
    v = leg.venue
    if isinstance(v, RateLimitedVenue) and isinstance(v.inner, JournaledVenue):
        return RateLimitedVenue(v.inner.inner, v.settings, _bucket=v.bucket)
    return v.inner if isinstance(v, JournaledVenue) else v


async def _event(journal: AsyncJournal | None, kind: str, detail: str) -> None:
    log = logger.bind(tag="RECONCILE")
    (log.info if kind == "recon.done" else log.warning)("{}: {}", kind, detail)
    if journal is not None:
        await journal.record_event(kind, detail)


def _found(s: _Seen, client_order_id: str) -> OrderReport | None:
    """The venue's report of ``client_order_id``: its status answer, else its entry among the open orders."""
    r = s.statuses.get(client_order_id)
    if r is None:
        r = next((o for o in s.open_orders if o.client_order_id == client_order_id), None)
    return r


async def _record_fills(journal: AsyncJournal | None, leg: ReconcileLeg, fills: list[Fill]) -> int:
    """Record ``fills`` of ``leg`` by trade id; how many were new to the journal."""
    if journal is None:
        return 0
    return await record_fills(journal, leg.key, fills)


FILL_CHECKPOINT_MARGIN_NS = 60 * 10**9
"""How far behind the newest fill read the fill checkpoint is set, venue-clock ns. A venue's fill timestamps
are not in the order it reports them (found by ``scripts/chaos_kill9.py --kills 200``: a maker fill stamped
with its trade's time after a later taker fill stamped with the venue's clock; a checkpoint at the newest
left that taker fill out of every later read). Re-reading the margin costs nothing: fills are keyed by trade id."""


def fill_checkpoint(newest_ts_ns: int, previous_ns: int = 0) -> str:
    """The ``fills_ts_ns.<venue key>`` checkpoint after reading fills whose newest venue time is ``newest_ts_ns``
    (over every symbol of the venue): that time less :data:`FILL_CHECKPOINT_MARGIN_NS`, never before
    ``previous_ns`` (the checkpoint the read started from)."""
    return str(max(0, previous_ns, newest_ts_ns - FILL_CHECKPOINT_MARGIN_NS))


async def record_fills(journal: AsyncJournal, key: str, fills: list[Fill]) -> int:
    """Record ``fills`` (a venue's history) under the journal key ``key`` by trade id; how many were new. A
    fill that conflicts with the recorded one (a venue that reused a trade id) is recorded as a conflict event
    with both versions (:func:`record_conflict`), not raised."""
    new = 0
    for f in fills:
        try:
            new += await journal.record_fill(replace(f, venue=key))
        except JournalConflict as exc:
            await record_conflict(journal, key, exc, repr(f))
    return new


async def _unreadable(journal: AsyncJournal | None, exc: Exception) -> VenueUnreadable:
    detail = f"cannot read the venues before trading ({type(exc).__name__}: {exc}); not trading"
    if isinstance(exc, AuthError):
        detail += f". Fix: {credentials_fix(exc.venue)}"
    await _event(journal, "recon.unreadable", detail)
    return VenueUnreadable(detail, credentials=isinstance(exc, AuthError))


async def _look_again(
    legs: list[ReconcileLeg],
    seen: dict[int, _Seen],
    inflight: list[IntentRow],
    journal: AsyncJournal,
    report: ReconcileReport,
    checkpoints: dict[str, int],
    *,
    policy: RetryPolicy,
    read_deadline_s: float,
    grace_s: float,
    poll_s: float,
) -> dict[tuple[int, str], int]:
    """Step 2a: look again for the in-flight intents the venue did not report, until each is found or
    ``grace_s`` has passed since the first read: every ``poll_s`` its status by client order id, the open
    orders and the fills since the checkpoint (new fills are recorded). A venue can lag: an order sent just
    before a crash may not be visible at once, and "not found" is not proof it is gone
    (Hummingbot's ``ClientOrderTracker`` takes more than ``_lost_order_count_limit`` = 3 not-found answers,
    ``hummingbot/connector/client_order_tracker.py``; Nautilus queries in-flight orders after
    ``inflight_check_threshold_ms`` = 5000, ``inflight_check_retries`` = 5 times, ``LiveExecEngineConfig`` in
    ``nautilus_trader/live/config.py``). A leg
    where an order or a fill turned up late has its position and open orders read again (step 3 acts on them).

    The grace runs from each intent's send (its ``created_ns``): a lag delays an order relative to when it
    was sent, so an intent sent longer than ``grace_s`` ago is decided on the first read, without waiting.

    Updates ``seen`` and ``report.missed_fills``; returns how many looks each intent got, by ``(leg index,
    client order id)`` (absent: 1, the first read).

    Raises:
        VenueUnreadable: a read failed or took longer than ``read_deadline_s`` (nothing was sent).
    """
    start = trio.current_time()
    until = {(it.venue, it.client_order_id): start + _grace_left_s(it, grace_s) for it in inflight}
    looks: dict[tuple[int, str], int] = {}
    appeared: set[int] = set()
    while True:
        waiting: dict[int, list[str]] = {}
        ends: list[float] = []
        now = trio.current_time()
        for i, leg in enumerate(legs):
            for it in inflight:
                if (it.venue == leg.key and it.symbol == leg.symbol and until[(it.venue, it.client_order_id)] > now
                        and _found(seen[i], it.client_order_id) is None
                        and await journal.filled_size(leg.key, it.client_order_id) < it.request.size):
                    waiting.setdefault(i, []).append(it.client_order_id)
                    ends.append(until[(it.venue, it.client_order_id)])
        if not waiting:
            break
        if not looks:
            await _event(journal, "recon.unknown_wait",
                         f"{len(ends)} in-flight intent(s) unknown to the venue "
                         f"({[c for cs in waiting.values() for c in cs]}): looking again for up to "
                         f"{max(ends) - now:.3g}s ({grace_s:g}s from each one's send)")
        await trio.sleep(min(poll_s, max(ends) - now))
        for i, coids in waiting.items():
            for coid in coids:
                looks[(i, coid)] = looks.get((i, coid), 1) + 1
        got: dict[int, tuple[dict[str, OrderReport | None], list[OrderReport], list[Fill]]] = {}
        try:
            with trio.fail_after(read_deadline_s):  # venue reads only
                for i, coids in waiting.items():
                    leg, v = legs[i], reader(legs[i])
                    what = f"reconcile {v.name}"
                    statuses: dict[str, OrderReport | None] = {}
                    for coid in coids:
                        statuses[coid] = await call_venue(v.order_status, leg.symbol, coid, policy=policy,
                                                          what=f"{what} status {coid}")
                    opened = await call_venue(v.open_orders, leg.symbol, policy=policy, what=f"{what} open orders")
                    fills = await call_venue(v.fills_since, leg.symbol, checkpoints[leg.key], policy=policy,
                                             what=f"{what} fills")
                    got[i] = (statuses, opened, fills)
        except (VenueError, trio.TooSlowError) as exc:
            raise await _unreadable(journal, exc) from None
        for i, (statuses, opened, fills) in got.items():
            s = seen[i]
            s.statuses.update(statuses)
            s.open_orders = opened
            new = await _record_fills(journal, legs[i], fills)
            report.missed_fills += new
            have = {f.trade_id for f in s.fills}
            s.fills.extend(f for f in fills if f.trade_id not in have)
            if new or any(_found(s, c) is not None for c in waiting[i]):
                appeared.add(i)
    if appeared:
        try:
            with trio.fail_after(read_deadline_s):
                for i in sorted(appeared):
                    leg, v = legs[i], reader(legs[i])
                    seen[i].open_orders = await call_venue(v.open_orders, leg.symbol, policy=policy,
                                                           what=f"reconcile {v.name} open orders")
                    pos = (await call_venue(v.positions, policy=policy,
                                            what=f"reconcile {v.name} positions")).get(leg.symbol)
                    seen[i].position = ZERO if pos is None else pos.size
                    report.positions[f"{leg.key}/{leg.symbol}"] = seen[i].position
        except (VenueError, trio.TooSlowError) as exc:
            raise await _unreadable(journal, exc) from None
    return looks


async def reconcile(
    legs: list[ReconcileLeg],
    journal: AsyncJournal | None,
    recorder: JournalRecorder | None = None,
    *,
    policy: RetryPolicy,
    read_deadline_s: float = 10.0,
    flatten_deadline_s: float = 15.0,
    unknown_grace_s: float = 5.0,
    unknown_poll_s: float = 1.0,
) -> ReconcileReport:
    """Reconcile the journal with the venues before any trading (the module docstring has the steps).

    Args:
        legs: every venue/symbol the bot trades.
        journal: the journal (None: nothing recorded; every open order is an orphan).
        recorder: the run's recorder, told about resolved intents (so later reports update them).
        policy: retries by error class for the reads, cancels and flatten.
        read_deadline_s: bound on reading every venue (step 1), and on each later round of reads.
        flatten_deadline_s: bound on the cancel and flatten (steps 3-4).
        unknown_grace_s: how long after its send an in-flight intent the venue does not report (no status,
            not among the open orders, fills short of its size) is looked for again before it is recorded as
            never having reached the venue, seconds (config ``journal.reconcile_grace_ms``); 0 decides on
            the first read.
        unknown_poll_s: the interval of those looks, seconds.

    Returns:
        ReconcileReport: what was found and done.

    Raises:
        VenueUnreadable: a venue could not be read (nothing was sent).
        NotFlat: a residual position remained after the flatten.
    """
    log = logger.bind(tag="RECONCILE")
    report = ReconcileReport()
    inflight = await journal.inflight() if journal is not None else []
    # ---- 1. read everything; send nothing
    seen: dict[int, _Seen] = {}
    checkpoints: dict[str, int] = {}
    for leg in legs:
        ck = await journal.get_checkpoint(f"fills_ts_ns.{leg.key}") if journal is not None else None
        checkpoints[leg.key] = int(ck) if ck else 0
    try:
        with trio.fail_after(read_deadline_s):  # wraps venue reads only (waits), never a journal write
            for i, leg in enumerate(legs):
                v = reader(leg)
                what = f"reconcile {v.name}"
                opened = await call_venue(v.open_orders, leg.symbol, policy=policy, what=f"{what} open orders")
                positions = await call_venue(v.positions, policy=policy, what=f"{what} positions")
                pos = positions.get(leg.symbol)
                fills = await call_venue(v.fills_since, leg.symbol, checkpoints[leg.key], policy=policy,
                                         what=f"{what} fills")
                statuses: dict[str, OrderReport | None] = {}
                for it in inflight:
                    if it.venue == leg.key and it.symbol == leg.symbol:
                        statuses[it.client_order_id] = await call_venue(
                            v.order_status, leg.symbol, it.client_order_id, policy=policy,
                            what=f"{what} status {it.client_order_id}")
                seen[i] = _Seen(opened, ZERO if pos is None else pos.size, fills, statuses)
    except (VenueError, trio.TooSlowError) as exc:
        raise await _unreadable(journal, exc) from None
    # ---- 2. fills and in-flight intents
    blocks = {leg.key: await journal.id_blocks(leg.key) for leg in legs} if journal is not None else {}
    for i, leg in enumerate(legs):
        report.positions[f"{leg.key}/{leg.symbol}"] = seen[i].position
        report.missed_fills += await _record_fills(journal, leg, seen[i].fills)
        for f in seen[i].fills:
            if (journal is not None and in_blocks(f.client_order_id, blocks[leg.key])
                    and await journal.intent(leg.key, f.client_order_id) is None):
                report.lost_intent.append(f"{leg.key}/trade {f.trade_id} of {f.client_order_id}")
                await _event(journal, "recon.lost_intent",
                             f"{leg.key} {leg.symbol} fill {f.trade_id} of {f.client_order_id} {f.side} {f.size} @ "
                             f"{f.price}: ours (reserved id block), no intent in the journal (lost after a "
                             "crash of the OS?); the position is flattened below")
    unknown: dict[int, list[str]] = {}  # leg -> coids never seen by the venue: cancelled by id in step 3 anyway
    looks: dict[tuple[int, str], int] = {}
    if journal is not None and inflight:
        looks = await _look_again(legs, seen, inflight, journal, report, checkpoints, policy=policy,
                                  read_deadline_s=read_deadline_s, grace_s=unknown_grace_s, poll_s=unknown_poll_s)
    newest: dict[str, int] = {}  # per venue key, over every symbol's fills (several markets share a venue)
    for i, leg in enumerate(legs):
        for f in seen[i].fills:
            newest[leg.key] = max(newest.get(leg.key, 0), f.ts_ns)
    for i, leg in enumerate(legs):
        s = seen[i]
        if leg.key in newest and journal is not None:
            await journal.set_checkpoint(f"fills_ts_ns.{leg.key}", fill_checkpoint(newest.pop(leg.key)))
        for it in inflight:
            if it.venue != leg.key or it.symbol != leg.symbol or journal is None:
                continue
            r = _found(s, it.client_order_id)
            filled = await journal.filled_size(leg.key, it.client_order_id)
            if r is None:
                status = _never_reported(it, filled)
                if filled > ZERO:
                    reason = "reconciled: no status from the venue; from its fills"
                else:
                    unknown.setdefault(i, []).append(it.client_order_id)
                    reason = (f"reconciled: unknown to the venue ({looks.get((i, it.client_order_id), 1)} look(s) "
                              f"within {unknown_grace_s:g}s of its send: status, open orders, fills by client "
                              "order id)")
            else:
                status, reason = r.status, f"reconciled: {r.reason or 'venue status'}"
            try:
                if status is not it.status:
                    await journal.record_status(leg.key, it.client_order_id, status, reason=reason,
                                                venue_order_id=r.venue_order_id if r is not None else None)
            except IllegalTransition as exc:
                log.error("in-flight {}: {}", it.client_order_id, exc)
            except JournalConflict as exc:
                await record_conflict(journal, leg.key, exc, f"status {status.value} ({reason})")
            if recorder is not None:
                recorder.track(leg.key, it.client_order_id, it.request.size, status, filled)
            report.resolved[f"{leg.key}/{it.client_order_id}"] = status.value
            await _event(journal, "recon.inflight", f"{leg.key} {it.client_order_id} ({it.request.reason}, "
                         f"{it.status.value}) -> {status.value} ({reason}; filled {filled})")
    if report.missed_fills:
        await _event(journal, "recon.fills", f"{report.missed_fills} fill(s) the journal had not recorded")
    # ---- 3-4. cancel open orders, flatten positions
    with trio.move_on_after(flatten_deadline_s) as scope:
        for i, leg in enumerate(legs):
            for coid in unknown.get(i, ()):
                # harmless for an id the venue never saw; on GRVT the cancel's time to live also catches an
                # order still in transit, and on any venue one that shows up later than the grace
                try:
                    await call_venue(leg.venue.cancel, leg.symbol, coid, policy=policy,
                                     what=f"reconcile cancel {coid} (unknown to the venue)")
                except VenueError as exc:
                    log.error("cancel by id of {} (unknown to the venue) failed: {}", coid, exc)
            for o in seen[i].open_orders:
                known = journal is not None and await journal.intent(leg.key, o.client_order_id) is not None
                try:
                    await call_venue(leg.venue.cancel, leg.symbol, o.client_order_id, policy=policy,
                                     what=f"reconcile cancel {o.client_order_id}")
                except VenueError as exc:
                    log.error("cancel of {} failed: {}", o.client_order_id, exc)
                (report.cancelled_known if known else report.cancelled_unknown).append(
                    f"{leg.key}/{o.client_order_id}")
                lost = not known and journal is not None and in_blocks(o.client_order_id, blocks[leg.key])
                if lost:
                    report.lost_intent.append(f"{leg.key}/{o.client_order_id}")
                kind, note = (("recon.cancel", "") if known else
                              ("recon.lost_intent", " (ours: reserved id block; no intent in the journal)") if lost
                              else ("recon.orphan_order", " (not in the journal)"))
                await _event(journal, kind, f"{leg.key} {leg.symbol} {o.client_order_id} {o.side} {o.size} @ "
                                            f"{o.price} ({o.status.value}): cancelled{note}")
            for o in seen[i].open_orders:  # the journal's own: record how they ended
                if journal is None or await journal.intent(leg.key, o.client_order_id) is None:
                    continue
                try:
                    r = await call_venue(reader(leg).order_status, leg.symbol, o.client_order_id, policy=policy,
                                         what=f"reconcile status {o.client_order_id}")
                    if r is not None and r.status.is_terminal:
                        await journal.record_status(leg.key, o.client_order_id, r.status,
                                                    reason=f"reconciled: {r.reason or 'cancelled'}")
                        if recorder is not None:
                            recorder.track(leg.key, o.client_order_id, o.size, r.status, r.filled_size)
                except (VenueError, IllegalTransition) as exc:
                    log.error("final status of {}: {}", o.client_order_id, exc)
                except JournalConflict as exc:
                    await record_conflict(journal, leg.key, exc, f"final status of {o.client_order_id}")
        for i, leg in enumerate(legs):
            if seen[i].position == ZERO and not seen[i].open_orders:
                continue
            # after the cancels, a known order's final status; then the position, flattened if not zero
            res = await flatten_position(leg.venue, leg.symbol, reason="reconcile", policy=policy,
                                         cancel_first=bool(seen[i].open_orders))
            if res.orders_sent or seen[i].position != ZERO:
                report.flatten.append(res)
                await _event(journal, "recon.flatten",
                             f"{leg.key} {leg.symbol}: position {seen[i].position} -> {res.final_position} "
                             f"({res.orders_sent} reduce-only order(s))")
    not_flat = [r for r in report.flatten if not r.flat]
    if scope.cancelled_caught or not_flat:
        detail = (f"reconciliation could not flatten within {flatten_deadline_s}s" if scope.cancelled_caught
                  else f"still not flat after reconciliation: {[(r.venue, r.final_position) for r in not_flat]}")
        await _event(journal, "recon.not_flat", detail)
        raise NotFlat(detail)
    await _event(journal, "recon.done",
                 "clean: nothing found" if report.clean else
                 f"resolved {len(report.resolved)} in-flight, cancelled {len(report.cancelled_known)} known + "
                 f"{len(report.cancelled_unknown)} unknown, {report.missed_fills} missed fill(s), flattened "
                 f"{len(report.flatten)} leg(s)")
    return report


# ------------------------------------------------------------------------------------------- exit


async def _ask(venue: Venue, intents: list[IntentRow], wait_s: float) -> dict[str, OrderReport | None]:
    """Each intent's status by client order id, within ``wait_s`` for all of them; an intent whose query
    raised a VenueError (logged) or got no answer in time is absent from the result."""
    answers: dict[str, OrderReport | None] = {}
    with trio.move_on_after(wait_s):  # the venue's answers only; the journal writes come after
        for it in intents:
            try:
                answers[it.client_order_id] = await venue.order_status(it.symbol, it.client_order_id)
            except VenueError as exc:
                logger.bind(tag="JOURNAL").warning("status of in-flight {} on {} at exit not read: {}",
                                                   it.client_order_id, venue.name, exc)
    return answers


def _grace_left_s(it: IntentRow, grace_s: float) -> float:
    """What is left of ``grace_s`` since the intent was recorded (its send), seconds, in [0, grace_s]. Wall
    clock: the intent may come from an earlier process."""
    age_s = (time.time_ns() - it.created_ns) / 1e9
    return min(grace_s, max(0.0, grace_s - age_s))


def _never_reported(it: IntentRow, filled: Decimal) -> OrderStatus:
    """How an in-flight intent the venue does not report ended, from its recorded fills: FILLED or CANCELLED
    when it traded, else never accepted (REJECTED; EXPIRED once acknowledged)."""
    if filled > ZERO:
        return OrderStatus.FILLED if filled >= it.request.size else OrderStatus.CANCELLED
    return OrderStatus.REJECTED if it.status is OrderStatus.PENDING else OrderStatus.EXPIRED


async def sync_inflight(
    journal: AsyncJournal,
    legs: list[tuple[Venue, str, str]],
    recorder: JournalRecorder | None = None,
    *,
    wait_s: float = 5.0,
    grace_s: float = 5.0,
    poll_s: float = 1.0,
) -> list[str]:
    """At exit, after the cleanup: record how every intent the journal still has in flight ended.

    The cleanup's cancel-all (``engine/_flatten.py``) cancels a resting quote over request/response, but its
    cancel event arrives on the private stream after the market scope stopped reading it; an order whose
    place was cut short by the stop never got its ack either, and a place the venue refused leaves no report
    (``JournaledVenue`` posts none for an error). For each leg ``(venue, journal key, symbol)`` every intent
    of ``journal.inflight(key)`` is queried by client order id (``venue.order_status``) and the venue's
    answer is recorded when it is more advanced than the journal's (the recorder is told, so a late queued
    report cannot move it back). One the venue does not know is asked again every ``poll_s`` until
    ``grace_s`` has passed since its send (as in :func:`reconcile`: a venue's reads can lag an order just
    sent; one sent longer ago is decided at once), then cancelled by its client
    order id (harmless if it never arrived; on GRVT the cancel's time to live also stops one in transit) and
    recorded from its fills: FILLED/CANCELLED when it traded, else REJECTED (EXPIRED once acknowledged).

    Left in flight, for the next start's reconciliation: an intent the venue could not be asked about (a
    :class:`VenueError`, logged, or no answer within ``wait_s``) and one still working on the venue (logged
    as an error: the cleanup should have cancelled it).

    Args:
        journal: the run's journal (written directly, not through the recorder's queue).
        legs: ``(venue session, the venue's journal key, traded symbol)``; the raw session (not its
            :class:`~trio_hedge.engine.JournaledVenue` view, which would queue the answers a second time).
        recorder: the run's recorder, told about every status recorded here.
        wait_s: bound on waiting for one round of a venue's answers (all of its queries together), seconds.
        grace_s: how long after its send an intent the venue does not know is asked about again, seconds
            (``journal.reconcile_grace_ms``).
        poll_s: the interval of those questions, seconds.

    Returns:
        list[str]: ``venue_key/client_order_id`` of the intents left in flight.
    """
    log = logger.bind(tag="JOURNAL")
    left: list[str] = []
    for venue, key, _symbol in legs:
        pending = await journal.inflight(key)
        if not pending:
            continue
        answers = await _ask(venue, pending, wait_s)
        start = trio.current_time()
        until = {it.client_order_id: start + _grace_left_s(it, grace_s) for it in pending}
        looks = dict.fromkeys(until, 1)
        while True:
            unknown = [it for it in pending if it.client_order_id in answers and answers[it.client_order_id] is None]
            now = trio.current_time()
            waiting = [it for it in unknown if until[it.client_order_id] > now]
            if not waiting:
                break
            await trio.sleep(min(poll_s, max(until[it.client_order_id] for it in waiting) - now))
            again = await _ask(venue, waiting, wait_s)
            for it in waiting:
                looks[it.client_order_id] += 1
                if it.client_order_id not in again:  # not read this time: left in flight
                    del answers[it.client_order_id]
                else:
                    answers[it.client_order_id] = again[it.client_order_id]
        with trio.move_on_after(wait_s):  # abandoning this cancel is harmless: the order is unknown
            for it in unknown:
                try:
                    await venue.cancel(it.symbol, it.client_order_id)
                except VenueError as exc:
                    log.warning("cancel by id of {} at exit: {}", it.client_order_id, exc)
        for it in pending:
            coid = it.client_order_id
            if coid not in answers:
                left.append(f"{key}/{coid}")
                continue
            r = answers[coid]
            filled = await journal.filled_size(key, coid)
            if r is None:
                status = _never_reported(it, filled)
                reason = (f"at exit: unknown to the venue ({looks[coid]} look(s) within {grace_s:g}s of its send); "
                          "cancelled by id")
                log.warning("in-flight {} ({}) is unknown to {} at exit: {} ({})", coid, it.request.reason,
                            venue.name, status.value, reason)
            else:
                status, reason = r.status, f"at exit: {r.reason or 'venue status'}"
            if status is not it.status and (status.is_terminal or status.rank > it.status.rank):
                try:
                    await journal.record_status(key, coid, status, reason=reason,
                                                venue_order_id=(r.venue_order_id or None) if r is not None else None)
                except (IllegalTransition, JournalConflict, UnknownRecord) as exc:
                    if isinstance(exc, JournalConflict):
                        await record_conflict(journal, key, exc, f"status {status.value} ({reason})", recorder)
                    log.error("status of in-flight {} at exit not recorded: {}", coid, exc)
                    left.append(f"{key}/{coid}")
                    continue
                if recorder is not None:
                    recorder.track(key, coid, it.request.size, status, r.filled_size if r is not None else filled)
            if not status.is_terminal:
                log.error("{} {} ({}) is still {} on the venue at exit", venue.name, coid, it.request.reason,
                          status.value)
                left.append(f"{key}/{coid}")
    return left
