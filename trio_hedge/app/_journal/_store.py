"""The synchronous journal store: :class:`Journal`, one SQLite connection used from one thread
(``app/_journal/__init__.py`` has the design notes)."""

from __future__ import annotations

import functools
import inspect
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal, Inexact, localcontext
from types import TracebackType
from typing import Any, TypeVar

from ...domain import ZERO, BadValue, Fill, Order, OrderRequest, OrderStatus, OrderType, Side, TimeInForce
from ._schema import (
    _MIGRATIONS,
    _SUM_PRECISION,
    _TERMINAL_SQL,
    CLEAN_EXIT_CODES,
    DEFAULT_BUSY_TIMEOUT_MS,
    SCHEMA_VERSION,
    SYNCHRONOUS_NORMAL,
    CycleRow,
    DuplicateIntent,
    EventRow,
    IdBlockOverlap,
    IntentItem,
    IntentRow,
    JournalClosed,
    JournalConflict,
    JournalDamaged,
    JournalError,
    JournalIOError,
    JournalStats,
    RunRow,
    StatusRow,
    UnknownRecord,
    _check_ns,
    _check_text,
    _cycle_row,
    _dec,
    _dec_text,
    _fill_row,
    _intent_row,
    _intent_values,
    _migrate,
    _run_row,
    check_file,
    check_schema,
    quick_check,
)

# ----------------------------------------------------------------------------------------------- Journal

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


def _mapped(fn: F) -> F:
    """``fn`` (a :class:`Journal` method) with every ``sqlite3.Error`` raised as :class:`JournalIOError`."""

    @functools.wraps(fn)
    def wrapper(self: Journal, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(self, *args, **kwargs)
        except sqlite3.Error as exc:
            raise JournalIOError(self.path, fn.__name__, exc) from exc

    return wrapper  # type: ignore[return-value]


JournalT = TypeVar("JournalT", bound=type)


def _map_sqlite_errors(cls: JournalT) -> JournalT:
    """The journal's error boundary: every public method of ``cls`` raises :class:`JournalIOError` where
    ``sqlite3`` raised ``sqlite3.Error`` (disk full, I/O error, read-only file, damage met by a read, a lock
    held too long); the journal's own errors (:class:`JournalConflict`, ``BadValue``...) pass unchanged."""
    for name, attr in list(vars(cls).items()):
        if not name.startswith("_") and inspect.isfunction(attr):
            setattr(cls, name, _mapped(attr))
    return cls


@_map_sqlite_errors
class Journal:
    """The synchronous journal over one SQLite connection. Build it with :meth:`Journal.open`.

    Every write method is one IMMEDIATE transaction: it either commits entirely (and the WAL is fsynced before
    it returns) or raises with nothing written. Read methods see every committed write. Use the object only
    from the thread that opened it (``sqlite3``'s ``check_same_thread`` is on); it is also a context manager
    that closes on exit.

    Errors raised by every method: :class:`JournalClosed` after :meth:`close`; :class:`JournalIOError` for
    every ``sqlite3.Error`` (disk full, I/O error, read-only file, a second writer holding the lock past
    ``busy_timeout_ms``): no ``sqlite3`` exception leaves the store.
    """

    def __init__(self, conn: sqlite3.Connection, path: str, write_lock: threading.Lock | None = None,
                 checkpoint_every: int = 0) -> None:
        """Internal: use :meth:`Journal.open`."""
        self._conn: sqlite3.Connection | None = conn
        self._path = path
        self._run_id: int | None = None
        self._write_lock = write_lock
        self._checkpoint_every = checkpoint_every
        self.commits_since_checkpoint = 0
        """Write transactions committed since the last :meth:`checkpoint` (counted with ``checkpoint_every``)."""
        self.check_result = "not checked"
        """How the check at open went (:meth:`open` ``check_budget_ms``)."""

    # ---- lifecycle

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS,
             write_lock: threading.Lock | None = None, exclusive: bool = False,
             check_budget_ms: int | None = None, checkpoint_every: int = 0) -> Journal:
        """Open (creating if needed) the journal at ``path`` and bring its schema to :data:`SCHEMA_VERSION`.

        Sets ``journal_mode=WAL`` (persistent in the file), ``synchronous=NORMAL`` (a commit is in the OS once it
        returns: it survives ``kill -9`` of the process, not a power loss; :meth:`reserve_id_block` commits with
        an fsync), ``foreign_keys=ON`` and
        ``mmap_size=0`` (per connection: the database file is read with ``read()``, never through a memory map)
        and checks that they took.

        Args:
            path: the database file; its directory must exist. SQLite adds ``-wal`` and ``-shm`` files beside it.
            busy_timeout_ms (int): how long a write waits for another connection's lock, ms.
            write_lock: a lock shared by the connections of this process on the same file (threads of one
                bot): every write transaction holds it, so they queue on it and go the moment it is free.
                Without it, a write that meets another connection's transaction gets SQLITE_BUSY and SQLite's
                busy handler sleeps 1, 2, 5, 10... ms between retries (``sqlite3.c`` ``sqliteDefaultBusyCallback``)
                however soon the other commits: on this VM an intent commit beside a report writer measured
                p50 0.30 ms, p99 18.8 ms that way, p50 0.38 ms, p99 0.9 ms with the lock. ``busy_timeout_ms``
                still applies to other processes.
            exclusive (bool): ``PRAGMA locking_mode=EXCLUSIVE`` before the first read: this connection keeps
                the file locked until it closes, and in WAL mode SQLite then keeps the WAL index in heap
                memory instead of the memory-mapped ``-shm`` file (https://www.sqlite.org/wal.html section
                "Use of WAL without shared-memory"). A write fault on a mapped page (the ``-shm`` made
                immutable, or its file system full under delayed allocation) is a SIGBUS that kills the
                process with no cleanup; with no mapping, every such fault is an error SQLite returns. The price:
                no other connection (another process, or a second one in this process) can open the file
                while this one is open.
            check_budget_ms (int | None): check the file before using it: an existing empty file is refused,
                SQLite's ``quick_check`` runs for at most this long, and every table and index of the schema
                must be present. None: no check.
            checkpoint_every (int): 0 (the default): SQLite checkpoints the WAL itself, inside whichever commit
                finds it over 1,000 pages (``wal_autocheckpoint``; that commit then pays the checkpoint's
                fsyncs). N > 0: automatic checkpoints are off and the owner calls :meth:`checkpoint` (see
                :attr:`checkpoint_due`) after N commits, on a thread where a checkpoint's fsyncs may wait:
                :class:`AsyncJournal` does this so that an intent committed on the event loop's thread never
                runs a checkpoint. The connection is then also usable from other threads
                (``check_same_thread`` off): the owner serialises every use of it.

        Returns:
            Journal: open, usable from the calling thread only (``checkpoint_every`` > 0: from one thread at a
            time). ``check_result`` says how the check went.

        Raises:
            JournalDamaged: the check found damage, a missing schema object, or an empty file.
            JournalSchemaError: the file is newer than this build, or is a SQLite file that is not a journal.
            JournalError: the file is not a SQLite database, or WAL/NORMAL could not be set.
            JournalIOError: the file cannot be created, read or locked (a ``sqlite3.Error``).
        """
        spath = os.fspath(path)
        if check_budget_ms is not None:
            check_file(spath)
        try:
            conn = sqlite3.connect(spath, isolation_level=None, check_same_thread=checkpoint_every <= 0)
        except sqlite3.Error as exc:
            raise JournalIOError(spath, "open", exc) from exc
        check_result = "not checked"
        try:
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            if exclusive:
                conn.execute("PRAGMA locking_mode = EXCLUSIVE")
            conn.execute("PRAGMA mmap_size = 0")
            try:
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            except sqlite3.OperationalError:
                raise
            except sqlite3.DatabaseError as exc:
                raise JournalError(f"journal {spath}: not a SQLite database ({exc})") from exc
            if str(mode).lower() != "wal":
                raise JournalError(f"journal {spath}: could not switch to WAL mode (got {mode!r})")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            if checkpoint_every > 0:
                conn.execute("PRAGMA wal_autocheckpoint = 0")
            if conn.execute("PRAGMA synchronous").fetchone()[0] != SYNCHRONOUS_NORMAL:
                raise JournalError(f"journal {spath}: could not set synchronous=NORMAL")
            if check_budget_ms is not None:
                done = quick_check(conn, spath, check_budget_ms)
                check_result = "quick_check ok" if done else f"quick_check unfinished within {check_budget_ms} ms"
            if write_lock is None:
                _migrate(conn, spath, _MIGRATIONS, SCHEMA_VERSION)
            else:
                with write_lock:
                    _migrate(conn, spath, _MIGRATIONS, SCHEMA_VERSION)
            if check_budget_ms is not None:
                check_schema(conn, spath)
                check_result += ", schema ok"
        except BaseException as exc:
            conn.close()
            if isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.OperationalError):
                raise JournalDamaged(spath, f"SQLite cannot read it ({exc})") from exc
            if isinstance(exc, sqlite3.Error):
                raise JournalIOError(spath, "open", exc) from exc
            raise
        journal = cls(conn, spath, write_lock, checkpoint_every)
        journal.check_result = check_result
        return journal

    def close(self) -> None:
        """Close the connection (idempotent). Nothing is pending: every write committed before it returned."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    @property
    def closed(self) -> bool:
        return self._conn is None

    @property
    def path(self) -> str:
        return self._path

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Journal {self._path!r}{' closed' if self._conn is None else ''}>"

    @property
    def checkpoint_due(self) -> bool:
        """True when the owner should call :meth:`checkpoint` (``checkpoint_every`` commits since the last)."""
        return 0 < self._checkpoint_every <= self.commits_since_checkpoint

    def checkpoint(self) -> tuple[int, int]:
        """Copy the WAL's committed pages back into the database file (``PRAGMA wal_checkpoint(PASSIVE)``,
        https://www.sqlite.org/pragma.html#pragma_wal_checkpoint): fsyncs the WAL and the database, so it may
        take milliseconds; with the exclusive lock there is no reader to wait for.

        Returns:
            tuple[int, int]: (pages in the WAL, pages checkpointed).
        """
        _busy, log_pages, done_pages = self._live().execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        self.commits_since_checkpoint = 0
        return int(log_pages), int(done_pages)

    def statistics(self) -> JournalStats:
        """Schema version, the connection's journal mode and synchronous level, and the newest seq."""
        conn = self._live()
        return JournalStats(
            path=self._path,
            schema_version=int(conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0]),
            journal_mode=str(conn.execute("PRAGMA journal_mode").fetchone()[0]),
            synchronous=int(conn.execute("PRAGMA synchronous").fetchone()[0]),
            last_seq=int(conn.execute("SELECT last_seq FROM seq_counter").fetchone()[0]),
        )

    # ---- plumbing

    def _live(self) -> sqlite3.Connection:
        if self._conn is None:
            raise JournalClosed(f"journal {self._path} is closed")
        return self._conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One IMMEDIATE transaction; COMMIT on success, ROLLBACK on any exception (KeyboardInterrupt too).
        Under the shared ``write_lock`` when the journal has one (see :meth:`open`)."""
        conn = self._live()
        lock = self._write_lock
        if lock is not None:
            lock.acquire()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
                self.commits_since_checkpoint += 1
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        finally:
            if lock is not None:
                lock.release()

    @staticmethod
    def _next_seq(conn: sqlite3.Connection) -> int:
        row = conn.execute("UPDATE seq_counter SET last_seq = last_seq + 1 WHERE id = 1 RETURNING last_seq")
        return int(row.fetchone()[0])

    # ---- intents and status

    def record_intent(self, venue: str, request: OrderRequest, *, cycle_id: int | None = None,
                      ts_ns: int | None = None) -> int:
        """Commit an order intent (status PENDING) BEFORE the order is sent; send only after this returns.

        Args:
            venue (str): venue name.
            request (OrderRequest): the order about to be sent (client order id, symbol, side, size, price,
                order type, tif, post_only, reduce_only, reason); validated by OrderRequest itself.
            cycle_id (int | None): the hedge cycle (from :meth:`start_cycle`), if any.
            ts_ns (int | None): intent time, ns since the Unix epoch; default now.

        Returns:
            int: the intent's seq. Its PENDING history row gets the next seq.

        Raises:
            DuplicateIntent: ``(venue, request.client_order_id)`` was recorded before (nothing written).
            UnknownRecord: ``cycle_id`` is not a recorded cycle.
            BadValue: empty venue or client order id, non-Decimal or non-finite size/price, bad ``ts_ns``.
        """
        values = _intent_values(venue, request, ts_ns)  # checked before the write lock is taken
        with self._write() as conn:
            return self._insert_intent(conn, venue, request, cycle_id, values)

    def rehearse_intent(self, venue: str, request: OrderRequest, *, cycle_id: int | None = None) -> bool:
        """Run :meth:`record_intent`'s transaction for ``request`` and roll it back: nothing is committed or
        written to the WAL, and the intent can still be recorded for real. It keeps the intent's code and pages
        warm in the CPU caches (``engine/_rehearse.py``). Never waits for the shared ``write_lock``: returns
        False at once when another connection holds it (True when it ran). Raises BadValue as
        :meth:`record_intent` (a duplicate or an unknown cycle is not an error here: those roll back too)."""
        values = _intent_values(venue, request, None)
        lock = self._write_lock
        if lock is not None and not lock.acquire(blocking=False):
            return False
        try:
            conn = self._live()
            conn.execute("BEGIN IMMEDIATE")
            try:
                self._insert_intent(conn, venue, request, cycle_id, values)
            except (DuplicateIntent, UnknownRecord):
                pass
            finally:
                conn.execute("ROLLBACK")
        finally:
            if lock is not None:
                lock.release()
        return True

    # ---- client-order-id blocks

    def reserve_id_block(self, venue: str, first: int, size: int, *, ts_ns: int | None = None) -> None:
        """Reserve the client order ids ``first .. first + size - 1`` of ``venue`` durably: this one commit is
        fsynced (``synchronous=FULL`` for its transaction), so the block survives a power loss even when the
        intents drawn from it (committed with ``synchronous=NORMAL``) do not. Startup reconciliation treats an
        order or fill with an id in a reserved block as this bot's own (docs/architecture.md, "Durability").

        Raises:
            IdBlockOverlap: the range overlaps a block of ``venue`` already reserved (nothing written).
            BadValue: empty venue, ``first`` < 0, ``size`` < 1.
        """
        _check_text(venue, "venue")
        if isinstance(first, bool) or not isinstance(first, int) or first < 0:
            raise BadValue(f"journal: id block start must be an int >= 0, not {first!r}")
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise BadValue(f"journal: id block size must be an int >= 1, not {size!r}")
        for lo, n in self.id_blocks(venue):
            if first < lo + n and lo < first + size:
                raise IdBlockOverlap(f"journal: ids {first}+{size} of {venue} overlap the block {lo}+{n}")
        reserved_ns = time.time_ns() if ts_ns is None else _check_ns(ts_ns, "ts_ns")
        conn = self._live()
        conn.execute("PRAGMA synchronous = FULL")  # this commit only: one fsync per block
        try:
            with self._write() as c:
                c.execute("INSERT INTO id_blocks (venue, first, size, seq, reserved_ns) VALUES (?, ?, ?, ?, ?)",
                          (venue, str(first), size, self._next_seq(c), reserved_ns))
        finally:
            conn.execute("PRAGMA synchronous = NORMAL")

    def id_blocks(self, venue: str) -> list[tuple[int, int]]:
        """The id blocks reserved for ``venue``: ``(first, size)`` each, oldest first."""
        rows = self._live().execute("SELECT first, size FROM id_blocks WHERE venue = ? ORDER BY seq", (venue,))
        return [(int(r[0]), int(r[1])) for r in rows]

    def record_intents(self, items: Sequence[IntentItem]) -> list[int | JournalError | BadValue]:
        """Commit several order intents in ONE transaction (one WAL fsync: group commit), each as
        :meth:`record_intent` would; send each order only after this returns.

        Args:
            items: ``(venue, request, cycle_id, ts_ns)`` per intent (see :meth:`record_intent`).

        Returns:
            list: per item, in order, its seq, or the error :meth:`record_intent` would have raised for it
            alone (:class:`DuplicateIntent`, :class:`UnknownRecord`, ``BadValue``): that item is not written,
            the others are (each is its own SAVEPOINT).

        Raises:
            JournalIOError: the transaction failed (disk full, lock timeout...): nothing was written.
        """
        results: list[int | JournalError | BadValue] = []
        checked: list[tuple[int, IntentItem, tuple[str, str | None, int]]] = []
        for i, item in enumerate(items):  # bad values fail alone, before the write lock is taken
            try:
                checked.append((i, item, _intent_values(item[0], item[1], item[3])))
                results.append(0)  # placeholder, replaced below
            except BadValue as exc:
                results.append(exc)
        if not checked:
            return results
        if len(checked) == 1:  # one intent (the common case, and every inline one): no savepoint needed
            i, (venue, request, cycle_id, _), values = checked[0]
            try:
                with self._write() as conn:
                    results[i] = self._insert_intent(conn, venue, request, cycle_id, values)
            except (DuplicateIntent, UnknownRecord) as exc:  # rolled back by _write: nothing was written
                results[i] = exc
            return results
        with self._write() as conn:
            for i, (venue, request, cycle_id, _), values in checked:
                conn.execute("SAVEPOINT intent")
                try:
                    results[i] = self._insert_intent(conn, venue, request, cycle_id, values)
                except JournalError as exc:
                    conn.execute("ROLLBACK TO intent")
                    results[i] = exc
                conn.execute("RELEASE intent")
        return results

    def _insert_intent(self, conn: sqlite3.Connection, venue: str, request: OrderRequest, cycle_id: int | None,
                       values: tuple[str, str | None, int]) -> int:
        """The writes of one intent checked by :func:`_intent_values`, inside the caller's transaction.

        Raises:
            DuplicateIntent, UnknownRecord: as :meth:`record_intent`.
        """
        size, price, created_ns = values
        existing = conn.execute("SELECT seq FROM intents WHERE venue = ? AND client_order_id = ?",
                                (venue, request.client_order_id)).fetchone()
        if existing is not None:
            raise DuplicateIntent(venue, request.client_order_id, existing[0])
        if cycle_id is not None and conn.execute("SELECT 1 FROM cycles WHERE cycle_id = ?",
                                                 (cycle_id,)).fetchone() is None:
            raise UnknownRecord(f"journal: no cycle {cycle_id} for intent {request.client_order_id!r}")
        status_seq = int(conn.execute("UPDATE seq_counter SET last_seq = last_seq + 2 WHERE id = 1 RETURNING last_seq")
                         .fetchone()[0])
        seq = status_seq - 1  # two seqs in one statement: the intent's, then its first status row's
        conn.execute(
            "INSERT INTO intents (seq, venue, client_order_id, symbol, side, size, price, order_type, tif,"
            " post_only, reduce_only, reason, cycle_id, created_ns, status, status_seq, status_reason,"
            " venue_order_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)",
            (seq, venue, request.client_order_id, request.symbol, Side(request.side).value, size, price,
             OrderType(request.order_type).value, TimeInForce(request.tif).value, int(bool(request.post_only)),
             int(bool(request.reduce_only)), str(request.reason), cycle_id, created_ns,
             OrderStatus.PENDING.value, status_seq, "intent"),
        )
        conn.execute(
            "INSERT INTO status_history (seq, venue, client_order_id, status, reason, venue_order_id, ts_ns,"
            " recorded_ns) VALUES (?, ?, ?, ?, ?, NULL, ?, ?)",
            (status_seq, venue, request.client_order_id, OrderStatus.PENDING.value, "intent", created_ns,
             time.time_ns()),
        )
        return seq

    def record_status(self, venue: str, client_order_id: str, status: OrderStatus, *, reason: str = "",
                      venue_order_id: str | None = None, ts_ns: int | None = None) -> int | None:
        """Append a status report to the order's history and make it the current status.

        The move is checked against the domain state machine (:class:`trio_hedge.domain.Order`): the journal
        refuses what the in-memory order would refuse.

        Args:
            venue (str), client_order_id (str): the order (its intent must be recorded).
            status (OrderStatus): the new status.
            reason (str): venue reason code or our own (``reconciled``, ``not_found``, ...).
            venue_order_id (str | None): the venue's order id if this report carries it.
            ts_ns (int | None): the report's time, ns since the Unix epoch; default now.

        Returns:
            int | None: the history row's seq; None when the report repeats the current terminal status
            (venues repeat terminal reports; nothing is written).

        Raises:
            UnknownRecord: no intent for ``(venue, client_order_id)``.
            IllegalTransition: the state machine has no such edge (e.g. FILLED -> OPEN); nothing written.
            JournalConflict: ``venue_order_id`` differs from the one already recorded.
        """
        status = OrderStatus(status)
        _check_text(reason, "reason", empty_ok=True)
        if venue_order_id is not None:
            _check_text(venue_order_id, "venue_order_id")
        report_ns = time.time_ns() if ts_ns is None else _check_ns(ts_ns, "ts_ns")
        with self._write() as conn:
            r = conn.execute("SELECT * FROM intents WHERE venue = ? AND client_order_id = ?",
                             (venue, client_order_id)).fetchone()
            if r is None:
                raise UnknownRecord(f"journal: no intent for client_order_id {client_order_id!r} on {venue!r}")
            current = _intent_row(r)
            order = Order(request=current.request, venue=venue, status=current.status)
            if not order.transition(status, reason):  # raises IllegalTransition
                return None  # repeated terminal report; _write commits an empty transaction
            if venue_order_id is not None and current.venue_order_id not in (None, venue_order_id):
                raise JournalConflict(f"journal: order {client_order_id!r} on {venue!r} already has venue order id "
                                      f"{current.venue_order_id!r}, report says {venue_order_id!r}")
            seq = self._next_seq(conn)
            conn.execute(
                "INSERT INTO status_history (seq, venue, client_order_id, status, reason, venue_order_id, ts_ns,"
                " recorded_ns) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (seq, venue, client_order_id, status.value, reason, venue_order_id, report_ns, time.time_ns()),
            )
            conn.execute(
                "UPDATE intents SET status = ?, status_seq = ?, status_reason = ?,"
                " venue_order_id = coalesce(?, venue_order_id) WHERE seq = ?",
                (status.value, seq, reason, venue_order_id, current.seq),
            )
        return seq

    def intent(self, venue: str, client_order_id: str) -> IntentRow | None:
        """The intent for ``(venue, client_order_id)`` with its current status, or None."""
        r = self._live().execute("SELECT * FROM intents WHERE venue = ? AND client_order_id = ?",
                                 (venue, client_order_id)).fetchone()
        return None if r is None else _intent_row(r)

    def inflight(self, venue: str | None = None) -> list[IntentRow]:
        """Intents not in a terminal status (PENDING, OPEN, PARTIALLY_FILLED), oldest first (by seq).

        After a restart each of them has an unknown fate and must be resolved with the venue ("missing
        reports do not mean flat", NautilusTrader's reconciliation rule:
        https://nautilustrader.io/docs/latest/concepts/live/).
        """
        sql = f"SELECT * FROM intents WHERE status NOT IN {_TERMINAL_SQL}"
        args: tuple[str, ...] = ()
        if venue is not None:
            sql += " AND venue = ?"
            args = (venue,)
        return [_intent_row(r) for r in self._live().execute(sql + " ORDER BY seq", args)]

    def status_history(self, venue: str, client_order_id: str) -> list[StatusRow]:
        """Every status recorded for the order, oldest first (the first is the intent's PENDING)."""
        rows = self._live().execute("SELECT * FROM status_history WHERE venue = ? AND client_order_id = ? "
                                    "ORDER BY seq", (venue, client_order_id))
        return [StatusRow(seq=r["seq"], venue=r["venue"], client_order_id=r["client_order_id"],
                          status=OrderStatus(r["status"]), reason=r["reason"], venue_order_id=r["venue_order_id"],
                          ts_ns=r["ts_ns"], recorded_ns=r["recorded_ns"]) for r in rows]

    # ---- fills

    def record_fill(self, fill: Fill) -> bool:
        """Record ``fill`` once, keyed by ``(fill.venue, fill.trade_id)``.

        A fill for an order the journal has no intent for is still recorded (a real fill is never dropped;
        reconciliation reports it). Fills do not change the intent's status: record the status separately.

        Returns:
            bool: True if new; False if this trade was already recorded with the same economics (nothing written).

        Raises:
            JournalConflict: the trade id was recorded with a different symbol, order, side, price or size.
            BadValue: price <= 0, size <= 0, non-finite or non-Decimal amounts, empty ids, bad ``ts_ns``.
        """
        venue = _check_text(fill.venue, "fill venue")
        trade_id = _check_text(fill.trade_id, "trade_id")
        _check_text(fill.symbol, "fill symbol")
        _check_text(fill.client_order_id, "fill client_order_id", empty_ok=True)
        price = _dec_text(fill.price, "fill price")
        size = _dec_text(fill.size, "fill size")
        fee = _dec_text(fill.fee, "fill fee")
        if fill.price <= ZERO or fill.size <= ZERO:
            raise BadValue(f"journal: fill {trade_id!r}: price and size must be > 0")
        ts_ns = _check_ns(fill.ts_ns, "fill ts_ns")
        side = Side(fill.side).value
        with self._write() as conn:
            r = conn.execute("SELECT * FROM fills WHERE venue = ? AND trade_id = ?", (venue, trade_id)).fetchone()
            if r is not None:
                old = _fill_row(r)
                if (old.symbol, old.client_order_id, old.side, old.price, old.size) != (
                        fill.symbol, fill.client_order_id, fill.side, fill.price, fill.size):
                    raise JournalConflict(f"journal: trade {trade_id!r} on {venue!r} replayed with different "
                                          f"economics: recorded {old.side} {old.size}@{old.price} "
                                          f"({old.client_order_id!r}), now {fill.side} {fill.size}@{fill.price} "
                                          f"({fill.client_order_id!r})")
                return False
            seq = self._next_seq(conn)
            conn.execute(
                "INSERT OR IGNORE INTO fills (seq, venue, trade_id, symbol, client_order_id, side, price, size, fee,"
                " is_maker, ts_ns, recorded_ns) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (seq, venue, trade_id, fill.symbol, fill.client_order_id, side, price, size, fee,
                 int(bool(fill.is_maker)), ts_ns, time.time_ns()),
            )
        return True

    def fills(self, venue: str | None = None, symbol: str | None = None, since_ns: int | None = None) -> list[Fill]:
        """Recorded fills, in journal order (by seq), optionally filtered.

        Args:
            venue (str | None), symbol (str | None): exact matches.
            since_ns (int | None): only fills with ``ts_ns >= since_ns`` (venue time, ns since the Unix epoch).
        """
        clauses: list[str] = []
        args: list[str | int] = []
        for column, value in (("venue", venue), ("symbol", symbol)):
            if value is not None:
                clauses.append(f"{column} = ?")
                args.append(value)
        if since_ns is not None:
            clauses.append("ts_ns >= ?")
            args.append(_check_ns(since_ns, "since_ns"))
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        return [_fill_row(r) for r in self._live().execute(f"SELECT * FROM fills{where} ORDER BY seq", args)]

    def filled_size(self, venue: str, client_order_id: str) -> Decimal:
        """Sum of recorded fill sizes for the order, base units, exact (summed as Decimal, never in SQL).

        Raises:
            decimal.Inexact: the exact sum needs more than 100 significant digits (never for real sizes).
        """
        rows = self._live().execute("SELECT size FROM fills WHERE venue = ? AND client_order_id = ?",
                                    (venue, client_order_id))
        with localcontext() as ctx:  # exact or an error, never a silent rounding to 28 digits
            ctx.prec = _SUM_PRECISION
            ctx.traps[Inexact] = True
            return sum((_dec(r[0]) for r in rows), ZERO)

    # ---- cycles

    def start_cycle(self, market: str, index: int, side: Side, *, ts_ns: int | None = None) -> int:
        """Record the start of hedge cycle number ``index`` in ``market`` (maker side ``side``).

        Returns:
            int: the cycle id (the seq of this row); pass it to :meth:`record_intent` and :meth:`end_cycle`.

        Raises:
            BadValue: empty market, negative or non-int index, bad ``ts_ns``.
        """
        _check_text(market, "market")
        if isinstance(index, bool) or not isinstance(index, int) or index < 0:
            raise BadValue("journal: cycle index must be an int >= 0")
        started_ns = time.time_ns() if ts_ns is None else _check_ns(ts_ns, "ts_ns")
        with self._write() as conn:
            seq = self._next_seq(conn)
            conn.execute("INSERT INTO cycles (cycle_id, market, idx, side, started_ns) VALUES (?, ?, ?, ?, ?)",
                         (seq, market, index, Side(side).value, started_ns))
        return seq

    def end_cycle(self, cycle_id: int, outcome: str, detail: str = "", *, ts_ns: int | None = None) -> int:
        """Record how cycle ``cycle_id`` ended (``outcome`` a short tag such as ``hedged``, ``flattened``).

        Returns:
            int: the seq of this change.

        Raises:
            UnknownRecord: no such cycle.
            JournalConflict: the cycle already ended.
        """
        _check_text(outcome, "outcome")
        _check_text(detail, "detail", empty_ok=True)
        ended_ns = time.time_ns() if ts_ns is None else _check_ns(ts_ns, "ts_ns")
        with self._write() as conn:
            r = conn.execute("SELECT end_seq FROM cycles WHERE cycle_id = ?", (cycle_id,)).fetchone()
            if r is None:
                raise UnknownRecord(f"journal: no cycle {cycle_id}")
            if r[0] is not None:
                raise JournalConflict(f"journal: cycle {cycle_id} already ended (seq {r[0]})")
            seq = self._next_seq(conn)
            conn.execute("UPDATE cycles SET end_seq = ?, ended_ns = ?, outcome = ?, detail = ? WHERE cycle_id = ?",
                         (seq, ended_ns, outcome, detail, cycle_id))
        return seq

    def cycle(self, cycle_id: int) -> CycleRow | None:
        """The cycle ``cycle_id``, or None."""
        r = self._live().execute("SELECT * FROM cycles WHERE cycle_id = ?", (cycle_id,)).fetchone()
        return None if r is None else _cycle_row(r)

    def open_cycles(self) -> list[CycleRow]:
        """Cycles started and never ended, oldest first (after a restart: cycles a crash interrupted)."""
        return [_cycle_row(r) for r in self._live().execute(
            "SELECT * FROM cycles WHERE end_seq IS NULL ORDER BY cycle_id")]

    # ---- runs (crash-loop breaker)

    def record_start(self, pid: int, ts_ns: int) -> int:
        """Record that process ``pid`` started at ``ts_ns`` (ns since the Unix epoch). Call once per process,
        before anything can crash; :meth:`record_exit` closes it.

        Returns:
            int: the run id (the seq of this row); this journal remembers it for :meth:`record_exit`.
        """
        if isinstance(pid, bool) or not isinstance(pid, int) or pid <= 0:
            raise BadValue("journal: pid must be an int > 0")
        _check_ns(ts_ns, "ts_ns")
        with self._write() as conn:
            seq = self._next_seq(conn)
            conn.execute("INSERT INTO runs (run_id, pid, started_ns) VALUES (?, ?, ?)", (seq, pid, ts_ns))
        self._run_id = seq
        return seq

    def record_exit(self, code: int, reason: str, *, run_id: int | None = None, ts_ns: int | None = None) -> int:
        """Record the exit of a run (default: the one this journal's :meth:`record_start` recorded).

        Args:
            code (int): the process exit code (0 clean, 78 do-not-restart, anything else a crash).
            reason (str): a short explanation.
            run_id (int | None): which run; default this journal's own.
            ts_ns (int | None): exit time, ns since the Unix epoch; default now.

        Returns:
            int: the seq of this change.

        Raises:
            UnknownRecord: no run given and none started through this journal, or no such run.
            JournalConflict: the run's exit was already recorded.
        """
        if isinstance(code, bool) or not isinstance(code, int):
            raise BadValue("journal: exit code must be an int")
        _check_text(reason, "reason", empty_ok=True)
        exited_ns = time.time_ns() if ts_ns is None else _check_ns(ts_ns, "ts_ns")
        rid = self._run_id if run_id is None else run_id
        if rid is None:
            raise UnknownRecord("journal: record_exit without record_start")
        with self._write() as conn:
            r = conn.execute("SELECT exit_seq FROM runs WHERE run_id = ?", (rid,)).fetchone()
            if r is None:
                raise UnknownRecord(f"journal: no run {rid}")
            if r[0] is not None:
                raise JournalConflict(f"journal: run {rid} already has an exit recorded (seq {r[0]})")
            seq = self._next_seq(conn)
            conn.execute("UPDATE runs SET exit_seq = ?, exit_code = ?, exit_reason = ?, exited_ns = ? "
                         "WHERE run_id = ?", (seq, code, reason, exited_ns, rid))
        return seq

    def crashes_since(self, ts_ns: int) -> int:
        """How many runs that started at or after ``ts_ns`` crashed.

        A run crashed when it has no recorded exit (killed, or died before recording one), or exited with a
        code other than 0 and 78 (:data:`CLEAN_EXIT_CODES`). The run this journal started itself
        (:meth:`record_start`) is alive, so it is not counted until it records an exit. The breaker rule
        (``docs/supervisord.md``): ``crashes_since(now_ns - 300 s) >= 3`` -> exit 78.
        """
        _check_ns(ts_ns, "ts_ns")
        own = -1 if self._run_id is None else self._run_id
        codes = ", ".join(str(c) for c in sorted(CLEAN_EXIT_CODES))
        row = self._live().execute(
            f"SELECT count(*) FROM runs WHERE started_ns >= ? "
            f"AND ((exit_code IS NULL AND run_id != ?) OR exit_code NOT IN ({codes}))", (ts_ns, own)).fetchone()
        return int(row[0])

    def runs(self) -> list[RunRow]:
        """Every recorded run, oldest first."""
        return [_run_row(r) for r in self._live().execute("SELECT * FROM runs ORDER BY run_id")]

    # ---- checkpoints and events

    def set_checkpoint(self, name: str, value: str) -> int:
        """Set checkpoint ``name`` to ``value`` (e.g. ``fills_ts_ns.grvt`` -> the last reconciled fill ts).

        Returns:
            int: the seq of this write.
        """
        _check_text(name, "checkpoint name")
        _check_text(value, "checkpoint value", empty_ok=True)
        with self._write() as conn:
            seq = self._next_seq(conn)
            conn.execute("INSERT INTO checkpoints (name, value, seq, recorded_ns) VALUES (?, ?, ?, ?) "
                         "ON CONFLICT (name) DO UPDATE SET value = excluded.value, seq = excluded.seq, "
                         "recorded_ns = excluded.recorded_ns", (name, value, seq, time.time_ns()))
        return seq

    def get_checkpoint(self, name: str) -> str | None:
        """The checkpoint's value, or None if never set."""
        r = self._live().execute("SELECT value FROM checkpoints WHERE name = ?", (name,)).fetchone()
        return None if r is None else str(r[0])

    def record_event(self, kind: str, detail: str) -> int:
        """Record an event (``kind`` e.g. ``recon.orphan_order``, ``halt``; ``detail`` free text).

        Returns:
            int: the event's seq.
        """
        _check_text(kind, "event kind")
        _check_text(detail, "event detail", empty_ok=True)
        with self._write() as conn:
            seq = self._next_seq(conn)
            conn.execute("INSERT INTO events (seq, kind, detail, recorded_ns) VALUES (?, ?, ?, ?)",
                         (seq, kind, detail, time.time_ns()))
        return seq

    def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """``fn`` run on this journal's own connection (rows as ``sqlite3.Row``), for readers that must share it:
        with the exclusive lock (``journal.exclusive_lock``) no other connection can open the file while the bot
        runs (the trade log, ``app/_tradelog.py``). ``fn`` must only read; it runs on the journal's thread.

        Raises:
            JournalIOError: a ``sqlite3.Error`` inside ``fn``.
        """
        return fn(self._live())

    def events(self, kind: str | None = None, since_seq: int = 0) -> list[EventRow]:
        """Events with ``seq > since_seq`` (optionally of one ``kind``), oldest first."""
        sql = "SELECT * FROM events WHERE seq > ?"
        args: list[str | int] = [since_seq]
        if kind is not None:
            sql += " AND kind = ?"
            args.append(kind)
        return [EventRow(seq=r["seq"], kind=r["kind"], detail=r["detail"], recorded_ns=r["recorded_ns"])
                for r in self._live().execute(sql + " ORDER BY seq", args)]

