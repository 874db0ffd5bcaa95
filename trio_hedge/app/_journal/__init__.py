"""The crash-safe journal: order intents, status history, fills, cycles, runs, checkpoints and events in SQLite.

Why and how (the practices of NautilusTrader's live execution, https://nautilustrader.io/docs/latest/concepts/live/:
"persistence before send" and "missing reports do not mean flat"; SQLite's own guarantees,
https://sqlite.org/wal.html and https://sqlite.org/pragma.html#pragma_synchronous):

* "persistence before send": :meth:`Journal.record_intent` commits the intent (venue, client order id,
  the whole request, status PENDING) *before* the order is sent; the engine sends only after it returns. A
  client order id can be recorded once per venue, ever (:class:`DuplicateIntent`), so an id is never reused.
* fills are keyed by the venue's trade id: :meth:`Journal.record_fill` is idempotent by
  ``(venue, trade_id)`` (a replayed fill is a no-op that returns False), so WS and REST replays can both feed it.
* "missing reports do not mean flat": :meth:`Journal.inflight` lists every intent that never reached a
  terminal status; reconciliation must resolve each of them with the venue before trading resumes.
* crash-loop breaker (``docs/supervisord.md``; supervisord's ``autorestart``/``exitcodes``,
  http://supervisord.org/configuration.html): :meth:`Journal.record_start` / :meth:`Journal.record_exit` /
  :meth:`Journal.crashes_since` (a start without a recorded exit is a crash; exit codes other than 0 and 78
  are crashes).
* crash safety: SQLite in WAL mode with ``synchronous=NORMAL``, one small transaction per call: a commit
  is in the OS (the WAL file's pages) when it returns, so ``kill -9`` of the writer neither corrupts the file nor
  loses a committed row (``python scripts/journal_kill9.py --kills 200``: ``corrupt=0 lost_acked=0``); an OS
  crash or power loss can lose the last commits (never corrupt the file: WAL frames are checksummed). What
  covers that: client order ids come from blocks reserved durably (:meth:`Journal.reserve_id_block`, one
  fsynced commit per block of 4,096 ids), so after a power loss startup reconciliation still recognises every
  order and fill of ours on the venue by its id (docs/architecture.md, "Durability"). A power loss or OS crash
  cannot be tested on this machine (a process kill keeps the page cache).

Storage rules: every Decimal is stored as TEXT (``str(d)``, which round-trips exactly, exponent and trailing
zeros included), every timestamp as INTEGER ns since the Unix epoch, booleans as 0/1, enums by value. Tables are
``STRICT``, so SQLite never coerces a value to REAL. Every row carries ``seq``, drawn from one journal-wide
counter inside the writing transaction: strictly increasing across all tables, never reused (a rolled-back
transaction returns its numbers), so ``seq`` is a total order of everything the journal saw. Rows that change
later (an intent's current status, a cycle's end, a run's exit, a checkpoint) keep the seq of their last change
in a ``*_seq`` column.

Schema versioning: a ``meta`` table holds ``schema_version``. :data:`SCHEMA_VERSION` is what this build writes.
Opening a file with an older version runs the migrations in ``_MIGRATIONS`` (a function per step, each step in
its own transaction); a newer version, or a SQLite file that is not a journal, is refused with
:class:`JournalSchemaError` and left untouched.

Threads and trio: :class:`Journal` is synchronous and owns one ``sqlite3`` connection with
``check_same_thread=True``: use it from the thread that opened it (with ``checkpoint_every`` > 0 the check is
off and the owner serialises the threads that use it). Each write is one transaction (with
``synchronous=FULL``, the setting before, also one fdatasync of the WAL: strace, 618 fdatasync calls for 600
writes plus the schema; with NORMAL a WAL append, fsynced only at checkpoints). Measured with FULL on this machine
(ext4 on a virtio disk, Python 3.11.7, SQLite 3.40.1; ``python scripts/journal_kill9.py --bench-writes 2000``,
two runs): ``record_intent`` / ``record_status`` / ``record_fill`` p50 0.25-0.30 ms, p99 0.7-1.1 ms, worst
single write 24 ms (probably a WAL auto-checkpoint); a replayed fill (no write) 0.05 ms; ``intent()`` 0.03 ms;
``inflight()`` about 6 µs per live intent. A raw 4 KiB ``os.fsync`` here is p50 0.38 ms. Callers may therefore
call the write methods directly on the trio event loop for the occasional small write (an intent before a
send, a status change, a fill), accepting a stall of about a millisecond (rarely tens); a caller that must not
stall the loop uses :class:`AsyncJournal` (:func:`open_async_journal`), which runs every call on one dedicated
worker thread under a ``trio.CapacityLimiter(1)``, except intents: those waiting while the thread is busy
are committed together in its next transaction (group commit, :meth:`Journal.record_intents`), each before
its own call returns; and with the exclusive lock and ``inline_intents`` an intent commits on the loop's own
thread while the worker thread is idle (:meth:`AsyncJournal.record_intent`; WAL checkpoints then run on the
worker thread only, ``Journal.open`` ``checkpoint_every``). Connections of one process on the same file can
share a ``write_lock`` so they queue on it rather than on SQLite's busy handler (:meth:`Journal.open`). Other
disks differ (a consumer SSD without a write cache can take several ms per fsync): re-measure with the script
before relying on the direct path.

Modules: ``_schema.py`` (errors, row types, DDL and migrations, value checks, the integrity checks),
``_store.py`` (:class:`Journal`), ``_async.py`` (the worker thread, :class:`AsyncJournal`).

Errors at the boundary: no ``sqlite3`` exception leaves the store. Every ``sqlite3.Error`` a method meets is
raised as :class:`JournalIOError` (the running bot's journal-down state); a file found damaged at open is
:class:`JournalDamaged` (its message says what is damaged and what to do).

Integrity at start (:meth:`Journal.open` ``check_budget_ms``): an existing empty file is refused (taking it as
a new journal would drop the run history), SQLite's ``quick_check`` runs under a time bound (its progress
handler interrupts it), and every table and index of the schema must be present. ``python -m trio_hedge
journal check|backup|salvage`` (``app/_journalcmd.py``) checks, copies and salvages a file.

Exclusive locking (``exclusive=True``, what the bot uses): ``locking_mode=EXCLUSIVE`` before the first read, so
in WAL mode SQLite keeps the WAL index in heap memory and never maps the ``-shm`` file: a write fault on a mapped
page (an immutable ``-shm``, a full file system under delayed allocation) would be a SIGBUS that kills the
process before its cleanup; without the mapping every such fault is an error SQLite returns. The price is one
connection per file: the bot's intents and reports then share it (one worker thread).

Exit path: :meth:`AsyncJournal.bound_calls` bounds every later call by wall clock; a call past the bound raises
:class:`JournalTimeout` and its write is left to the next start's reconciliation.

The single-writer lock per account (two bot instances on one journal or one venue account) is
``app/_process.py``'s.
"""

from ._async import AsyncJournal, open_async_journal
from ._schema import (
    _MIGRATIONS,
    CLEAN_EXIT_CODES,
    DEFAULT_BUSY_TIMEOUT_MS,
    SCHEMA_VERSION,
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
    JournalSchemaError,
    JournalStats,
    JournalTimeout,
    Migration,
    RunRow,
    StatusRow,
    UnknownRecord,
    _migrate,
    _read_version,
    _v0_to_v1,
    check_schema,
    expected_objects,
    quick_check,
)
from ._store import Journal

__all__ = [
    "CLEAN_EXIT_CODES",
    "DEFAULT_BUSY_TIMEOUT_MS",
    "SCHEMA_VERSION",
    "AsyncJournal",
    "CycleRow",
    "DuplicateIntent",
    "EventRow",
    "IdBlockOverlap",
    "IntentItem",
    "IntentRow",
    "Journal",
    "JournalClosed",
    "JournalConflict",
    "JournalDamaged",
    "JournalError",
    "JournalIOError",
    "JournalSchemaError",
    "JournalStats",
    "JournalTimeout",
    "Migration",
    "RunRow",
    "StatusRow",
    "UnknownRecord",
    "_MIGRATIONS",
    "_migrate",
    "_read_version",
    "_v0_to_v1",
    "check_schema",
    "expected_objects",
    "quick_check",
    "open_async_journal",
]
