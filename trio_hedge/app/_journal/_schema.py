"""The journal's schema and vocabulary: errors, row types, the DDL and its migrations, and the value checks and
row mappings the store uses (``app/_journal/__init__.py`` has the design notes)."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from ...domain import (
    BadValue,
    Fill,
    OrderRequest,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
    TrioHedgeError,
    to_decimal,
)

IntentItem = tuple[str, OrderRequest, "int | None", "int | None"]
"""One intent for :meth:`Journal.record_intents`: (venue, request, cycle_id, ts_ns)."""

CLEAN_EXIT_CODES: Final = frozenset({0, 78})
"""Exit codes that are not crashes: 0 clean stop, 78 EX_CONFIG / breaker fired (``app/_process.py``)."""

_SUM_PRECISION: Final = 100  # digits for exact Decimal sums of stored sizes

DEFAULT_BUSY_TIMEOUT_MS: Final = 1000
"""How long a write waits for another connection's write lock before failing (ms). Only a second writer
(an inspection tool, a misconfigured second instance) can hold it."""


# ----------------------------------------------------------------------------------------------- errors


class JournalError(TrioHedgeError):
    """Base of journal errors (the file cannot be opened or used, or a write was refused)."""


class JournalSchemaError(JournalError):
    """The file's schema cannot be used: newer than this build, not a journal, or no migration path.

    Attributes:
        path (str): the database file.
        found (int | None): the schema version in the file (None when the file is not a journal).
        supported (int): the newest version this build knows (:data:`SCHEMA_VERSION`).
    """

    def __init__(self, path: str, found: int | None, supported: int, problem: str) -> None:
        super().__init__(f"journal {path}: {problem} (file schema_version={found}, this build supports "
                         f"up to {supported}); refusing to open")
        self.path = path
        self.found = found
        self.supported = supported


class JournalDamaged(JournalError):
    """The file at the journal's path cannot be trusted: SQLite's ``quick_check`` found damage, an object of
    the schema is missing, or the file is empty (a zero-byte file is never a journal this bot wrote: taking it
    as a new one would silently drop the run's history). The message says what is damaged and what to do;
    the file is left untouched.

    Attributes:
        path (str): the database file.
        problem (str): what is wrong.
    """

    def __init__(self, path: str, problem: str, todo: str | None = None) -> None:
        todo = todo or (f"keep the file, and copy what is readable into a new journal with `python -m trio_hedge "
                        f"journal salvage --journal {path}` (it prints where it wrote it); move that into place "
                        "and start again: reconciliation then resolves the rest from the venues")
        super().__init__(f"journal {path} is damaged: {problem}; refusing to trade on it. What to do: {todo}")
        self.path = path
        self.problem = problem


class JournalIOError(JournalError):
    """A SQLite error while the journal was in use (disk full, an I/O error, a read-only or immutable file,
    damage met by a read, a lock held past the busy timeout): every ``sqlite3.Error`` the store meets is
    raised as this, never as itself (``app/_journal/_store.py``). In the running bot it is the journal-down
    state (``app/_reconcile.py`` ``JournalRecorder``).

    Attributes:
        path (str): the database file.
        operation (str): the journal method that failed.
        sqlite_error (str): SQLite's error name (``SQLITE_FULL``, ``SQLITE_IOERR_WRITE``...) when known, else
            the Python exception class name.
    """

    def __init__(self, path: str, operation: str, exc: BaseException) -> None:
        name = getattr(exc, "sqlite_errorname", None) or type(exc).__name__
        super().__init__(f"journal {path}: {operation} failed ({name}: {exc})")
        self.path = path
        self.operation = operation
        self.sqlite_error = name

    def __copy__(self) -> JournalIOError:
        """A copy with the same message and attributes (``copy.copy`` would call ``__init__`` with the message
        alone; the worker thread hands one copy to each intent of a failed batch: ``_async.py``)."""
        new = type(self).__new__(type(self), *self.args)
        new.__dict__.update(self.__dict__)
        return new


class JournalTimeout(JournalIOError):
    """A journal call got no answer within its wall-clock bound (``call_bound_s`` of :func:`open_async_journal`,
    or the exit path's :meth:`AsyncJournal.bound_calls`; a hung disk): the caller stopped waiting; the write may
    or may not commit (the next start's reconciliation resolves both)."""

    def __init__(self, path: str, operation: str, bound_s: float) -> None:
        super().__init__(path, operation, TimeoutError(f"no answer within {bound_s:.1f}s (wall clock)"))


class JournalClosed(JournalError):
    """The journal was used after :meth:`Journal.close` (or :meth:`AsyncJournal.aclose`)."""


class DuplicateIntent(JournalError):
    """An intent with this ``(venue, client_order_id)`` already exists; client order ids are never reused.

    Attributes:
        venue (str), client_order_id (str): the key.
        existing_seq (int): seq of the intent already recorded.
    """

    def __init__(self, venue: str, client_order_id: str, existing_seq: int) -> None:
        super().__init__(f"journal: venue {venue!r} already has an intent for client_order_id "
                         f"{client_order_id!r} (seq {existing_seq}); a client order id is never reused")
        self.venue = venue
        self.client_order_id = client_order_id
        self.existing_seq = existing_seq


class UnknownRecord(JournalError):
    """A write referred to a record the journal does not have (an intent, a cycle, a run)."""


class IdBlockOverlap(JournalError):
    """A client-order-id block to reserve overlaps one already reserved for the venue (nothing written)."""


SYNCHRONOUS_NORMAL: Final = 1
"""SQLite's number for ``PRAGMA synchronous = NORMAL`` (the journal's setting, :meth:`Journal.open`)."""


class JournalConflict(JournalError):
    """A write contradicts what is already recorded (a replayed fill with other economics, a second venue
    order id for one order, a cycle or run ended twice). Never silently ignored: one side has a bug."""


# ----------------------------------------------------------------------------------------------- rows


@dataclass(frozen=True, slots=True)
class IntentRow:
    """One order intent and its current status.

    Attributes:
        seq (int): journal seq of the intent (recorded before the order was sent).
        venue (str): venue name.
        request (OrderRequest): what was (to be) sent, exactly as recorded.
        cycle_id (int | None): the hedge cycle it belongs to.
        created_ns (int): when the intent was recorded, ns since the Unix epoch.
        status (OrderStatus): current status (PENDING until the venue or reconciliation says otherwise).
        status_seq (int): seq of the last status change (== the PENDING history row's seq at first).
        status_reason (str): reason given with the last status change.
        venue_order_id (str | None): the venue's id, once known.
    """

    seq: int
    venue: str
    request: OrderRequest
    cycle_id: int | None
    created_ns: int
    status: OrderStatus
    status_seq: int
    status_reason: str
    venue_order_id: str | None

    @property
    def client_order_id(self) -> str:
        return self.request.client_order_id

    @property
    def symbol(self) -> str:
        return self.request.symbol


@dataclass(frozen=True, slots=True)
class StatusRow:
    """One entry of an order's append-only status history.

    Attributes:
        seq (int): journal seq.
        venue (str), client_order_id (str): the order.
        status (OrderStatus): the status entered.
        reason (str): why (a venue reason code, ``reconciled``, ...).
        venue_order_id (str | None): venue id given with this report, if any.
        ts_ns (int): the report's timestamp (venue or local), ns since the Unix epoch.
        recorded_ns (int): local wall clock when written, ns since the Unix epoch.
    """

    seq: int
    venue: str
    client_order_id: str
    status: OrderStatus
    reason: str
    venue_order_id: str | None
    ts_ns: int
    recorded_ns: int


@dataclass(frozen=True, slots=True)
class CycleRow:
    """One hedge cycle. ``cycle_id`` is the seq of its start; ``end_seq``/``ended_ns``/``outcome`` are None
    while it is open (a cycle still open after a restart was interrupted by a crash)."""

    cycle_id: int
    market: str
    index: int
    side: Side
    started_ns: int
    end_seq: int | None
    ended_ns: int | None
    outcome: str | None
    detail: str


@dataclass(frozen=True, slots=True)
class RunRow:
    """One process run for the crash-loop breaker. ``run_id`` is the seq of its start; ``exit_code`` is None
    when no exit was recorded (the process crashed, or is still running)."""

    run_id: int
    pid: int
    started_ns: int
    exit_seq: int | None
    exit_code: int | None
    exit_reason: str | None
    exited_ns: int | None


@dataclass(frozen=True, slots=True)
class EventRow:
    """A journal event (a reconciliation finding, a halt, ...): ``kind`` is a short tag, ``detail`` free text."""

    seq: int
    kind: str
    detail: str
    recorded_ns: int


@dataclass(frozen=True, slots=True)
class JournalStats:
    """What :meth:`Journal.statistics` reports.

    Attributes:
        path (str): database file.
        schema_version (int): version in the file.
        journal_mode (str): ``wal`` when crash-safe as designed.
        synchronous (int): SQLite's number for the connection's setting (2 = FULL).
        last_seq (int): the newest seq handed out (0 for an empty journal).
    """

    path: str
    schema_version: int
    journal_mode: str
    synchronous: int
    last_seq: int


# ----------------------------------------------------------------------------------------------- schema

_V1_DDL: Final[tuple[str, ...]] = (
    """CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT""",
    """CREATE TABLE seq_counter (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        last_seq INTEGER NOT NULL
    ) STRICT""",
    """INSERT INTO seq_counter (id, last_seq) VALUES (1, 0)""",
    """CREATE TABLE cycles (
        cycle_id INTEGER PRIMARY KEY,
        market TEXT NOT NULL,
        idx INTEGER NOT NULL,
        side TEXT NOT NULL CHECK (side IN ('BUY', 'SELL')),
        started_ns INTEGER NOT NULL,
        end_seq INTEGER,
        ended_ns INTEGER,
        outcome TEXT,
        detail TEXT NOT NULL DEFAULT ''
    ) STRICT""",
    """CREATE TABLE intents (
        seq INTEGER PRIMARY KEY,
        venue TEXT NOT NULL,
        client_order_id TEXT NOT NULL,
        symbol TEXT NOT NULL,
        side TEXT NOT NULL CHECK (side IN ('BUY', 'SELL')),
        size TEXT NOT NULL,
        price TEXT,
        order_type TEXT NOT NULL,
        tif TEXT NOT NULL,
        post_only INTEGER NOT NULL CHECK (post_only IN (0, 1)),
        reduce_only INTEGER NOT NULL CHECK (reduce_only IN (0, 1)),
        reason TEXT NOT NULL,
        cycle_id INTEGER REFERENCES cycles (cycle_id),
        created_ns INTEGER NOT NULL,
        status TEXT NOT NULL,
        status_seq INTEGER NOT NULL,
        status_reason TEXT NOT NULL,
        venue_order_id TEXT,
        UNIQUE (venue, client_order_id)
    ) STRICT""",
    """CREATE INDEX intents_live ON intents (status)
        WHERE status NOT IN ('FILLED', 'CANCELLED', 'REJECTED', 'EXPIRED')""",
    """CREATE TABLE status_history (
        seq INTEGER PRIMARY KEY,
        venue TEXT NOT NULL,
        client_order_id TEXT NOT NULL,
        status TEXT NOT NULL,
        reason TEXT NOT NULL,
        venue_order_id TEXT,
        ts_ns INTEGER NOT NULL,
        recorded_ns INTEGER NOT NULL,
        FOREIGN KEY (venue, client_order_id) REFERENCES intents (venue, client_order_id)
    ) STRICT""",
    """CREATE INDEX status_history_order ON status_history (venue, client_order_id)""",
    """CREATE TABLE fills (
        seq INTEGER PRIMARY KEY,
        venue TEXT NOT NULL,
        trade_id TEXT NOT NULL,
        symbol TEXT NOT NULL,
        client_order_id TEXT NOT NULL,
        side TEXT NOT NULL CHECK (side IN ('BUY', 'SELL')),
        price TEXT NOT NULL,
        size TEXT NOT NULL,
        fee TEXT NOT NULL,
        is_maker INTEGER NOT NULL CHECK (is_maker IN (0, 1)),
        ts_ns INTEGER NOT NULL,
        recorded_ns INTEGER NOT NULL,
        UNIQUE (venue, trade_id)
    ) STRICT""",
    """CREATE INDEX fills_order ON fills (venue, client_order_id)""",
    """CREATE INDEX fills_ts ON fills (ts_ns)""",
    """CREATE TABLE runs (
        run_id INTEGER PRIMARY KEY,
        pid INTEGER NOT NULL,
        started_ns INTEGER NOT NULL,
        exit_seq INTEGER,
        exit_code INTEGER,
        exit_reason TEXT,
        exited_ns INTEGER
    ) STRICT""",
    """CREATE INDEX runs_started ON runs (started_ns)""",
    """CREATE TABLE checkpoints (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        seq INTEGER NOT NULL,
        recorded_ns INTEGER NOT NULL
    ) STRICT""",
    """CREATE TABLE events (
        seq INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        detail TEXT NOT NULL,
        recorded_ns INTEGER NOT NULL
    ) STRICT""",
)


def _v0_to_v1(conn: sqlite3.Connection) -> None:
    """Create the version 1 schema in an empty database (``meta`` included; the caller writes the version)."""
    for statement in _V1_DDL:
        conn.execute(statement)


_V2_DDL: Final[tuple[str, ...]] = (
    # client order ids reserved durably, a block at a time (Journal.reserve_id_block): ``first`` as decimal
    # TEXT (GRVT's ids reach 2^64-1, past SQLite's signed 64-bit INTEGER)
    """CREATE TABLE id_blocks (
        venue TEXT NOT NULL,
        first TEXT NOT NULL,
        size INTEGER NOT NULL CHECK (size >= 1),
        seq INTEGER NOT NULL,
        reserved_ns INTEGER NOT NULL,
        PRIMARY KEY (venue, first)
    ) STRICT""",
)


def _v1_to_v2(conn: sqlite3.Connection) -> None:
    """Add ``id_blocks`` (client-order-id blocks reserved durably)."""
    for statement in _V2_DDL:
        conn.execute(statement)


Migration = Callable[[sqlite3.Connection], None]
"""One schema step: called inside a write transaction on a database at version ``v``; leaves it at ``v + 1``
(the runner writes ``schema_version``). Must not COMMIT (so no ``executescript``)."""

_MIGRATIONS: Final[dict[int, Migration]] = {0: _v0_to_v1, 1: _v1_to_v2}
"""Version ``v`` -> the function that migrates ``v`` to ``v + 1``. Version 0 is an empty file."""

SCHEMA_VERSION: Final = max(_MIGRATIONS) + 1
"""The schema version this build writes (and the newest it can open)."""


def _read_version(conn: sqlite3.Connection, path: str, supported: int) -> int:
    has_meta = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone()
    if has_meta is None:
        others = conn.execute("SELECT count(*) FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'").fetchone()[0]
        if others:
            raise JournalSchemaError(path, None, supported, "the file is a SQLite database but not a journal "
                                                            "(tables without a meta table)")
        return 0
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    try:
        return int(row[0]) if row is not None else -1
    except ValueError:
        raise JournalSchemaError(path, None, supported, f"unreadable schema_version {str(row[0])[:20]!r}") from None


def _migrate(conn: sqlite3.Connection, path: str, migrations: dict[int, Migration], target: int) -> int:
    """Bring the database to ``target`` one step at a time; each step in its own IMMEDIATE transaction.

    Returns:
        int: the version the file is at (``target``).

    Raises:
        JournalSchemaError: the file is newer than ``target``, is not a journal, or a step is missing.
    """
    while True:
        conn.execute("BEGIN IMMEDIATE")  # read the version under the write lock: one migrator at a time
        try:
            version = _read_version(conn, path, target)
            if version < 0:
                raise JournalSchemaError(path, None, target, "the meta table has no schema_version")
            if version > target:
                raise JournalSchemaError(path, version, target, "the file was written by a newer trio_hedge")
            if version == target:
                conn.execute("COMMIT")
                return version
            step = migrations.get(version)
            if step is None:
                raise JournalSchemaError(path, version, target, f"no migration from version {version}")
            step(conn)
            conn.execute("INSERT INTO meta (key, value) VALUES ('schema_version', ?) "
                         "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (str(version + 1),))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise


# ----------------------------------------------------------------------------------------------- helpers


def _dec_text(value: Decimal, what: str) -> str:
    """A finite Decimal as its exact TEXT form. Raises :class:`BadValue` for floats, NaN and Infinity."""
    return str(to_decimal(value, what=what))


def _dec(text: str) -> Decimal:
    return to_decimal(text, what="stored decimal")


def _check_text(value: object, what: str, *, empty_ok: bool = False) -> str:
    if not isinstance(value, str) or (not empty_ok and not value):
        raise BadValue(f"journal: {what} must be a {'' if empty_ok else 'non-empty '}string")
    return value


def _check_ns(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BadValue(f"journal: {what} must be an int of ns since the Unix epoch (>= 0)")
    return value


def _intent_row(r: sqlite3.Row) -> IntentRow:
    request = OrderRequest(
        client_order_id=r["client_order_id"],
        symbol=r["symbol"],
        side=Side(r["side"]),
        size=_dec(r["size"]),
        order_type=OrderType(r["order_type"]),
        price=None if r["price"] is None else _dec(r["price"]),
        tif=TimeInForce(r["tif"]),
        post_only=bool(r["post_only"]),
        reduce_only=bool(r["reduce_only"]),
        reason=r["reason"],
    )
    return IntentRow(seq=r["seq"], venue=r["venue"], request=request, cycle_id=r["cycle_id"],
                     created_ns=r["created_ns"], status=OrderStatus(r["status"]), status_seq=r["status_seq"],
                     status_reason=r["status_reason"], venue_order_id=r["venue_order_id"])


def _fill_row(r: sqlite3.Row) -> Fill:
    return Fill(venue=r["venue"], symbol=r["symbol"], client_order_id=r["client_order_id"], trade_id=r["trade_id"],
                side=Side(r["side"]), price=_dec(r["price"]), size=_dec(r["size"]), fee=_dec(r["fee"]),
                is_maker=bool(r["is_maker"]), ts_ns=r["ts_ns"])


def _cycle_row(r: sqlite3.Row) -> CycleRow:
    return CycleRow(cycle_id=r["cycle_id"], market=r["market"], index=r["idx"], side=Side(r["side"]),
                    started_ns=r["started_ns"], end_seq=r["end_seq"], ended_ns=r["ended_ns"], outcome=r["outcome"],
                    detail=r["detail"])


def _run_row(r: sqlite3.Row) -> RunRow:
    return RunRow(run_id=r["run_id"], pid=r["pid"], started_ns=r["started_ns"], exit_seq=r["exit_seq"],
                  exit_code=r["exit_code"], exit_reason=r["exit_reason"], exited_ns=r["exited_ns"])


_TERMINAL_SQL: Final = "(" + ", ".join(f"'{s.value}'" for s in OrderStatus if s.is_terminal) + ")"



def _intent_values(venue: str, request: OrderRequest, ts_ns: int | None) -> tuple[str, str | None, int]:
    """An intent's checked values: (size text, price text or None, created_ns).

    Raises:
        BadValue: empty venue, client order id or symbol, non-Decimal or non-finite size/price, bad ``ts_ns``.
    """
    _check_text(venue, "venue")
    _check_text(request.client_order_id, "client_order_id")
    _check_text(request.symbol, "symbol")
    size = _dec_text(request.size, "intent size")
    price = None if request.price is None else _dec_text(request.price, "intent price")
    return size, price, time.time_ns() if ts_ns is None else _check_ns(ts_ns, "ts_ns")



def expected_objects() -> frozenset[tuple[str, str]]:
    """``(type, name)`` of every table and index the current schema has (built in memory from the DDL)."""
    conn = sqlite3.connect(":memory:")
    try:
        for version in sorted(_MIGRATIONS):
            _MIGRATIONS[version](conn)
        return frozenset((str(t), str(n)) for t, n in conn.execute(
            "SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"))
    finally:
        conn.close()


def check_file(path: str) -> None:
    """Refuse an existing file that cannot be a journal before SQLite touches it.

    Raises:
        JournalDamaged: the file exists and is empty (zero bytes).
    """
    try:
        size = os.stat(path).st_size
    except FileNotFoundError:
        return
    if size == 0:
        raise JournalDamaged(path, "the file is empty (0 bytes): a journal this bot wrote is never empty, and "
                             "taking it as a new journal would drop the run history",
                             "if the history is gone for good, delete the empty file and start again (a new "
                             "journal is created; reconciliation resolves what the venues show); otherwise "
                             "restore it from a backup (`python -m trio_hedge journal backup`)")


def quick_check(conn: sqlite3.Connection, path: str, budget_ms: int) -> bool:
    """Run ``PRAGMA quick_check`` on ``conn`` for at most ``budget_ms`` (SQLite's progress handler interrupts
    it past the budget: https://www.sqlite.org/c3ref/progress_handler.html).

    Returns:
        bool: True when the check finished and found nothing; False when it ran out of budget (unchecked).

    Raises:
        JournalDamaged: it found damage (the first problems it lists are in the message).
    """
    deadline = time.monotonic() + budget_ms / 1000.0
    over = [False]

    def progress() -> int:
        if time.monotonic() > deadline:
            over[0] = True
            return 1  # interrupt
        return 0

    conn.set_progress_handler(progress, 1000)
    try:
        rows = conn.execute("PRAGMA quick_check(10)").fetchall()
    except sqlite3.OperationalError:
        if over[0]:
            return False
        raise
    except sqlite3.DatabaseError as exc:
        raise JournalDamaged(path, f"SQLite's quick_check failed: {exc}") from None
    finally:
        conn.set_progress_handler(None, 0)
    problems = [str(r[0]) for r in rows if str(r[0]) != "ok"]
    if problems:
        raise JournalDamaged(path, "SQLite's quick_check found: " + "; ".join(problems[:5]))
    return True


def check_schema(conn: sqlite3.Connection, path: str) -> None:
    """Every table and index of the current schema is present.

    Raises:
        JournalDamaged: one is missing (named in the message).
    """
    try:
        found = {(str(t), str(n)) for t, n in conn.execute(
            "SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'")}
    except sqlite3.DatabaseError as exc:
        raise JournalDamaged(path, f"the schema cannot be read: {exc}") from None
    missing = sorted(expected_objects() - found)
    if missing:
        raise JournalDamaged(path, "the schema lacks " + ", ".join(f"{t} {n}" for t, n in missing))
