"""``python -m trio_hedge journal check|backup|salvage --journal PATH [--to PATH]``: the journal's tools.

* ``check``: SQLite's full ``PRAGMA integrity_check`` and the schema check, read-only. Exit 0 sound, 65
  (EX_DATAERR) damaged, 74 (EX_IOERR) unreadable or locked (a running bot holds it with its exclusive lock).
* ``backup``: a consistent copy through SQLite's online backup API (``sqlite3.Connection.backup``,
  https://www.sqlite.org/backup.html) to ``--to`` (default ``<journal>.backup-<UTC time>``), checked after.
  A bot holding the journal with ``journal.exclusive_lock = true`` keeps every other process out: back up
  after its stop, or run with the lock off.
* ``salvage``: copy what is readable of a damaged journal into a new one at ``--to`` (default
  ``<journal>.salvage-<UTC time>``): a fresh journal of the current schema, then each table row by row
  (ranges of rowids; a range that cannot be read is retried one row at a time, and a row that still cannot
  be read is counted as lost). Rows whose parent row was lost (a status of a lost intent) are lost too. The
  seq counter continues after the largest seq copied, and a ``salvage`` event records the counts. Intents
  left in flight stay in flight: the next start's reconciliation resolves them from the venues. Exit 0.

Nothing here changes the source file.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import time
from pathlib import Path

from ._journal import Journal, JournalError, check_schema

EX_DATAERR = 65
EX_IOERR = 74

_TABLES = ("cycles", "intents", "status_history", "fills", "runs", "checkpoints", "events")
"""Copied in this order (parents before the rows that refer to them)."""

_CHUNK = 256


def _stamp() -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())


def _ro(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    conn.execute("PRAGMA busy_timeout = 1000")
    return conn


def check(path: Path) -> int:
    """Print what is wrong with ``path`` (or ``ok``); the exit code."""
    if not path.is_file():
        print(f"journal check: {path}: no such file", file=sys.stderr)
        return EX_IOERR
    if path.stat().st_size == 0:
        print(f"journal check: {path}: empty file (0 bytes): not a journal", file=sys.stderr)
        return EX_DATAERR
    try:
        conn = _ro(path)
        try:
            rows = [str(r[0]) for r in conn.execute("PRAGMA integrity_check(50)")]
            check_schema(conn, str(path))
        finally:
            conn.close()
    except JournalError as exc:
        print(f"journal check: {exc}", file=sys.stderr)
        return EX_DATAERR
    except sqlite3.OperationalError as exc:
        print(f"journal check: {path}: cannot read it ({exc}); a running bot with journal.exclusive_lock holds "
              "it: check after its stop", file=sys.stderr)
        return EX_IOERR
    except sqlite3.DatabaseError as exc:
        print(f"journal check: {path} is damaged: {exc}", file=sys.stderr)
        return EX_DATAERR
    if rows != ["ok"]:
        print(f"journal check: {path} is damaged:", file=sys.stderr)
        for r in rows:
            print(f"  {r}", file=sys.stderr)
        print(f"what to do: python -m trio_hedge journal salvage --journal {path}", file=sys.stderr)
        return EX_DATAERR
    print(f"journal check: {path}: ok (integrity_check, schema)")
    return 0


def _dest(command: str, path: Path, to: Path | None) -> Path | None:
    """Where ``command`` writes (``--to``, default ``<journal>.<command>-<UTC time>``); None (said on stderr)
    when that file exists: nothing is ever overwritten."""
    dest = to or path.with_name(f"{path.name}.{command}-{_stamp()}")
    if dest.exists():
        print(f"journal {command}: {dest} exists; choose another --to", file=sys.stderr)
        return None
    return dest


def backup(path: Path, to: Path | None) -> int:
    """A consistent online copy of ``path``; the exit code."""
    dest = _dest("backup", path, to)
    if dest is None:
        return EX_IOERR
    try:
        src = _ro(path)
        try:
            out = sqlite3.connect(dest)
            try:
                src.backup(out)
            finally:
                out.close()
        finally:
            src.close()
    except sqlite3.Error as exc:
        print(f"journal backup: {path} -> {dest} failed: {exc}", file=sys.stderr)
        return EX_IOERR
    print(f"journal backup: {path} -> {dest}")
    return check(dest)


def _read_rows(src: sqlite3.Connection, table: str, hi: int) -> tuple[list[tuple[object, ...]], int]:
    """Every readable row of ``table`` with rowid in [1, hi]: (rows, rowids that could not be read)."""
    rows: list[tuple[object, ...]] = []
    lost = 0
    for lo in range(0, hi + 1, _CHUNK):
        try:
            rows += src.execute(f"SELECT * FROM {table} WHERE rowid BETWEEN ? AND ? ORDER BY rowid",
                                (lo, lo + _CHUNK - 1)).fetchall()
            continue
        except sqlite3.DatabaseError:
            pass
        for rid in range(lo, lo + _CHUNK):
            try:
                rows += src.execute(f"SELECT * FROM {table} WHERE rowid = ?", (rid,)).fetchall()
            except sqlite3.DatabaseError:
                lost += 1
    return rows, lost


def _max_rowid(src: sqlite3.Connection, table: str) -> int:
    for sql in (f"SELECT max(rowid) FROM {table}", "SELECT last_seq FROM seq_counter"):
        try:
            v = src.execute(sql).fetchone()[0]
            return int(v or 0)
        except (sqlite3.DatabaseError, TypeError, ValueError):
            continue
    return 1_000_000


def salvage(path: Path, to: Path | None) -> int:
    """Copy what is readable of ``path`` into a new journal; the exit code."""
    dest = _dest("salvage", path, to)
    if dest is None:
        return EX_IOERR
    try:
        src = _ro(path)
    except sqlite3.Error as exc:
        print(f"journal salvage: cannot open {path}: {exc}", file=sys.stderr)
        return EX_IOERR
    counts: dict[str, tuple[int, int]] = {}
    try:
        with Journal.open(dest) as j:
            conn = j._live()
            last = 0
            for table in _TABLES:
                rows, lost = _read_rows(src, table, _max_rowid(src, table))
                copied = 0
                for row in rows:
                    try:
                        conn.execute(f"INSERT INTO {table} VALUES ({', '.join('?' * len(row))})", row)
                        copied += 1
                    except sqlite3.Error:
                        lost += 1
                    if table != "checkpoints" and isinstance(row[0], int):
                        last = max(last, row[0])
                counts[table] = (copied, lost)
            try:  # the old counter when readable: seqs of lost rows are never handed out again
                last = max(last, int(src.execute("SELECT last_seq FROM seq_counter").fetchone()[0]))
            except (sqlite3.DatabaseError, TypeError, ValueError):
                pass
            conn.execute("UPDATE seq_counter SET last_seq = ? WHERE id = 1", (last,))
            detail = f"salvaged from {path}: " + ", ".join(f"{t} {c} copied/{lost} lost"
                                                            for t, (c, lost) in counts.items())
            j.record_event("salvage", detail)
    except (sqlite3.Error, JournalError) as exc:
        print(f"journal salvage: {path} -> {dest} failed: {exc}", file=sys.stderr)
        return EX_IOERR
    finally:
        src.close()
    print(f"journal salvage: {detail}\nnew journal: {dest} (move it into place, or point journal.path at it; the "
          "next start reconciles what it lacks from the venues)")
    return 0


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m trio_hedge journal", description="Check, back up or salvage "
                                "the journal (SQLite). Exit 0 ok, 65 damaged, 74 unreadable.")
    p.add_argument("command", choices=("check", "backup", "salvage"))
    p.add_argument("--journal", type=Path, required=True, help="the journal file (journal.path)")
    p.add_argument("--to", type=Path, default=None, help="backup/salvage: where to write the new file")
    args = p.parse_args(argv)
    if args.command == "check":
        return check(args.journal)
    if args.command == "backup":
        return backup(args.journal, args.to)
    return salvage(args.journal, args.to)
