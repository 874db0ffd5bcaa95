"""The simulated exchange: replays recorded market data in time and runs our orders against it.

One :class:`SimExchange` hosts several simulated venues (one per configured venue name), each with one
:class:`~trio_hedge.sim._matching.MatchingEngine` per symbol, all driven by one clock so that recordings
of the same window stay aligned.

Time: recordings carry the recorder's receive time (ns). The exchange maps it to trio time::

    trio_time = t0 + (recv_ns - origin_ns) / 1e9 / speed

where ``origin_ns`` is the latest snapshot time across all recordings (so every venue has a book when the
replay starts; messages before it are applied at once) and ``speed`` is the replay speed multiple
(``0`` = as fast as possible). :meth:`SimExchange.now_ns` is the inverse map: the venue's clock, in ns.

Latency: every message leaving the exchange (market data, private events, request responses) carries a
delivery time ``now + latency_s``; receivers sleep until then. Requests are delayed by the same latency on
their way in (the in-process venue adapter sleeps before calling in).

Fault injection (for tests and chaos runs): :meth:`kill_feed` closes a venue's market-data subscriptions
(one symbol's, or every symbol's) and refuses new ones until :meth:`restore_feed`; :meth:`kill_private` takes
the venue's private stream down (the in-process venue then reports its session down); :meth:`blackhole_feed`
keeps the subscriptions open but stops delivering to them (a silent, half-open connection). On the order path
(the cleanup's failure modes): :meth:`limit_reduce_only_fills` makes every reduce-only taker fill only partly,
:meth:`refuse_reduce_only` makes the venue reject every reduce-only order, :meth:`fail_position_reads` makes
:meth:`positions` raise.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import trio
from loguru import logger

from ..domain import (
    Fill,
    Instrument,
    OrderBook,
    OrderRequest,
    OrderStatus,
    OrderUpdate,
    Position,
    Side,
    TrioHedgeError,
    VenueEvent,
)
from ._matching import MatchingEngine
from ._replay import BookDeltaMsg, BookSnapshotMsg, ContractSpec, RecordingReader, TradeMsg, load_lines

if TYPE_CHECKING:
    from loguru import Logger

MarketDataMsg = BookSnapshotMsg | BookDeltaMsg
"""What a market-data subscriber receives: a snapshot first, then deltas with sequence numbers."""


class SimUnavailable(TrioHedgeError):
    """The simulated venue refuses the request (its market-data feed is killed by fault injection)."""


@dataclass(frozen=True, slots=True)
class SimMarket:
    """One simulated market: a venue's instrument backed by one recording.

    Attributes:
        venue (str): venue name (``"backpack"``, ``"grvt"``...).
        instrument (Instrument): the instrument the venue lists.
        recording (Path): a recorded Binance file (see ``sim._replay``).
        contract (ContractSpec): how recorded sizes map to base units.
        maker_fee_bps (Decimal), taker_fee_bps (Decimal): fees in basis points of notional.
    """

    venue: str
    instrument: Instrument
    recording: Path
    contract: ContractSpec
    maker_fee_bps: Decimal
    taker_fee_bps: Decimal


@dataclass(frozen=True, slots=True)
class SimSettings:
    """Exchange-wide settings.

    Attributes:
        speed (float): replay speed as a multiple of real time; 0 = as fast as possible.
        latency_s (float): one-way latency added to every message and request, seconds.
        market_data_capacity (int): per-subscriber market-data channel capacity (batches).
        account_capacity (int): per-venue private event channel capacity (events).
    """

    speed: float = 1.0
    latency_s: float = 0.0
    market_data_capacity: int = 64
    account_capacity: int = 1024


@dataclass(slots=True)
class _VenueState:
    name: str
    engines: dict[str, MatchingEngine]
    account_tx: trio.MemorySendChannel[tuple[float, VenueEvent]]
    account_rx: trio.MemoryReceiveChannel[tuple[float, VenueEvent]] | None
    md_subscribers: dict[str, list[trio.MemorySendChannel[tuple[float, list[MarketDataMsg]]]]] = field(
        default_factory=dict
    )
    feed_killed: bool = False
    killed_symbols: set[str] = field(default_factory=set)
    feed_blackholed: bool = False
    private_down: str = ""
    reduce_only_max_fill: Decimal | None = None
    reduce_only_refusal: str = ""
    positions_unreadable: bool = False


@dataclass(frozen=True, slots=True)
class SimStatistics:
    """Counters for the run summary: messages replayed and finished flag per market."""

    replayed: dict[str, int]
    malformed: dict[str, int]
    finished: bool


class SimExchange:
    """The running simulated exchange. Create it with :func:`open_sim_exchange`."""

    def __init__(self, settings: SimSettings, markets: Sequence[SimMarket]) -> None:
        self.settings = settings
        self._markets = list(markets)
        self._venues: dict[str, _VenueState] = {}
        for m in markets:
            st = self._venues.get(m.venue)
            if st is None:
                tx, rx = trio.open_memory_channel[tuple[float, VenueEvent]](settings.account_capacity)
                st = _VenueState(m.venue, {}, tx, rx)
                self._venues[m.venue] = st
            if m.instrument.symbol in st.engines:
                raise ValueError(f"sim: {m.venue}/{m.instrument.symbol} configured twice")
            st.engines[m.instrument.symbol] = MatchingEngine(
                m.venue,
                m.instrument,
                maker_fee_bps=m.maker_fee_bps,
                taker_fee_bps=m.taker_fee_bps,
                trade_id_prefix=f"{m.venue[:2]}-{m.instrument.symbol}-",
            )
        self._t0 = 0.0
        self._origin_ns = 0
        self._replayed: dict[str, int] = {}
        self._malformed: dict[str, int] = {}
        self.finished = trio.Event()
        """Set when every recording has been replayed to its end."""
        self.started = trio.Event()

    # ------------------------------------------------------------------ clock
    def now_ns(self) -> int:
        """The venue clock in ns (recording time), derived from trio time and the replay speed."""
        speed = self.settings.speed
        elapsed_s = trio.current_time() - self._t0
        if speed <= 0:
            return self._origin_ns + int(elapsed_s * 1e9)
        return self._origin_ns + int(elapsed_s * speed * 1e9)

    def _deliver_at(self) -> float:
        return trio.current_time() + self.settings.latency_s

    # ------------------------------------------------------------------ venues
    @property
    def venue_names(self) -> list[str]:
        return list(self._venues)

    def instruments(self, venue: str) -> dict[str, Instrument]:
        """The instruments ``venue`` lists, by symbol."""
        return {m.instrument.symbol: m.instrument for m in self._markets if m.venue == venue}

    def engine(self, venue: str, symbol: str) -> MatchingEngine:
        """The matching engine for ``venue``/``symbol``. Raises KeyError if not configured."""
        return self._venues[venue].engines[symbol]

    def market_book(self, venue: str, symbol: str) -> OrderBook:
        """The venue's true (recorded) book, for tests and reports."""
        return self.engine(venue, symbol).book

    def take_account_stream(self, venue: str) -> trio.MemoryReceiveChannel[tuple[float, VenueEvent]]:
        """The venue's private event stream: ``(deliver_at trio time, event)``. One taker per venue."""
        st = self._venues[venue]
        if st.account_rx is None:
            raise RuntimeError(f"sim: the account stream of {venue} was already taken")
        rx, st.account_rx = st.account_rx, None
        return rx

    def subscribe_market_data(
        self, venue: str, symbol: str
    ) -> trio.MemoryReceiveChannel[tuple[float, list[MarketDataMsg]]]:
        """Subscribe to ``symbol``'s book: the first batch is a snapshot, then deltas.

        Raises:
            SimUnavailable: the venue's feed is killed (fault injection).
            KeyError: unknown venue or symbol.
        """
        st = self._venues[venue]
        engine = st.engines[symbol]
        if st.feed_killed or symbol in st.killed_symbols:
            raise SimUnavailable(f"sim {venue}: market-data feed is down")
        tx, rx = trio.open_memory_channel[tuple[float, list[MarketDataMsg]]](self.settings.market_data_capacity)
        book = engine.book
        if book.valid:
            bids, asks = book.snapshot()
            snap = BookSnapshotMsg(recv_ns=self.now_ns(), seq=book.seq, bids=bids, asks=asks, ts_ns=book.ts_ns)
            tx.send_nowait((self._deliver_at(), [snap]))
        st.md_subscribers.setdefault(symbol, []).append(tx)
        return rx

    # ------------------------------------------------------------------ orders (sync; callers add latency)
    def submit(self, venue: str, request: OrderRequest) -> None:
        st = self._venues[venue]
        engine = self.engine(venue, request.symbol)
        if request.reduce_only:
            events = engine.submit(request, ts_ns=self.now_ns(), refuse=st.reduce_only_refusal,
                                   max_fill=st.reduce_only_max_fill)
        else:
            events = engine.submit(request, ts_ns=self.now_ns())
        self._emit(venue, events)

    def positions(self, venue: str) -> dict[str, Position]:
        """``venue``'s position in every symbol it lists (flat symbols included, size 0).

        Raises:
            SimUnavailable: position reads fail (fault injection, :meth:`fail_position_reads`).
        """
        st = self._venues[venue]
        if st.positions_unreadable:
            raise SimUnavailable(f"sim {venue}: position read failed (fault injected)")
        return {symbol: engine.position() for symbol, engine in st.engines.items()}

    def cancel(self, venue: str, symbol: str, client_order_id: str) -> None:
        events = self.engine(venue, symbol).cancel(client_order_id, ts_ns=self.now_ns())
        self._emit(venue, events)

    def cancel_all(self, venue: str, symbol: str) -> int:
        events = self.engine(venue, symbol).cancel_all(ts_ns=self.now_ns())
        self._emit(venue, events)
        return sum(1 for e in events if isinstance(e, OrderUpdate) and e.status is OrderStatus.CANCELLED)

    def _emit(self, venue: str, events: list[VenueEvent]) -> None:
        if not events:
            return
        st = self._venues[venue]
        at = self._deliver_at()
        for ev in events:
            try:
                st.account_tx.send_nowait((at, ev))
            except trio.WouldBlock:
                # The private stream is a venue-side buffer: the venue keeps every event (the engine's
                # order and fill records are the source of truth, queryable over "REST"), but a stream
                # consumer this far behind is a bug. Say so loudly.
                logger.bind(tag=f"SIM_{venue}").error("private stream buffer full; event dropped: {}", ev)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                return

    # ------------------------------------------------------------------ fault injection
    def kill_feed(self, venue: str, symbol: str | None = None) -> None:
        """Close ``venue``'s market-data subscriptions (only ``symbol``'s when given) and refuse new ones until
        :meth:`restore_feed`."""
        st = self._venues[venue]
        if symbol is None:
            st.feed_killed = True
        else:
            st.engines[symbol]  # KeyError for a symbol the venue does not list
            st.killed_symbols.add(symbol)
        for sym, subs in st.md_subscribers.items():
            if symbol is not None and sym != symbol:
                continue
            for tx in subs:
                tx.close()
            subs.clear()
        logger.bind(tag=f"SIM_{venue}").warning("fault injected: market-data feed killed ({})",
                                                symbol or "every symbol")

    def restore_feed(self, venue: str) -> None:
        st = self._venues[venue]
        st.feed_killed = False
        st.killed_symbols.clear()
        st.feed_blackholed = False

    def kill_private(self, venue: str, reason: str | None = "private stream lost") -> None:
        """The venue's private stream goes down (``reason``; None restores it): the in-process venue delivers no
        private event meanwhile (they are lost, as on a dropped connection) and reports its session down
        (``SimVenue.session_down``)."""
        self._venues[venue].private_down = reason or ""
        logger.bind(tag=f"SIM_{venue}").warning("fault injected: private stream {}", reason or "restored")

    def private_down(self, venue: str) -> str:
        """Why ``venue``'s private stream is down ("" when it is up: :meth:`kill_private`)."""
        return self._venues[venue].private_down

    def blackhole_feed(self, venue: str) -> None:
        """Keep ``venue``'s subscriptions open but deliver nothing (a half-open connection)."""
        self._venues[venue].feed_blackholed = True
        logger.bind(tag=f"SIM_{venue}").warning("fault injected: market-data feed blackholed")

    def limit_reduce_only_fills(self, venue: str, max_size: Decimal | None) -> None:
        """From now on every reduce-only IOC/MARKET order on ``venue`` fills at most ``max_size`` (base
        units), the rest cancelled as an IOC remainder: a flatten must send more than one order. None lifts it."""
        self._venues[venue].reduce_only_max_fill = max_size
        logger.bind(tag=f"SIM_{venue}").warning("fault injected: reduce-only fills limited to {}", max_size)

    def refuse_reduce_only(self, venue: str, reason: str | None) -> None:
        """From now on ``venue`` rejects every reduce-only order with ``reason`` (it contains
        ``reduce_only``, so the in-process venue raises ``InvalidOrder``). None lifts it."""
        if reason is not None and "reduce_only" not in reason:
            raise ValueError("a reduce-only refusal reason must contain 'reduce_only'")
        self._venues[venue].reduce_only_refusal = reason or ""
        logger.bind(tag=f"SIM_{venue}").warning("fault injected: reduce-only orders refused ({})", reason)

    def fail_position_reads(self, venue: str, failing: bool = True) -> None:
        """While ``failing``, :meth:`positions` of ``venue`` raises :class:`SimUnavailable`."""
        self._venues[venue].positions_unreadable = failing
        logger.bind(tag=f"SIM_{venue}").warning("fault injected: position reads {}", "fail" if failing else "work")
    def inject_silent_fill(self, venue: str, symbol: str, side: Side, size: Decimal) -> Fill:
        """Change ``venue``'s position in ``symbol`` by a fill of ``size`` on ``side`` at the book's mid that
        the private stream never delivers (``MatchingEngine.inject_silent_fill``)."""
        engine = self.engine(venue, symbol)
        book = engine.book
        mid = book.mid() if book.valid else None
        fill = engine.inject_silent_fill(side, size, mid if mid is not None else Decimal(1), self.now_ns())
        logger.bind(tag=f"SIM_{venue}").warning("fault injected: silent fill {} {} {}", side, size, symbol)
        return fill

    # ------------------------------------------------------------------ replay
    async def _publish(self, st: _VenueState, symbol: str, batch: list[MarketDataMsg]) -> None:
        if st.feed_blackholed or not batch:
            return
        subs = st.md_subscribers.get(symbol)
        if not subs:
            return
        at = self._deliver_at()
        for tx in list(subs):
            try:
                await tx.send((at, batch))
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                subs.remove(tx)

    async def _drive(self, market: SimMarket, lines: list[bytes], *, task_status: trio.TaskStatus[None]) -> None:
        st = self._venues[market.venue]
        engine = st.engines[market.instrument.symbol]
        symbol = market.instrument.symbol
        reader = RecordingReader(market.contract)
        log = logger.bind(tag=f"SIM_{market.venue}_{symbol}")
        speed = self.settings.speed
        batch: list[MarketDataMsg] = []
        started = False
        n = 0
        for line in lines:
            msg = reader.parse(line)
            if msg is None:
                continue
            if msg.recv_ns > self._origin_ns:
                if not started:
                    started = True
                    task_status.started()
                if speed > 0:
                    target = self._t0 + (msg.recv_ns - self._origin_ns) / 1e9 / speed
                    if target > trio.current_time():
                        await self._publish(st, symbol, batch)
                        batch = []
                        await trio.sleep_until(target)
                elif n % 64 == 0:
                    await self._publish(st, symbol, batch)
                    batch = []
                    await trio.lowlevel.checkpoint()
            n += 1
            try:
                if isinstance(msg, BookDeltaMsg):
                    events = engine.apply_delta(
                        msg.bids, msg.asks, seq=msg.seq, first_seq=msg.first_seq, prev_seq=msg.prev_seq,
                        ts_ns=msg.ts_ns,
                    )
                    if engine.book.valid:
                        batch.append(msg)
                elif isinstance(msg, TradeMsg):
                    events = engine.apply_trade(msg.price, msg.size, msg.aggressor, ts_ns=self.now_ns())
                elif isinstance(msg, BookSnapshotMsg):
                    events = engine.apply_snapshot(msg.bids, msg.asks, seq=msg.seq, ts_ns=msg.ts_ns)
                    batch.append(msg)
                else:
                    continue
            except TrioHedgeError as exc:
                events = self._resync(engine, msg, exc, log)
                if engine.book.valid:
                    bids, asks = engine.book.snapshot()
                    batch.append(BookSnapshotMsg(msg.recv_ns, engine.book.seq, bids, asks, engine.book.ts_ns))
            self._emit(market.venue, events)
        await self._publish(st, symbol, batch)
        if not started:
            task_status.started()
        self._replayed[f"{market.venue}/{symbol}"] = n
        self._malformed[f"{market.venue}/{symbol}"] = reader.stats.malformed
        if reader.stats.malformed:
            log.warning("{} malformed recording lines skipped (last: {})", reader.stats.malformed,
                        reader.stats.last_error)
        log.info("recording replayed to its end ({} messages)", n)

    @staticmethod
    def _resync(engine: MatchingEngine, msg: object, exc: Exception, log: Logger) -> list[VenueEvent]:
        """A recording with a hole (a sequence gap or a crossed result) must not freeze the venue: a real
        venue's book has no gaps, only its recorder does. Rebuild from the venue's last state at the
        delta's base sequence, apply the delta on top, and let subscribers resync from a fresh snapshot."""
        if not isinstance(msg, BookDeltaMsg):
            log.error("recording message rejected: {}", exc)
            return []
        log.warning("recording gap or bad delta ({}); the venue rebuilds its book and resyncs subscribers", exc)
        bids, asks = engine.book.snapshot()
        base = msg.prev_seq if msg.prev_seq is not None else msg.first_seq - 1
        try:
            events = engine.apply_snapshot(bids, asks, seq=base, ts_ns=msg.ts_ns)
            events += engine.apply_delta(msg.bids, msg.asks, seq=msg.seq, first_seq=msg.first_seq,
                                         prev_seq=msg.prev_seq, ts_ns=msg.ts_ns)
        except TrioHedgeError as again:
            log.error("venue book could not be rebuilt ({}); takers are refused until the next snapshot", again)
            return []
        return events

    def statistics(self) -> SimStatistics:
        return SimStatistics(dict(self._replayed), dict(self._malformed), self.finished.is_set())


def _snapshot_recv_ns(lines: list[bytes]) -> int:
    for line in lines:
        if b'"lastUpdateId"' in line:
            head = line.split(b" ", 1)[0]
            return int(head)
    raise TrioHedgeError("recording has no REST snapshot line")


@asynccontextmanager
async def open_sim_exchange(settings: SimSettings, markets: Sequence[SimMarket]) -> AsyncIterator[SimExchange]:
    """Load the recordings (in a worker thread), start replaying them, and yield the running exchange.

    Both halves block: entering loads and fast-forwards to the common origin (about a second for the
    embedded recordings); exiting cancels the replay tasks.

    Raises:
        TrioHedgeError: a recording is missing, unreadable or has no snapshot.
    """
    exchange = SimExchange(settings, markets)
    loaded: list[list[bytes]] = []
    for m in markets:
        try:
            lines = await trio.to_thread.run_sync(load_lines, m.recording)
        except OSError as exc:
            raise TrioHedgeError(f"sim: cannot read recording {m.recording}: {exc.strerror or exc}") from None
        loaded.append(lines)
    exchange._origin_ns = max(_snapshot_recv_ns(lines) for lines in loaded)
    exchange._t0 = trio.current_time()
    async with trio.open_nursery() as nursery:

        async def drive_all(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
            async with trio.open_nursery() as inner:
                for m, lines in zip(markets, loaded, strict=True):
                    await inner.start(exchange._drive, m, lines)
                task_status.started()
            exchange.finished.set()

        await nursery.start(drive_all)
        exchange._t0 = trio.current_time()
        exchange.started.set()
        try:
            yield exchange
        finally:
            nursery.cancel_scope.cancel()
